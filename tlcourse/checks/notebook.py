"""The notebook's side: ``check()`` shows the feedback on an exercise, ``evaluate()`` returns it.

The student's code runs here (it is their notebook); the verdict is still made only from the
probe's plain report, exactly as the grader makes it.
"""

from __future__ import annotations

import json

import numpy as np

from tlcourse.checks import plain
from tlcourse.checks.public import hidden_points, public_cases, public_expected
from tlcourse.checks.registry import REGISTRY, exercises_of, hidden_tests_of, load_all
from tlcourse.checks.types import Feedback
from tlcourse.checks.verdict import public_part, verdict


def evaluate(exercise_id: str, answers: dict, hidden: bool = False, seed: int = 0) -> Feedback:
    """Check ``answers`` the way ``check()`` does, and return the feedback; never raises.

    The student's code runs here (it is their notebook); the verdict is still made only from the
    probe's plain report, exactly as the grader makes it. ``hidden=True`` (instructor edition)
    adds the hidden tests on cases drawn from ``seed``.
    """
    from tlcourse.checks.probe import probe

    load_all()
    ex = REGISTRY[exercise_id]
    cases = public_cases(exercise_id)
    extra = []
    if hidden:
        rng = np.random.default_rng(seed)
        extra = [(t, t.cases(rng)) for t in hidden_tests_of(exercise_id)]
    all_cases = cases + [c for _, cs in extra for c in cs]
    # The probe gets its own copy of the cases, as in the grading box: an answer that changes its
    # arguments in place changes that copy, never the cases the verdict compares with.
    own = plain.loads(json.dumps(plain.encode([public_part(c) for c in all_cases])), builds=True)
    report = probe(exercise_id, ex.names, own, answers)
    report = json.loads(json.dumps(report))  # exactly the plain data the grader would receive
    expected = public_expected(exercise_id, cases)
    feedback = verdict(ex, cases, report, expected, extra)
    more = 0 if hidden else hidden_points(exercise_id)
    if more:
        feedback.right.append(f"{more:g} more point(s) come from hidden tests at grading")
    if expected is None and feedback.status not in ("missing", "error"):  # no key in this edition
        feedback.points = 0
        feedback.status = "fail" if feedback.wrong else "recorded"
        feedback.right.append("checked for form only here: the answers are marked when your work is graded")
    return feedback


def check(exercise_id: str, **answers) -> None:
    """Check an exercise in a notebook and show the feedback (``evaluate`` returns it instead)."""
    feedback = evaluate(exercise_id, answers)
    try:
        from IPython.display import display

        display(feedback)
    except ImportError:
        print(feedback)


def grade_namespace(lesson: str, namespace: dict) -> list[Feedback]:
    """Every exercise of ``lesson`` checked against the variables of an executed notebook."""
    return [evaluate(ex.id, {n: namespace.get(n) for n in ex.names}) for ex in exercises_of(lesson)]
