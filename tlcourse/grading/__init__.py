"""``tlcourse grade``: mark every student's notebooks, whatever they contain.

SUBMISSIONS holds one folder per student with some or all lesson notebooks (under their
``lessons/`` file names, directly or in a ``lessons/`` subfolder). Each notebook runs in a
fresh, boxed kernel on a private copy (``runner``); its answers are checked in a fresh
process by the same functions students run in their notebooks, plus hidden tests
(``checker``). Results: ``OUT/grades.csv`` (one row per exercise), ``OUT/runs.csv`` (one row
per notebook: status, seconds, cells that raised), ``OUT/feedback/<student>.md`` and a summary
table. One broken or hostile submission never stops the batch.
"""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tlcourse.cache import atomic_write_bytes, cache_dir
from tlcourse.checks import Feedback, exercises_of, lessons
from tlcourse.errors import CourseError
from tlcourse.grading.checker import TAMPERED, TOKEN_ENV
from tlcourse.grading.runner import NotebookRun, copy_submission, run_notebook
from tlcourse.grading.sandbox import Sandbox, make_sandbox

CSV_COLUMNS = ["student", "notebook", "exercise", "points", "max_points", "status", "message"]
CHECK_TIMEOUT = 90  # seconds for one exercise's check (student functions run inside it)
RESTART = "restart"  # the checker stopped after a tampering answer: start a fresh one for the rest


@dataclass
class GradeOptions:
    timeout: float = 300
    jobs: int = 1
    memory_gb: float = 4.0
    hidden_file: Path | None = None
    protect: list[Path] = field(default_factory=list)  # more paths the notebooks must not see


@dataclass
class NotebookResult:
    student: str
    lesson: str
    run: NotebookRun
    feedback: list[Feedback]


def find_notebook(student_dir: Path, lesson: str) -> Path | None:
    for candidate in (student_dir / f"{lesson}.ipynb", student_dir / "lessons" / f"{lesson}.ipynb"):
        if candidate.is_file():
            return candidate
    return None


def _max_points(ex) -> float:
    from tlcourse.checks import HIDDEN

    return ex.points + sum(t.points for t in HIDDEN.get(ex.id, []))


def _unanswered(lesson: str, status: str, message: str) -> list[Feedback]:
    return [Feedback(ex.id, ex.title, 0, _max_points(ex), status, wrong=[message]) for ex in exercises_of(lesson)]


def grade_notebook(
    student: str, notebook: Path, lesson: str, options: GradeOptions, hide: list[Path]
) -> NotebookResult:
    """Run and check one notebook; every failure becomes a graded result."""
    with tempfile.TemporaryDirectory(prefix="tlcourse-grade-") as tmp:
        tmp = Path(tmp)
        work, home, exports, scratch = tmp / "work", tmp / "home", tmp / "exports", tmp / "tmp"
        copy_submission(notebook.parent, work)
        for d in (home, exports, scratch, tmp / "cache-upper", tmp / "cache-work"):
            d.mkdir()
        shared_cache = cache_dir()
        box = make_sandbox([tmp], hide, overlays=[(shared_cache, tmp / "cache-upper", tmp / "cache-work")])
        env = _boxed_env(home, scratch, shared_cache if box.available else tmp / "cache-upper", tmp)
        names = sorted({n for ex in exercises_of(lesson) for n in ex.names})
        run = run_notebook(
            work / notebook.name, work, exports, names, box, env, options.timeout, int(options.memory_gb * 2**30)
        )
        if not run.exported:
            return NotebookResult(student, lesson, run, _unanswered(lesson, run.status, run.message))
        feedback = check_exports(exports, lesson, box, env, options, tmp)
        if run.status != "ok":
            for fb in feedback:
                if fb.status == "missing":
                    fb.status, fb.wrong = run.status, [run.message]
        return NotebookResult(student, lesson, run, feedback)


def _boxed_env(home: Path, scratch: Path, cache: Path, tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "TLCOURSE_RESULTS"))}
    env.update(
        HOME=str(home),
        TMPDIR=str(scratch),
        MPLBACKEND="Agg",
        TF_CPP_MIN_LOG_LEVEL="2",
        TLCOURSE_CACHE=str(cache),
        TLCOURSE_RESULTS=str(tmp / "results"),
        TLCOURSE_QUICK="1",
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        IPYTHONDIR=str(home / ".ipython"),
    )
    return env


