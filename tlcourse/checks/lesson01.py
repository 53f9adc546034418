"""Checks of lesson 1, why training CNNs from scratch is hard.

Cases are drawn here (fixed for the notebook, fresh at grading); expected results come from the
answer keys or, for the public cases, from ``public.json``: nothing here computes an answer.
"""

from __future__ import annotations

import numpy as np

from tlcourse.checks import exercise
from tlcourse.checks.answers import FirstProblems, as_number, close, not_callable, show
from tlcourse.checks.plain import ModelData
from tlcourse.checks.rebuild import RebuildError, rebuild

LESSON = "01_why_scratch_is_hard"


def _ints(values) -> list[int]:
    return [int(v) for v in values]


# --------------------------------------------------------------------------- 1.1


def _prf_case(label, y_true, y_pred, positive, kind="regular"):
    return {"label": label, "call": "precision_recall_f1", "args": [y_true, y_pred, positive], "kind": kind}


def cases_prf(rng):
    if rng is None:
        return [
            _prf_case("a balanced case", [1, 1, 1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 0, 1, 1, 0, 0, 0, 0], 1),
            _prf_case("many false positives", [0, 0, 0, 0, 0, 0, 1, 1], [1, 1, 1, 1, 0, 0, 1, 1], 1),
            _prf_case("the other class as positive", [2, 2, 0, 1, 2, 0, 1, 2, 2], [2, 0, 0, 1, 2, 2, 2, 2, 1], 2),
            _prf_case("numpy arrays as input", np.array([1, 0, 1, 1, 0, 1]), np.array([1, 1, 0, 1, 0, 1]), 1),
            _prf_case("a model that never predicts the positive class", [1, 1, 0, 0, 0], [0, 0, 0, 0, 0], 1, "zero"),
            _prf_case("the order of the arguments", [1, 1, 1, 0], [1, 0, 0, 0], 1, "order"),
        ]
    n = int(rng.integers(12, 40))
    balanced = rng.integers(0, 2, n)
    negatives = np.zeros(n, int)
    negatives[rng.choice(n, 3, replace=False)] = 1
    false_positives = np.where(rng.uniform(size=n) < 0.7, 1, negatives)
    three = rng.integers(0, 3, n)
    noisy = np.where(rng.uniform(size=n) < 0.6, three, rng.integers(0, 3, n))
    arrays_true = rng.integers(0, 2, n)
    arrays_pred = np.where(rng.uniform(size=n) < 0.7, arrays_true, 1 - arrays_true)
    zero_true = np.concatenate([np.ones(3, int), rng.integers(0, 2, n - 3)])
    order_true = np.concatenate([np.ones(6, int), np.zeros(3, int)])
    order_pred = np.concatenate([[1, 1], np.zeros(7, int)])
    return [
        _prf_case(
            "a balanced case", _ints(balanced), _ints(np.where(rng.uniform(size=n) < 0.7, balanced, 1 - balanced)), 1
        ),
        _prf_case("many false positives", _ints(negatives), _ints(false_positives), 1),
        _prf_case("the other class as positive", _ints(three), _ints(noisy), 2),
        _prf_case("numpy arrays as input", arrays_true, arrays_pred, 1),
        _prf_case("a model that never predicts the positive class", _ints(zero_true), [0] * n, 1, "zero"),
        _prf_case("the order of the arguments", _ints(order_true), _ints(order_pred), 1, "order"),
    ]


def _triple(value):
    if type(value) not in (tuple, list) and not (isinstance(value, np.ndarray) and value.ndim == 1):
        return None
    values = [as_number(v) for v in value]
    return values if len(values) == 3 and all(v is not None for v in values) else None


def _short(values) -> str:
    return "[" + ",".join(str(int(v)) for v in values) + "]"


