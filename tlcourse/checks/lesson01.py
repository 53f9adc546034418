"""Checks of lesson 1, why training CNNs from scratch is hard.

Every check calls the student's function on inputs it makes itself (or inspects the model
the student built), so it cannot be fooled by other notebook variables, and it gives
feedback, never an exception, whatever value it receives.
"""

from __future__ import annotations

import numpy as np

from tlcourse.checks import exercise
from tlcourse.checks.answers import as_number, call, not_a_function

LESSON = "01_why_scratch_is_hard"


# --------------------------------------------------------------------------- 1.1


def reference_prf(y_true, y_pred, positive=1):
    """Precision, recall and F1 of class ``positive`` (0.0 where a ratio has nothing to count)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    tp = int(np.sum((y_pred == positive) & (y_true == positive)))
    fp = int(np.sum((y_pred == positive) & (y_true != positive)))
    fn = int(np.sum((y_pred != positive) & (y_true == positive)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


CASES_11 = [
    # (description, y_true, y_pred, positive)
    ("a balanced case", [1, 1, 1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 0, 1, 1, 0, 0, 0, 0], 1),
    ("many false positives", [0, 0, 0, 0, 0, 0, 1, 1], [1, 1, 1, 1, 0, 0, 1, 1], 1),
    ("the other class as positive", [2, 2, 0, 1, 2, 0, 1, 2, 2], [2, 0, 0, 1, 2, 2, 2, 2, 1], 2),
    ("numpy arrays as input", np.array([1, 0, 1, 1, 0, 1]), np.array([1, 1, 0, 1, 0, 1]), 1),
]
ZERO_CASE = ("a model that never predicts the positive class", [1, 1, 0, 0, 0], [0, 0, 0, 0, 0], 1)


def _triple(got):
    try:
        values = [as_number(v) for v in got]
    except TypeError:
        return None
    return values if len(values) == 3 and all(v is not None for v in values) else None


@exercise(
    LESSON,
    "1.1",
    "Precision, recall and F1 from predictions",
    names=("precision_recall_f1",),
    points=5,
    hint="Count true positives (predicted positive and truly positive), false positives (predicted positive, "
    "truly not) and false negatives (truly positive, predicted not). precision = TP / (TP + FP), "
    "recall = TP / (TP + FN), F1 = 2PR / (P + R); return 0.0 when a denominator is 0.",
)
def _(m, precision_recall_f1):
    if not_a_function(m, "precision_recall_f1", precision_recall_f1, 5):
        return
    names = ("precision", "recall", "F1")
    first_problem: dict[str, str] = {}
    for description, y_true, y_pred, positive in CASES_11:
        got, error = call(precision_recall_f1, y_true, y_pred, positive)
        values = _triple(got) if error is None else None
        if values is None:
            why = f"raised {error}" if error else f"returned {got!r} (return three numbers: precision, recall, f1)"
            for name in names:
                first_problem.setdefault(name, f"on {description} your function {why}")
            continue
        expected = reference_prf(y_true, y_pred, positive)
        for name, v, e in zip(names, values, expected):
            if abs(v - e) >= 1e-6:
                first_problem.setdefault(
                    name, f"on {description} (positive={positive}) your {name} is {v:.3f}, expected {e:.3f}"
                )
    for name in names:
        m.criterion(
            name not in first_problem,
            f"{name} right on all {len(CASES_11)} test cases",
            first_problem.get(name, ""),
        )
    description, y_true, y_pred, positive = ZERO_CASE
    got, error = call(precision_recall_f1, y_true, y_pred, positive)
    values = _triple(got) if error is None else None
    m.criterion(
        values is not None and all(abs(v) < 1e-9 for v in values),
        "a model that never predicts the positive class gets 0.0 for all three (no division by zero)",
        f"on {description}: "
        + (f"raised {error}" if error else f"returned {got!r}")
        + " — return 0.0 when there is nothing to divide by",
    )
    swapped, error = call(precision_recall_f1, [1, 1, 1, 0], [1, 0, 0, 0], 1)
    values = _triple(swapped) if error is None else None
    m.criterion(
        values is not None and abs(values[0] - 1.0) < 1e-6 and abs(values[1] - 1 / 3) < 1e-6,
        "arguments in the right order (y_true first, y_pred second)",
        "with y_true=[1,1,1,0], y_pred=[1,0,0,0] precision should be 1.0 and recall 0.333: "
        "check which argument is the truth and which the prediction",
    )


# --------------------------------------------------------------------------- 1.2


def reference_diagnose(train_accuracy, val_accuracy, target=0.9, max_gap=0.1):
    if train_accuracy < target:
        return "high bias"
    if train_accuracy - val_accuracy > max_gap:
        return "high variance"
    return "good"


CASES_12 = [
    ((0.62, 0.60), {}, "high bias", "train 0.62, val 0.60 (underfits: cannot even fit its training data)"),
    ((0.99, 0.71), {}, "high variance", "train 0.99, val 0.71 (memorises the training set)"),
    ((0.95, 0.91), {}, "good", "train 0.95, val 0.91"),
    ((0.70, 0.40), {}, "high bias", "train 0.70, val 0.40 (bias first: the training fit is already poor)"),
    ((0.93, 0.84), {"max_gap": 0.05}, "high variance", "train 0.93, val 0.84 with max_gap=0.05"),
    ((0.85, 0.83), {"target": 0.8}, "good", "train 0.85, val 0.83 with target=0.8"),
]


@exercise(
    LESSON,
    "1.2",
    "Bias or variance?",
    names=("diagnose",),
    points=6,
    hint="First compare the training accuracy with the target (too low: high bias, the model cannot fit even "
    "the data it sees); only then compare training with validation (a gap above max_gap: high variance). "
    "Use the `target` and `max_gap` arguments, do not hard-code 0.9 and 0.1.",
)
def _(m, diagnose):
    if not_a_function(m, "diagnose", diagnose, 6):
        return
    for args, kwargs, expected, description in CASES_12:
        got, error = call(diagnose, *args, **kwargs)
        if error:
            m.criterion(False, "", f"{description}: your function raised {error}")
        elif not isinstance(got, str):
            m.criterion(False, "", f"{description}: returned {got!r}; return 'high bias', 'high variance' or 'good'")
        else:
            answer = got.strip().lower()
            m.criterion(
                answer == expected,
                f"{description} → {expected!r}",
                f"{description}: you said {got!r}, expected {expected!r}",
            )


# --------------------------------------------------------------------------- 1.3

BUDGET_13 = 100_000


@exercise(
    LESSON,
    "1.3",
    "A scratch CNN under a parameter budget",
    names=("small_cnn",),
    points=5,
    hint="Almost all of scratch_cnn's parameters sit in the Dense layer after Flatten (at 128 px the last "
    "feature map is 16×16×128 = 32,768 numbers, each connected to all 128 units). Replace Flatten + "
    "Dense(128) by keras.layers.GlobalAveragePooling2D(): one number per channel.",
)
def _(m, small_cnn):
    import keras

    if not isinstance(small_cnn, keras.Model):
        m.criterion(False, "", f"`small_cnn` should be a Keras model, got {type(small_cnn).__name__}", points=5)
        return
    try:
        in_shape = tuple(small_cnn.input_shape)
        out_shape = tuple(small_cnn.output_shape)
        params = int(small_cnn.count_params())
    except Exception as err:  # e.g. a Sequential without an Input: not built
        m.criterion(
            False,
            "",
            f"could not read the model's shapes ({type(err).__name__}): start it with keras.Input(shape=(128, 128, 3))",
            points=5,
        )
        return
    m.criterion(
        in_shape == (None, 128, 128, 3),
        "takes 128×128 RGB images",
        f"input shape is {in_shape}, expected (None, 128, 128, 3)",
    )
    m.criterion(out_shape == (None, 2), "outputs 2 class scores", f"output shape is {out_shape}, expected (None, 2)")
    layers = small_cnn.layers
    n_conv = sum(isinstance(layer, keras.layers.Conv2D) for layer in layers)
    m.criterion(
        n_conv >= 3, f"{n_conv} convolution layers", f"only {n_conv} Conv2D layers: keep at least three (32/64/128)"
    )
    m.criterion(
        0 < params <= BUDGET_13,
        f"{params:,} parameters, within the budget of {BUDGET_13:,}",
        f"{params:,} parameters: the budget is {BUDGET_13:,}",
    )
    try:
        probe = np.random.default_rng(0).uniform(0, 255, (3, 128, 128, 3)).astype("float32")
        out = np.asarray(small_cnn(probe, training=False))
        probabilities = out.shape == (3, 2) and bool(np.all(out >= 0)) and np.allclose(out.sum(axis=1), 1.0, atol=1e-4)
    except Exception:
        probabilities = False
    m.criterion(
        probabilities,
        "ends in a softmax (probabilities, as sparse_categorical_crossentropy expects)",
        "the outputs are not probabilities: end with Dense(2, activation='softmax')",
    )


# --------------------------------------------------------------------------- 1.4


def reference_hours(flops_per_image, n_images, epochs, flops_per_second, backward_factor=3.0):
    return backward_factor * flops_per_image * n_images * epochs / flops_per_second / 3600


CASES_14 = [
    ((1.0e9, 1000, 10, 1.0e10), {}, "1 GFLOP/image, 1,000 images, 10 epochs, 10 GFLOP/s"),
    ((31.0e9, 1_281_167, 74, 5.0e10), {}, "VGG-16-like: 31 GFLOPs, 1.28 M images, 74 epochs, 50 GFLOP/s"),
    ((2.0e8, 244, 30, 2.0e10), {"backward_factor": 2.0}, "backward_factor=2"),
]


@exercise(
    LESSON,
    "1.4",
    "How long does training take?",
    names=("training_hours",),
    points=4,
    hint="One training step on one image costs about backward_factor × the forward FLOPs (forward + backward "
    "≈ 3×). Total FLOPs = factor × flops_per_image × n_images × epochs; divide by FLOP/s for seconds, "
    "then by 3600 for hours.",
)
def _(m, training_hours):
    if not_a_function(m, "training_hours", training_hours, 4):
        return
    for args, kwargs, description in CASES_14:
        expected = reference_hours(*args, **kwargs)
        got, error = call(training_hours, *args, **kwargs)
        value = as_number(got) if error is None else None
        if error:
            m.criterion(False, "", f"{description}: your function raised {error}")
            continue
        if value is None:
            m.criterion(False, "", f"{description}: returned {got!r}, expected a number of hours")
            continue
        ok = abs(value - expected) <= 1e-6 * max(1.0, abs(expected))
        why = ""
        if not ok and expected and abs(value / expected - 3600) < 1:
            why = " (that is seconds: divide by 3600)"
        elif not ok and expected and abs(value / expected - 1 / kwargs.get("backward_factor", 3.0)) < 1e-6:
            why = " (forward pass only: multiply by backward_factor)"
        m.criterion(
            ok,
            f"{description}: {value:,.3g} h",
            f"{description}: you said {value:,.4g} h, expected {expected:,.4g} h{why}",
        )
    got, error = call(training_hours, 1.0e9, 100, 1, 1.0e9)
    value = as_number(got) if error is None else None
    m.criterion(
        value is not None and abs(value - 300 / 3600) < 1e-9,
        "backward_factor defaults to 3",
        "training_hours(1e9, 100, 1, 1e9) should be 300 s = 0.0833 h: give backward_factor a default of 3.0",
    )
