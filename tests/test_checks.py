"""The exercise-check framework: cases, probe, plain data, judge; statuses and feedback text."""

import json

import numpy as np
import pytest

from tlcourse import checks
from tlcourse.checks import Feedback, evaluate, exercise, grade_namespace, plain, verdict
from tlcourse.checks.answers import as_number
from tlcourse.checks.probe import is_stub, probe

from masters import STUBS


def _mean_cases(rng):
    return [
        {"label": "1 and 3", "call": "mean", "args": [1.0, 3.0]},
        {"label": "2 and 6", "call": "mean", "args": [2, 6]},
    ]


@pytest.fixture
def demo_exercise():
    @exercise(
        "99.1",
        "mean of two numbers",
        names=("mean",),
        points=2,
        hint="add, then halve",
        cases=_mean_cases,
        lesson="99_demo",
    )
    def _judge(m, cases, results, expected):
        for case, result in zip(cases, results):
            want = sum(case["args"]) / 2
            value = as_number(result.value) if result.ok else None
            m.criterion(
                value == want, f"{case['label']}: {want}", f"{case['label']}: got {result.value!r}, expected {want}"
            )

    yield "99.1"
    checks.REGISTRY.pop("99.1")


def test_right_answer_passes(demo_exercise):
    fb = evaluate(demo_exercise, {"mean": lambda a, b: (a + b) / 2})
    assert (fb.status, fb.points, fb.max_points) == ("pass", 2, 2)
    assert "✔ Exercise 99.1" in str(fb) and "Hint" not in str(fb)


def test_partly_right_answer_gets_partial_points_and_a_hint(demo_exercise):
    fb = evaluate(demo_exercise, {"mean": lambda a, b: 2.0})
    assert (fb.status, fb.points) == ("partial", 1)
    assert "expected 4" in str(fb) and "Hint: add, then halve" in str(fb)


def test_unanswered_is_missing_with_the_variable_name(demo_exercise):
    fb = evaluate(demo_exercise, {"mean": None})
    assert fb.status == "missing" and fb.points == 0 and "`mean`" in fb.message
    assert "Hint" not in str(fb) and "a hint appears" in str(fb), "no hint before a first attempt"
    stub = evaluate(demo_exercise, {"mean": STUBS["return None"]})
    assert stub.status == "missing" and "Hint" not in str(stub)


def test_stub_bodies_are_recognised():  # every exercise and a stub: tests/test_checks_contract.py
    assert all(is_stub(stub) for stub in STUBS.values())
    assert not is_stub(lambda x: x) and not is_stub(len) and not is_stub(5)


def test_an_answer_of_a_lying_type_is_judged_as_data_not_trusted(demo_exercise):
    class Weird(float):
        def __eq__(self, other):
            return True

    fb = evaluate(demo_exercise, {"mean": lambda a, b: Weird(2.0)})
    assert fb.points == 0 and "Weird" in fb.message


def test_grade_namespace_uses_the_same_verdicts(demo_exercise):
    def mean(a, b):
        return (a + b) / 2

    (fb,) = grade_namespace("99_demo", {"mean": mean, "other": 1})
    assert fb == evaluate(demo_exercise, {"mean": mean})
    (missing,) = grade_namespace("99_demo", {})
    assert missing.status == "missing"


def test_html_rendering_escapes_text():
    fb = Feedback("1.1", "t", 0, 1, "fail", wrong=["<script>"])
    assert "&lt;script&gt;" in fb._repr_html_()


# --------------------------------------------------------------------------- plain data


class AlwaysEqual(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        3,
        -2.5,
        "text",
        [1, [2, "x"]],
        (1, 2.0),
        {"a": 1, 2: (3,)},
        float("nan"),
        float("-inf"),
        np.float32(1.5),
        np.int64(7),
        np.bool_(True),
        np.arange(6, dtype=np.uint8).reshape(2, 3),
        np.zeros((2, 0)),
    ],
)
def test_plain_values_round_trip_exactly(value):
    back = plain.round_trip(value)
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape and np.array_equal(back, value)
    elif isinstance(value, float) and value != value:
        assert back != back
    else:
        assert back == value


@pytest.mark.parametrize(
    "value, name",
    [
        (AlwaysEqual("x"), "AlwaysEqual"),
        (np.array([AlwaysEqual("x")], dtype=object), "object"),
        (np.array(["a"]), "<U1"),
        (lambda: 1, "function"),
        (type("F", (float,), {})(2.0), "F"),
        (2**80, "too large"),
    ],
)
def test_anything_else_becomes_unsupported_with_only_its_type_name(value, name):
    back = plain.round_trip(value)
    assert isinstance(back, plain.Unsupported) and name in back.type_name
    assert back != "x" and back != 2.0


@pytest.mark.parametrize(
    "raw",
    [
        '{"$array": {"dtype": "O", "shape": [1], "b64": ""}}',
        '{"$array": {"dtype": "f8", "shape": [4], "b64": "AAAA"}}',
        '{"$pickle": "gASV"}',
        '{"a": 1, "b": 2}',
        '{"$build": {"name": "tiny_classifier", "params": {"$dict": []}}}',
        '{"$scalar": {"dtype": "f8", "value": "1"}}',
        '{"$array": {"dtype": "f8", "shape": [99999999999], "b64": ""}}',
        "[" * 5000 + "]" * 5000,
        "NaN",
    ],
)
def test_off_schema_data_is_refused_not_trusted(raw):
    with pytest.raises(plain.PlainDataError):
        plain.loads(raw)


def test_a_probe_report_that_claims_points_is_refused(demo_exercise):
    ex = checks.REGISTRY[demo_exercise]
    cases = _mean_cases(None)
    honest = probe(ex.id, ex.names, cases, {"mean": lambda a, b: 0})
    forged = json.loads(json.dumps(honest))
    forged["results"][0]["points"] = 1011
    fb = verdict(ex, cases, forged, None)
    assert fb.points == 0 and fb.status == "error" and "could not be read" in fb.message
    missing_fields = {"exercise": ex.id}
    assert verdict(ex, cases, missing_fields, None).status == "error"
    assert verdict(ex, cases, "not a dict", None).status == "error"


def test_points_never_exceed_the_registry(demo_exercise):
    ex = checks.REGISTRY[demo_exercise]

    def generous(m, cases, results, expected):
        m.criterion(True, "everything", "", points=1000)

    greedy = checks.Exercise(ex.lesson, ex.id, ex.title, ex.names, ex.points, ex.hint, ex.cases, generous)
    report = probe(ex.id, ex.names, _mean_cases(None), {"mean": lambda a, b: 1})
    assert verdict(greedy, _mean_cases(None), report, None).points == ex.points


def test_the_right_answers_are_computed_only_for_an_answer_there_to_judge(demo_exercise):
    """The judge passes the key as a function: a missing answer never pays for building its models."""
    ex = checks.REGISTRY[demo_exercise]
    cases, asked = _mean_cases(None), []

    def expected():
        asked.append(True)
        return None

    missing = probe(ex.id, ex.names, cases, {})
    assert verdict(ex, cases, missing, expected).status == "missing" and asked == []
    answered = probe(ex.id, ex.names, cases, {"mean": lambda a, b: (a + b) / 2})
    assert verdict(ex, cases, answered, expected).status != "missing" and asked == [True]

    def broken():
        raise ValueError("a key that cannot be computed")

    fb = verdict(ex, cases, answered, broken)
    assert fb.status == "error" and fb.points == 0 and "could not be read" in fb.message
