"""The exercise-check framework: statuses, feedback text, never crashing on bad answers."""

import pytest

from tlcourse import checks
from tlcourse.checks import Feedback, evaluate, exercise, grade_namespace


@pytest.fixture
def demo_exercise():
    @exercise("99_demo", "99.1", "mean of two numbers", names=("answer",), points=2, hint="add, then halve")
    def _check(m, answer):
        m.criterion(isinstance(answer, float), "a float", f"expected a float, got {type(answer).__name__}")
        m.criterion(answer == 2.0, "the right value", f"{answer} is not the mean of 1 and 3")

    yield "99.1"
    checks.REGISTRY.pop("99.1")


def test_right_answer_passes(demo_exercise):
    fb = evaluate(demo_exercise, {"answer": 2.0})
    assert (fb.status, fb.points, fb.max_points) == ("pass", 2, 2)
    assert "✔ Exercise 99.1" in str(fb) and "Hint" not in str(fb)


def test_partly_right_answer_gets_partial_points_and_a_hint(demo_exercise):
    fb = evaluate(demo_exercise, {"answer": 3.0})
    assert (fb.status, fb.points) == ("partial", 1)
    assert "3.0 is not the mean" in str(fb) and "Hint: add, then halve" in str(fb)


def test_unanswered_is_missing_with_the_variable_name(demo_exercise):
    fb = evaluate(demo_exercise, {"answer": None})
    assert fb.status == "missing" and fb.points == 0 and "`answer`" in fb.message


def _stub(*args, **kwargs):
    return None  # the student copy's body


def _pass_stub(model, train_blocks, head_lr):
    pass


@pytest.mark.parametrize("exercise_id", [e.id for lesson in checks.lessons() for e in checks.exercises_of(lesson)])
def test_a_stub_function_earns_nothing_in_any_exercise(exercise_id):
    """Criteria a do-nothing function happens to meet must not give an untouched copy points."""
    ex = checks.REGISTRY[exercise_id]
    fb = evaluate(exercise_id, {n: _stub for n in ex.names}, hidden=True)
    assert fb.points == 0 and fb.status == "missing", (exercise_id, str(fb))
    assert evaluate(exercise_id, {n: _pass_stub for n in ex.names}).points == 0


def test_an_answer_that_breaks_the_check_is_an_error_not_a_crash(demo_exercise):
    class Weird(float):
        def __eq__(self, other):
            raise RuntimeError("boom")

    fb = evaluate(demo_exercise, {"answer": Weird(2.0)})
    assert fb.status == "error" and "RuntimeError: boom" in fb.message


def test_grade_namespace_uses_the_same_verdicts(demo_exercise):
    (fb,) = grade_namespace("99_demo", {"answer": 2.0, "other": 1})
    assert fb == evaluate(demo_exercise, {"answer": 2.0})
    (missing,) = grade_namespace("99_demo", {})
    assert missing.status == "missing"


def test_html_rendering_escapes_text():
    fb = Feedback("1.1", "t", 0, 1, "fail", wrong=["<script>"])
    assert "&lt;script&gt;" in fb._repr_html_()
