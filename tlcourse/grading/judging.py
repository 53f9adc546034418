"""The grader's side of judging: start judges, bound them, feed them, collect their verdicts.

A judge (``tlcourse.grading.judge``) runs isolated (``python -I``: no user site, no current folder
on the path), in a folder students cannot write, in a cgroup of its own (memory, processes and one
CPU's worth of time, where cgroups are writable; an address-space limit everywhere), against one
time budget per notebook (``JUDGE_BUDGET``, whatever the number of judges it takes). So a report
built to exhaust the judge costs only that notebook its points.

The grader keeps one judge per grading thread alive (``--serve``, ``ServingJudge``) and feeds it
one notebook's request after another, so Keras is imported once per thread, not once per
notebook; whatever it fails on goes to fresh one-shot judges.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tlcourse.checks import Feedback, exercises_of
from tlcourse.grading.judge import max_points

JUDGE_MEMORY = 3 * 2**30  # memory of one judge (its cgroup), Keras included
JUDGE_ADDRESS_SPACE = 8 * 2**30  # address space (TensorFlow reserves far more than it uses)
JUDGE_PROCESSES = 256
JUDGE_CPUS = 1.0
JUDGE_BUDGET = 50.0  # seconds of judging per notebook, every judge it takes together
JUDGE_START_SECONDS = 120  # a serving judge's start (importing Keras) on a busy machine: the grader's cost
MIN_ONE_SHOT_SECONDS = 8.0  # a fresh judge needs this long to import Keras: less left, and it is not started


def judge_command(workdir: Path, *args: str) -> list[str]:
    """``python -I`` running the judge of the very ``tlcourse`` this grader imported, with ``args``.

    ``-I`` keeps the current folder, ``PYTHONPATH`` and the user's site off the judge's path. The
    grader's own packages (``tlcourse`` and its keys, wherever they were imported from) are linked
    into a folder of the judge's private ``workdir``, and only that folder is put first: the judge
    reads the same checks, keys and lessons as the grader, and nothing else that lies beside them
    (a folder of submissions unpacked in the checkout, say).
    """
    import importlib.util

    packages = workdir / "packages"
    packages.mkdir(exist_ok=True)
    for name in ("tlcourse", "tlcourse_keys"):
        spec = importlib.util.find_spec(name)
        link = packages / name
        if spec is not None and spec.submodule_search_locations and not link.is_symlink():
            link.symlink_to(next(iter(spec.submodule_search_locations)))
    code = "import sys; sys.path.insert(0, sys.argv.pop(1)); from tlcourse.grading.judge import main; sys.exit(main())"
    return [sys.executable, "-I", "-c", code, str(packages), *args]


def _judge_limiter():
    """Cgroups for one judge process: memory, processes and a CPU quota, where this machine allows."""
    from tlcourse.grading.box import Limiter, Limits

    return Limiter(Limits(memory_bytes=JUDGE_MEMORY, processes=JUDGE_PROCESSES, cpus=JUDGE_CPUS))


def _limits(limiter, serving: bool):
    """The ``preexec_fn`` of a judge: join its cgroups, limit its address space, die with its grader thread."""

    def preexec() -> None:
        import resource

        limiter.join()
        try:
            resource.setrlimit(resource.RLIMIT_AS, (JUDGE_ADDRESS_SPACE, JUDGE_ADDRESS_SPACE))
        except (ValueError, OSError):
            pass
        if serving:
            try:
                import ctypes
                import signal

                ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
            except (OSError, AttributeError):  # stdin closing ends it too
                pass

    return preexec


def _judge_env(workdir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "LANG": "C.UTF-8",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "MPLBACKEND": "Agg",
        "TLCOURSE_CACHE": str(workdir / "cache"),
    }


def _feedback_line(line: str, pending: list[str], done: dict[str, Feedback]) -> None:
    """File one verdict line under its exercise; raise on the judge's fatal line."""
    try:
        data = json.loads(line)
    except ValueError:
        return
    if "fatal" in data:
        raise RuntimeError(data["fatal"])
    if "exercise" in data:
        fb = Feedback(**data)
        if fb.exercise in pending:
            done.setdefault(fb.exercise, fb)


def _unjudged(lesson: str, exercise_id: str, why: str) -> Feedback:
    ex = next(e for e in exercises_of(lesson) if e.id == exercise_id)
    return Feedback(ex.id, ex.title, 0, max_points(ex), "error", wrong=[f"could not be judged: {why}"], hint=ex.hint)


