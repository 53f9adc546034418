"""Check one notebook's exported answers in a fresh process: ``python -m tlcourse.grading.checker``.

The student's kernel exported each answer (cloudpickle) after running; here the pristine
checks load them and give verdicts. Whatever the notebook did to ``tlcourse.checks`` in its
own kernel is gone. Student code still runs here when a check calls a student's function,
so after every exercise the checks are compared with a snapshot taken before any answer
was loaded: if an answer changed them, that exercise gets zero and the process stops (the
grader starts a new one for the remaining exercises).

Output: one JSON line per exercise, prefixed with the token from ``TLCOURSE_GRADER_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from dataclasses import asdict
from pathlib import Path

from tlcourse import checks
from tlcourse.checks import Feedback, evaluate, exercises_of

TOKEN_ENV = "TLCOURSE_GRADER_TOKEN"
TAMPERED = 3


def snapshot() -> dict:
    """Every function and class the verdicts depend on (the objects themselves: holding them keeps
    a replaced function from being freed and its id reused by the replacement)."""
    import tlcourse.checks as package

    state = {}
    modules = [package] + [sys.modules[m] for m in sorted(sys.modules) if m.startswith("tlcourse.checks.")]
    for module in modules:
        for name, value in vars(module).items():
            state[f"{module.__name__}.{name}"] = value
    for cls in (checks.Marker, checks.Feedback):
        for name, value in vars(cls).items():
            state[f"{cls.__name__}.{name}"] = value
    state["registry"] = tuple((k, v.func) for k, v in sorted(checks.REGISTRY.items()))
    state["hidden"] = tuple((k, tuple(t.func for t in v)) for k, v in sorted(checks.HIDDEN.items()))
    return state


def unchanged(before: dict, after: dict) -> bool:
    """True when every entry is the very same object as in ``before``."""
    return before.keys() == after.keys() and all(_same(before[k], after[k]) for k in before)


def _same(a, b) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a is b


def load_answers(folder: Path, names) -> dict:
    """Answers exported by the kernel; a missing or unloadable one becomes a ``_Problem``."""
    status = json.loads((folder / "status.json").read_text()) if (folder / "status.json").exists() else {}
    answers = {}
    for name in names:
        path = folder / f"{name}.pkl"
        if status.get(name) not in (None, "ok") or not path.exists():
            answers[name] = _Problem(status.get(name, "never defined in the notebook"))
            continue
        try:
            with open(path, "rb") as f:
                answers[name] = pickle.load(f)
        except Exception as err:  # an answer that cannot be rebuilt outside the notebook
            answers[name] = _Problem(f"could not be loaded for grading: {type(err).__name__}: {err}")
    return answers


class _Problem:
    def __init__(self, why: str):
        self.why = why


def verdict(exercise_id: str, answers: dict, hidden: bool) -> Feedback:
    problems = {k: v.why for k, v in answers.items() if isinstance(v, _Problem)}
    if problems:
        ex = checks.REGISTRY[exercise_id]
        if all(why in ("missing", "never defined in the notebook") for why in problems.values()):
            return evaluate(exercise_id, {k: v for k, v in answers.items() if k not in problems}, hidden=hidden)
        wrong = [f"`{k}`: {why}" for k, why in problems.items()]
        points = ex.points + sum(t.points for t in checks.HIDDEN.get(exercise_id, [])) if hidden else ex.points
        return Feedback(exercise_id, ex.title, 0, points, "error", wrong=wrong, hint=ex.hint)
    return evaluate(exercise_id, answers, hidden=hidden)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlcourse.grading.checker")
    parser.add_argument("answers", type=Path)
    parser.add_argument("lesson")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--hidden-file", type=Path, default=None)
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_ENV, "")
    if args.hidden_file:
        checks.load_hidden_tests(args.hidden_file)
    exercises = [e for e in exercises_of(args.lesson) if args.only is None or e.id in args.only]
    before = snapshot()
    for ex in exercises:
        feedback = verdict(ex.id, load_answers(args.answers, ex.names), hidden=True)
        if not unchanged(before, snapshot()):
            feedback = Feedback(
                ex.id,
                ex.title,
                0,
                feedback.max_points,
                "error",
                wrong=["your answer changed the checks while it was being checked"],
            )
            print(token + json.dumps(asdict(feedback)), flush=True)
            return TAMPERED
        print(token + json.dumps(asdict(feedback)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
