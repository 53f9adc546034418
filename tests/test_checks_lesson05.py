"""Lesson 5's checks: the mistakes particular to its exercises get partial credit and are named.

That the master's answer passes, junk gets feedback and nothing is "missing" is tested once, for every
exercise, in ``test_checks_contract.py``; a mistake here starts from the answer key's reference
function, never from an answer typed again.
"""

import math

import keras
import numpy as np
import pytest

from tlcourse.checks import evaluate
from tlcourse_keys import lesson05 as l5


def test_51_time_to_accuracy():
    def no_setup(acc, spe, target, setup_seconds=0.0):
        return l5.reference_time_to_accuracy(acc, spe, target)

    fb = evaluate("5.1", {"time_to_accuracy": no_setup})
    assert fb.status == "partial" and "add the setup seconds" in fb.message

    def strict(acc, spe, target, setup_seconds=0.0):
        return l5.reference_time_to_accuracy(acc, spe, target + 1e-9, setup_seconds)

    fb = evaluate("5.1", {"time_to_accuracy": strict})
    assert fb.status == "partial" and any("exactly" in w for w in fb.wrong)


def test_52_mistake_overlap():
    def swapped(y, a, b):
        r = l5.reference_overlap(y, a, b)
        return {**r, "only_a_wrong": r["only_b_wrong"], "only_b_wrong": r["only_a_wrong"]}

    fb = evaluate("5.2", {"mistake_overlap": swapped})
    assert fb.status == "partial" and fb.points == 2
    fb = evaluate("5.2", {"mistake_overlap": lambda y, a, b: [1, 2, 3, 4]})
    assert fb.status == "fail" and "dict" in fb.message


def test_53_compare_runs():
    def population(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        d = a.mean() - b.mean()
        se = math.sqrt(a.var() / len(a) + b.var() / len(b))
        return d, se, abs(d) > 2 * se

    fb = evaluate("5.3", {"compare_runs": population})
    assert fb.status == "partial" and "ddof=1" in fb.message


def test_54_images_needed():
    def unsorted(sizes, accs, target):
        for (s0, a0), (s1, a1) in zip(zip(sizes, accs), zip(sizes[1:], accs[1:])):
            if a0 >= target:
                return s0
            if a1 >= target:
                return s0 + (target - a0) * (s1 - s0) / (a1 - a0)
        return None

    fb = evaluate("5.4", {"images_needed": unsorted})
    assert fb.status == "partial" and any("not sorted" in w for w in fb.wrong)


def test_55_each_shortcut_of_a_trained_frozen_transfer_model_is_named():
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
