"""Answer keys of lesson 2."""

from __future__ import annotations

import math

import numpy as np

KINDS = {"A": "inductive", "B": "transductive", "C": "inductive", "D": "transductive"}
KIND_WHY = {
    "A": "the target task (ants vs bees) differs from the source task (1000 ImageNet classes) and has labels",
    "B": "the task (read a digit) stays the same, the domain changes, and only the source has labels",
    "C": "the target task (skin lesions) differs from the source task and 2,000 labelled images exist",
    "D": "the task (positive or negative) stays the same, the domain changes, and the target has no labels",
}
TRANSFERRED = {"A": "parameters", "E": "instances", "F": "relational"}
TRANSFERRED_WHY = {
    "A": "what moves from ImageNet to ants/bees is the trained weights",
    "E": "source images themselves are reused (re-weighted) as training data",
    "F": "a relation between data points (co-authors share topics) is what carries over",
}


def reference_centroid(train_x, train_y, x):
    train_x, train_y, x = np.asarray(train_x, float), np.asarray(train_y), np.asarray(x, float)
    classes = np.unique(train_y)
    centroids = np.stack([train_x[train_y == c].mean(axis=0) for c in classes])
    distances = ((x[:, None, :] - centroids[None]) ** 2).sum(-1)
    return classes[distances.argmin(axis=1)]


def one_nearest_neighbour(train_x, train_y, x):
    d = ((np.asarray(x)[:, None, :] - np.asarray(train_x)[None]) ** 2).sum(-1)
    return np.asarray(train_y)[d.argmin(axis=1)]


def reference_fraction(model) -> float:
    def count(weights):
        return sum(math.prod(w.shape) for w in weights)

    return count(model.trainable_weights) / count(model.weights)


def _fraction(case):
    from tlcourse.checks.toys import fraction_model

    return {"fraction": reference_fraction(fraction_model(**case["args"][0].params))}


EXPECTED = {
    "2.1": lambda case: {
        "answers": KINDS if case["value"] == "kinds" else TRANSFERRED,
        "why": KIND_WHY if case["value"] == "kinds" else TRANSFERRED_WHY,
    },
    "2.2": lambda case: {},
    "2.3": lambda case: {
        "labels": reference_centroid(*case["args"]),
        "one_nn": one_nearest_neighbour(*case["args"]),
    },
    "2.4": _fraction,
}
