"""The judge process: verdicts from plain reports, in a process where no student code ever ran.

``python -I -m tlcourse.grading.judge REQUEST`` reads a request the grader wrote (the lesson, the
seed its cases were drawn from, the raw probe reports), draws the same cases again, computes what a
right answer gives from the answer keys, and prints one verdict per exercise as a JSON line. It
never unpickles, imports or calls anything a student made: reports are parsed as JSON and
validated field by field (``tlcourse.checks.verdict``); a model in a report is rebuilt from
built-in Keras classes only, and a model whose estimated compute is over budget is refused before
it is called (``rebuild.run_model``). ``--serve`` judges one request per line of stdin instead.

This module is what runs inside the judge; how the grader starts, bounds and feeds judges (their
cgroups, the time budget per notebook, the serving judge per thread) is ``tlcourse.grading.judging``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from tlcourse.checks import Feedback, exercises_of, hidden_tests_of, keys, load_hidden_tests, public_part, verdict

MAX_REPORT = 16 * 2**20  # bytes of one exercise's report: a longer one is not parsed


def rng_for(seed: int, exercise_id: str, part: str = "cases") -> np.random.Generator:
    """The random generator of one exercise's grading cases: same seed, same cases."""
    digest = hashlib.sha256(f"{seed}:{exercise_id}:{part}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def grading_cases(lesson: str, seed: int) -> dict[str, tuple[list[dict], list]]:
    """``{exercise: (cases, [(hidden test, its cases), ...])}`` drawn for one notebook."""
    out = {}
    for ex in exercises_of(lesson):
        hidden = [
            (t, t.cases(rng_for(seed, ex.id, f"hidden{i}:{t.name}"))) for i, t in enumerate(hidden_tests_of(ex.id))
        ]
        out[ex.id] = (ex.cases(rng_for(seed, ex.id)), hidden)
    return out


def probe_input(cases: dict[str, tuple[list[dict], list]]) -> dict[str, list[dict]]:
    """What the probe in the box gets for each exercise: the inputs of every case, hidden ones too.

    A case's ``secret`` part (the held-out images the judge predicts, say) stays on the trusted side.
    """
    return {
        ex: [public_part(c) for c in main + [c for _, cs in hidden for c in cs]] for ex, (main, hidden) in cases.items()
    }


def max_points(exercise) -> float:
    return exercise.points + sum(t.points for t in hidden_tests_of(exercise.id))


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


if __name__ == "__main__":
    sys.exit(main())
