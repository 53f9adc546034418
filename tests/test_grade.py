"""The grader on a generated batch: worked solutions, untouched student copies, hostile copies.

Hostile submissions are small notebooks named like lesson 2 that carry its worked answers
plus something nasty; each must still be graded (zero only for what it broke), the grader
must exit 0, and nobody else's marks or files may change.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import tlcourse
from tlcourse.checks import exercises_of, lessons

ROOT = Path(__file__).resolve().parents[1]
LESSON2 = "02_what_is_transfer_learning"
FULL2 = {"2.1": 4, "2.2": 4, "2.3": 3, "2.4": 3}


def _answer_cells(lesson: str) -> list[str]:
    """The worked-answer cells of a lesson (each ends with its check call)."""
    nb = nbformat.read(ROOT / "solutions" / f"{lesson}.ipynb", as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code" and "check(" in c.source and "SOLUTION" in c.source]


PREAMBLE = "import numpy as np\nimport keras\nfrom tlcourse.checks import check"


def _notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _hostile(before: list[str] = (), after_first: list[str] = (), after_second: list[str] = ()) -> list[str]:
    answers = _answer_cells(LESSON2)
    return [PREAMBLE, *before, answers[0], *after_first, answers[1], *after_second, *answers[2:]]


HOSTILE = {
    "raises": _hostile(before=["raise RuntimeError('my code is broken')"]),
    "loops": _hostile(after_first=["while True:\n    pass"]),
    "sys_exit": _hostile(before=["import sys\nsys.exit(3)"]),
    "os_exit": _hostile(after_first=["import os\nos._exit(0)"]),
    "kills_kernel": _hostile(after_second=["import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"]),
    "fills_memory": _hostile(after_first=["blocks = []\nwhile True:\n    blocks.append(np.ones(50_000_000))"]),
    "vandal": [
        PREAMBLE,
        f"""
import pathlib, shutil, tlcourse
damage = []
target = pathlib.Path(tlcourse.__file__).parent / "checks" / "lesson02.py"
for attempt in (lambda: target.write_text("def evaluate(*a, **k): return 'full marks'"),
                lambda: shutil.rmtree(pathlib.Path(tlcourse.__file__).parent),
                lambda: shutil.rmtree({str(ROOT / "solutions")!r}),
                lambda: open({str(ROOT / "README.md")!r}, "w").write("gone")):
    try:
        attempt()
        damage.append("done")
    except OSError as err:
        damage.append(type(err).__name__)
print(damage)
""",
    ],
    "patcher": [
        PREAMBLE,
        """
import tlcourse.checks as c
from tlcourse.checks import Feedback
c.evaluate = lambda exercise_id, answers, hidden=False: Feedback(exercise_id, "", 99, 4, "pass")
c.Marker.criterion = lambda self, ok, right, wrong, points=1.0: setattr(self, "points", 99) or True
kinds = transferred = None
""",
        _answer_cells(LESSON2)[0].replace('"inductive", "B"', '"inductive", "B"'),
        """
def nearest_centroid(train_x, train_y, x):
    import tlcourse.checks as c
    c.Marker.criterion = lambda self, ok, right, wrong, points=1.0: setattr(self, "points", 99) or True
    return [0] * len(x)
check("2.3", nearest_centroid=nearest_centroid)
""",
    ],
    "snoop": [
        PREAMBLE,
        f"""
import json, pathlib
found = []
for folder in ({str(ROOT / "solutions")!r}, "SUBMISSIONS"):
    try:
        found += [p.name for p in pathlib.Path(folder).rglob("*.ipynb")]
    except OSError as err:
        found.append(type(err).__name__)
source = ""
for name in found:
    try:
        nb = json.loads(pathlib.Path({str(ROOT / "solutions")!r}, name).read_text())
        source += "\\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    except OSError:
        pass
