"""Editions of the course: what students get, and what self-study learners get.

``tlcourse release DIR`` writes the **student edition**: the lessons (student copies, regenerated
from the masters), the ``tlcourse`` package with the public cases' results (``public.json``) and
nothing that solves an exercise — no ``solutions/``, no answer keys (``tlcourse_keys``), no hidden
tests — plus what installs it (``pyproject.toml``, ``requirements.txt``) and the data set cards.
``--edition self-study`` adds the worked solutions and the keys, for people learning on their own.
Grading always uses the instructor's full checkout, never an edition.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tlcourse import manifest
from tlcourse.errors import CourseError

EDITIONS = ("student", "self-study")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")

STUDENT_README = """# tlcourse — transfer learning for image classification (student edition)

Six numbered lessons in `lessons/`, run in JupyterLab (`pip install -r requirements.txt && pip install -e .`,
then `jupyter lab lessons`). Each lesson ends with exercises: `check("N.k", ...)` in a cell gives you
feedback at once on the public test cases. When your instructor grades your work, the same checks run on
fresh cases (and a few hidden ones), so an answer that only fits the public cases does not score.

The data: set `TLCOURSE_DATA` to the folder your instructor gives you (it holds `hymenoptera_data/`),
or let the course download the ants/bees photos once when you are online.
"""


def checkout_root() -> Path:
    """The course checkout this package was installed from (it must hold the masters)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "solutions").is_dir() or not (root / "tlcourse_keys").is_dir():
        raise CourseError(
            "tlcourse release runs from the instructor's checkout of the course (with solutions/ and tlcourse_keys/)"
        )
    return root


def release(target: Path, edition: str = "student", repo: str | None = None) -> list[str]:
    """Write ``edition`` of the course into the new folder ``target``; the top-level entries written.

    ``repo``: the git URL the edition will be published at; each lesson's Colab cell installs the
    course from it (without it, the cell asks a Colab user to fill it in). The Binder configuration
    (``deploy/binder``) goes into ``binder/``, so the published repository launches on mybinder.org.
    """
    from tlcourse.checks import write_public_results
    from tlcourse.studentcopy import generate

    if edition not in EDITIONS:
        raise CourseError(f"unknown edition {edition!r}: use one of {', '.join(EDITIONS)}")
    root = checkout_root()
    target = Path(target).resolve()
    if target.exists() and any(target.iterdir()):
        raise CourseError(f"{target} is not empty: give a new folder for the edition")
    if root == target or root in target.parents:
        raise CourseError("write the edition outside the checkout")
    stale = generate(root / "solutions", root / "lessons", check=True)
    if stale or write_public_results(check=True):
        raise CourseError("the student copies or public.json are stale: run `tlcourse lessons` first and commit")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(root / "tlcourse", target / "tlcourse", ignore=_IGNORE)
    shutil.copytree(root / "lessons", target / "lessons", ignore=_IGNORE)
    if repo is not None:
        _set_colab_repo(target / "lessons", repo)
    shutil.copytree(root / "deploy" / "binder", target / "binder", ignore=_IGNORE)
    shutil.copytree(root / "datasets", target / "datasets", ignore=_IGNORE)
    shutil.copy(root / "requirements.txt", target / "requirements.txt")
    pyproject = (root / "pyproject.toml").read_text()
    if edition == "student":
        pyproject = re.sub(r'include = \["tlcourse\*"\]', 'include = ["tlcourse", "tlcourse.*"]', pyproject)
        (target / "README.md").write_text(STUDENT_README)
    else:
        shutil.copytree(root / "solutions", target / "solutions", ignore=_IGNORE)
        shutil.copytree(root / "tlcourse_keys", target / "tlcourse_keys", ignore=_IGNORE)
        shutil.copy(root / "README.md", target / "README.md")
    (target / "pyproject.toml").write_text(pyproject)
    return sorted(p.name for p in target.iterdir())


def _set_colab_repo(lessons: Path, repo: str) -> None:
    """Write ``repo`` into every lesson's Colab cell (the placeholder line ``tlcourse.links`` defines)."""
    import nbformat

    from tlcourse.links import colab_cell, lesson_links

    lesson_links("lesson", repo)  # the same check of the URL as the launch links
    for path in manifest.notebooks_in(lessons):
        nb = nbformat.read(path, as_version=4)
        cells = [c for c in nb.cells if c.cell_type == "code" and c.source == colab_cell()]
        if len(cells) != 1:
            raise CourseError(f"{path.name}: no Colab cell as tlcourse.links.colab_cell() writes it")
        cells[0].source = colab_cell(repo)
        nbformat.write(nb, path)
