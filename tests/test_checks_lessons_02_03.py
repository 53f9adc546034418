"""The checks of lessons 2 and 3: right answers pass, usual mistakes get named, junk never crashes a check."""

import math

import keras
import numpy as np
import pytest

from tlcourse.checks import evaluate, exercises_of

# --------------------------------------------------------------------------- right answers


def swap_head(classifier, num_classes, cut_at):
    classifier.trainable = False
    features = classifier.get_layer(cut_at).output
    return keras.Model(classifier.input, keras.layers.Dense(num_classes, activation="softmax")(features))


def nearest_centroid(train_x, train_y, x):
    train_x, train_y, x = np.asarray(train_x, float), np.asarray(train_y), np.asarray(x, float)
    labels = np.unique(train_y)
    centroids = np.stack([train_x[train_y == label].mean(axis=0) for label in labels])
    return labels[np.linalg.norm(x[:, None] - centroids[None], axis=-1).argmin(axis=1)]


def trainable_fraction(model):
    def size(weights):
        return sum(math.prod(w.shape) for w in weights)

    return size(model.trainable_weights) / size(model.weights)


def top_k_accuracy(probabilities, labels, k):
    best = np.argsort(-np.asarray(probabilities), axis=1)[:, :k]
    return float((best == np.asarray(labels)[:, None]).any(axis=1).mean())


def lite_preprocess(pixels):
    return (np.asarray(pixels, np.float32) - 127) / 128


def pick_backbone(catalogue, budget):
    fitting = [info for info in catalogue.values() if info.params_millions <= budget]
    return max(fitting, key=lambda info: info.imagenet_top1).name if fitting else None


