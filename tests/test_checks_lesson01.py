"""Lesson 1's checks: the mistakes particular to its exercises get partial credit and are named,
and a right answer other than the master's (other words, another way) still earns every point.

That the master's answer passes, junk gets feedback and nothing is "missing" is tested once, for every
exercise, in ``test_checks_contract.py``; a mistake here starts from the answer key's reference
function or from the master's own answer (``masters.py``), never from an answer typed again.
"""

import keras
import numpy as np

from tlcourse.checks import evaluate
from tlcourse_keys import lesson01 as l1

from masters import master_answers

# --------------------------------------------------------------------------- 1.1 precision, recall, F1


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

    fb = evaluate("1.1", {"precision_recall_f1": lambda t, p, positive=1: l1.reference_prf(p, t, positive)})
    assert fb.status == "partial" and any("precision" in w or "recall" in w for w in fb.wrong)


def test_11_positive_argument_must_be_used():
    fb = evaluate("1.1", {"precision_recall_f1": lambda t, p, positive=1: l1.reference_prf(t, p, 1)})
    assert fb.status == "partial" and any("positive=2" in w for w in fb.wrong)


# --------------------------------------------------------------------------- 1.2 diagnose


def test_12_gap_before_bias_and_ignored_arguments_are_named():
    gap_first = lambda tr, va, target=0.9, max_gap=0.1: (  # noqa: E731
        "high variance" if tr - va > max_gap else "high bias" if tr < target else "good"
    )
    fb = evaluate("1.2", {"diagnose": gap_first})
    assert fb.status == "partial" and any("0.70, val 0.40" in w for w in fb.wrong)
    hard_coded = lambda tr, va, target=0.9, max_gap=0.1: l1.reference_diagnose(tr, va)  # noqa: E731
    fb = evaluate("1.2", {"diagnose": hard_coded})
    assert fb.status == "partial" and any("max_gap=0.05" in w for w in fb.wrong)


def test_12_a_canned_answer_earns_nothing():
    fb = evaluate("1.2", {"diagnose": lambda train, val, target=0.9, max_gap=0.1: "good"})
    assert fb.points == 0 and "whatever its input" in fb.message


# --------------------------------------------------------------------------- 1.3 a small CNN


def _small_cnn(flatten=False, activation=None, size=None, classes=None, dropout=True):
    """The master's ``small_cnn``, rebuilt layer by layer with one thing changed."""
    master = master_answers("1.3")["small_cnn"]
    layers = [keras.Input(master.input_shape[1:] if size is None else (size, size, 3))]
    for layer in master.layers:
        config = layer.get_config()
        if not dropout and isinstance(layer, keras.layers.Dropout):
            continue
        if flatten and isinstance(layer, keras.layers.GlobalAveragePooling2D):
            layers.append(keras.layers.Flatten())
            continue
        if layer is master.layers[-1]:  # the output layer
            config.update(activation=activation or config["activation"], units=classes or config["units"])
        layers.append(type(layer).from_config(config))
    return keras.Sequential(layers)


def test_13_dropout_is_not_required():
    fb = evaluate("1.3", {"small_cnn": _small_cnn(dropout=False)})
    assert fb.status == "pass" and fb.points == fb.max_points, str(fb)


def test_13_a_flattened_head_no_probabilities_and_the_wrong_shape_are_named():
    fb = evaluate("1.3", {"small_cnn": _small_cnn(flatten=True)})
    assert fb.status == "partial" and any("budget" in w for w in fb.wrong)
    fb = evaluate("1.3", {"small_cnn": _small_cnn(activation="linear")})
    assert fb.status == "partial" and any("probabilities" in w for w in fb.wrong)
    fb = evaluate("1.3", {"small_cnn": _small_cnn(size=64, classes=3)})
    assert fb.points <= fb.max_points - 2


def test_13_a_model_without_input_gets_feedback():
    fb = evaluate("1.3", {"small_cnn": keras.Sequential([keras.layers.Dense(2)])})
    assert fb.status == "fail" and "keras.Input" in fb.message


# --------------------------------------------------------------------------- 1.4 affordable images


def test_14_hours_forward_only_and_unrounded_are_named():
    """The key's reference gives the images before rounding down: each mistake is it, misused."""
    affordable = l1.reference_affordable

    def as_hours(hours, flops_per_image, epochs, flops_per_second, backward_factor=3.0):
        return int(affordable(hours / 3600, flops_per_image, epochs, flops_per_second, backward_factor))

    def forward_only(hours, flops_per_image, epochs, flops_per_second, backward_factor=3.0):
        return int(affordable(hours, flops_per_image, epochs, flops_per_second, 1.0))

    def unrounded(hours, flops_per_image, epochs, flops_per_second, backward_factor=3.0):
        return affordable(hours, flops_per_image, epochs, flops_per_second, backward_factor)

    fb = evaluate("1.4", {"affordable_images": as_hours})
    assert fb.status == "fail" and "an hour has 3600" in fb.message
    fb = evaluate("1.4", {"affordable_images": forward_only})
    assert "training step" in fb.message
    fb = evaluate("1.4", {"affordable_images": unrounded})
    assert fb.status == "partial" and "round down" in fb.message
