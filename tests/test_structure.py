"""The package's shape: one lesson manifest that everything reads, and imports that go one way."""

import ast
from pathlib import Path

import pytest

from tlcourse import manifest

ROOT = Path(__file__).resolve().parents[1]
CODE = ("tlcourse", "tlcourse_keys", "tests")


def _python_files():
    for folder in CODE:
        yield from sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("lesson", manifest.LESSONS, ids=lambda entry: entry.name)
def test_a_lessons_name_is_written_only_in_the_manifest(lesson):
    """Everything else finds a lesson through ``tlcourse.manifest``: its modules never name it either."""
    found = [p.relative_to(ROOT) for p in _python_files() if lesson.name in p.read_text()]
    assert found == [Path("tlcourse/manifest.py")], found


@pytest.mark.parametrize("lesson", manifest.LESSONS, ids=lambda entry: entry.name)
def test_every_listed_lesson_has_its_notebooks_and_modules(lesson):
    import importlib.util

    assert (ROOT / "solutions" / lesson.notebook).is_file() and (ROOT / "lessons" / lesson.notebook).is_file()
    assert importlib.util.find_spec(lesson.checks_module) is not None
    assert importlib.util.find_spec(lesson.keys_module) is not None
    import tlcourse.headlines

    assert callable(getattr(tlcourse.headlines, lesson.headline))


def test_every_numbered_notebook_is_a_listed_lesson():
    for folder in ("solutions", "lessons"):
        numbered = sorted(p.name for p in (ROOT / folder).glob("[0-9]*.ipynb"))
        assert numbered == [entry.notebook for entry in manifest.LESSONS], folder


def test_the_manifest_says_clearly_when_a_lesson_is_not_there():
    from tlcourse.errors import CourseError

    with pytest.raises(CourseError, match="no lesson called '07_nope'"):
        manifest.lesson("07_nope")
    with pytest.raises(CourseError, match="add the lesson there"):
        manifest.lesson_of_checks("tlcourse.checks.lesson99")


def _imports_up(package_init: Path, root: Path = ROOT) -> list[str]:
    """Names a package's own modules import from its ``__init__`` (not a submodule of it)."""
    folder = package_init.parent
    name = ".".join(folder.relative_to(root).parts)
    submodules = {p.stem for p in folder.glob("*.py")} | {
        p.name for p in folder.iterdir() if (p / "__init__.py").exists()
    }
    found = []
    for path in sorted(folder.glob("*.py")):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == name:
                found += [f"{path.name}: {a.name}" for a in node.names if a.name not in submodules]
            if isinstance(node, ast.ImportFrom) and node.level == 1 and not node.module:
                found += [f"{path.name}: .{a.name}" for a in node.names if a.name not in submodules]
    return found


PACKAGES = sorted(
    p.relative_to(ROOT) for p in [*(ROOT / "tlcourse").rglob("__init__.py"), ROOT / "tlcourse_keys/__init__.py"]
)


@pytest.mark.parametrize("init", PACKAGES, ids=lambda p: str(p.parent))
def test_no_module_imports_back_up_into_its_own_packages_init(init):
    assert _imports_up(ROOT / init) == []


def test_the_import_check_finds_an_import_up(tmp_path):
    """The control: a module that takes a name from its package's ``__init__`` is found; a submodule is not."""
    fake = tmp_path / "tlcourse" / "checks"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("X = 1\n")
    (fake / "plain.py").write_text("")
    (fake / "user.py").write_text("from tlcourse.checks import X, plain\n")
    assert _imports_up(fake / "__init__.py", root=tmp_path) == ["user.py: X"]
