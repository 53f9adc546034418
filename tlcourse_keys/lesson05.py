"""Answer keys of lesson 5."""

from __future__ import annotations

import math

import numpy as np


def reference_time_to_accuracy(val_accuracy, seconds_per_epoch, target, setup_seconds=0.0):
    for epoch, accuracy in enumerate(val_accuracy, start=1):
        if accuracy >= target:
            return setup_seconds + epoch * seconds_per_epoch
    return None


def reference_overlap(y_true, pred_a, pred_b):
    y, a, b = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    wrong_a, wrong_b = a != y, b != y
    return {
        "both_wrong": int(np.sum(wrong_a & wrong_b)),
        "only_a_wrong": int(np.sum(wrong_a & ~wrong_b)),
        "only_b_wrong": int(np.sum(~wrong_a & wrong_b)),
        "both_right": int(np.sum(~wrong_a & ~wrong_b)),
    }


def reference_compare(scores_a, scores_b):
    a, b = np.asarray(scores_a, float), np.asarray(scores_b, float)
    difference = float(a.mean() - b.mean())
    se = float(math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))
    return difference, se, abs(difference) > 2 * se


def _compare(case):
    a, b = (np.asarray(v, float) for v in case["args"])
    difference, se, clear = reference_compare(a, b)
    population = math.sqrt(a.var() / len(a) + b.var() / len(b))
    return {"difference": difference, "se": se, "clear": bool(clear), "population_se": population}


def reference_images_needed(sizes, accuracies, target):
    pairs = sorted(zip((float(s) for s in sizes), (float(a) for a in accuracies)))
    if pairs[0][1] >= target:
        return pairs[0][0]
    for (s0, a0), (s1, a1) in zip(pairs, pairs[1:]):
        if a1 >= target:
            return s0 + (target - a0) * (s1 - s0) / (a1 - a0)
    return None


def reference_build_and_train_head(backbone, num_classes, x_train, y_train, epochs, hidden_units):
    import keras

    base, preprocess = backbone
    base.trainable = False
    inputs = keras.Input(shape=base.input_shape[1:])
    x = base(preprocess(inputs), training=False)
    x = keras.layers.Dense(hidden_units, activation="relu")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(keras.layers.Dropout(0.2)(x)))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=16, verbose=0)
    return model


def _held_out_labels(case):
    """The labels of the held-out images the judge predicts (drawn from the case's secret seed)."""
    from tlcourse.checks.toys import toy_task

    secret = case["secret"]
    return {"labels": toy_task(secret["heldout_seed"], secret["n"], case["args"][1], "test")[1].tolist()}


EXPECTED = {
    "5.1": lambda case: {"seconds": reference_time_to_accuracy(*case["args"], **case["kwargs"])},
    "5.2": lambda case: reference_overlap(*case["args"]),
    "5.3": _compare,
    "5.4": lambda case: {"images": reference_images_needed(*case["args"])},
    "5.5": _held_out_labels,
}