@exercise(
    LESSON,
    "1.1",
    "Precision, recall and F1 from predictions",
    names=("precision_recall_f1",),
    points=5,
    hint="Count true positives (predicted positive and truly positive), false positives (predicted positive, "
    "truly not) and false negatives (truly positive, predicted not). precision = TP / (TP + FP), "
    "recall = TP / (TP + FN), F1 = 2PR / (P + R); return 0.0 when a denominator is 0.",
    cases=cases_prf,
)
def judge_precision_recall_f1(m, cases, results, expected):
    if not_callable(m, "precision_recall_f1", results, 5):
        return
    problems = FirstProblems(("precision", "recall", "F1"))
    regular = [(c, r, e) for c, r, e in zip(cases, results, expected) if c["kind"] == "regular"]
    for case, result, exp in regular:
        values = _triple(result.value) if result.ok else None
        if values is None:
            why = (
                result.why()
                if not result.ok
                else f"returned {show(result.value)} (return three numbers: precision, recall, f1)"
            )
            problems.note_all(f"on {case['label']} your function {why}")
            continue
        for name, v, e in zip(problems.labels, values, exp["prf"]):
            if abs(v - e) >= 1e-6:
                problems.note(
                    name, f"on {case['label']} (positive={case['args'][2]}) your {name} is {v:.3f}, expected {e:.3f}"
                )
    problems.award(m, f"{{label}} right on all {len(regular)} test cases")
    for case, result, exp in zip(cases, results, expected):
        values = _triple(result.value) if result.ok else None
        if case["kind"] == "zero":
            m.criterion(
                values is not None and all(abs(v) < 1e-9 for v in values),
                "a model that never predicts the positive class gets 0.0 for all three (no division by zero)",
                f"on {case['label']}: "
                + (result.why() if not result.ok else f"returned {show(result.value)}")
                + " — return 0.0 when there is nothing to divide by",
            )
        elif case["kind"] == "order":
            p, r, _ = exp["prf"]
            m.criterion(
                values is not None and abs(values[0] - p) < 1e-6 and abs(values[1] - r) < 1e-6,
                "arguments in the right order (y_true first, y_pred second)",
                f"with y_true={_short(case['args'][0])}, y_pred={_short(case['args'][1])} precision should be "
                f"{p:.3f} and recall {r:.3f}: check which argument is the truth and which the prediction",
            )


# --------------------------------------------------------------------------- 1.2


def cases_diagnose(rng):
    def case(label, train, val, **kwargs):
        return {"label": label, "call": "diagnose", "args": [train, val], "kwargs": kwargs}

    if rng is None:
        return [
            case("train 0.62, val 0.60 (underfits: cannot even fit its training data)", 0.62, 0.60),
            case("train 0.99, val 0.71 (memorises the training set)", 0.99, 0.71),
            case("train 0.95, val 0.91", 0.95, 0.91),
            case("train 0.70, val 0.40 (bias first: the training fit is already poor)", 0.70, 0.40),
            case("train 0.93, val 0.84 with max_gap=0.05", 0.93, 0.84, max_gap=0.05),
            case("train 0.85, val 0.83 with target=0.8", 0.85, 0.83, target=0.8),
        ]
    out = []
    for regime in ("bias", "variance", "good", "bias", "variance", "good"):
        target, gap = round(float(rng.uniform(0.75, 0.93)), 2), round(float(rng.uniform(0.05, 0.15)), 2)
        if regime == "bias":
            train = target - float(rng.uniform(0.03, 0.2))
            val = train - float(rng.uniform(0.0, 0.3))
        elif regime == "variance":
            train = min(0.999, target + float(rng.uniform(0.01, 0.06)))
            val = train - gap - float(rng.uniform(0.03, 0.2))
        else:
            train = min(0.999, target + float(rng.uniform(0.01, 0.06)))
            val = train - float(rng.uniform(0.0, gap - 0.02))
        train, val = round(train, 3), round(val, 3)
        out.append(
            case(
                f"train {train}, val {val} with target={target}, max_gap={gap}", train, val, target=target, max_gap=gap
            )
        )
    return out


@exercise(
    LESSON,
    "1.2",
    "Bias or variance?",
    names=("diagnose",),
    points=6,
    hint="First compare the training accuracy with the target (too low: high bias, the model cannot fit even "
    "the data it sees); only then compare training with validation (a gap above max_gap: high variance). "
    "Use the `target` and `max_gap` arguments, do not hard-code 0.9 and 0.1.",
    cases=cases_diagnose,
)
def judge_diagnose(m, cases, results, expected):
    if not_callable(m, "diagnose", results, 6):
        return
    for case, result, exp in zip(cases, results, expected):
        label, answer = case["label"], exp["answer"]
        if not result.ok:
            m.criterion(False, "", f"{label}: your function {result.why()}")
        elif type(result.value) is not str:
            m.criterion(
                False, "", f"{label}: returned {show(result.value)}; return 'high bias', 'high variance' or 'good'"
            )
        else:
            m.criterion(
                result.value.strip().lower() == answer,
                f"{label} → {answer!r}",
                f"{label}: you said {result.value[:40]!r}, expected {answer!r}",
            )


# --------------------------------------------------------------------------- 1.3

BUDGET_13 = 100_000


def cases_small_cnn(rng):
    return [{"label": "your model", "value": "small_cnn", "model": True}]


def _convolutions(model) -> int:
    import keras

    from tlcourse.freeze import all_layers

    return sum(isinstance(layer, keras.layers.Conv2D) for layer in all_layers(model))


