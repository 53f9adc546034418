"""A lesson added the way CONTRIBUTING.md says: a manifest line, a checks module, a keys module, a master.

The course is copied into a temporary folder (its package, its keys), the toy lesson is added there,
and that copy is put first on the path of every process the course starts: ``tlcourse lessons``
writes the student copy and the public results, a kernel runs ``check()`` in the notebook, and
``tlcourse grade`` runs the notebooks in the box and judges them. The copy's manifest lists the toy
lesson alone, so that the test pays for one lesson, not seven.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOY = "99_toy_lesson"

CHECKS = '''"""Checks of the toy lesson: one exercise."""

from tlcourse.checks.registry import exercise


def cases_double(rng):
    values = [1.5, -2.0] if rng is None else [float(v) for v in rng.uniform(-10, 10, 4)]
    return [{"label": f"double({v:g})", "call": "double", "args": [v]} for v in values]


@exercise("99.1", "Double a number", names=("double",), points=2, hint="Section 1 shows it.", cases=cases_double)
def judge_double(m, cases, results, expected):
    for case, result, exp in zip(cases, results, expected):
        ok = result.ok and isinstance(result.value, float) and result.value == exp["value"]
        m.criterion(ok, f"{case['label']} right", f"{case['label']} is not right", 2 / len(cases))
'''

KEYS = '''"""Answer keys of the toy lesson."""

EXPECTED = {"99.1": lambda case: {"value": 2 * case["args"][0]}}
'''

ANSWER = """### BEGIN SOLUTION
#> def double(x):
#>     return None
def double(x):
    return 2.0 * x
### END SOLUTION
from tlcourse.checks import check

check("99.1", double=double)"""


def _course_copy(folder: Path) -> dict:
    """The course's package and keys copied to ``folder``, the toy lesson added; the environment that uses it."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "tlcourse", folder / "tlcourse", ignore=ignore)
    shutil.copytree(ROOT / "tlcourse_keys", folder / "tlcourse_keys", ignore=ignore)
    (folder / "tlcourse" / "checks" / "lesson99.py").write_text(CHECKS)
    (folder / "tlcourse_keys" / "lesson99.py").write_text(KEYS)
    manifest = folder / "tlcourse" / "manifest.py"
    text = manifest.read_text()
    start = text.index("LESSONS: tuple[Lesson, ...] = (")
    end = text.index("\n)\n", start) + 3
    line = f'LESSONS: tuple[Lesson, ...] = (Lesson(99, "{TOY}", "lesson99", "lesson99"),)\n'
    manifest.write_text(text[:start] + line + text[end:])
    master = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("QUICK = False")
    parameters.metadata["tags"] = ["parameters"]
    master.cells = [nbformat.v4.new_markdown_cell("# A toy lesson\n\n## Section 1\nDoubling."), parameters]
    master.cells.append(nbformat.v4.new_code_cell(ANSWER))
    master.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (folder / "solutions").mkdir()
    nbformat.write(master, folder / "solutions" / f"{TOY}.ipynb")
    return {**os.environ, "PYTHONPATH": str(folder)}


def _outputs(nb) -> str:
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    return "\n".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs)


@pytest.fixture(scope="module")
def toy_course(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy-course")
    env = _course_copy(folder)
    lessons = subprocess.run(
        [sys.executable, "-m", "tlcourse", "lessons", "--solutions", "solutions", "--lessons", "lessons"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert lessons.returncode == 0, lessons.stdout + lessons.stderr
    return folder, env


def test_the_student_copy_and_the_public_results_come_from_the_one_path(toy_course):
    folder, _ = toy_course
    copy = nbformat.read(folder / "lessons" / f"{TOY}.ipynb", as_version=4)
    code = "\n".join(c.source for c in copy.cells if c.cell_type == "code")
    assert "return 2.0 * x" not in code and "return None" in code and 'check("99.1"' in code
    public = json.loads((folder / "tlcourse" / "checks" / "public.json").read_text())
    assert set(public) == {"$sources", "99.1"}


def test_check_in_the_notebook_marks_the_toy_exercise(toy_course, monkeypatch):
    from nbclient import NotebookClient

    folder, env = toy_course
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])  # the kernel is started with this environment
    verdicts = {}
    for name, path in (("worked", folder / "solutions"), ("untouched", folder / "lessons")):
        nb = nbformat.read(path / f"{TOY}.ipynb", as_version=4)
        NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(folder)}}).execute()
        verdicts[name] = _outputs(nb)
    assert "Exercise 99.1 — Double a number: 2/2 points" in verdicts["worked"], verdicts["worked"]
    assert "0/2 points" in verdicts["untouched"] and "stub" in verdicts["untouched"], verdicts["untouched"]


def test_the_grader_runs_and_judges_the_toy_lesson(toy_course):
    folder, env = toy_course
    submissions = folder / "submissions"
    for student, source in (("alice", "solutions"), ("bob", "lessons")):
        (submissions / student).mkdir(parents=True)
        shutil.copy(folder / source / f"{TOY}.ipynb", submissions / student / f"{TOY}.ipynb")
    result = subprocess.run(
        [sys.executable, "-m", "tlcourse", "grade", str(submissions), "--out", str(folder / "out")],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(folder / "out" / "grades.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"alice", "bob"}
    assert rows["alice"]["exercise"] == "99.1" and float(rows["alice"]["points"]) == 2, rows["alice"]
    assert float(rows["bob"]["points"]) == 0, rows["bob"]
