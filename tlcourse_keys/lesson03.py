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
    from tlcourse.checks.lesson03 import catalogue

    return {"name": reference_pick(catalogue(**case["args"][0].params), case["args"][1])}


def reference_heat(heatmap, box):
    top, left, bottom, right = box
    heatmap = np.asarray(heatmap, dtype=float)
    total = float(np.sum(heatmap))
    return float(np.sum(heatmap[top:bottom, left:right])) / total if total > 0 else 0.0


def _heat(case):
    heat, (top, left, bottom, right) = case["args"]
    heat = np.asarray(heat, dtype=float)
    return {
        "value": reference_heat(heat, (top, left, bottom, right)),
        "swapped": reference_heat(heat, (left, top, right, bottom)),
        "inclusive": reference_heat(heat, (top, left, bottom + 1, right + 1)),
        "mean": float(heat[top:bottom, left:right].mean()) if heat[top:bottom, left:right].size else 0.0,
    }


EXPECTED = {
    "3.1": _top_k,
    "3.2": lambda case: {"value": reference_lite(case["args"][0])},
    "3.3": _pick,
    "3.4": _heat,
}
