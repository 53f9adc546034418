"""``tlcourse grade``: mark a class's notebooks so that no student can mark their own.

The trust boundary (README, "Grading: the threat model"):

1. **Intake** (``intake``): student folders are read as data; links, odd files and oversized
   notebooks are refused with a reason; nothing is copied.
2. **The box** (``box``, ``runner``): each notebook runs in a fresh kernel inside bubblewrap (an
   allow-listed, read-only view of the system, no network, uid nobody, no capabilities, its own
   PID namespace), under a memory and process limit that covers everything it holds, against a
   deadline per notebook and per check. Beside the student's code, probes call their functions
   on cases drawn for this notebook from a secret seed, and report plain data.
3. **The judge** (``judge``): a separate, isolated process that never runs student code decides
   every mark from those reports, against the answer keys, clamped to the registry's points.

One broken or hostile notebook never stops the batch: whatever happens becomes that notebook's
marks with the reason. Writes ``OUT/grades.csv`` (one row per exercise), ``OUT/runs.csv`` (one
row per notebook), ``OUT/feedback/<student>.md`` and prints a summary table.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tlcourse.cache import atomic_write_bytes
from tlcourse.checks import Feedback, exercises_of, keys, lessons, load_hidden_tests, load_keys_hidden, plain
from tlcourse.errors import CourseError
from tlcourse.grading import report
from tlcourse.grading.box import BoxSpec, Limiter, Limits, box_problem, finish_cleanups
from tlcourse.grading.intake import find_submission, safe_name, student_folders
from tlcourse.grading.judge import grading_cases, judge_in_subprocess, max_points, probe_input
from tlcourse.grading.runner import NotebookRun, run_notebook

SECRET_FILE = ".grading-secret"  # in OUT: the seed of every notebook's cases (a rerun draws the same)


@dataclass
class GradeOptions:
    timeout: float = 300
    jobs: int = 1
    memory_gb: float = 4.0
    hidden_file: Path | None = None
    check_timeout: float = 60
    sandbox: bool = True


@dataclass
class NotebookResult:
    student: str  # the folder name as it is (outputs write it through ``safe_name``)
    lesson: str
    run: NotebookRun
    feedback: list[Feedback]


def _zero(lesson: str, status: str, message: str) -> list[Feedback]:
    return [Feedback(ex.id, ex.title, 0, max_points(ex), status, wrong=[message]) for ex in exercises_of(lesson)]


def notebook_seed(secret: str, student: str, lesson: str) -> int:
    """The seed of one notebook's grading cases: unknown to students, the same when graded again."""
    digest = hashlib.sha256(f"{secret}\0{student}\0{lesson}".encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "little")


def grade_notebook(student: str, folder: Path, lesson: str, options: GradeOptions, secret: str) -> NotebookResult:
    """Read, run and judge one student's notebook for ``lesson``; every failure becomes marks."""
    submission = find_submission(folder, lesson)
    if submission.status != "ok":
        return NotebookResult(
            student,
            lesson,
            NotebookRun(submission.status, submission.message),
            _zero(lesson, submission.status, submission.message),
        )
    seed = notebook_seed(secret, student, lesson)
    ids = [ex.id for ex in exercises_of(lesson)]
    with tempfile.TemporaryDirectory(prefix="tlcourse-grade-") as tmp:
        tmp = Path(tmp)
        runtime, cases_dir, judge_dir = tmp / "runtime", tmp / "in", tmp / "judge"
        for d in (runtime, cases_dir, judge_dir):
            d.mkdir(mode=0o700)
        cases = probe_input(grading_cases(lesson, seed))
        (cases_dir / "cases.json").write_text(json.dumps(plain.encode(cases)))
        limits = Limits(memory_bytes=int(options.memory_gb * 2**30))
        limiter = Limiter(limits)
        try:
            spec = BoxSpec(runtime, cases_dir, limits, cgroups=limiter.paths, enabled=options.sandbox)
            run = run_notebook(submission.notebook, ids, spec, limiter, options.timeout, options.check_timeout)
        finally:  # whatever failed, the box's cgroups go (a second end() finds nothing left to do)
            limiter.end()
        request = {
            "lesson": lesson,
            "seed": seed,
            "hidden_file": str(options.hidden_file) if options.hidden_file else None,
            "reports": run.reports,
            "unprobed": run.unprobed_reason,
        }
        feedback = judge_in_subprocess(request, judge_dir)
    if run.status != "ok":
        for fb in feedback:
            if fb.status == "error" and fb.message.startswith("not checked"):
                fb.status = run.status
    return NotebookResult(student, lesson, run, feedback)