def check_exports(
    exports: Path, lesson: str, box: Sandbox, env: dict, options: GradeOptions, cwd: Path
) -> list[Feedback]:
    """Verdicts for every exercise, from as many fresh checker processes as it takes."""
    pending = [ex.id for ex in exercises_of(lesson)]
    verdicts: dict[str, Feedback] = {}
    while pending:
        got, problem = _checker_pass(exports, lesson, pending, box, env, options, cwd)
        verdicts.update(got)
        progressed = bool(got)
        pending = [i for i in pending if i not in verdicts]
        if pending and problem == RESTART and progressed:  # a tampering answer ended the process: go on
            continue
        if pending and problem:  # the exercise being checked when it went wrong gets zero, then go on
            ex = next(e for e in exercises_of(lesson) if e.id == pending[0])
            verdicts[ex.id] = Feedback(ex.id, ex.title, 0, _max_points(ex), "error", wrong=[problem], hint=ex.hint)
            pending = pending[1:]
        elif pending:
            break
    for ex in exercises_of(lesson):
        verdicts.setdefault(
            ex.id, Feedback(ex.id, ex.title, 0, _max_points(ex), "error", wrong=["the checker produced no verdict"])
        )
    return [verdicts[ex.id] for ex in exercises_of(lesson)]


def _checker_pass(exports, lesson, pending, box, env, options, cwd) -> tuple[dict[str, Feedback], str]:
    token = "TLCOURSE-VERDICT-" + secrets.token_hex(8) + ":"
    cmd = box.prefix() + [sys.executable, "-m", "tlcourse.grading.checker", str(exports), lesson, "--only", *pending]
    if options.hidden_file:
        cmd += ["--hidden-file", str(options.hidden_file)]
    proc = subprocess.Popen(
        cmd,
        env={**env, TOKEN_ENV: token},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout] + [lines.put(None)], daemon=True).start()
    from tlcourse.grading.runner import _Watchdog

    watchdog = _Watchdog(proc.pid, int(options.memory_gb * 2**30))
    watchdog.start()
    got: dict[str, Feedback] = {}
    problem = ""
    try:
        while len(got) < len(pending):
            try:
                line = lines.get(timeout=CHECK_TIMEOUT)
            except queue.Empty:
                problem = f"checking this answer took longer than {CHECK_TIMEOUT} s (an endless loop?)"
                break
            if line is None:
                proc.wait()
                if proc.returncode == TAMPERED:
                    problem = RESTART
                elif watchdog.tripped:
                    problem = "checking this answer used too much memory"
                else:
                    problem = f"checking this answer crashed the checker (exit code {proc.returncode})"
                break
            if line.startswith(token):
                fb = Feedback(**json.loads(line[len(token) :]))
                got[fb.exercise] = fb
    finally:
        watchdog.stop()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return got, problem


# --------------------------------------------------------------------------- the batch


def grade(submissions: Path, out: Path, options: GradeOptions) -> list[NotebookResult]:
    """Grade every student folder in ``submissions``; write ``out``; return the results."""
    from tqdm.auto import tqdm

    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise CourseError(f"no submissions folder at {submissions}: give a folder with one folder per student")
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise CourseError(f"{submissions} has no student folders (one folder per student, holding their notebooks)")
    out.mkdir(parents=True, exist_ok=True)
    hide = [submissions, out, *_course_secrets(), *options.protect]
    if options.hidden_file:
        hide.append(Path(options.hidden_file).resolve())
    tasks = [(s.name, lesson, find_notebook(s, lesson)) for s in students for lesson in lessons()]
    results: list[NotebookResult] = []

    def work(task):
        student, lesson, notebook = task
        if notebook is None:
            return NotebookResult(
                student,
                lesson,
                NotebookRun("missing", "notebook not submitted"),
                _unanswered(lesson, "missing", f"{lesson}.ipynb was not submitted"),
            )
        return grade_notebook(student, notebook, lesson, options, hide)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        for result in tqdm(pool.map(work, tasks), total=len(tasks), desc="grading", unit="notebook"):
            results.append(result)
    write_outputs(results, out, time.monotonic() - started, make_sandbox([], []))
    return results


def _course_secrets() -> list[Path]:
    """The instructor's worked solutions beside the installed package, if this is a checkout."""
    root = Path(__file__).resolve().parents[2]
    return [p for p in (root / "solutions",) if p.is_dir()]


