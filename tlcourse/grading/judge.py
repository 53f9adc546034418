"""The judge: verdicts from plain reports, in a process where no student code ever ran.

``python -I -m tlcourse.grading.judge REQUEST`` reads a request the grader wrote (the lesson, the
seed its cases were drawn from, the raw probe reports), draws the same cases again, computes what a
right answer gives from the answer keys, and prints one verdict per exercise as a JSON line. It
never unpickles, imports or calls anything a student made: reports are parsed as JSON and
validated field by field (``tlcourse.checks.verdict``); a model in a report is rebuilt from
built-in Keras classes only. It runs isolated (``-I``: no user site, no current folder on the path),
in a folder students cannot write, under a memory limit, so even a report built to exhaust it
costs only that exercise its points.

The grader keeps one such judge per grading thread alive (``--serve``, ``ServingJudge``) and
feeds it one notebook's request after another, so Keras is imported once per thread, not once
per notebook; whatever it fails on goes to fresh one-shot judges.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from tlcourse.checks import HIDDEN, Feedback, exercises_of, keys, load_hidden_tests, load_keys_hidden, verdict

JUDGE_MEMORY = 8 * 2**30  # address space of the judge process
JUDGE_SECONDS = 180
MAX_REPORT = 64 * 2**20


def rng_for(seed: int, exercise_id: str, part: str = "cases") -> np.random.Generator:
    """The random generator of one exercise's grading cases: same seed, same cases."""
    digest = hashlib.sha256(f"{seed}:{exercise_id}:{part}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def grading_cases(lesson: str, seed: int) -> dict[str, tuple[list[dict], list]]:
    """``{exercise: (cases, [(hidden test, its cases), ...])}`` drawn for one notebook."""
    out = {}
    for ex in exercises_of(lesson):
        hidden = [
            (t, t.cases(rng_for(seed, ex.id, f"hidden{i}:{t.name}"))) for i, t in enumerate(HIDDEN.get(ex.id, []))
        ]
        out[ex.id] = (ex.cases(rng_for(seed, ex.id)), hidden)
    return out


def probe_input(cases: dict[str, tuple[list[dict], list]]) -> dict[str, list[dict]]:
    """What the probe in the box gets for each exercise: the inputs of every case, hidden ones too."""
    return {ex: main + [c for _, cs in hidden for c in cs] for ex, (main, hidden) in cases.items()}


def max_points(exercise) -> float:
    return exercise.points + sum(t.points for t in HIDDEN.get(exercise.id, []))


def judge_lesson(lesson: str, seed: int, reports: dict, unprobed: str, only=None) -> list[Feedback]:
    """Every exercise's verdict (or those in ``only``), from raw report texts; never raises."""
    module = keys()
    feedback = []
    drawn = grading_cases(lesson, seed)
    for ex in exercises_of(lesson):
        if only is not None and ex.id not in only:
            continue
        cases, hidden = drawn[ex.id]
        text = reports.get(ex.id)
        if text is None:
            why = unprobed or "no report came back from the checks (did the notebook break tlcourse.checks?)"
            feedback.append(
                Feedback(ex.id, ex.title, 0, max_points(ex), "error", wrong=[f"not checked: {why}"], hint=ex.hint)
            )
            continue
        try:
            if not isinstance(text, str) or len(text) > MAX_REPORT:
                raise ValueError("too large")
            report = json.loads(text)
        except (ValueError, RecursionError, TypeError) as err:
            message = f"what your answer produced could not be read for grading ({type(err).__name__})"
            feedback.append(Feedback(ex.id, ex.title, 0, max_points(ex), "error", wrong=[message], hint=ex.hint))
            continue
        expected = functools.partial(module.expected, ex.id, cases)  # only for an answer there to judge
        feedback.append(verdict(ex, cases, report, expected, hidden))
    return feedback


def _prepare(hidden_file: str | None) -> str | None:
    """Load what verdicts need: the keys, their hidden tests, an instructor's file; the fatal problem, if any."""
    if keys() is None:
        return "the answer keys (tlcourse_keys) are not installed"
    load_keys_hidden()
    if hidden_file:
        load_hidden_tests(hidden_file)
    return None


def _verdict_lines(request: dict):
    for fb in judge_lesson(
        request["lesson"], request["seed"], request["reports"], request["unprobed"], request.get("only")
    ):
        yield json.dumps(asdict(fb))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--serve":
        return serve(argv[1] if len(argv) > 1 else None)
    request = json.loads(Path(argv[0]).read_text())
    fatal = _prepare(request.get("hidden_file"))
    if fatal:
        print(json.dumps({"fatal": fatal}), flush=True)
        return 2
    for line in _verdict_lines(request):
        print(line, flush=True)
    return 0


def serve(hidden_file: str | None) -> int:
    """Judge one request per line of stdin until it closes (``--serve``): the import is paid once.

    The requests are the grader's own plain data, as in a one-shot judge; between two, Keras' global
    state (layer-name counters, the graph) is cleared, so a verdict does not depend on what was
    judged before it (``tests/test_judge.py`` compares the two kinds of judge on the same reports).
    """
    fatal = _prepare(hidden_file)
    if fatal:
        print(json.dumps({"fatal": fatal}), flush=True)
        return 2
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        for verdict_line in _verdict_lines(request):
            print(verdict_line, flush=True)
        if "keras" in sys.modules:
            sys.modules["keras"].backend.clear_session()
        print(json.dumps({"end": True}), flush=True)
    return 0


def _limit_memory() -> None:
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (JUDGE_MEMORY, JUDGE_MEMORY))
    except (ValueError, OSError):
        pass


