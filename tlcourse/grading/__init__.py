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
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tlcourse.cache import atomic_write_bytes
from tlcourse.checks import Feedback, exercises_of, keys, lessons, load_hidden_tests, plain
from tlcourse.errors import CourseError
from tlcourse.grading import gradebook, report, store
from tlcourse.grading.box import BoxSpec, Limiter, Limits, box_problem, finish_cleanups, sweep_own
from tlcourse.grading.intake import find_submission, safe_name, student_folders, unchanged_release
from tlcourse.grading.judge import grading_cases, max_points, probe_input
from tlcourse.grading.judging import close_judges, judge_notebook
from tlcourse.grading.progress import Progress
from tlcourse.grading.runner import NotebookResult, NotebookRun, run_notebook

SECRET_FILE = ".grading-secret"  # in OUT: the seed of every notebook's cases (a rerun draws the same)


@dataclass
class GradeOptions:
    timeout: float = 300
    jobs: int = 1
    memory_gb: float = 4.0
    hidden_file: Path | None = None
    check_timeout: float = 60
    sandbox: bool = True
    regrade: bool = False  # grade every notebook again, even those with a stored result
    roster: Path | None = None  # CSV folder,name,id,sis_id,email,section (gradebook.ROSTER_COLUMNS)
    lms: str | None = None  # canvas | moodle: also write that LMS's gradebook import file
    scheduler: str | None = None  # a Dask scheduler's address: grade on its workers instead of locally


def _zero(lesson: str, status: str, message: str) -> list[Feedback]:
    return [Feedback(ex.id, ex.title, 0, max_points(ex), status, wrong=[message]) for ex in exercises_of(lesson)]


def notebook_seed(secret: str, student: str, lesson: str) -> int:
    """The seed of one notebook's grading cases: unknown to students, the same when graded again."""
    digest = hashlib.sha256(f"{secret}\0{student}\0{lesson}".encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "little")


def grade_notebook(
    student: str, folder: Path, lesson: str, options: GradeOptions, secret: str, submission=None
) -> NotebookResult:
    """Read, run and judge one student's notebook for ``lesson``; every failure becomes marks."""
    submission = submission or find_submission(folder, lesson)
    if submission.status != "ok":
        return NotebookResult(
            student,
            lesson,
            NotebookRun(submission.status, submission.message),
            _zero(lesson, submission.status, submission.message),
        )
    if unchanged_release(submission, lesson):  # nothing written: zero marks, and no need to run it
        message = f"{lesson}.ipynb is the released copy, unchanged: not started (it was not run)"
        return NotebookResult(student, lesson, NotebookRun("unchanged", message), _zero(lesson, "missing", message))
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
        began = time.monotonic()
        feedback = judge_notebook(request, judge_dir)
        run.timings["judge"] = time.monotonic() - began
    if run.status != "ok":
        for fb in feedback:
            if fb.status == "error" and fb.message.startswith("not checked"):
                fb.status = run.status
    return NotebookResult(student, lesson, run, feedback)


def _ensure_hidden(options: GradeOptions) -> int | None:
    """Read the instructor's hidden tests in this process (once: a cluster worker is a fresh one, and they
    count in the maxima); how many the file defines, None without one."""
    return load_hidden_tests(options.hidden_file) if options.hidden_file else None


def grade_task(
    student: str, folder: str, lesson: str, options: GradeOptions, secret: str, version: str, submission=None
) -> dict:
    """Grade one notebook and return its result as plain data: what the local pool and a cluster worker run.

    A cluster worker grades in its own box exactly as the local path does; only the record (verdicts,
    run status) travels back. ``submission``: the notebook as the planning step read it (local pool).
    """
    key = ""
    try:
        _ensure_hidden(options)
        submission = submission or find_submission(Path(folder), lesson)
        key = store.result_key(submission, version)
        problem = box_problem() if options.sandbox and submission.status == "ok" else ""
        if problem:
            message = f"this machine cannot build the grading box ({problem})"
            result = NotebookResult(student, lesson, NotebookRun("error", message), _zero(lesson, "error", message))
        else:
            result = grade_notebook(student, Path(folder), lesson, options, secret, submission)
    except Exception as err:  # a grader bug must not cost the rest of the class their marks
        if os.environ.get("TLCOURSE_DEBUG"):
            import traceback

            traceback.print_exc()
        message = f"the grader failed on this notebook ({type(err).__name__}); please report it"
        result = NotebookResult(student, lesson, NotebookRun("error", message), _zero(lesson, "error", message))
    return store.to_record(result, key)