print("found", found, len(source))
exec(source) if "def nearest_centroid" in source else None
""",
    ],
    "network": _hostile(
        before=[
            "import urllib.request\ntry:\n    urllib.request.urlopen('https://pypi.org', timeout=20)"
            "\nexcept OSError as err:\n    print('offline:', err)"
        ]
    ),
}


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def _grades(out: Path) -> dict[tuple[str, str], dict]:
    with open(out / "grades.csv") as f:
        return {(r["student"], r["exercise"]): r for r in csv.DictReader(f)}


ARTIFACTS = ROOT / "build" / "test-artifacts"


def _grade(submissions: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the grader CLI; its printed summary and grades.csv are kept as test artefacts."""
    result = subprocess.run(
        [sys.executable, "-m", "tlcourse", "grade", str(submissions), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = submissions.parent.name.rstrip("0123456789")
    (ARTIFACTS / f"grade-{name}.txt").write_text(result.stdout + "\n--- stderr (tail) ---\n" + result.stderr[-3000:])
    for produced in ("grades.csv", "runs.csv"):
        if (out / produced).exists():
            shutil.copy(out / produced, ARTIFACTS / f"grade-{name}-{produced}")
    return result


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("hostile") / "submissions"
    for student, cells in {"worked": _hostile(), **HOSTILE}.items():
        (submissions / student).mkdir(parents=True)
        cells = [c.replace("SUBMISSIONS", str(submissions)) for c in cells]
        _notebook(submissions / student / f"{LESSON2}.ipynb", cells)
    before = {"package": _digest(Path(tlcourse.__file__).parent), "submissions": _digest(submissions)}
    out = submissions.parent / "out"
    result = _grade(submissions, out, "--timeout", "60", "--memory-gb", "2", "--jobs", "2")
    return result, _grades(out), out, before, submissions


def test_grader_exits_0_and_reports_every_student(hostile_batch):
    result, grades, out, _, _ = hostile_batch
    assert result.returncode == 0, result.stderr[-3000:]
    students = {s for s, _ in grades}
    assert students == {"worked", *HOSTILE}
    assert all((out / "feedback" / f"{s}.md").exists() for s in students)
    assert "worked" in result.stdout and "total" in result.stdout  # the summary table
    assert list(csv.reader(open(out / "grades.csv")))[0] == [
        "student",
        "notebook",
        "exercise",
        "points",
        "max_points",
        "status",
        "message",
    ]


def _points(grades, student):
    return {ex: float(grades[(student, ex)]["points"]) for ex in FULL2}


def test_worked_answers_and_harmless_noise_get_full_marks(hostile_batch):
    _, grades, _, _, _ = hostile_batch
    for student in ("worked", "raises", "sys_exit", "network"):
        assert _points(grades, student) == FULL2, student


@pytest.mark.parametrize(
    "student, kept, status",
    [
        ("loops", ["2.1"], "timeout"),
        ("os_exit", ["2.1"], "died"),
        ("kills_kernel", ["2.1", "2.2"], "died"),
        ("fills_memory", ["2.1"], "memory"),
    ],
)
def test_work_before_the_breakage_counts_and_the_rest_is_zero_with_the_reason(hostile_batch, student, kept, status):
    _, grades, _, _, _ = hostile_batch
    points = _points(grades, student)
    for ex, full in FULL2.items():
        row = grades[(student, ex)]
        if ex in kept:
            assert points[ex] == full, (student, ex, row)
        else:
            assert points[ex] == 0 and row["status"] == status and row["message"], (student, ex, row)


def test_vandalism_changes_nothing_outside_its_copy(hostile_batch):
    _, grades, _, before, submissions = hostile_batch
    assert _digest(Path(tlcourse.__file__).parent) == before["package"]
    assert (ROOT / "solutions").is_dir() and (ROOT / "README.md").read_text().startswith("# tlcourse")
    assert sum(_points(grades, "vandal").values()) == 0
    assert _points(grades, "worked") == FULL2


def test_patching_the_checks_gains_nothing(hostile_batch):
    _, grades, _, _, _ = hostile_batch
    points = _points(grades, "patcher")
    assert points["2.1"] == FULL2["2.1"]  # its honest answer still counts
    assert points["2.3"] == 0 and "changed the checks" in grades[("patcher", "2.3")]["message"]
    assert points["2.2"] == points["2.4"] == 0


def test_reading_the_solutions_or_other_students_finds_nothing(hostile_batch):
    _, grades, out, _, _ = hostile_batch
    assert sum(_points(grades, "snoop").values()) == 0


@pytest.fixture(scope="module")
def course_batch(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("course") / "submissions"
    (submissions / "solutions").mkdir(parents=True)
    (submissions / "untouched").mkdir()
    (submissions / "partial").mkdir()
    for lesson in lessons():
        shutil.copy(ROOT / "solutions" / f"{lesson}.ipynb", submissions / "solutions")
        shutil.copy(ROOT / "lessons" / f"{lesson}.ipynb", submissions / "untouched")
    shutil.copy(ROOT / "solutions" / f"{LESSON2}.ipynb", submissions / "partial")
    out = submissions.parent / "out"
    result = _grade(submissions, out, "--timeout", "600", "--jobs", "2")
    with open(out / "runs.csv") as f:
        runs = {(r["student"], r["notebook"]): r for r in csv.DictReader(f)}
    return result, _grades(out), runs


def test_worked_solutions_get_full_marks_in_every_lesson(course_batch):
    result, grades, _ = course_batch
    assert result.returncode == 0, result.stderr[-3000:]
    for lesson in lessons():
        for ex in exercises_of(lesson):
            row = grades[("solutions", ex.id)]
            assert row["status"] == "pass" and float(row["points"]) == float(row["max_points"]), row


def test_untouched_student_copies_get_zero_without_crashing(course_batch):
    _, grades, _ = course_batch
    rows = [r for (s, _), r in grades.items() if s == "untouched"]
    assert rows and all(float(r["points"]) == 0 for r in rows)
    assert all(r["status"] in ("missing", "fail") for r in rows), {r["status"] for r in rows}


def test_missing_notebooks_score_zero_with_the_reason(course_batch):
    _, grades, _ = course_batch
    row = grades[("partial", "1.1")]
    assert row["status"] == "missing" and "not submitted" in row["message"] and float(row["points"]) == 0
    assert float(grades[("partial", "2.1")]["points"]) == 4


def test_every_lesson_and_solution_runs_to_the_end_in_quick_mode_without_an_error(course_batch):
    """The grader executed each master and each student copy in a fresh kernel (CI's run of them)."""
    _, _, runs = course_batch
    for student in ("solutions", "untouched"):
        for lesson in lessons():
            row = runs[(student, f"{lesson}.ipynb")]
            assert row["status"] == "ok" and row["cell_errors"] == "0", row
    assert runs[("partial", "01_why_scratch_is_hard.ipynb")]["status"] == "missing"
