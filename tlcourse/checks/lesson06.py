"""Checks of lesson 6, when to transfer.

The checks call the student's functions on data they make themselves (Gaussian blobs,
random labels, hand-made predictions), so they verify the function, not a number the
notebook happened to print.
"""

from __future__ import annotations

import math

import numpy as np

from tlcourse.checks import exercise
from tlcourse.checks.answers import as_number, call, not_a_function

LESSON = "06_when_to_transfer"


# --------------------------------------------------------------------------- 6.1


def _blobs(seed, n_train, n_val, dim, classes, separation):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, separation, (classes, dim))
    y_train = np.arange(n_train) % classes
    y_val = np.arange(n_val) % classes
    x_train = centres[y_train] + rng.normal(size=(n_train, dim))
    x_val = centres[y_val] + rng.normal(size=(n_val, dim))
    return x_train.astype("float32"), y_train, x_val.astype("float32"), y_val


@exercise(
    LESSON,
    "6.1",
    "A classical classifier on feature vectors",
    names=("features_plus_classifier",),
    points=4,
    hint="Fit a scikit-learn classifier (e.g. make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))) "
    "on the TRAINING vectors and labels only, then return its accuracy on the validation vectors as a float.",
)
def _(m, features_plus_classifier):
    if not_a_function(m, "features_plus_classifier", features_plus_classifier):
        return
    cases = [
        ("two well-separated classes in 64 dimensions", _blobs(0, 200, 200, 64, 2, 1.0), (0.9, 1.0)),
        ("three classes in 640 dimensions (feature-like)", _blobs(1, 150, 150, 640, 3, 0.4), (0.85, 1.0)),
    ]
    rng = np.random.default_rng(2)
    x_train, x_val = rng.normal(size=(200, 150)).astype("float32"), rng.normal(size=(200, 150)).astype("float32")
    cases.append(
        (
            "random labels (nothing to learn)",
            (x_train, rng.integers(0, 2, 200), x_val, rng.integers(0, 2, 200)),
            (0.3, 0.65),
        )
    )
    results = []
    for description, (xt, yt, xv, yv), (low, high) in cases:
        got, error = call(features_plus_classifier, xt, yt, xv, yv)
        value = as_number(got) if error is None else None
        results.append((description, got, error, value, low, high))
    m.criterion(
        all(r[3] is not None and 0 <= r[3] <= 1 for r in results),
        "returns an accuracy between 0 and 1",
        "; ".join(
            f"{d}: {'raised ' + e if e else f'returned {g!r}'}"
            for d, g, e, v, _, _ in results
            if v is None or not 0 <= v <= 1
        )
        + " — return one float between 0 and 1",
    )
    for description, _got, _error, value, low, high in results:
        if value is None:
            m.criterion(False, "", f"{description}: no accuracy to judge")
            continue
        if description.startswith("random"):
            m.criterion(
                low <= value <= high,
                f"{description}: {value:.2f}, about chance as it should be",
                f"{description}: {value:.2f} — on random labels a classifier trained only on the training "
                "vectors scores about 0.5; did you fit on the validation data?",
            )
        else:
            m.criterion(
                low <= value <= high,
                f"{description}: {value:.2f}",
                f"{description}: {value:.2f}, expected at least {low:.2f} (did you fit on the training data "
                "and score on the validation data? does it handle more than two classes?)",
            )


# --------------------------------------------------------------------------- 6.2


def _true_balanced(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]))


@exercise(
    LESSON,
    "6.2",
    "Balanced accuracy",
    names=("balanced_accuracy",),
    points=4,
    hint="For each class present in y_true, the recall = the share of its images predicted as that class; "
    "balanced accuracy is the mean of these recalls. Convert inputs with np.asarray first.",
)
def _(m, balanced_accuracy):
    if not_a_function(m, "balanced_accuracy", balanced_accuracy):
        return
    majority = ([0] * 69 + [1] * 31, [0] * 100)
    cases = [
        ("always predicting the larger class (69 % / 31 %)", majority, 0.5),
        ("perfect predictions", ([0, 1, 1, 0, 2, 2], [0, 1, 1, 0, 2, 2]), 1.0),
        ("three classes, Python lists", ([0, 0, 0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 1, 1, 2, 0]), None),
        ("numpy arrays, a class never predicted", (np.array([1, 1, 1, 0, 0, 2]), np.array([1, 1, 0, 0, 0, 0])), None),
    ]
    for description, (y_true, y_pred), expected in cases:
        expected = _true_balanced(y_true, y_pred) if expected is None else expected
        got, error = call(balanced_accuracy, y_true, y_pred)
        value = as_number(got) if error is None else None
        if error:
            m.criterion(False, "", f"{description}: raised {error}")
        elif value is None:
            m.criterion(False, "", f"{description}: returned {got!r}, expected a number")
        else:
            plain = float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
            note = (
                " (that is the plain accuracy: average the per-class recalls instead)"
                if abs(value - plain) < 1e-9
                else ""
            )
            m.criterion(
                abs(value - expected) < 1e-6,
                f"{description}: {value:.3f}",
                f"{description}: you said {value:.3f}, expected {expected:.3f}{note}",
            )


