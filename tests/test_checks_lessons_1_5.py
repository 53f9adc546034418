"""The checks of lessons 1 and 5: right answers pass, typical mistakes get partial credit with a
specific message, and any value at all gets feedback instead of an exception."""

import math

import keras
import numpy as np
import pytest

from tlcourse.checks import evaluate
from tlcourse_keys import lesson01 as l1
from tlcourse_keys import lesson05 as l5

# Values a student might assign by mistake: every check must answer them with feedback.
GARBAGE = [0, 1.5, "answer", [1, 2, 3], {"a": 1}, np.zeros((2, 2)), keras.layers.Dense(2), True]


def _raises(*args, **kwargs):
    raise RuntimeError("student bug")


def _returns(value):
    return lambda *args, **kwargs: value


# --------------------------------------------------------------------------- lesson 1


def good_prf(y_true, y_pred, positive=1):
    return l1.reference_prf(y_true, y_pred, positive)


def test_11_right_answer_passes():
    fb = evaluate("1.1", {"precision_recall_f1": good_prf})
    assert fb.status == "pass" and fb.points == fb.max_points


def test_11_division_by_zero_and_swapped_arguments_are_named():
    def no_guard(y_true, y_pred, positive=1):
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        tp = np.sum((y_pred == positive) & (y_true == positive))
        with np.errstate(all="ignore"):
            p = tp / np.sum(y_pred == positive)
            r = tp / np.sum(y_true == positive)
            return p, r, 2 * p * r / (p + r)

    fb = evaluate("1.1", {"precision_recall_f1": no_guard})
    assert fb.status == "partial"
    assert any("never predicts the positive class" in w for w in fb.wrong)

    fb = evaluate("1.1", {"precision_recall_f1": lambda t, p, positive=1: good_prf(p, t, positive)})
    assert fb.status == "partial" and any("precision" in w or "recall" in w for w in fb.wrong)


def test_11_positive_argument_must_be_used():
    fb = evaluate("1.1", {"precision_recall_f1": lambda t, p, positive=1: good_prf(t, p, 1)})
    assert fb.status == "partial" and any("positive=2" in w for w in fb.wrong)


def test_12_diagnose():
    assert evaluate("1.2", {"diagnose": l1.reference_diagnose}).status == "pass"
    gap_first = lambda tr, va, target=0.9, max_gap=0.1: (  # noqa: E731
        "high variance" if tr - va > max_gap else "high bias" if tr < target else "good"
    )
    fb = evaluate("1.2", {"diagnose": gap_first})
    assert fb.status == "partial" and any("0.70, val 0.40" in w for w in fb.wrong)
    hard_coded = lambda tr, va, target=0.9, max_gap=0.1: l1.reference_diagnose(tr, va)  # noqa: E731
    fb = evaluate("1.2", {"diagnose": hard_coded})
    assert fb.status == "partial" and any("max_gap=0.05" in w for w in fb.wrong)


def _small_cnn(head="gap", size=128, classes=2, activation="softmax"):
    layers = [keras.Input((size, size, 3)), keras.layers.Rescaling(1 / 255)]
    for f in (32, 64, 128):
        layers += [keras.layers.Conv2D(f, 3, padding="same", activation="relu"), keras.layers.MaxPooling2D()]
    layers += [keras.layers.GlobalAveragePooling2D() if head == "gap" else keras.layers.Flatten()]
    layers += [keras.layers.Dense(classes, activation=activation)]
    return keras.Sequential(layers)


def test_13_small_cnn():
    fb = evaluate("1.3", {"small_cnn": _small_cnn()})
    assert fb.status == "pass", fb
    fb = evaluate("1.3", {"small_cnn": _small_cnn(head="flatten")})
    assert fb.status == "partial" and any("budget" in w for w in fb.wrong)
    fb = evaluate("1.3", {"small_cnn": _small_cnn(activation=None)})
    assert fb.status == "partial" and any("probabilities" in w for w in fb.wrong)
    fb = evaluate("1.3", {"small_cnn": _small_cnn(size=64, classes=3)})
    assert fb.points <= fb.max_points - 2


def test_13_a_model_without_input_gets_feedback():
    fb = evaluate("1.3", {"small_cnn": keras.Sequential([keras.layers.Dense(2)])})
    assert fb.status == "fail" and "keras.Input" in fb.message