def hottest_box(heatmap, height, width, inside=1):
    """Every window's total from cumulative sums (not the master's loop): the same corners."""
    heat = np.pad(np.asarray(heatmap, float), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    totals = heat[height:, width:] - heat[:-height, width:] - heat[height:, :-width] + heat[:-height, :-width]
    totals = totals[: totals.shape[0] - 1 + inside, : totals.shape[1] - 1 + inside]
    top, left = np.unravel_index(np.argmax(np.round(totals, 9)), totals.shape)
    return int(top), int(left)


RIGHT = {
    "2.1": {
        "kinds": {"A": "inductive", "B": "transductive", "C": "inductive", "D": "transductive"},
        "transferred": {"A": "weights", "E": "instances", "F": "relational knowledge"},
    },
    "2.2": {"swap_head": swap_head},
    "2.3": {"nearest_centroid": nearest_centroid},
    "2.4": {"trainable_fraction": trainable_fraction},
    "3.1": {"top_k_accuracy": top_k_accuracy},
    "3.2": {"lite_preprocess": lite_preprocess},
    "3.3": {"pick_backbone": pick_backbone},
    "3.4": {"hottest_box": hottest_box},
}


def test_every_exercise_of_both_lessons_is_covered_here():
    lessons = ("02_what_is_transfer_learning", "03_imagenet_and_pretrained_models")
    ids = {e.id for lesson in lessons for e in exercises_of(lesson)}
    assert ids == set(RIGHT)


@pytest.mark.parametrize("exercise_id", sorted(RIGHT))
def test_right_answers_pass(exercise_id):
    feedback = evaluate(exercise_id, RIGHT[exercise_id])
    assert feedback.status == "pass", str(feedback)
    assert feedback.points == feedback.max_points


# --------------------------------------------------------------------------- junk never crashes


def _raises(*_args):
    raise RuntimeError("student bug")


JUNK = [
    5,
    "text",
    [],
    {},
    np.zeros(3),
    lambda *a: None,
    lambda *a: "x",
    lambda *a: np.zeros((2, 2)),
    _raises,
    lambda *a: [1, 2, 3],
    lambda *a: float("nan"),
    lambda *a: {"A": 1},
]


@pytest.mark.parametrize("exercise_id", sorted(RIGHT))
@pytest.mark.parametrize("junk", JUNK, ids=range(len(JUNK)))
def test_junk_answers_get_feedback_not_an_error(exercise_id, junk):
    answers = {name: junk for name in RIGHT[exercise_id]}
    feedback = evaluate(exercise_id, answers)
    assert feedback.status in ("fail", "partial", "missing"), str(feedback)  # missing: a do-nothing lambda
    assert feedback.points < feedback.max_points
    assert feedback.wrong and "checking your answer raised" not in feedback.message


@pytest.mark.parametrize("exercise_id", sorted(RIGHT))
def test_unanswered_is_missing(exercise_id):
    assert evaluate(exercise_id, {name: None for name in RIGHT[exercise_id]}).status == "missing"


# --------------------------------------------------------------------------- usual mistakes are named


def _message(exercise_id, **answers):
    feedback = evaluate(exercise_id, answers)
    assert feedback.status in ("partial", "fail"), str(feedback)
    return str(feedback)


def test_2_1_partly_right_gets_partial_credit():
    feedback = evaluate("2.1", {"kinds": {"A": "inductive", "B": "inductive"}, "transferred": {"A": "parameters"}})
    assert feedback.status == "partial" and 0 < feedback.points < feedback.max_points
    assert "scenario B is not inductive" in str(feedback) and "scenario C is missing" in str(feedback)


def test_2_2_unfrozen_base_and_no_softmax_are_named():
    def unfrozen(classifier, num_classes, cut_at):
        return keras.Model(classifier.input, keras.layers.Dense(num_classes)(classifier.get_layer(cut_at).output))

    text = _message("2.2", swap_head=unfrozen)
    assert "freeze the kept layers" in text and "softmax" in text


def test_2_3_one_nearest_neighbour_and_label_positions_are_named():
    def one_nn(train_x, train_y, x):
        d = ((np.asarray(x)[:, None] - np.asarray(train_x)[None]) ** 2).sum(-1)
        return np.asarray(train_y)[d.argmin(axis=1)]

    def positions(train_x, train_y, x):
        return np.searchsorted(np.unique(train_y), nearest_centroid(train_x, train_y, x))

    assert "1-nearest-neighbour" in _message("2.3", nearest_centroid=one_nn)
    assert "labels 3 and 7" in _message("2.3", nearest_centroid=positions)


def test_2_4_forgetting_batchnorm_statistics_and_percentages_are_named():
    def only_trainable_and_gamma_beta(model):
        params = [w for w in model.weights if "moving" not in w.path]
        return sum(math.prod(w.shape) for w in model.trainable_weights) / sum(math.prod(w.shape) for w in params)

    assert "moving mean and variance" in _message("2.4", trainable_fraction=only_trainable_and_gamma_beta)
    assert "not a percentage" in _message("2.4", trainable_fraction=lambda m: 100 * trainable_fraction(m))


def test_3_1_ascending_sort_and_counts_are_named():
    def ascending(p, labels, k):
        return float((np.argsort(np.asarray(p), axis=1)[:, :k] == np.asarray(labels)[:, None]).any(axis=1).mean())

    def count(p, labels, k):
        return int((np.argsort(-np.asarray(p), axis=1)[:, :k] == np.asarray(labels)[:, None]).any(axis=1).sum())

    assert "least* probable" in _message("3.1", top_k_accuracy=ascending)
    assert "count of correct rows" in _message("3.1", top_k_accuracy=count)


def test_3_2_uint8_wraparound_and_other_conventions_are_named():
    assert "wrapped around" in _message("3.2", lite_preprocess=lambda x: (x - 127) / 128)
    assert "'tf' convention" in _message("3.2", lite_preprocess=lambda x: np.asarray(x, "float32") / 127.5 - 1)
    assert "0..1" in _message("3.2", lite_preprocess=lambda x: np.asarray(x, "float32") / 255)

    def in_place(x):
        x -= 127
        x /= 128
        return x

    assert "changed the array" in _message("3.2", lite_preprocess=in_place)


def test_3_3_strict_budget_and_hard_coding_are_named():
    def strict(catalogue, budget):
        fitting = [i for i in catalogue.values() if i.params_millions < budget]
        return max(fitting, key=lambda i: i.imagenet_top1).name if fitting else None

    assert "use <=" in _message("3.3", pick_backbone=strict)
    assert "made-up catalogue" in _message("3.3", pick_backbone=lambda c, b: "efficientnet_lite0")


def test_3_4_swapped_corners_and_the_last_window_are_named():
    def swapped(h, height, width):
        top, left = hottest_box(h, height, width)
        return left, top

    def short_range(h, height, width):  # range(rows - height): misses the windows along the last row and column
        return hottest_box(h, height, width, inside=0)

    assert "(left, top) instead of (top, left)" in _message("3.4", hottest_box=swapped)
    assert "the last box that fits" in _message("3.4", hottest_box=short_range)
    assert "two whole numbers" in _message("3.4", hottest_box=lambda h, height, width: 0.5)