# --------------------------------------------------------------------------- 6.3


def _true_gain(a, b, n):
    se = math.sqrt(a * (1 - a) / n + b * (1 - b) / n)
    return 100 * (b - a), abs(b - a) > 2 * se


@exercise(
    LESSON,
    "6.3",
    "Is the gain of transfer real?",
    names=("transfer_gain",),
    points=4,
    hint="gain = 100 * (transfer - scratch); each accuracy p measured on n images has a standard error "
    "sqrt(p(1-p)/n); the difference has sqrt(se1**2 + se2**2); call the gain significant when "
    "|difference| > 2 * that.",
)
def _(m, transfer_gain):
    if not_a_function(m, "transfer_gain", transfer_gain):
        return
    cases = [
        ("0.73 → 0.90 on 153 images", (0.73, 0.90, 153)),
        ("0.79 → 0.85 on 787 images", (0.79, 0.85, 787)),
        ("0.84 → 0.86 on 153 images", (0.84, 0.86, 153)),
        ("0.98 → 0.94 on 540 images (transfer worse)", (0.98, 0.94, 540)),
    ]
    for description, args in cases:
        expected_gain, expected_sig = _true_gain(*args)
        got, error = call(transfer_gain, *args)
        if error:
            m.criterion(False, "", f"{description}: raised {error}")
            continue
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            m.criterion(False, "", f"{description}: returned {got!r}, expected a pair (gain in points, significant)")
            continue
        gain, significant = as_number(got[0]), got[1]
        problems = []
        if gain is None or abs(gain - expected_gain) > 0.05:
            hint = (
                " (in points: multiply the difference by 100)"
                if gain is not None and abs(100 * gain - expected_gain) < 0.05
                else ""
            )
            problems.append(f"gain {got[0]!r}, expected {expected_gain:+.1f} points{hint}")
        if not isinstance(significant, (bool, np.bool_)) or bool(significant) != expected_sig:
            problems.append(f"significant={significant!r}, expected {expected_sig}")
        m.criterion(
            not problems,
            f"{description}: {expected_gain:+.1f} points, {'significant' if expected_sig else 'within the noise'}",
            f"{description}: " + "; ".join(problems),
        )


# --------------------------------------------------------------------------- 6.4


SCENARIOS = ("similar domains", "different domain", "small data set", "similar architecture")
CASES_64 = {
    "A": "similar domains",
    "B": "different domain",
    "C": "small data set",
    "D": "similar architecture",
}
EXPLAIN_64 = {
    "A": "an ImageNet-style photo classifier retrained for other everyday objects shares wheels, fur, textures",
    "B": "a model from one kind of image (natural photos) reused on a very different kind (thermal or medical)",
    "C": "a few dozen labelled images are too few to train a CNN: transfer is what makes the task possible",
    "D": "only the design is reused (the weights start from random), because no pretrained model fits",
}


@exercise(
    LESSON,
    "6.4",
    "Name the scenario",
    names=("scenario",),
    points=4,
    hint=f"Each case matches one of {SCENARIOS}: what is shared between source and target — the kind of "
    "images, only the design of the network, or is the point that there are very few labels?",
)
def _(m, scenario):
    if not isinstance(scenario, dict):
        m.criterion(
            False,
            "",
            f"`scenario` should be a dict like {{'A': 'similar domains', ...}}, got {type(scenario).__name__}",
        )
        return
    for case, expected in CASES_64.items():
        got = scenario.get(case)
        if got is None:
            m.criterion(False, "", f"case {case}: no answer")
        elif not isinstance(got, str) or got.strip().lower() not in SCENARIOS:
            m.criterion(False, "", f"case {case}: {got!r} is not one of {SCENARIOS}")
        else:
            m.criterion(
                got.strip().lower() == expected,
                f"case {case}: {expected}",
                f"case {case}: {got!r} does not fit best — look again at what the case says: {EXPLAIN_64[case]}",
            )
