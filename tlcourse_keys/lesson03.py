"""Answer keys of lesson 3."""

from __future__ import annotations

import numpy as np


def reference_top_k(probabilities, labels, k):
    top = np.argsort(-np.asarray(probabilities), axis=1)[:, :k]
    return float(np.mean((top == np.asarray(labels)[:, None]).any(axis=1)))


def _top_k(case):
    p, labels, k = case["args"]
    least = np.argsort(np.asarray(p), axis=1)[:, :k]
    return {
        "value": reference_top_k(p, labels, k),
        "least_probable": float(np.mean((least == np.asarray(labels)[:, None]).any(axis=1))),
        "top6": reference_top_k(p, labels, k + 1),
    }


def reference_lite(pixels):
    return (np.asarray(pixels, dtype=np.float32) - 127.0) / 128.0


def reference_pick(catalogue, budget):
    fitting = [info for info in catalogue.values() if info.params_millions <= budget]
    return max(fitting, key=lambda info: info.imagenet_top1).name if fitting else None


def _pick(case):
    from tlcourse.checks.toys import catalogue

    return {"name": reference_pick(catalogue(**case["args"][0].params), case["args"][1])}


def reference_hottest(heatmap, height, width, swapped=False):
    heat = np.asarray(heatmap, dtype=float)
    best, corner = -np.inf, (0, 0)
    for top in range(heat.shape[0] - height + 1):
        for left in range(heat.shape[1] - width + 1):
            total = heat[top : top + height, left : left + width].sum()
            if total > best:
                best, corner = total, (top, left)
    return (corner[1], corner[0]) if swapped else corner


def _hottest(case):
    return {"corner": list(reference_hottest(*case["args"])), "swapped": list(reference_hottest(*case["args"], True))}


EXPECTED = {
    "3.1": _top_k,
    "3.2": lambda case: {"value": reference_lite(case["args"][0])},
    "3.3": _pick,
    "3.4": _hottest,
}