def write_outputs(results: list[NotebookResult], out: Path, seconds: float, box: Sandbox) -> None:
    rows = [
        {
            "student": r.student,
            "notebook": f"{r.lesson}.ipynb",
            "exercise": fb.exercise,
            "points": f"{fb.points:g}",
            "max_points": f"{fb.max_points:g}",
            "status": fb.status,
            "message": fb.message,
        }
        for r in results
        for fb in r.feedback
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "grades.csv", buffer.getvalue().encode())
    atomic_write_bytes(out / "runs.csv", runs_csv(results).encode())
    for student in sorted({r.student for r in results}):
        mine = [r for r in results if r.student == student]
        atomic_write_bytes(out / "feedback" / f"{student}.md", feedback_markdown(student, mine).encode())
    table = summary_table(results)
    ran = [r.run.seconds for r in results if r.run.seconds]
    isolation = (
        "sandboxed (no network, read-only files, hidden solutions)"
        if box.available
        else (f"NOT sandboxed: {box.reason}")
    )
    print(table)
    print(
        f"{len(ran)} notebooks run in {seconds:.0f} s ({(sum(ran) / len(ran) if ran else 0):.0f} s per notebook); "
        f"isolation: {isolation}"
    )
    print(f"wrote {out / 'grades.csv'}, {out / 'runs.csv'} and {out / 'feedback'}/")


RUN_COLUMNS = ["student", "notebook", "status", "seconds", "cell_errors", "first_error"]


def runs_csv(results: list[NotebookResult]) -> str:
    """One row per notebook: how its run went (status, seconds, cells that raised), for the instructor."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RUN_COLUMNS)
    writer.writeheader()
    for r in results:
        errors = r.run.cell_errors
        writer.writerow(
            {
                "student": r.student,
                "notebook": f"{r.lesson}.ipynb",
                "status": r.run.status,
                "seconds": f"{r.run.seconds:.1f}",
                "cell_errors": len(errors),
                "first_error": errors[0] if errors else "",
            }
        )
    return buffer.getvalue()


def summary_table(results: list[NotebookResult]) -> str:
    lesson_names = sorted({r.lesson for r in results})
    width = max([len(r.student) for r in results] + [7])
    header = f"{'student':<{width}} " + " ".join(f"{name[:2]:>9}" for name in lesson_names) + f" {'total':>11}"
    lines = [header]
    for student in sorted({r.student for r in results}):
        cells, total, total_max = [], 0.0, 0.0
        for lesson in lesson_names:
            fbs = [fb for r in results if r.student == student and r.lesson == lesson for fb in r.feedback]
            points, maximum = sum(f.points for f in fbs), sum(f.max_points for f in fbs)
            total, total_max = total + points, total_max + maximum
            cells.append(f"{points:>4g}/{maximum:<4g}")
        lines.append(f"{student:<{width}} " + " ".join(cells) + f" {total:>5g}/{total_max:<5g}")
    return "\n".join(lines)


def feedback_markdown(student: str, results: list[NotebookResult]) -> str:
    total = sum(fb.points for r in results for fb in r.feedback)
    total_max = sum(fb.max_points for r in results for fb in r.feedback)
    lines = [f"# Feedback for {student}", "", f"**Total: {total:g} / {total_max:g} points**", ""]
    for r in sorted(results, key=lambda r: r.lesson):
        points = sum(fb.points for fb in r.feedback)
        maximum = sum(fb.max_points for fb in r.feedback)
        lines += [f"## {r.lesson} — {points:g} / {maximum:g}", ""]
        if r.run.status not in ("ok",):
            lines += [f"> **{r.run.status}**: {r.run.message}", ""]
        for error in r.run.cell_errors[:5]:
            lines.append(f"- a cell raised an error — {error}")
        if r.run.cell_errors:
            lines.append("")
        for fb in r.feedback:
            lines.append(f"### Exercise {fb.exercise} — {fb.title}: {fb.points:g}/{fb.max_points:g} ({fb.status})")
            lines += [f"- ✔ {item}" for item in fb.right] + [f"- ✘ {item}" for item in fb.wrong]
            if fb.hint and fb.status != "pass":
                lines.append(f"- Hint: {fb.hint}")
            lines.append("")
    return "\n".join(lines)
