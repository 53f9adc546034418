"""Lesson 2's checks: the mistakes particular to its exercises get partial credit and are named,
and a right answer other than the master's (other words, another way) still earns every point.

That the master's answer passes, junk gets feedback and nothing is "missing" is tested once, for every
exercise, in ``test_checks_contract.py``; a mistake here starts from the answer key's reference
function, never from an answer typed again.
"""

import math

import keras
import numpy as np

from tlcourse.checks import evaluate
from tlcourse_keys import lesson02 as l2

from masters import master_answers, mistake_feedback


def test_2_1_other_words_for_the_same_thing_earn_every_point():
    answers = master_answers("2.1")
    answers["transferred"] = {**answers["transferred"], "A": "weights", "F": "relational knowledge"}
    feedback = evaluate("2.1", answers)
    assert feedback.status == "pass" and feedback.points == feedback.max_points, str(feedback)


def test_2_1_partly_right_gets_partial_credit():
    feedback = evaluate("2.1", {"kinds": {"A": "inductive", "B": "inductive"}, "transferred": {"A": "parameters"}})
    assert feedback.status == "partial" and 0 < feedback.points < feedback.max_points
    assert "scenario B is not inductive" in str(feedback) and "scenario C is missing" in str(feedback)


def test_2_2_unfrozen_base_and_no_softmax_are_named():
    def unfrozen(classifier, num_classes, cut_at):
        return keras.Model(classifier.input, keras.layers.Dense(num_classes)(classifier.get_layer(cut_at).output))

    text = mistake_feedback("2.2", swap_head=unfrozen)
    assert "freeze the kept layers" in text and "softmax" in text


def test_2_3_one_nearest_neighbour_and_label_positions_are_named():
    def one_nn(train_x, train_y, x):  # written here, not the key's: the judge must know it from its answers
        d = ((np.asarray(x)[:, None] - np.asarray(train_x)[None]) ** 2).sum(-1)
        return np.asarray(train_y)[d.argmin(axis=1)]

    def positions(train_x, train_y, x):
        return np.searchsorted(np.unique(train_y), l2.reference_centroid(train_x, train_y, x))

    assert "1-nearest-neighbour" in mistake_feedback("2.3", nearest_centroid=one_nn)
    assert "labels 3 and 7" in mistake_feedback("2.3", nearest_centroid=positions)


def test_2_4_forgetting_batchnorm_statistics_and_percentages_are_named():
    def only_trainable_and_gamma_beta(model):
        params = [w for w in model.weights if "moving" not in w.path]
        return sum(math.prod(w.shape) for w in model.trainable_weights) / sum(math.prod(w.shape) for w in params)

    assert "moving mean and variance" in mistake_feedback("2.4", trainable_fraction=only_trainable_and_gamma_beta)
    assert "not a percentage" in mistake_feedback("2.4", trainable_fraction=lambda m: 100 * l2.reference_fraction(m))