def _secret(out: Path) -> str:
    path = out / SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def check_ready(options: GradeOptions) -> str:
    """Everything grading needs, checked before the batch; a line saying how students are isolated."""
    if keys() is None:
        raise CourseError(
            "this is the student edition: grading needs the answer keys (tlcourse_keys), which only the "
            "instructor's copy of the course has"
        )
    if options.sandbox:
        problem = box_problem()
        if problem:
            raise CourseError(f"cannot build the grading box: {problem}; or pass --no-sandbox for notebooks you trust")
    load_keys_hidden()
    if options.hidden_file:
        try:
            added = load_hidden_tests(options.hidden_file)
        except Exception as err:
            raise CourseError(
                f"the hidden tests in {options.hidden_file} could not be loaded: {type(err).__name__}: {err}"
            ) from None
        if added == 0:
            raise CourseError(f"{options.hidden_file} registers no hidden test: decorate its checks with @hidden_test")
    if not options.sandbox:
        return "NOT sandboxed (--no-sandbox): the notebooks ran with your permissions"
    limiter = Limiter(Limits(memory_bytes=int(options.memory_gb * 2**30)))
    limiter.end()
    return f"bubblewrap box (no network, read-only system, uid nobody, no capabilities); {limiter.describe()}"


def grade(submissions: Path, out: Path, options: GradeOptions) -> list[NotebookResult]:
    """Grade every student folder in ``submissions``; write ``out``; return the results."""
    from tqdm.auto import tqdm

    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise CourseError(f"no submissions folder at {submissions}: give a folder with one folder per student")
    if out == submissions or submissions in out.parents:
        raise CourseError("--out must not be inside the submissions folder")
    students, notes = student_folders(submissions)
    if not students:
        raise CourseError(f"{submissions} has no student folders (one folder per student, holding their notebooks)")
    isolation = check_ready(options)
    out.mkdir(parents=True, exist_ok=True)
    secret = _secret(out)
    for note in notes:
        print(f"note: {note}")
    tasks = [(name, path, lesson) for name, path in students for lesson in lessons()]

    def work(task):
        name, path, lesson = task
        try:
            return grade_notebook(name, path, lesson, options, secret)
        except Exception as err:  # a grader bug must not cost the rest of the class their marks
            if os.environ.get("TLCOURSE_DEBUG"):
                import traceback

                traceback.print_exc()
            message = f"the grader failed on this notebook ({type(err).__name__}); please report it"
            return NotebookResult(name, lesson, NotebookRun("error", message), _zero(lesson, "error", message))

    started = time.monotonic()
    results: list[NotebookResult] = []
    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        for result in tqdm(pool.map(work, tasks), total=len(tasks), desc="grading", unit="notebook"):
            results.append(result)
    left = finish_cleanups()
    if left:
        isolation += f"; {left} box cgroup(s) could not be removed yet"
    write_outputs(results, out, time.monotonic() - started, isolation)
    return results


def write_outputs(results: list[NotebookResult], out: Path, seconds: float, isolation: str) -> None:
    atomic_write_bytes(out / "grades.csv", report.grades_csv(results).encode())
    atomic_write_bytes(out / "runs.csv", report.runs_csv(results).encode())
    for student in sorted({r.student for r in results}):
        mine = [r for r in results if r.student == student]
        atomic_write_bytes(
            out / "feedback" / f"{safe_name(student)}.md", report.feedback_markdown(student, mine).encode()
        )
    ran = [r.run.seconds for r in results if r.run.seconds]
    print(report.summary_table(results))
    print(
        f"{len(ran)} notebooks run in {seconds:.0f} s ({(sum(ran) / len(ran) if ran else 0):.0f} s per notebook); "
        f"isolation: {isolation}"
    )
    print(f"wrote {out / 'grades.csv'}, {out / 'runs.csv'} and {out / 'feedback'}/")
