"""Checks of lesson 1, why training CNNs from scratch is hard.

Cases are drawn here (fixed for the notebook, fresh at grading); expected results come from the
answer keys or, for the public cases, from ``public.json``: nothing here computes an answer.

What each judge takes from the box and what it recomputes: 1.1, 1.2 and 1.4 take the values the
student's function returned on the cases and compare them with the keys' results on the same
cases (a function that answers 1.2 the same for every input earns nothing). 1.3 takes the model
as its artefacts (config and weights), rebuilds it from built-in Keras layers and measures it
itself: input and output shapes, convolutions, parameters, and its outputs on images the judge
draws (after bounding the cost of calling it).
"""

from __future__ import annotations

import math

import numpy as np

from tlcourse.checks.answers import FirstProblems, as_number, each_case, not_callable, same_for_every_input, show
from tlcourse.checks.plain import ModelData
from tlcourse.checks.rebuild import RebuildError, rebuild, run_model
from tlcourse.checks.registry import exercise


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
    "1.1",
    "Precision, recall and F1 from predictions",
    names=("precision_recall_f1",),
    points=5,
    hint=(
        "Count, for the class `positive`, the true positives, the false positives and the false negatives by "
        "comparing the truth with the prediction image by image (as arrays, so that lists work too). Then "
        "combine the counts as section 1 of this lesson defines precision, recall and F1; a ratio with "
        "nothing to divide by is 0.0."
    ),
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
    "1.2",
    "Bias or variance?",
    names=("diagnose",),
    points=6,
    hint=(
        "Ask the two questions of section 1 of this lesson in order: can the model even fit its training data"
        " (judged against `target`), and only if it can, does validation fall too far behind (judged against "
        "`max_gap`)? Use the arguments you are given, not the default numbers."
    ),
    cases=cases_diagnose,
)
def judge_diagnose(m, cases, results, expected):
    if not_callable(m, "diagnose", results, 6) or same_for_every_input(m, "diagnose", results, expected, 6):
        return
    for case, result, exp in each_case(m, cases, results, expected):
        label, answer = case["label"], exp["answer"]
        if type(result.value) is not str:
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
    "1.3",
    "A scratch CNN under a parameter budget",
    names=("small_cnn",),
    points=5,
    hint=(
        "Section 2 of this lesson shows where scratch_cnn's parameters sit: in the dense layer after the "
        "flattening, which connects every number of the last feature map to every unit. Keep the "
        "convolutions, but instead of flattening, pool each feature map down to a single number (its average)"
        " before the softmax output."
    ),
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
    why = "the outputs are not probabilities: end with a softmax over the 2 classes"
    try:
        images = np.random.default_rng(0).uniform(0, 255, (3, 128, 128, 3)).astype("float32")
        out = run_model(model, images)
        probabilities = out.shape == (3, 2) and bool(np.all(out >= 0)) and np.allclose(out.sum(axis=1), 1.0, atol=1e-4)
    except RebuildError as err:  # too costly to call: refused before it runs
        probabilities, why = False, f"your model was not run: {err}"
    except Exception:  # a model that cannot run on 128 px images
        probabilities = False
    m.criterion(probabilities, "ends in a softmax (probabilities, as sparse_categorical_crossentropy expects)", why)


# --------------------------------------------------------------------------- 1.4


def cases_affordable(rng):
    def case(label, *args, **kwargs):
        return {"label": label, "call": "affordable_images", "args": list(args), "kwargs": kwargs}

    if rng is None:
        return [
            case("1 h, 1 GFLOP/image, 10 epochs, 10 GFLOP/s", 1.0, 1.0e9, 10, 1.0e10),
            case("a week for a VGG-16-like network: 31 GFLOPs, 74 epochs, 50 GFLOP/s", 168.0, 31.0e9, 74, 5.0e10),
            case("backward_factor=2, rounded down", 0.5, 2.0e8, 30, 2.0e10, backward_factor=2.0),
            {**case("backward_factor defaults to 3", 2.0, 3.0e8, 20, 1.0e9), "default": True},
        ]
    out = []
    for i in range(3):
        hours, flops = round(float(rng.uniform(0.5, 200)), 1), float(rng.uniform(0.1, 40)) * 1e9
        epochs, rate = int(rng.integers(1, 100)), float(rng.uniform(5, 200)) * 1e9
        kwargs = {"backward_factor": round(float(rng.uniform(1.5, 4)), 2)} if i == 2 else {}
        label = f"{hours} h, {flops / 1e9:.3g} GFLOP/image, {epochs} epochs, {rate / 1e9:.3g} GFLOP/s" + (
            f", backward_factor={kwargs['backward_factor']}" if kwargs else ""
        )
        out.append(case(label, hours, flops, epochs, rate, **kwargs))
    default = case(
        "backward_factor defaults to 3", round(float(rng.uniform(1, 9)), 1), float(rng.uniform(1, 9)) * 1e8, 10, 1.0e9
    )
    return [*out, {**default, "default": True}]


def _whole(value) -> int | None:
    number = as_number(value)
    return int(number) if number is not None and number == int(number) else None


@exercise(
    "1.4",
    "How many images can you afford to train on?",
    names=("affordable_images",),
    points=4,
    hint=(
        "Run the VGG-16 estimate of section 6 of this lesson backwards: the time budget, in seconds, times "
        "the machine's rate gives the operations you can afford, and each image costs one training step, that"
        " is `backward_factor` forward passes, in every epoch. Divide the budget by the cost of one image "
        "over all the epochs, and round down to a whole number of images."
    ),
    cases=cases_affordable,
)
def judge_affordable(m, cases, results, expected):
    if not_callable(m, "affordable_images", results, 4):
        return
    for case, result, exp in zip(cases, results, expected):
        label, exact = case["label"], exp["exact"]
        low, high = math.floor(exact * (1 - 1e-9)), math.floor(exact * (1 + 1e-9))  # rounding order aside
        value = _whole(result.value) if result.ok else None
        ok = value is not None and low <= value <= high
        if case.get("default"):
            m.criterion(
                ok,
                "backward_factor defaults to 3",
                f"affordable_images{tuple(case['args'])} should be {high:,}: give backward_factor a default of 3.0",
            )
            continue
        if not result.ok:
            m.criterion(False, "", f"{label}: your function {result.why()}")
            continue
        number = as_number(result.value)
        why = ""
        if number is None:
            why = " (return a number of images)"
        elif value is None and abs(number - exact) < 1:
            why = " (round down to a whole number of images: a partial image does not train)"
        elif abs(number - exact * 3600) < 1 or abs(number - exact / 3600) < 1:
            why = " (hours and seconds: an hour has 3600 of them)"
        elif abs(number - exact * case["kwargs"].get("backward_factor", 3.0)) < 1:
            why = " (each image costs a training step, not one forward pass)"
        m.criterion(ok, f"{label}: {high:,} images", f"{label}: you said {show(result.value)}, expected {high:,}{why}")
