"""Checks of lesson 5, scratch vs pretrained side by side.

Every check calls the student's function on inputs it makes itself, so it cannot be
fooled by other notebook variables, and it gives feedback, never an exception, whatever
value it receives.
"""

from __future__ import annotations

import math

import numpy as np

from tlcourse.checks import exercise
from tlcourse.checks.answers import as_number, call, not_a_function

LESSON = "05_scratch_vs_pretrained"


def _close(a, b, tol=1e-6) -> bool:
    return a is not None and b is not None and abs(a - b) <= tol * max(1.0, abs(b))


# --------------------------------------------------------------------------- 5.1


def reference_time_to_accuracy(val_accuracy, seconds_per_epoch, target, setup_seconds=0.0):
    """Wall seconds until validation accuracy first reaches ``target`` (setup included), or None."""
    for epoch, accuracy in enumerate(val_accuracy, start=1):
        if accuracy >= target:
            return setup_seconds + epoch * seconds_per_epoch
    return None


CASES_51 = [
    (([0.55, 0.62, 0.70, 0.74, 0.73], 3.0, 0.70), {}, "scratch-like: 3 s/epoch, target 0.70 reached at epoch 3"),
    (([0.91, 0.92, 0.93], 0.1, 0.90), {"setup_seconds": 5.0}, "frozen-like: 5 s of feature extraction first"),
    (([0.60, 0.80, 0.80], 2.0, 0.80), {}, "target reached exactly (>=, not >)"),
    (([0.55, 0.62, 0.66], 3.0, 0.90), {"setup_seconds": 1.0}, "target never reached"),
    ((np.array([0.50, 0.95]), 900.0, 0.84), {"setup_seconds": 0.0}, "a numpy array of accuracies"),
]


@exercise(
    LESSON,
    "5.1",
    "Wall time to reach a target accuracy",
    names=("time_to_accuracy",),
    points=5,
    hint="Walk through the epochs in order (enumerate(..., start=1)); at the first epoch whose accuracy is "
    ">= target, return setup_seconds + epoch * seconds_per_epoch. If no epoch gets there, return None.",
)
def _(m, time_to_accuracy):
    if not_a_function(m, "time_to_accuracy", time_to_accuracy, 5):
        return
    for args, kwargs, description in CASES_51:
        expected = reference_time_to_accuracy(*args, **kwargs)
        got, error = call(time_to_accuracy, *args, **kwargs)
        if error:
            m.criterion(False, "", f"{description}: your function raised {error}")
            continue
        if expected is None:
            m.criterion(
                got is None,
                f"{description} → None",
                f"{description}: returned {got!r}; return None when the target is never reached",
            )
            continue
        value = as_number(got)
        why = ""
        if value is not None and not _close(value, expected):
            if _close(value, expected - kwargs.get("setup_seconds", 0.0)) and kwargs.get("setup_seconds"):
                why = " (add the setup seconds: extraction is part of the frozen model's cost)"
            elif _close(value, expected - args[1]):
                why = " (off by one epoch: epochs count from 1)"
        m.criterion(
            _close(value, expected),
            f"{description} → {expected:g} s",
            f"{description}: you said {got!r}, expected {expected:g} s{why}",
        )


# --------------------------------------------------------------------------- 5.2


def reference_overlap(y_true, pred_a, pred_b):
    y, a, b = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    wrong_a, wrong_b = a != y, b != y
    return {
        "both_wrong": int(np.sum(wrong_a & wrong_b)),
        "only_a_wrong": int(np.sum(wrong_a & ~wrong_b)),
        "only_b_wrong": int(np.sum(~wrong_a & wrong_b)),
        "both_right": int(np.sum(~wrong_a & ~wrong_b)),
    }


CASES_52 = [
    ("a small case", [0, 1, 1, 0, 1, 0], [1, 1, 0, 0, 1, 1], [1, 1, 1, 0, 0, 0]),
    ("three classes", [2, 0, 1, 2, 1, 0, 2], [2, 1, 1, 0, 1, 0, 1], [2, 0, 1, 1, 0, 0, 2]),
    ("numpy arrays, no mistakes by b", np.array([1, 0, 1, 0]), np.array([0, 0, 1, 1]), np.array([1, 0, 1, 0])),
]


@exercise(
    LESSON,
    "5.2",
    "Whose mistakes overlap?",
    names=("mistake_overlap",),
    points=4,
    hint="Make two boolean arrays, wrong_a = (pred_a != y_true) and wrong_b = (pred_b != y_true), then count "
    "with & (and) and ~ (not): both_wrong = wrong_a & wrong_b, only_a_wrong = wrong_a & ~wrong_b, ... "
    "Return plain ints in a dict with the four keys.",
)
def _(m, mistake_overlap):
    if not_a_function(m, "mistake_overlap", mistake_overlap, 4):
        return
    keys = ("both_wrong", "only_a_wrong", "only_b_wrong", "both_right")
    first_problem: dict[str, str] = {}
    for description, y, a, b in CASES_52:
        expected = reference_overlap(y, a, b)
        got, error = call(mistake_overlap, y, a, b)
        if error or not isinstance(got, dict):
            why = f"raised {error}" if error else f"returned {type(got).__name__}, expected a dict with keys {keys}"
            for k in keys:
                first_problem.setdefault(k, f"on {description} your function {why}")
            continue
        for k in keys:
            if k not in got:
                first_problem.setdefault(k, f"on {description} the dict has no key {k!r}")
                continue
            value = as_number(got[k])
            if value is None or value != expected[k]:
                first_problem.setdefault(k, f"on {description} {k} = {got[k]!r}, expected {expected[k]}")
    for k in keys:
        m.criterion(k not in first_problem, f"{k} right on all {len(CASES_52)} cases", first_problem.get(k, ""))