def _on_cluster(address: str, todo: list[int], args: list[tuple], finished) -> None:
    """Send each notebook to a Dask cluster (``distributed``); ``finished(i, record)`` as they come back."""
    try:
        from distributed import Client
        from distributed import as_completed as completed
    except ImportError:
        raise CourseError("--scheduler needs Dask's distributed: pip install distributed") from None
    try:
        client = Client(address, timeout=30)
    except (OSError, TimeoutError) as err:
        raise CourseError(f"cannot reach the Dask scheduler at {address} ({err}): is it running?") from None
    with client:
        futures = {client.submit(grade_task, *a, pure=False): i for i, a in zip(todo, args)}
        for future in completed(futures):
            try:
                finished(futures[future], future.result())
            except Exception as err:  # a worker that died: this notebook's marks say so
                finished(futures[future], None, f"{type(err).__name__} on the cluster")


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
    try:
        added = _ensure_hidden(options)
    except Exception as err:
        raise CourseError(
            f"the hidden tests in {options.hidden_file} could not be loaded: {type(err).__name__}: {err}"
        ) from None
    if added == 0:
        raise CourseError(f"{options.hidden_file} defines no hidden test: decorate its checks with @hidden_test")
    if not options.sandbox:
        return "NOT sandboxed (--no-sandbox): the notebooks ran with your permissions"
    limiter = Limiter(Limits(memory_bytes=int(options.memory_gb * 2**30)))
    limiter.end()
    return f"bubblewrap box (no network, read-only system, uid nobody, no capabilities); {limiter.describe()}"


def grade(submissions: Path, out: Path, options: GradeOptions) -> list[NotebookResult]:
    """Grade every student folder in ``submissions``; write ``out``; return the results."""
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise CourseError(f"no submissions folder at {submissions}: give a folder with one folder per student")
    if out == submissions or submissions in out.parents:
        raise CourseError("--out must not be inside the submissions folder")
    students, notes = student_folders(submissions)
    if not students:
        raise CourseError(f"{submissions} has no student folders (one folder per student, holding their notebooks)")
    isolation = check_ready(options)
    if options.lms and not options.roster:
        raise CourseError("--lms needs --roster: the gradebook keys students on the roster's ids")
    roster = gradebook.read_roster(options.roster) if options.roster else None
    out.mkdir(parents=True, exist_ok=True)
    secret = _secret(out)
    for note in notes:
        print(f"note: {note}")
    tasks = [(name, path, lesson) for name, path in students for lesson in lessons()]
    version = store.grading_version(options)

    started = time.monotonic()
    results: dict[int, NotebookResult] = {}
    todo, work, submissions_read = [], {}, {}
    for i, (name, path, lesson) in enumerate(tasks):
        try:  # one notebook the grader cannot even plan for costs that notebook, never the batch
            submission = find_submission(path, lesson)
            stored = None if options.regrade else store.load(out, name, lesson, store.result_key(submission, version))
        except Exception as err:
            message = f"the grader failed on this notebook ({type(err).__name__}); please report it"
            results[i] = NotebookResult(name, lesson, NotebookRun("error", message), _zero(lesson, "error", message))
            continue
        if stored is not None:
            results[i] = stored
        else:
            todo.append(i)
            work[i] = _code_length(submission)
            submissions_read[i] = submission
    todo.sort(key=lambda i: -work[i])  # longest first: a batch does not end with one long notebook running alone
    progress = Progress(len(tasks), max(1, options.jobs))
    progress.start(len(results))

    def finished(i: int, record: dict | None, problem: str = "") -> None:
        name, _, lesson = tasks[i]
        result = store.from_record(record, name, lesson) if isinstance(record, dict) else None
        if result is None:
            message = f"the grader failed on this notebook ({problem or 'no result came back'}); please report it"
            result = NotebookResult(name, lesson, NotebookRun("error", message), _zero(lesson, "error", message))
        else:
            store.save_record(out, record)  # as soon as it is known: a killed batch keeps it
        results[i] = result
        progress.finished(f"{safe_name(name)} {lesson}: {result.run.status}")

    args = [(tasks[i][0], str(tasks[i][1]), tasks[i][2], options, secret, version) for i in todo]
    if options.scheduler:  # a worker reads the notebook again (it may be another machine)
        _on_cluster(options.scheduler, todo, args, finished)
    else:
        with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
            futures = {pool.submit(grade_task, *a, submissions_read.pop(i)): i for i, a in zip(todo, args)}
            try:
                for future in as_completed(futures):
                    finished(futures[future], future.result())
            finally:
                close_judges()
    progress.close()
    print(f"graded {len(todo)} notebooks, reused {len(tasks) - len(todo)} stored results ({out / 'results'})")
    results = [results[i] for i in range(len(tasks))]
    left = finish_cleanups()
    swept, stuck = sweep_own()
    if left or stuck:
        isolation += f"; {max(left, stuck)} box cgroup(s) could not be removed yet"
    if swept:  # a box whose own clean-up missed them: say so, it is a grader bug to chase
        isolation += f"; {swept} box cgroup(s) swept at the end ({stuck} left)"
    write_outputs(results, out, time.monotonic() - started, isolation)
    if roster is None:  # the per-exercise table still has every folder
        roster = [gradebook.Student(name, "", "", "", "", "") for name, _ in students]
    for line in gradebook.write_gradebook(results, roster, options.lms, out):
        print(f"roster: {line}")
    if options.lms:
        print(f"wrote {out / f'gradebook-{options.lms}.csv'} and {out / 'exercises.csv'}")
    return results


def _code_length(submission) -> int:
    """How much code a submission holds: the estimate of its running time that orders a batch."""
    if submission.notebook is None:
        return 0
    return sum(len(cell.source) for cell in submission.notebook.cells if cell.cell_type == "code")


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