def _serving_preexec() -> None:
    """A serving judge's limits: its memory, and death with the grader thread that started it."""
    _limit_memory()
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # stdin closing ends it too
        pass


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


def judge_in_subprocess(request: dict, workdir: Path, done: dict[str, Feedback] | None = None) -> list[Feedback]:
    """Run a fresh judge per attempt until every exercise has a verdict (a crash costs one).

    ``done``: verdicts already made (by a serving judge that then stopped); the rest are judged here.
    """
    lesson = request["lesson"]
    ids = [ex.id for ex in exercises_of(lesson)]
    done = dict(done or {})
    while len(done) < len(ids):
        pending = [i for i in ids if i not in done]
        path = workdir / "judge-request.json"
        path.write_text(json.dumps({**request, "only": pending}))
        try:
            proc = subprocess.run(
                [sys.executable, "-I", "-m", "tlcourse.grading.judge", str(path)],
                cwd=workdir,
                env=_judge_env(workdir),
                capture_output=True,
                text=True,
                timeout=JUDGE_SECONDS,
                preexec_fn=_limit_memory,
            )
            lines, problem = proc.stdout.splitlines(), f"the judge stopped (exit code {proc.returncode})"
        except subprocess.TimeoutExpired as err:
            lines, problem = (err.stdout or b"").decode(errors="replace").splitlines(), "the judge ran out of time"
        for line in lines:
            _feedback_line(line, pending, done)
        left = [i for i in pending if i not in done]
        if left:  # verdicts come in order: the judge stopped on left[0], which gets zero; the rest go on
            ex = next(e for e in exercises_of(lesson) if e.id == left[0])
            message = f"could not be judged: {problem} on what this answer produced"
            done[ex.id] = Feedback(ex.id, ex.title, 0, max_points(ex), "error", wrong=[message], hint=ex.hint)
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
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "tlcourse.grading.judge", "--serve", *([hidden_file] if hidden_file else [])],
            cwd=self.workdir,
            env=_judge_env(self.workdir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            preexec_fn=_serving_preexec,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self._next(JUDGE_SECONDS)
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

    def verdicts(self, request: dict) -> dict[str, Feedback]:
        """The verdicts it gave before it finished or failed (on failure it closes: ``usable`` is False)."""
        ids = [ex.id for ex in exercises_of(request["lesson"])]
        done: dict[str, Feedback] = {}
        self.served += 1
        try:
            self.proc.stdin.write(json.dumps({**request, "only": ids}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self.close()
            return done
        deadline = time.monotonic() + JUDGE_SECONDS
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
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)


_SERVING = threading.local()  # one serving judge per grading thread
_ALL_SERVING: list[ServingJudge] = []


def judge_notebook(request: dict, workdir: Path) -> list[Feedback]:
    """Every verdict of one notebook: from this thread's serving judge, fresh judges for what it left."""
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
    done = judge.verdicts(request) if judge is not None else {}
    return judge_in_subprocess(request, workdir, done)


def close_judges() -> None:
    """End every serving judge this process started (the grader calls it at the end of a batch)."""
    while _ALL_SERVING:
        _ALL_SERVING.pop().close()
    _SERVING.__dict__.pop("judge", None)


if __name__ == "__main__":
    sys.exit(main())
