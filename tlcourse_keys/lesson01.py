"""Answer keys of lesson 1."""

from __future__ import annotations

import numpy as np


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


def reference_diagnose(train_accuracy, val_accuracy, target=0.9, max_gap=0.1):
    if train_accuracy < target:
        return "high bias"
    if train_accuracy - val_accuracy > max_gap:
        return "high variance"
    return "good"


def reference_affordable(hours, flops_per_image, epochs, flops_per_second, backward_factor=3.0):
    """The training images affordable in ``hours``, before rounding down (the judge allows for rounding order)."""
    return hours * 3600 * flops_per_second / (backward_factor * flops_per_image * epochs)


EXPECTED = {
    "1.1": lambda case: {"prf": list(reference_prf(*case["args"]))},
    "1.2": lambda case: {"answer": reference_diagnose(*case["args"], **case["kwargs"])},
    "1.3": lambda case: {},
    "1.4": lambda case: {"exact": reference_affordable(*case["args"], **case["kwargs"])},
}