@exercise(
    LESSON,
    "1.3",
    "A scratch CNN under a parameter budget",
    names=("small_cnn",),
    points=5,
    hint="Almost all of scratch_cnn's parameters sit in the Dense layer after Flatten (at 128 px the last "
    "feature map is 16×16×128 = 32,768 numbers, each connected to all 128 units). Replace Flatten + "
    "Dense(128) by keras.layers.GlobalAveragePooling2D(): one number per channel.",
    cases=cases_small_cnn,
)
def judge_small_cnn(m, cases, results, expected):
    value = results[0].value
    if type(value) is not ModelData:
        m.criterion(False, "", f"`small_cnn` should be a Keras model, got {show(value)}", points=5)
        return
    try:
        model = rebuild(value)
        in_shape, out_shape = tuple(model.input_shape), tuple(model.output_shape)
        params = int(model.count_params())
    except (RebuildError, AttributeError, ValueError) as err:
        m.criterion(
            False,
            "",
            f"your model could not be rebuilt for checking: {err} — start it with "
            "keras.Input(shape=(128, 128, 3)) and use built-in Keras layers",
            points=5,
        )
        return
    m.criterion(
        in_shape == (None, 128, 128, 3),
        "takes 128×128 RGB images",
        f"input shape is {in_shape}, expected (None, 128, 128, 3)",
    )
    m.criterion(out_shape == (None, 2), "outputs 2 class scores", f"output shape is {out_shape}, expected (None, 2)")
    n_conv = _convolutions(model)
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
        out = np.asarray(model(probe, training=False))
        probabilities = out.shape == (3, 2) and bool(np.all(out >= 0)) and np.allclose(out.sum(axis=1), 1.0, atol=1e-4)
    except Exception:  # a model that cannot run on 128 px images
        probabilities = False
    m.criterion(
        probabilities,
        "ends in a softmax (probabilities, as sparse_categorical_crossentropy expects)",
        "the outputs are not probabilities: end with Dense(2, activation='softmax')",
    )


# --------------------------------------------------------------------------- 1.4


def cases_training_hours(rng):
    def case(label, *args, **kwargs):
        return {"label": label, "call": "training_hours", "args": list(args), "kwargs": kwargs}

    if rng is None:
        return [
            case("1 GFLOP/image, 1,000 images, 10 epochs, 10 GFLOP/s", 1.0e9, 1000, 10, 1.0e10),
            case("VGG-16-like: 31 GFLOPs, 1.28 M images, 74 epochs, 50 GFLOP/s", 31.0e9, 1_281_167, 74, 5.0e10),
            case("backward_factor=2", 2.0e8, 244, 30, 2.0e10, backward_factor=2.0),
            {**case("backward_factor defaults to 3", 1.0e9, 100, 1, 1.0e9), "default": True},
        ]
    out = []
    for i in range(3):
        flops, images = float(rng.uniform(0.1, 40)) * 1e9, int(rng.integers(100, 2_000_000))
        epochs, rate = int(rng.integers(1, 100)), float(rng.uniform(5, 200)) * 1e9
        kwargs = {"backward_factor": round(float(rng.uniform(1.5, 4)), 2)} if i == 2 else {}
        label = f"{flops / 1e9:.3g} GFLOP/image, {images:,} images, {epochs} epochs, {rate / 1e9:.3g} GFLOP/s" + (
            f", backward_factor={kwargs['backward_factor']}" if kwargs else ""
        )
        out.append(case(label, flops, images, epochs, rate, **kwargs))
    default = case(
        "backward_factor defaults to 3", float(rng.uniform(1, 9)) * 1e8, int(rng.integers(50, 500)), 1, 1.0e9
    )
    return [*out, {**default, "default": True}]


@exercise(
    LESSON,
    "1.4",
    "How long does training take?",
    names=("training_hours",),
    points=4,
    hint="One training step on one image costs about backward_factor × the forward FLOPs (forward + backward "
    "≈ 3×). Total FLOPs = factor × flops_per_image × n_images × epochs; divide by FLOP/s for seconds, "
    "then by 3600 for hours.",
    cases=cases_training_hours,
)
def judge_training_hours(m, cases, results, expected):
    if not_callable(m, "training_hours", results, 4):
        return
    for case, result, exp in zip(cases, results, expected):
        label, hours = case["label"], exp["hours"]
        value = as_number(result.value) if result.ok else None
        ok = close(value, hours)
        if case.get("default"):
            m.criterion(
                ok,
                "backward_factor defaults to 3",
                f"training_hours{tuple(case['args'])} should be {hours:.4g} h: give backward_factor a default of 3.0",
            )
            continue
        if not result.ok:
            m.criterion(False, "", f"{label}: your function {result.why()}")
            continue
        if value is None:
            m.criterion(False, "", f"{label}: returned {show(result.value)}, expected a number of hours")
            continue
        why = ""
        if not ok and hours and abs(value / hours - 3600) < 1:
            why = " (that is seconds: divide by 3600)"
        elif not ok and hours and abs(value / hours - 1 / case["kwargs"].get("backward_factor", 3.0)) < 1e-6:
            why = " (forward pass only: multiply by backward_factor)"
        m.criterion(ok, f"{label}: {value:,.3g} h", f"{label}: you said {value:,.4g} h, expected {hours:,.4g} h{why}")
