"""The judge: verdicts from plain reports, in a process where no student code ever ran.

``python -I -m tlcourse.grading.judge REQUEST`` reads a request the grader wrote (the lesson, the
seed its cases were drawn from, the raw probe reports), draws the same cases again, computes what a
right answer gives from the answer keys, and prints one verdict per exercise as a JSON line. It
never unpickles, imports or calls anything a student made: reports are parsed as JSON and
validated field by field (``tlcourse.checks.verdict``); a model in a report is rebuilt from
built-in Keras classes only. It runs isolated (``-I``: no user site, no current folder on the path),
in a folder students cannot write, under a memory limit, so even a report built to exhaust it
costs only that exercise its points.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
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
            expected = module.expected(ex.id, cases)
        except (ValueError, RecursionError, TypeError) as err:
            message = f"what your answer produced could not be read for grading ({type(err).__name__})"
            feedback.append(Feedback(ex.id, ex.title, 0, max_points(ex), "error", wrong=[message], hint=ex.hint))
            continue
        feedback.append(verdict(ex, cases, report, expected, hidden))
    return feedback


def main(argv=None) -> int:
    request = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
    if keys() is None:
        print(json.dumps({"fatal": "the answer keys (tlcourse_keys) are not installed"}), flush=True)
        return 2
    load_keys_hidden()
    if request.get("hidden_file"):
        load_hidden_tests(request["hidden_file"])
    for fb in judge_lesson(
        request["lesson"], request["seed"], request["reports"], request["unprobed"], request.get("only")
    ):
        print(json.dumps(asdict(fb)), flush=True)
    return 0


def _limit_memory() -> None:
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (JUDGE_MEMORY, JUDGE_MEMORY))
    except (ValueError, OSError):
        pass


def judge_in_subprocess(request: dict, workdir: Path) -> list[Feedback]:
    """Run the judge in its own process until every exercise has a verdict (a crash costs one)."""
    lesson = request["lesson"]
    ids = [ex.id for ex in exercises_of(lesson)]
    done: dict[str, Feedback] = {}
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "LANG": "C.UTF-8",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "MPLBACKEND": "Agg",
        "TLCOURSE_CACHE": str(workdir / "cache"),
    }
    while len(done) < len(ids):
        pending = [i for i in ids if i not in done]
        path = workdir / "judge-request.json"
        path.write_text(json.dumps({**request, "only": pending}))
        try:
            proc = subprocess.run(
                [sys.executable, "-I", "-m", "tlcourse.grading.judge", str(path)],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=JUDGE_SECONDS,
                preexec_fn=_limit_memory,
            )
            lines, problem = proc.stdout.splitlines(), f"the judge stopped (exit code {proc.returncode})"
        except subprocess.TimeoutExpired as err:
            lines, problem = (err.stdout or b"").decode(errors="replace").splitlines(), "the judge ran out of time"
        for line in lines:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if "fatal" in data:
                raise RuntimeError(data["fatal"])
            fb = Feedback(**data)
            if fb.exercise in pending:
                done.setdefault(fb.exercise, fb)
        left = [i for i in pending if i not in done]
        if left:  # verdicts come in order: the judge stopped on left[0], which gets zero; the rest go on
            ex = next(e for e in exercises_of(lesson) if e.id == left[0])
            message = f"could not be judged: {problem} on what this answer produced"
            done[ex.id] = Feedback(ex.id, ex.title, 0, max_points(ex), "error", wrong=[message], hint=ex.hint)
    return [done[i] for i in ids]


if __name__ == "__main__":
    sys.exit(main())
