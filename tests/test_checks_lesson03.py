"""Lesson 3's checks: the mistakes particular to its exercises get partial credit and are named,
and a right answer other than the master's (other words, another way) still earns every point.

That the master's answer passes, junk gets feedback and nothing is "missing" is tested once, for every
exercise, in ``test_checks_contract.py``; a mistake here starts from the answer key's reference
function, never from an answer typed again.
"""

import numpy as np

from tlcourse.checks import evaluate
from tlcourse_keys import lesson03 as l3

from masters import mistake_feedback


def test_3_1_ascending_sort_and_counts_are_named():
    def ascending(p, labels, k):
        return float((np.argsort(np.asarray(p), axis=1)[:, :k] == np.asarray(labels)[:, None]).any(axis=1).mean())

    def count(p, labels, k):
        return int((np.argsort(-np.asarray(p), axis=1)[:, :k] == np.asarray(labels)[:, None]).any(axis=1).sum())

    assert "least* probable" in mistake_feedback("3.1", top_k_accuracy=ascending)
    assert "count of correct rows" in mistake_feedback("3.1", top_k_accuracy=count)


def test_3_2_uint8_wraparound_and_other_conventions_are_named():
    assert "wrapped around" in mistake_feedback("3.2", lite_preprocess=lambda x: (x - 127) / 128)
    assert "'tf' convention" in mistake_feedback("3.2", lite_preprocess=lambda x: np.asarray(x, "float32") / 127.5 - 1)
    assert "0..1" in mistake_feedback("3.2", lite_preprocess=lambda x: np.asarray(x, "float32") / 255)

    def in_place(x):
        x -= 127
        x /= 128
        return x

    assert "changed the array" in mistake_feedback("3.2", lite_preprocess=in_place)


def test_3_3_strict_budget_and_hard_coding_are_named():
    def strict(catalogue, budget):
        fitting = [i for i in catalogue.values() if i.params_millions < budget]
        return max(fitting, key=lambda i: i.imagenet_top1).name if fitting else None

    assert "use <=" in mistake_feedback("3.3", pick_backbone=strict)
    assert "made-up catalogue" in mistake_feedback("3.3", pick_backbone=lambda c, b: "efficientnet_lite0")


def test_3_4_another_way_to_the_same_corners_earns_every_point():
    def cumulative(heatmap, height, width):
        """Every window's total from cumulative sums (not the master's loop): other rounding, the same corners."""
        heat = np.pad(np.asarray(heatmap, float), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
        totals = heat[height:, width:] - heat[:-height, width:] - heat[height:, :-width] + heat[:-height, :-width]
        top, left = np.unravel_index(np.argmax(np.round(totals, 9)), totals.shape)
        return int(top), int(left)

    feedback = evaluate("3.4", {"hottest_box": cumulative})
    assert feedback.status == "pass" and feedback.points == feedback.max_points, str(feedback)


def test_3_4_swapped_corners_and_the_last_window_are_named():
    def swapped(h, height, width):
        top, left = l3.reference_hottest(h, height, width)
        return left, top

    def short_range(h, height, width):  # range(rows - height): misses the windows along the last row and column
        return l3.reference_hottest(np.asarray(h)[:-1, :-1], height, width)

    assert "(left, top) instead of (top, left)" in mistake_feedback("3.4", hottest_box=swapped)
    assert "the last box that fits" in mistake_feedback("3.4", hottest_box=short_range)
    assert "two whole numbers" in mistake_feedback("3.4", hottest_box=lambda h, height, width: 0.5)
