"""The grader on the course itself: worked solutions get full marks, untouched copies zero.

Also what an instructor meets around a batch: hidden tests that count, a hidden-tests file that
registers nothing, a machine where no box can be built, the student edition asked to grade.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tlcourse.checks import exercises_of, lessons
from tlcourse.grading.intake import parse_notebook, safe_name, unchanged_release
from tlcourse.manifest import by_number

from lesson2_work import LIGHT, LIGHT_PREAMBLE, write_notebook

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "build" / "test-artifacts"
LESSON2 = by_number(2).name


def _grades(out: Path) -> dict[tuple[str, str], dict]:
    with open(out / "grades.csv", newline="") as f:
        return {(r["student"], r["exercise"]): r for r in csv.DictReader(f)}


def _grade(submissions: Path, out: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the grader CLI; its printed summary and CSVs are kept as test artefacts."""
    result = subprocess.run(
        [sys.executable, "-m", "tlcourse", "grade", str(submissions), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=3600,
        env=env,
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = submissions.parent.name.rstrip("0123456789")
    (ARTIFACTS / f"grade-{name}.txt").write_text(result.stdout + "\n--- stderr (tail) ---\n" + result.stderr[-3000:])
    for produced in ("grades.csv", "runs.csv"):
        if (out / produced).exists():
            shutil.copy(out / produced, ARTIFACTS / f"grade-{name}-{produced}")
    return result


WHOLE = by_number(6).name  # the master the box runs whole: three data sets, scratch, frozen and the cut cache


def _definitions(cell: nbformat.NotebookNode) -> list[str]:
    """The imports, functions and classes a code cell defines at its top level (what an answer may call)."""
    if cell.cell_type != "code":
        return []
    try:
        body = ast.parse(cell.source).body
    except SyntaxError:
        return []
    kinds = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
    return [ast.get_source_segment(cell.source, node) for node in body if isinstance(node, kinds)]


def answers_only(master: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A master's set-up cells (before its first section), the lesson's definitions, and its exercises.

    The lesson's computations are what nbval runs in ``lessons/``; here they would only repeat that
    work in the box. Its definitions stay (one cell of them, nothing else of those cells), since an
    answer may call one: 4.4 calls section 5's ``tracked_by_optimizer``. Exercise cells that go on to
    apply an answer to the lesson's own results then fail (a ``NameError`` after the ``check``); the
    grader judges the answers, not those lines.
    """
    cells = master.cells
    first = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## "))
    exercises = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## Exerc"))
    definitions = [d for c in cells[first:exercises] for d in _definitions(c)]
    helpers = [nbformat.v4.new_code_cell("\n\n\n".join(definitions))] if definitions else []
    return nbformat.v4.new_notebook(metadata=master.metadata, cells=cells[:first] + helpers + cells[exercises:])


@pytest.fixture(scope="module")
def course_batch(tmp_path_factory):
    """The worked answers of every lesson, every untouched student copy, a student who handed in lesson 2 only.

    The worked answers are the masters' answers alone, but for one master run whole (``WHOLE``): every
    lesson runs whole under nbval (``lessons/``), so the box need not repeat all six. ``lessons/`` runs
    under nbval before ``tests/`` (pyproject's testpaths): the features and decoded images it caches are
    what the boxes read from the grader's cache, so each lesson's extraction is done once for both.
    """
    submissions = tmp_path_factory.mktemp("course") / "submissions"
    for student in ("solutions", "untouched", "partial"):
        (submissions / student).mkdir(parents=True)
    for lesson in lessons():
        master = nbformat.read(ROOT / "solutions" / f"{lesson}.ipynb", as_version=4)
        handed_in = master if lesson == WHOLE else answers_only(master)
        nbformat.write(handed_in, submissions / "solutions" / f"{lesson}.ipynb")
        shutil.copy(ROOT / "lessons" / f"{lesson}.ipynb", submissions / "untouched")
    write_notebook(submissions / "partial" / f"{LESSON2}.ipynb", [LIGHT_PREAMBLE, *LIGHT])
    out = submissions.parent / "out"
    result = _grade(submissions, out, "--timeout", "600", "--jobs", "2")
    with open(out / "runs.csv", newline="") as f:
        runs = {(r["student"], r["notebook"]): r for r in csv.DictReader(f)}
    return result, _grades(out), runs


def test_worked_solutions_get_full_marks_in_every_lesson(course_batch):
    result, grades, _ = course_batch
    assert result.returncode == 0, result.stderr[-3000:]
    for lesson in lessons():
        for ex in exercises_of(lesson):
            row = grades[("solutions", ex.id)]
            assert row["status"] == "pass" and float(row["points"]) == float(row["max_points"]), row


def test_untouched_student_copies_get_zero_and_are_not_run(course_batch):
    """The released copies, unchanged, are recognised from their text: zero marks, no box started.

    That every student copy runs to the end is nbval's check (``lessons/`` runs first in this suite).
    """
    _, grades, runs = course_batch
    rows = [r for (s, _), r in grades.items() if s == "untouched"]
    assert len(rows) == sum(len(exercises_of(lesson)) for lesson in lessons())
    assert all(float(r["points"]) == 0 and r["status"] == "missing" for r in rows), rows
    assert all("released copy, unchanged" in r["message"] for r in rows), rows
    for lesson in lessons():
        row = runs[("untouched", f"{lesson}.ipynb")]
        assert row["status"] == "unchanged" and float(row["seconds"]) == 0, row


def test_missing_notebooks_score_zero_with_the_reason(course_batch):
    _, grades, runs = course_batch
    row = grades[("partial", "1.1")]
    assert row["status"] == "missing" and "not submitted" in row["message"] and float(row["points"]) == 0
    assert runs[("partial", by_number(1).notebook)]["status"] == "missing"
    assert float(grades[("partial", "2.1")]["points"]) == 4


def test_a_whole_master_runs_to_the_end_in_the_box_in_quick_mode_without_an_error(course_batch):
    """The grader executed lesson 6's master in a fresh, boxed kernel: a whole lesson's code runs in the box.

    The answers of the other lessons ran to the end too (their cells that need the lesson's results fail).
    """
    _, _, runs = course_batch
    for lesson in lessons():
        row = runs[("solutions", f"{lesson}.ipynb")]
        assert row["status"] == "ok" and float(row["seconds"]) > 0, row
        if lesson == WHOLE:
            assert row["cell_errors"] == "0", row


def test_the_released_copy_is_recognised_from_what_is_written_in_it_and_nothing_else():
    """Running and saving it changes nothing; one character written, a cell added or removed: it is run."""
    data = (ROOT / "lessons" / f"{LESSON2}.ipynb").read_bytes()
    assert unchanged_release(parse_notebook(data, "a"), LESSON2)
    assert not unchanged_release(parse_notebook(data, "a"), by_number(1).name)  # another lesson's copy

    def changed(edit) -> bool:
        nb = json.loads(data)
        edit(nb["cells"])
        return not unchanged_release(parse_notebook(json.dumps(nb).encode(), "a"), LESSON2)

    code = [i for i, c in enumerate(json.loads(data)["cells"]) if c["cell_type"] == "code"]
    markdown = [i for i, c in enumerate(json.loads(data)["cells"]) if c["cell_type"] == "markdown"]

    def ran(cells):  # what Jupyter writes when the copy is run and saved as it is
        for i, cell in enumerate(cells):
            cell["id"], cell["metadata"] = f"x{i}", {"execution": {"iopub.status.idle": "now"}}
            if cell["cell_type"] == "code":
                cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["2.3 passed\n"]}]
                cell["execution_count"] = i

    def as_lines(cells):
        for cell in cells:
            cell["source"] = "".join(cell["source"]).splitlines(keepends=True)

    assert not changed(ran) and not changed(as_lines)
    assert changed(lambda cells: cells[code[-1]].update(source="".join(cells[code[-1]]["source"]) + " "))
    assert changed(lambda cells: cells[markdown[-1]].update(source="my answer"))
    assert changed(lambda cells: cells.append({"cell_type": "code", "source": "", "metadata": {}, "outputs": []}))
    assert changed(lambda cells: cells.pop(code[0]))


# --------------------------------------------------------------------------- around the batch

HIDDEN = """
import numpy as np
from tlcourse.checks import hidden_test
from tlcourse.checks.answers import as_array

def cases(rng):
    train_x = rng.normal(0, 1, (30, 3)) + np.repeat([[5, 0, 0], [-5, 0, 0]], 15, axis=0)
    train_y = np.repeat([-4, 9], 15)
    return [{"label": "negative labels", "call": "nearest_centroid", "args": [train_x, train_y, train_x[::3]]}]

@hidden_test("2.3", points=2, cases=cases)
def negative_labels(m, cases, results):
    got = as_array(results[0].value) if results[0].ok else None
    want = np.repeat([-4, 9], 15)[::3]
    ok = got is not None and np.array_equal(got.reshape(-1), want)
    m.criterion(ok, "works with negative labels", "wrong with labels -4 and 9", 2)
"""


@pytest.fixture(scope="module")
def one_student(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("one") / "submissions"
    (submissions / "ada").mkdir(parents=True)
    write_notebook(submissions / "ada" / f"{LESSON2}.ipynb", [LIGHT_PREAMBLE, *LIGHT])  # seconds to grade
    return submissions


def test_hidden_tests_from_a_file_are_applied_and_counted(one_student, tmp_path):
    hidden = tmp_path / "hidden_tests.py"
    hidden.write_text(HIDDEN)
    out = tmp_path / "out"
    result = _grade(one_student, out, "--hidden-tests", str(hidden))
    assert result.returncode == 0, result.stderr[-3000:]
    row = _grades(out)[("ada", "2.3")]
    assert float(row["max_points"]) == 3 + 2 and float(row["points"]) == 5, row
    assert "(hidden test) works with negative labels" in row["message"]


def test_the_notebook_with_the_most_code_is_graded_first(tmp_path):
    """One job: the students' order would grade ada's short notebook first; the longer one goes first."""
    submissions = tmp_path / "submissions"
    for student, answers in (("ada", LIGHT[:1]), ("bob", LIGHT)):
        (submissions / student).mkdir(parents=True)
        write_notebook(submissions / student / f"{LESSON2}.ipynb", [LIGHT_PREAMBLE, *answers])
    result = _grade(submissions, tmp_path / "out", "--jobs", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    done = [line for line in result.stderr.splitlines() if f"{LESSON2}: ok" in line]
    assert len(done) == 2 and " bob " in done[0] and " ada " in done[1], done


def test_a_hidden_tests_file_that_registers_nothing_is_an_error(one_student, tmp_path):
    empty = tmp_path / "empty.py"
    empty.write_text("# nothing here\n")
    result = _grade(one_student, tmp_path / "out", "--hidden-tests", str(empty))
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1].startswith("tlcourse: error:")
        and "defines no hidden test" in result.stderr
    )
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_without_a_box_the_grader_refuses_with_one_line_unless_told(one_student, tmp_path):
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no bwrap on the PATH
    result = _grade(one_student, tmp_path / "out", env=env)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tlcourse: error: cannot build the grading box") and "--no-sandbox" in last
    result = _grade(one_student, tmp_path / "trusted", "--no-sandbox", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "NOT sandboxed" in result.stdout
    assert float(_grades(tmp_path / "trusted")[("ada", "2.1")]["points"]) == 4


def test_the_student_edition_cannot_grade(one_student, tmp_path):
    code = (
        "import sys; sys.modules['tlcourse_keys'] = None\n"
        "from tlcourse.cli import main\n"
        f"sys.exit(main(['grade', {str(one_student)!r}, '--out', {str(tmp_path / 'out')!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "student edition" in result.stderr.strip().splitlines()[-1]


# --------------------------------------------------------------------------- intake, no kernel needed


@pytest.mark.parametrize(
    "data, words",
    [
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b'{"cells": [', "not valid JSON"),
        (b'{"nbformat": 3, "cells": []}', "nbformat 4"),
        (b'{"nbformat": 4, "cells": [{"cell_type": "evil"}]}', "malformed"),
        (b"SECRET-CONTENT-7f3a", "not valid JSON"),
    ],
)
def test_a_broken_notebook_is_named_but_never_quoted(data, words):
    submission = parse_notebook(data, "x.ipynb")
    assert submission.status == "invalid" and words in submission.message
    assert "SECRET" not in submission.message and "evil" not in submission.message


def test_safe_names_are_distinct_and_inert():
    long = "é" * 150  # 300 bytes in UTF-8, 900 once encoded: shortened, with a hash of the whole name
    names = ["alice", "=1+2", "a b", "%41", "A", ".hidden", "José", "x\ny", "../up", "\u0430lice", "a@b.example"]
    names += [long + "1", long + "2", "\u202egnp.exe", "www.x.example"]
    labels = [safe_name(n) for n in names]
    assert len(set(labels)) == len(names)
    assert labels[0] == "alice" and labels[6] == "Jos%C3%A9" and labels[9] != "alice"
    for label in labels:
        assert "/" not in label and "\n" not in label and not label.startswith((".", "=", "+"))
        assert "@" not in label and label.isascii() and len(label.encode()) <= 200, label
    assert labels[11].endswith("~" + labels[11].rsplit("~", 1)[1]) and "~" not in "".join(labels[:11])


def test_a_notebook_without_a_parameters_cell_or_kernelspec_still_runs(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    submission = parse_notebook(nbformat.writes(nb).encode(), "n.ipynb")
    assert submission.status == "ok"
    from tlcourse.grading.runner import prepare_notebook

    cells = prepare_notebook(submission.notebook).cells
    assert "QUICK = True" in cells[0].source and cells[1].source == "x = 1"


def test_boxes_die_with_a_grader_that_is_killed(tmp_path):
    marker = f"tlcourse-orphan-{os.getpid()}"
    submissions = tmp_path / "submissions"
    (submissions / "sleeper").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            f"import subprocess, time\nsubprocess.Popen(['sh', '-c', 'sleep 600 #{marker}'])\ntime.sleep(600)"
        )
    ]
    nbformat.write(nb, submissions / "sleeper" / f"{LESSON2}.ipynb")
    grader = subprocess.Popen(
        [sys.executable, "-m", "tlcourse", "grade", str(submissions), "--out", str(tmp_path / "out")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def left():
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        return [line for line in ps.splitlines() if marker in line and "ps -eo" not in line]

    try:
        for _ in range(240):
            if left():
                break
            time.sleep(0.5)
        assert left(), "the notebook never started its process"
    finally:
        grader.kill()
        grader.wait()
    for _ in range(40):
        if not left():
            break
        time.sleep(0.25)
    assert left() == []
    # A killed grader cannot remove its box's cgroups; the next grader does, at once (its owner is dead).
    from tlcourse.grading.box import Limiter, cgroup_roots

    roots = cgroup_roots()
    if roots:
        mine = lambda: [p for root in roots.values() for p in root.glob(f"tlcourse-box-{grader.pid}-*")]  # noqa: E731
        assert Limiter.remove_stale(roots) == 0  # the box's processes may still be exiting: it waits for them
        assert mine() == []


def test_a_process_left_in_a_dead_graders_box_is_killed_and_its_cgroup_removed():
    from tlcourse.grading.box import Limiter, cgroup_roots

    roots = cgroup_roots()
    if not roots:
        pytest.skip("no writable cgroups here: nothing to leave behind")
    gone = subprocess.Popen(["true"])
    gone.wait()  # a grader that is gone: its pid names the box
    paths = [root / f"tlcourse-box-{gone.pid}-0123456789ab" for root in roots.values()]
    for path in paths:
        path.mkdir()
    join = 'for g in "$@"; do echo $$ > "$g/cgroup.procs"; done'
    survivor = subprocess.Popen(["/bin/sh", "-c", f"{join}; exec sleep 300", "box", *map(str, paths)])
    try:
        for _ in range(100):
            if (paths[0] / "cgroup.procs").read_text().split():
                break
            time.sleep(0.05)
        assert (paths[0] / "cgroup.procs").read_text().split(), "the survivor never joined its box"
        assert Limiter.remove_stale(roots) == 0
        assert survivor.wait(timeout=10) == -9  # SIGKILL
        assert [p for p in paths if p.exists()] == []
    finally:
        survivor.kill()
        for path in paths:
            if path.exists():
                path.rmdir()


def test_a_box_whose_outer_process_dies_first_leaves_no_cgroup(tmp_path):
    """The orphaned inner process dies as a zombie; where PID 1 reaps nothing it would pin the cgroup."""
    from tlcourse.grading.box import Limiter, Limits

    limiter = Limiter(Limits(memory_bytes=2**30, processes=64))
    if not limiter.mode.startswith("cgroup"):
        pytest.skip(f"no writable cgroups here ({limiter.mode}): nothing to leave behind")
    join = 'for g in "$@"; do echo $$ > "$g/cgroup.procs"; done'
    outer = subprocess.Popen(["/bin/sh", "-c", f"{join}; sleep 300 & exec sleep 301", "box", *map(str, limiter.paths)])
    for _ in range(100):
        if len((limiter.paths[0] / "cgroup.procs").read_text().split()) == 2:
            break
        time.sleep(0.05)
    assert len((limiter.paths[0] / "cgroup.procs").read_text().split()) == 2, "the box never started"
    limiter.start(outer.pid)
    outer.kill()  # the outer process first: its child is orphaned
    outer.wait()
    limiter.end()
    assert [p for p in limiter.paths if p.exists()] == []


# --------------------------------------------------------------------------- resume


def _class_of(submissions: Path, n: int) -> None:
    for k in range(n):
        (submissions / f"s{k}").mkdir(parents=True)
        write_notebook(submissions / f"s{k}" / f"{LESSON2}.ipynb", [LIGHT_PREAMBLE, *LIGHT])


def _stored(out: Path, pattern: str = f"*/{LESSON2}.json") -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "results").glob(pattern))}


def test_a_batch_killed_with_kill_9_resumes_losing_nothing_and_grading_nothing_twice(tmp_path):
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    _class_of(submissions, 3)
    command = [sys.executable, "-m", "tlcourse", "grade", str(submissions), "--out", str(out), "--jobs", "2"]
    grader = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):
            if len(_stored(out)) >= 1 or grader.poll() is not None:
                break
            time.sleep(0.1)
        grader.kill()  # SIGKILL, mid-batch: some notebooks done, others in flight
    finally:
        grader.wait()
    before, stored_at_kill = _stored(out), len(_stored(out, "*/*.json"))
    assert 1 <= len(before) < 3, f"the kill came at a bad moment: {len(before)} of 3 notebooks were stored"
    assert not (out / "grades.csv").exists()

    resumed = _grade(submissions, out, "--jobs", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    total = 3 * len(lessons())  # 3 lesson-2 notebooks and 15 missing ones, each a stored result
    assert f"graded {total - stored_at_kill} notebooks, reused {stored_at_kill} stored results" in resumed.stdout
    after = _stored(out)
    assert len(after) == 3 and all(after[name] == data for name, data in before.items())  # none graded twice
    resumed_csv = (out / "grades.csv").read_text()

    # --regrade: the whole class again, uninterrupted, with the same secret: the same grades
    regraded = _grade(submissions, out, "--jobs", "2", "--regrade")
    assert f"graded {total} notebooks, reused 0" in regraded.stdout
    assert (out / "grades.csv").read_text() == resumed_csv

    # a changed notebook is graded again, and only it
    write_notebook(submissions / "s0" / f"{LESSON2}.ipynb", [LIGHT_PREAMBLE])
    again = _grade(submissions, out)
    assert f"graded 1 notebooks, reused {total - 1} stored results" in again.stdout
    assert float(_grades(out)[("s0", "2.3")]["points"]) == 0 and float(_grades(out)[("s1", "2.3")]["points"]) == 3


def test_a_dask_cluster_gives_the_grades_of_the_local_path(tmp_path):
    """A real distributed.LocalCluster, two worker processes: each grades in its own box."""
    distributed = pytest.importorskip("distributed")
    submissions, local, remote = tmp_path / "submissions", tmp_path / "local", tmp_path / "remote"
    _class_of(submissions, 2)
    assert _grade(submissions, local, "--jobs", "2").returncode == 0
    remote.mkdir()
    shutil.copy(local / ".grading-secret", remote / ".grading-secret")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        result = _grade(submissions, remote, "--scheduler", cluster.scheduler_address)
        ran = cluster.scheduler.task_prefixes.get("grade_task")
        on_workers = ran.state_counts["memory"] if ran is not None else 0  # tasks that finished on a worker
    assert result.returncode == 0, result.stderr[-3000:]
    assert on_workers == 2 * len(lessons()), on_workers  # every notebook was a task on the cluster
    assert (remote / "grades.csv").read_text() == (local / "grades.csv").read_text()