def affordable_images(hours, flops_per_image, epochs, flops_per_second, backward_factor=3.0):
    return int(hours * 3600 * flops_per_second // (backward_factor * flops_per_image * epochs))


def test_14_affordable_images():
    assert evaluate("1.4", {"affordable_images": affordable_images}).status == "pass"
    as_hours = lambda h, f, e, fps, backward_factor=3.0: int(h * fps // (backward_factor * f * e))  # noqa: E731
    fb = evaluate("1.4", {"affordable_images": as_hours})
    assert fb.status == "fail" and "an hour has 3600" in fb.message
    forward_only = lambda h, f, e, fps, backward_factor=3.0: int(h * 3600 * fps // (f * e))  # noqa: E731
    fb = evaluate("1.4", {"affordable_images": forward_only})
    assert "training step" in fb.message
    unrounded = lambda h, f, e, fps, backward_factor=3.0: h * 3600 * fps / (backward_factor * f * e)  # noqa: E731
    fb = evaluate("1.4", {"affordable_images": unrounded})
    assert fb.status == "partial" and "round down" in fb.message


def test_12_a_canned_answer_earns_nothing():
    fb = evaluate("1.2", {"diagnose": lambda train, val, target=0.9, max_gap=0.1: "good"})
    assert fb.points == 0 and "whatever its input" in fb.message


# --------------------------------------------------------------------------- lesson 5


def test_51_time_to_accuracy():
    assert evaluate("5.1", {"time_to_accuracy": l5.reference_time_to_accuracy}).status == "pass"

    def no_setup(acc, spe, target, setup_seconds=0.0):
        return l5.reference_time_to_accuracy(acc, spe, target)

    fb = evaluate("5.1", {"time_to_accuracy": no_setup})
    assert fb.status == "partial" and "add the setup seconds" in fb.message

    def strict(acc, spe, target, setup_seconds=0.0):
        return l5.reference_time_to_accuracy(acc, spe, target + 1e-9, setup_seconds)

    fb = evaluate("5.1", {"time_to_accuracy": strict})
    assert fb.status == "partial" and any("exactly" in w for w in fb.wrong)


def test_52_mistake_overlap():
    assert evaluate("5.2", {"mistake_overlap": l5.reference_overlap}).status == "pass"

    def swapped(y, a, b):
        r = l5.reference_overlap(y, a, b)
        return {**r, "only_a_wrong": r["only_b_wrong"], "only_b_wrong": r["only_a_wrong"]}

    fb = evaluate("5.2", {"mistake_overlap": swapped})
    assert fb.status == "partial" and fb.points == 2
    fb = evaluate("5.2", {"mistake_overlap": lambda y, a, b: [1, 2, 3, 4]})
    assert fb.status == "fail" and "dict" in fb.message


def test_53_compare_runs():
    assert evaluate("5.3", {"compare_runs": l5.reference_compare}).status == "pass"

    def population(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        d = a.mean() - b.mean()
        se = math.sqrt(a.var() / len(a) + b.var() / len(b))
        return d, se, abs(d) > 2 * se

    fb = evaluate("5.3", {"compare_runs": population})
    assert fb.status == "partial" and "ddof=1" in fb.message


def test_54_images_needed():
    assert evaluate("5.4", {"images_needed": l5.reference_images_needed}).status == "pass"

    def unsorted(sizes, accs, target):
        for (s0, a0), (s1, a1) in zip(zip(sizes, accs), zip(sizes[1:], accs[1:])):
            if a0 >= target:
                return s0
            if a1 >= target:
                return s0 + (target - a0) * (s1 - s0) / (a1 - a0)
        return None

    fb = evaluate("5.4", {"images_needed": unsorted})
    assert fb.status == "partial" and any("not sorted" in w for w in fb.wrong)


def test_55_a_trained_frozen_transfer_model_passes_and_each_shortcut_is_named():
    assert evaluate("5.5", {"build_and_train_head": l5.reference_build_and_train_head}).status == "pass"

    def untrained(backbone, num_classes, x_train, y_train, epochs, hidden_units):
        return l5.reference_build_and_train_head(backbone, num_classes, x_train, y_train, 0, hidden_units)

    fb = evaluate("5.5", {"build_and_train_head": untrained})
    assert fb.status == "partial" and fb.points == pytest.approx(fb.max_points * 4 / 5)
    assert all("below the bar" in w for w in fb.wrong), fb.wrong

    def whole_model_trains(backbone, num_classes, x_train, y_train, epochs, hidden_units):
        model = l5.reference_build_and_train_head(backbone, num_classes, x_train, y_train, 0, hidden_units)
        backbone[0].trainable = True  # unfrozen before training: the base's weights (and BN statistics) move
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
        model.fit(x_train, y_train, epochs=epochs, batch_size=16, verbose=0)
        return model

    fb = evaluate("5.5", {"build_and_train_head": whole_model_trains})
    assert fb.status == "partial"
    assert any("freeze the base before you compile" in w for w in fb.wrong)
    assert any("changed during training" in w for w in fb.wrong)

    def no_hidden_layer(backbone, num_classes, x_train, y_train, epochs, hidden_units):  # transfer_model's head
        from tlcourse.models import transfer_model

        model = transfer_model(backbone, num_classes)
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
        model.fit(x_train, y_train, epochs=epochs, batch_size=16, verbose=0)
        return model

    fb = evaluate("5.5", {"build_and_train_head": no_hidden_layer})
    assert fb.status == "partial" and all("a new head trains" not in r for r in fb.right)
    assert any("ReLU" in w and "found Dense" in w for w in fb.wrong), fb.wrong


# --------------------------------------------------------------------------- any value


@pytest.mark.parametrize(
    "exercise,name",
    [
        ("1.1", "precision_recall_f1"),
        ("1.2", "diagnose"),
        ("1.3", "small_cnn"),
        ("1.4", "affordable_images"),
        ("5.1", "time_to_accuracy"),
        ("5.2", "mistake_overlap"),
        ("5.3", "compare_runs"),
        ("5.4", "images_needed"),
        ("5.5", "build_and_train_head"),
    ],
)
def test_any_value_gets_feedback_not_an_exception(exercise, name):
    values = GARBAGE + [
        _raises,
        _returns(None),
        _returns("x"),
        _returns(float("nan")),
        _returns([1, 2]),
        _returns(np.ones(3)),
        _returns({"both_wrong": "many"}),
    ]
    for value in values:
        fb = evaluate(exercise, {name: value})
        assert fb.status in ("fail", "partial", "missing"), (value, fb)  # missing: a function returning None
        assert fb.wrong, (value, fb)
    assert evaluate(exercise, {name: None}).status == "missing"