def judge_in_subprocess(
    request: dict, workdir: Path, done: dict[str, Feedback] | None = None, deadline: float | None = None
) -> list[Feedback]:
    """Run a fresh judge per attempt until every exercise has a verdict (a crash costs one) or time runs out.

    ``done``: verdicts already made (by a serving judge that then stopped); the rest are judged here.
    ``deadline`` (monotonic): the end of this notebook's judging budget; what is left then gets zero.
    """
    lesson = request["lesson"]
    ids = [ex.id for ex in exercises_of(lesson)]
    done = dict(done or {})
    deadline = deadline if deadline is not None else time.monotonic() + JUDGE_BUDGET
    while len(done) < len(ids):
        pending = [i for i in ids if i not in done]
        left_seconds = deadline - time.monotonic()
        if left_seconds < MIN_ONE_SHOT_SECONDS:
            why = f"the {JUDGE_BUDGET:g} s the grader gives one notebook's answers ran out"
            done.update({i: _unjudged(lesson, i, why) for i in pending})
            break
        path = workdir / "judge-request.json"
        path.write_text(json.dumps({**request, "only": pending}))
        limiter = _judge_limiter()
        try:
            proc = subprocess.run(
                judge_command(workdir, str(path)),
                cwd=workdir,
                env=_judge_env(workdir),
                capture_output=True,
                text=True,
                timeout=left_seconds,
                preexec_fn=_limits(limiter, serving=False),
            )
            lines, problem = proc.stdout.splitlines(), f"the judge stopped (exit code {proc.returncode})"
        except subprocess.TimeoutExpired as err:
            lines, problem = (err.stdout or b"").decode(errors="replace").splitlines(), "the judge ran out of time"
        finally:
            limiter.end()
        for line in lines:
            _feedback_line(line, pending, done)
        left = [i for i in pending if i not in done]
        if left:  # verdicts come in order: the judge stopped on left[0], which gets zero; the rest go on
            done[left[0]] = _unjudged(lesson, left[0], f"{problem} on what this answer produced")
    return [done[i] for i in ids]


SERVED_REQUESTS = 100  # notebooks one serving judge takes before a fresh one replaces it


class ServingJudge:
    """One long-lived judge process (``--serve``): the isolated judge, without importing Keras per notebook.

    It gets exactly what a one-shot judge gets (the grader's plain request, never student code) and
    is started the same way (isolated, its own folder, the same memory limit). When it fails on a
    request (it crashed, ran out of memory or time), it is discarded and the rest of that notebook
    goes to fresh one-shot judges (``judge_in_subprocess``), so only a fresh judge ever decides that
    an answer costs its points, as before.
    """

    def __init__(self, hidden_file: str | None):
        self.hidden_file = hidden_file
        self.served = 0
        self.workdir = Path(tempfile.mkdtemp(prefix="tlcourse-judge-"))
        self.limiter = _judge_limiter()
        self.proc = subprocess.Popen(
            judge_command(self.workdir, "--serve", *([hidden_file] if hidden_file else [])),
            cwd=self.workdir,
            env=_judge_env(self.workdir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            preexec_fn=_limits(self.limiter, serving=True),
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self._next(JUDGE_START_SECONDS)
        if first is not None and "fatal" in first:
            self.close()
            raise RuntimeError(json.loads(first)["fatal"])
        if first is None or "ready" not in first:
            self.close()
            raise OSError("the serving judge did not start")

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _next(self, seconds: float) -> str | None:
        try:
            return self.lines.get(timeout=max(0.01, seconds))
        except queue.Empty:
            return None

    def usable(self, hidden_file: str | None) -> bool:
        return self.proc.poll() is None and self.hidden_file == hidden_file and self.served < SERVED_REQUESTS

    def verdicts(self, request: dict, deadline: float | None = None) -> dict[str, Feedback]:
        """The verdicts it gave before it finished or failed (on failure it closes: ``usable`` is False).

        ``deadline`` (monotonic): the end of this notebook's judging budget; past it the judge is killed.
        """
        ids = [ex.id for ex in exercises_of(request["lesson"])]
        done: dict[str, Feedback] = {}
        self.served += 1
        try:
            self.proc.stdin.write(json.dumps({**request, "only": ids}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self.close()
            return done
        deadline = deadline if deadline is not None else time.monotonic() + JUDGE_BUDGET
        while True:
            line = self._next(deadline - time.monotonic())
            if line is None or time.monotonic() > deadline:  # it died, or ran out of time
                self.close()
                return done
            if line.strip() == '{"end": true}':
                return done
            _feedback_line(line, ids, done)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.limiter.end()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)


_SERVING = threading.local()  # one serving judge per grading thread
_ALL_SERVING: list[ServingJudge] = []


def judge_notebook(request: dict, workdir: Path) -> list[Feedback]:
    """Every verdict of one notebook: from this thread's serving judge, fresh judges for what it left.

    One budget (``JUDGE_BUDGET``) covers all of it, counted from when a judge is ready: starting
    this thread's serving judge is the grader's cost, not the notebook's.
    """
    hidden = request.get("hidden_file")
    judge = getattr(_SERVING, "judge", None)
    if judge is not None and not judge.usable(hidden):
        judge.close()
        judge = None
    if judge is None:
        try:
            judge = ServingJudge(hidden)
        except OSError:
            judge = None
        else:
            _SERVING.judge = judge
            _ALL_SERVING.append(judge)
    deadline = time.monotonic() + JUDGE_BUDGET
    done = judge.verdicts(request, deadline) if judge is not None else {}
    return judge_in_subprocess(request, workdir, done, deadline)


def close_judges() -> None:
    """End every serving judge this process started (the grader calls it at the end of a batch)."""
    while _ALL_SERVING:
        _ALL_SERVING.pop().close()
    _SERVING.__dict__.pop("judge", None)
