"""The student edition: lessons and a package with no answers, whose checks still give specific feedback."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tlcourse.checks import PUBLIC_FILE, plain, public_results, public_results_difference, write_public_results
from tlcourse.errors import CourseError
from tlcourse.release import release

ROOT = Path(__file__).resolve().parents[1]


def test_public_results_are_up_to_date_with_the_keys():
    """Recomputed from the keys (``lessons --check`` compares only the digest of their sources)."""
    difference = public_results_difference(PUBLIC_FILE.read_text(), public_results())
    assert difference is None, f"tlcourse/checks/public.json is stale at {difference}: run `tlcourse lessons`"
    assert not write_public_results(check=True)


def test_public_results_differ_where_a_case_differs_not_where_a_model_rounds_otherwise():
    stored = json.loads(PUBLIC_FILE.read_text())
    entry = plain.decode(stored["6.5"], builds=True)
    entry["expected"][1]["features"] = entry["expected"][1]["features"] + 1e-5  # another CPU's last digit
    nudged = {**stored, "6.5": plain.encode(entry)}
    assert public_results_difference(PUBLIC_FILE.read_text(), json.dumps(nudged)) is None
    entry["expected"][1]["features"] = entry["expected"][1]["features"] + 1e-3
    moved = {**stored, "6.5": plain.encode(entry)}
    assert public_results_difference(PUBLIC_FILE.read_text(), json.dumps(moved)) == "6.5/expected[1]/features"
    changed = {**stored, "1.2": {**stored["1.2"]}}
    changed["1.2"] = plain.encode({**plain.decode(stored["1.2"], builds=True), "hidden_points": 1})
    assert public_results_difference(PUBLIC_FILE.read_text(), json.dumps(changed)) == "1.2/hidden_points"


def test_public_results_hold_no_answer_of_a_naming_exercise():
    stored = json.loads((ROOT / "tlcourse" / "checks" / "public.json").read_text())
    text = json.dumps(stored)
    for words in ("transductive (the task", "relational knowledge) is what", "the target has no labels"):
        assert words not in text
    for exercise_id in ("2.1", "6.4"):
        assert '"expected"' in json.dumps(stored[exercise_id]) and "null" in json.dumps(stored[exercise_id])


@pytest.fixture(scope="module")
def student_edition(tmp_path_factory):
    target = tmp_path_factory.mktemp("edition") / "course"
    written = release(target, "student")
    return target, written


def test_the_student_edition_has_lessons_and_package_but_no_answers(student_edition):
    target, written = student_edition
    assert {"lessons", "tlcourse", "pyproject.toml", "requirements.txt", "README.md"} <= set(written)
    assert not (target / "solutions").exists() and not (target / "tlcourse_keys").exists()
    names = {p.name for p in target.rglob("*")}
    assert "hidden.py" not in names and "tlcourse_keys" not in names
    assert (target / "tlcourse" / "checks" / "public.json").is_file()
    for notebook in (target / "lessons").glob("*.ipynb"):
        assert "BEGIN SOLUTION" not in notebook.read_text()
    assert 'include = ["tlcourse", "tlcourse.*"]' in (target / "pyproject.toml").read_text()


def test_a_release_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "x").write_text("keep me")
    from tlcourse.errors import CourseError

    with pytest.raises(CourseError, match="not empty"):
        release(tmp_path, "student")
    assert (tmp_path / "x").read_text() == "keep me"


def _in_edition(target: Path, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` against the edition's package with the answer keys unimportable."""
    prologue = f"import sys\nsys.modules['tlcourse_keys'] = None\nsys.path.insert(0, {str(target)!r})\n"
    return subprocess.run(
        [sys.executable, "-c", prologue + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=target,
    )


def test_checks_in_the_student_edition_give_specific_feedback(student_edition):
    target, _ = student_edition
    result = _in_edition(
        target,
        """
        import numpy as np, tlcourse
        from tlcourse.checks import evaluate, keys
        assert keys() is None and tlcourse.__file__.startswith(sys.path[0])
        def compare_runs(a, b):
            a, b = np.asarray(a, float), np.asarray(b, float)
            d, se = a.mean() - b.mean(), np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
            return float(d), float(se), bool(abs(d) > 2 * se)
        def population(a, b):
            a, b = np.asarray(a, float), np.asarray(b, float)
            d, se = a.mean() - b.mean(), np.sqrt(a.var() / len(a) + b.var() / len(b))
            return float(d), float(se), bool(abs(d) > 2 * se)
        print("right", evaluate("5.3", {"compare_runs": compare_runs}).status)
        print("population", "ddof=1" in evaluate("5.3", {"compare_runs": population}).message)
        print("hidden", "more point(s) come from hidden tests" in str(evaluate("5.3", {"compare_runs": compare_runs})))
        kinds = {"A": "inductive", "B": "transductive", "C": "inductive", "D": "transductive"}
        fb = evaluate("2.1", {"kinds": kinds, "transferred": {"A": "weights", "E": "data", "F": "relations"}})
        print("naming", fb.status, fb.points)
        partial = evaluate("2.1", {"kinds": {"A": "inductive"}, "transferred": {}})
        print("naming form", "scenario D is missing" in partial.message)
        """,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert "right pass" in lines and "population True" in lines and "hidden True" in lines
    assert "naming recorded 0" in lines and "naming form True" in lines


def test_no_function_in_the_student_edition_solves_an_exercise(student_edition, tmp_path):
    """Every public function of the edition's package, called as each exercise's answer, fails the check."""
    target, _ = student_edition
    result = _in_edition(
        target,
        f"""
        import importlib, inspect, json, os, pkgutil, warnings
        os.environ.update(TLCOURSE_CACHE={str(tmp_path / "cache")!r}, TLCOURSE_RESULTS={str(tmp_path / "results")!r})
        os.chdir({str(tmp_path)!r})
        warnings.simplefilter("ignore")
        import tlcourse
        from tlcourse.checks import REGISTRY, evaluate, load_all, public_cases, public_expected, verdict
        from tlcourse.checks import probe as probe_module
        from tlcourse.checks.probe import run_case
        probe_module.CALL_SECONDS = 3
        load_all()
        # The solar cells' own loader reads 2,624 images (> 2 s) before any argument is used: read them once,
        # so that a function calling it meets the deadline only for its own work.
        import functools
        import elpv_dataset.utils
        elpv_dataset.utils.load_dataset = functools.cache(elpv_dataset.utils.load_dataset)
        elpv_dataset.utils.load_dataset()
        skip = ("tlcourse.checks.probe", "tlcourse.checks.plain", "tlcourse.studentcopy", "tlcourse.__main__",
                "tlcourse.cli", "tlcourse.course", "tlcourse.bench", "tlcourse.grading", "tlcourse.release",
                "tlcourse.widgets")
        functions = {{}}
        for info in pkgutil.walk_packages(tlcourse.__path__, "tlcourse."):
            if info.name.startswith(skip):
                continue
            module = importlib.import_module(info.name)
            for name, f in vars(module).items():
                if inspect.isfunction(f) and f.__module__ == module.__name__:
                    functions[f"{{module.__name__}}.{{name}}"] = f
        solved, tried, judged = [], 0, 0
        for exercise_id, ex in sorted(REGISTRY.items()):
            all_cases = public_cases(exercise_id)
            expected = public_expected(exercise_id, all_cases)
            at = [i for i, c in enumerate(all_cases) if "call" in c]
            cases = [all_cases[i] for i in at]
            if not cases or ex.returns_none:
                continue
            for qualname, f in functions.items():
                try:
                    args = cases[0].get("args")
                    inspect.signature(f).bind(*([None] * (len(args) if isinstance(args, list) else 4)))
                except (TypeError, ValueError):
                    continue
                tried += 1
                first = run_case(cases[0], {{ex.names[0]: f}}, seconds=2)  # most candidates fail at once
                if not first['ok'] or first['value'] is None:
                    continue
                # Judged on the first case alone: a criterion it fails there fails in the whole check too
                # (the right answers fail none alone); a judge that needs every case errs, and then all run.
                report = {{"exercise": exercise_id, "missing": [], "stubs": [], "results": [first]}}
                report = json.loads(json.dumps(report))
                alone = verdict(ex, cases[:1], report, None if expected is None else expected[at[0] : at[0] + 1])
                if alone.status != "error" and alone.wrong:
                    continue
                judged += 1
                if evaluate(exercise_id, {{ex.names[0]: f}}).status == "pass":
                    solved.append((exercise_id, qualname))
        print("tried", tried, "functions", len(functions), "judged on every case", judged)
        print("solved", solved)
        """,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "solved []" in result.stdout, result.stdout[-2000:]
    tried = int(result.stdout.split("tried ")[1].split()[0])
    assert tried > 100, result.stdout  # the scan really called functions as answers


def test_a_release_for_a_repository_writes_it_into_every_colab_cell_and_carries_binder(tmp_path):
    import nbformat

    from tlcourse.links import colab_cell

    target = tmp_path / "course"
    release(target, "student", repo="https://github.com/uni/tl-course")
    for notebook in sorted((target / "lessons").glob("*.ipynb")):
        first = next(c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")
        assert first.source == colab_cell("https://github.com/uni/tl-course"), notebook.name
    assert (target / "binder" / "postBuild").stat().st_mode & 0o111, "repo2docker runs postBuild: executable"
    assert (target / "binder" / "requirements.txt").read_text().strip().endswith("-r ../requirements.txt")
    assert (target / "binder" / "start").read_text().count("TLCOURSE_QUICK=1") == 1
    with pytest.raises(CourseError, match="--repo"):
        release(tmp_path / "other", "student", repo="not a url")