# --------------------------------------------------------------------------- 5.3


def reference_compare(scores_a, scores_b):
    a, b = np.asarray(scores_a, float), np.asarray(scores_b, float)
    difference = float(a.mean() - b.mean())
    se = float(math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))
    return difference, se, abs(difference) > 2 * se


CASES_53 = [
    ("clearly apart", [0.90, 0.91, 0.89], [0.72, 0.75, 0.70]),
    ("overlapping", [0.80, 0.86, 0.74], [0.78, 0.72, 0.82]),
    ("b better, four seeds each", [0.60, 0.62, 0.61, 0.63], [0.70, 0.66, 0.72, 0.69]),
    ("numpy arrays, different lengths", np.array([0.88, 0.90]), np.array([0.70, 0.86, 0.74, 0.80, 0.77])),
]


@exercise(
    LESSON,
    "5.3",
    "Is the difference bigger than the seed noise?",
    names=("compare_runs",),
    points=5,
    hint="difference = mean(a) - mean(b); the standard error of that difference is "
    "sqrt(var_a / n_a + var_b / n_b) with the SAMPLE variance (np.var(x, ddof=1)); "
    "clear = abs(difference) > 2 * se. Return the three as a tuple.",
)
def _(m, compare_runs):
    if not_a_function(m, "compare_runs", compare_runs, 5):
        return
    labels = ("difference", "standard error", "clear")
    first_problem: dict[str, str] = {}
    for description, a, b in CASES_53:
        expected = reference_compare(a, b)
        got, error = call(compare_runs, a, b)
        try:
            parts = list(got) if error is None else None
        except TypeError:
            parts = None
        if parts is None or len(parts) != 3:
            why = f"raised {error}" if error else f"returned {got!r}: return (difference, standard_error, clear)"
            for label in labels:
                first_problem.setdefault(label, f"on {description} your function {why}")
            continue
        diff, se, clear = as_number(parts[0]), as_number(parts[1]), parts[2]
        if not _close(diff, expected[0], 1e-6):
            first_problem.setdefault(
                "difference",
                f"on {description} difference = {parts[0]!r}, expected {expected[0]:.4f} (mean a − mean b)",
            )
        if not _close(se, expected[1], 1e-6):
            why = ""
            a_, b_ = np.asarray(a, float), np.asarray(b, float)
            pop = math.sqrt(a_.var() / len(a_) + b_.var() / len(b_))
            if se is not None and _close(se, pop, 1e-6):
                why = " (that uses the population variance: use ddof=1, the sample variance)"
            first_problem.setdefault(
                "standard error", f"on {description} se = {parts[1]!r}, expected {expected[1]:.4f}{why}"
            )
        if not isinstance(clear, (bool, np.bool_)) or bool(clear) != expected[2]:
            first_problem.setdefault("clear", f"on {description} clear = {clear!r}, expected {expected[2]}")
    points = {"difference": 1, "standard error": 2, "clear": 2}
    for label in labels:
        m.criterion(
            label not in first_problem,
            f"{label} right on all {len(CASES_53)} cases",
            first_problem.get(label, ""),
            points=points[label],
        )


# --------------------------------------------------------------------------- 5.4


def reference_images_needed(sizes, accuracies, target):
    pairs = sorted(zip((float(s) for s in sizes), (float(a) for a in accuracies)))
    if pairs[0][1] >= target:
        return pairs[0][0]
    for (s0, a0), (s1, a1) in zip(pairs, pairs[1:]):
        if a1 >= target:
            return s0 + (target - a0) * (s1 - s0) / (a1 - a0)
    return None


CASES_54 = [
    (([10, 25, 50, 121], [0.60, 0.64, 0.70, 0.74], 0.72), "between 50 and 121 (linear interpolation)"),
    (([10, 25, 50, 121], [0.86, 0.88, 0.89, 0.90], 0.74), "already there with the fewest images"),
    (([10, 25, 50], [0.55, 0.60, 0.66], 0.80), "never reached"),
    (([50, 10, 121, 25], [0.70, 0.60, 0.74, 0.64], 0.62), "sizes not sorted"),
    (([10, 25, 50, 121], [0.60, 0.72, 0.69, 0.80], 0.70), "a noisy curve: the first crossing counts"),
]


@exercise(
    LESSON,
    "5.4",
    "How many labelled images does pretraining save?",
    names=("images_needed",),
    points=5,
    hint="Sort the (size, accuracy) pairs by size. If the smallest size already reaches the target, return it. "
    "Otherwise find the first pair of neighbours (s0, a0), (s1, a1) with a1 >= target and interpolate: "
    "s0 + (target - a0) * (s1 - s0) / (a1 - a0). None if no size reaches the target.",
)
def _(m, images_needed):
    if not_a_function(m, "images_needed", images_needed, 5):
        return
    for (sizes, accuracies, target), description in CASES_54:
        expected = reference_images_needed(sizes, accuracies, target)
        got, error = call(images_needed, list(sizes), list(accuracies), target)
        if error:
            m.criterion(False, "", f"{description}: your function raised {error}")
        elif expected is None:
            m.criterion(got is None, f"{description} → None", f"{description}: returned {got!r}, expected None")
        else:
            value = as_number(got)
            m.criterion(
                _close(value, expected, 1e-4),
                f"{description} → {expected:.1f} images per class",
                f"{description}: you said {got!r}, expected {expected:.2f} (sizes {sizes}, accuracies {accuracies}, "
                f"target {target})",
            )
