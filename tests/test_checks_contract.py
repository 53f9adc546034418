"""The contract of every exercise, said once: the master's answer passes, any junk gets feedback, nothing is missing.

The right answers are the masters' own (``solutions/``, read by ``masters.py``): each exercise cell
is run statement by statement beside the lesson's imports and its helper functions, skipping what
needs the lesson's data (a demonstration call, a printout), so the names the check reads are the
worked answer as the notebook writes it, never an answer typed again here. Mistakes particular to
one exercise are tested in ``test_checks_lessonNN.py``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tlcourse import manifest
from tlcourse.checks import REGISTRY, evaluate, load_all

from masters import STUBS, master_answers, master_cells

load_all()
EXERCISES = sorted(REGISTRY, key=lambda i: [int(p) for p in i.split(".")])


def test_every_exercise_has_a_cell_in_its_master():
    for lesson in manifest.lesson_names():
        _, cells = master_cells(lesson)
        assert sorted(cells) == sorted(e for e in EXERCISES if REGISTRY[e].lesson == lesson), lesson


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_masters_answer_earns_every_point(exercise_id):
    answers = master_answers(exercise_id)
    assert all(value is not None for value in answers.values()), answers
    feedback = evaluate(exercise_id, answers)
    assert feedback.status == "pass" and feedback.points == feedback.max_points, str(feedback)


def _raises(*_args, **_kwargs):
    raise RuntimeError("student bug")


def _returns(value):
    return lambda *args, **kwargs: value


# Values and functions a student might hand in by mistake: every check answers each with feedback.
JUNK = [
    0,
    5,
    1.5,
    True,
    "answer",
    [],
    [1, 2],
    [1, 2, 3],
    np.zeros(3),
    {},
    {"a": 1},
    np.zeros((2, 2)),
    keras.layers.Dense(2),
    _raises,
    _returns(None),
    _returns("x"),
    _returns(float("nan")),
    _returns([1, 2]),
    _returns([1, 2, 3]),
    _returns(np.ones(3)),
    _returns(np.zeros((2, 2))),
    _returns({"A": 1}),
    _returns({"both_wrong": "many"}),
    lambda *a: 1 / 0,
]


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_junk_gets_feedback_never_points_or_an_error(exercise_id):
    names = REGISTRY[exercise_id].names
    for junk in JUNK:
        feedback = evaluate(exercise_id, {name: junk for name in names})
        assert feedback.status in ("fail", "partial", "missing"), (junk, str(feedback))  # missing: returns None
        assert feedback.points < feedback.max_points and feedback.wrong, (junk, str(feedback))
        assert "checking your answer raised" not in feedback.message, (junk, str(feedback))


@pytest.mark.parametrize("exercise_id", EXERCISES)
@pytest.mark.parametrize("stub", STUBS.values(), ids=STUBS.keys())
def test_a_stub_function_earns_nothing(exercise_id, stub):
    """Criteria a do-nothing function happens to meet must not give an untouched copy points (hidden tests too)."""
    feedback = evaluate(exercise_id, {n: stub for n in REGISTRY[exercise_id].names}, hidden=True)
    assert feedback.points == 0 and feedback.status in ("missing", "fail"), (exercise_id, str(feedback))


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_unanswered_is_missing_and_gets_no_hint_yet(exercise_id):
    feedback = evaluate(exercise_id, {name: None for name in REGISTRY[exercise_id].names})
    assert feedback.status == "missing" and feedback.points == 0 and not feedback.hint, str(feedback)
