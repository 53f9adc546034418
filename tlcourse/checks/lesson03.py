"""Checks for lesson 3, "ImageNet and pretrained models".

Each check calls the student's function on inputs of its own (random probability tables,
pixel arrays, a made-up model catalogue, small heatmaps) and compares with a reference,
recognising the usual mistakes so the feedback can name them.
"""

from __future__ import annotations

import numpy as np

from tlcourse.checks import exercise
from tlcourse.checks.answers import as_number

LESSON = "03_imagenet_and_pretrained_models"


def _call(m, func, name, *args, points=0.0):
    """``(ok, value)``: the student's function called on our inputs, an exception reported as feedback."""
    try:
        return True, func(*args)
    except Exception as err:  # noqa: BLE001 - the student's code: report, do not crash
        m.criterion(False, "", f"{name} raised {type(err).__name__}: {err}", points)
        return False, None


def _show(value) -> str:
    """A number as a short decimal (not ``np.float64(...)``), anything else as its repr."""
    number = as_number(value)
    return f"{number:.4g}" if number is not None and not isinstance(value, str) else repr(value)[:80]


# --------------------------------------------------------------------------- 3.1


def _reference_top_k(probabilities, labels, k):
    top = np.argsort(-np.asarray(probabilities), axis=1)[:, :k]
    return float(np.mean((top == np.asarray(labels)[:, None]).any(axis=1)))


@exercise(
    LESSON,
    "3.1",
    "Top-1 and top-5 accuracy",
    names=("top_k_accuracy",),
    points=3,
    hint="np.argsort sorts in ascending order, so the k best classes of a row are at the end (or sort the negated "
    "probabilities); a row counts when its label is among them; return the fraction of rows that count.",
)
def _(m, top_k_accuracy):
    if not m.criterion(callable(top_k_accuracy), "a function", "top_k_accuracy should be a function", 0):
        return
    rng = np.random.default_rng(3)
    probabilities = rng.dirichlet(np.full(10, 0.5), size=200)
    labels = rng.integers(0, 10, size=200)
    ok, got1 = _call(m, top_k_accuracy, "top_k_accuracy(probabilities, labels, 1)", probabilities, labels, 1, points=1)
    if ok:
        value = as_number(got1)
        expected = _reference_top_k(probabilities, labels, 1)
        wrong = f"with k=1 you return {_show(got1)}, expected {expected:.3f} (rows whose argmax is the label)"
        if value is not None and abs(value - expected * len(labels)) < 1e-9:
            wrong = "you return a count of correct rows: divide by the number of rows to get a fraction"
        m.criterion(
            value is not None and abs(value - expected) < 1e-9, f"top-1 accuracy right ({expected:.3f})", wrong, 1
        )
    ok, got5 = _call(m, top_k_accuracy, "top_k_accuracy(probabilities, labels, 5)", probabilities, labels, 5, points=1)
    if ok:
        value = as_number(got5)
        expected = _reference_top_k(probabilities, labels, 5)
        worst = float(np.mean((np.argsort(probabilities, axis=1)[:, :5] == labels[:, None]).any(axis=1)))
        wrong = f"with k=5 you return {_show(got5)}, expected {expected:.3f}"
        if value is not None and abs(value - worst) < 1e-9:
            wrong += " — you took the 5 *least* probable classes: sort in descending order"
        elif value is not None and abs(value - _reference_top_k(probabilities, labels, 6)) < 1e-9:
            wrong += " — that is top-6: take exactly k classes"
        m.criterion(
            value is not None and abs(value - expected) < 1e-9, f"top-5 accuracy right ({expected:.3f})", wrong, 1
        )
    few = [[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]]
    few_labels = [0, 0, 1, 2]
    ok, got = _call(m, top_k_accuracy, "top_k_accuracy on Python lists", few, few_labels, 2, points=1)
    if ok:
        value = as_number(got)
        expected = _reference_top_k(few, few_labels, 2)  # 0.5
        m.criterion(
            value is not None and abs(value - expected) < 1e-9,
            f"works on plain lists (top-2 of 4 rows: {expected})",
            f"on a 4 x 3 list of lists with labels {few_labels} and k=2 you return {_show(got)}, expected "
            f"{expected} (convert inputs with np.asarray)",
            1,
        )


# --------------------------------------------------------------------------- 3.2


def _lite(pixels):
    return (np.asarray(pixels, dtype=np.float32) - 127.0) / 128.0


@exercise(
    LESSON,
    "3.2",
    "EfficientNet-Lite's preprocessing, by hand",
    names=("lite_preprocess",),
    points=3,
    hint="Convert to float32 first (uint8 arithmetic wraps around below 0), then (x - 127) / 128; "
    "do not change the array you were given.",
)
def _(m, lite_preprocess):
    if not m.criterion(callable(lite_preprocess), "a function", "lite_preprocess should be a function", 0):
        return
    rng = np.random.default_rng(7)
    batch = rng.uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    original = batch.copy()
    ok, out = _call(m, lite_preprocess, "lite_preprocess(float batch)", batch, points=1)
    if ok:
        out = np.asarray(out) if out is not None else None
        if out is None or out.shape != batch.shape:
            m.criterion(
                False,
                "",
                f"lite_preprocess returned shape {getattr(out, 'shape', None)} for a batch shaped "
                f"{batch.shape}: keep the shape",
                1,
            )
        else:
            diff = float(np.max(np.abs(out.astype(np.float64) - _lite(original))))
            wrong = f"on float pixels your output differs from (x - 127) / 128 by up to {diff:.3g}"
            if np.allclose(out, original / 127.5 - 1, atol=1e-6):
                wrong = (
                    "you computed x / 127.5 - 1 (the 'tf' convention): close (off by < 0.01) and harmless in "
                    "practice, but EfficientNet-Lite was trained with (x - 127) / 128"
                )
            elif np.allclose(out, original / 255, atol=1e-6):
                wrong = "you computed x / 255: that gives 0..1, the network expects about -1..1"
            elif np.allclose(out, original, atol=1e-6):
                wrong = "the pixels come back unchanged: apply (x - 127) / 128"
            m.criterion(diff < 1e-5, "float pixels mapped to (x - 127) / 128", wrong, 1)
    m.criterion(
        np.array_equal(batch, original),
        "the input array is left unchanged",
        "your function changed the array it was given: work on a copy (e.g. np.asarray(x, 'float32'))",
        0.5,
    )
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=-1)
    ok, out = _call(m, lite_preprocess, "lite_preprocess(uint8 image)", pixels, points=1)
    if ok:
        out = np.asarray(out) if out is not None else None
        good = out is not None and out.shape == pixels.shape and np.allclose(out, _lite(pixels), atol=1e-5)
        wrong = "on a uint8 image (H, W, 3) the result is wrong"
        if out is not None and out.shape == pixels.shape and np.all(out >= -1e-6):
            wrong += (
                ": everything is >= 0, so pixels below 127 wrapped around — uint8 arithmetic cannot go "
                "negative; convert to float32 before subtracting"
            )
        m.criterion(good, "uint8 images work (converted to float before subtracting)", wrong, 1)
        m.criterion(
            good and np.asarray(out).dtype == np.float32,
            "returns float32 (what Keras models take)",
            f"return float32, got {getattr(out, 'dtype', type(out).__name__)}",
            0.5,
        )


# --------------------------------------------------------------------------- 3.3


def _same_pick(got, expected) -> bool:
    """``got`` is exactly the expected name (or None), whatever type a student returned."""
    if expected is None:
        return got is None
    return isinstance(got, str) and got == expected


def _reference_pick(catalogue, budget):
    fitting = [info for info in catalogue.values() if info.params_millions <= budget]
    if not fitting:
        return None
    return max(fitting, key=lambda info: info.imagenet_top1).name


def _made_up_catalogue():
    from tlcourse.backbones import BackboneInfo

    rows = [("alpha", 2.0, 70.0), ("beta", 9.0, 80.5), ("gamma", 12.0, 78.0), ("delta", 8.0, 74.0), ("eps", 40, 82.0)]
    return {n: BackboneInfo(n, n.title(), "tf", 224, 32, p, t, p * 4) for n, p, t in rows}


@exercise(
    LESSON,
    "3.3",
    "Pick a backbone under a parameter budget",
    names=("pick_backbone",),
    points=3,
    hint="Filter the catalogue's values by params_millions (a model exactly at the budget fits), then take the "
    "maximum by imagenet_top1 (max(..., key=...)) and return its .name; None when the filter leaves nothing.",
)
def _(m, pick_backbone):
    from tlcourse.backbones import CATALOGUE

    if not m.criterion(callable(pick_backbone), "a function", "pick_backbone should be a function", 0):
        return
    cases = [(CATALOGUE, 5.0), (CATALOGUE, 6.0), (CATALOGUE, 30.0), (CATALOGUE, 3.5)]
    results = []
    for catalogue, budget in cases:
        ok, got = _call(m, pick_backbone, f"pick_backbone(CATALOGUE, {budget})", catalogue, budget)
        results.append((budget, got if ok else "(error)", _reference_pick(catalogue, budget), ok))
    right = [r for r in results if _same_pick(r[1], r[2])]
    wrong = [
        f"budget {b} M: you pick {_show(g)}, expected {e!r}" for b, g, e, ok in results if ok and not _same_pick(g, e)
    ]
    if any(b == 3.5 and g is None for b, g, e, _ in results):
        wrong.append("a model with exactly the budget's parameters (MobileNetV2, 3.5 M) fits: use <=")
    m.criterion(
        len(right) == len(results),
        "the right model for budgets of 3.5, 5, 6 and 30 million parameters",
        "; ".join(wrong) or "some budgets raised an error",
        1.5,
    )
    made_up = _made_up_catalogue()
    ok_all, detail = True, []
    for budget in (10.0, 8.5, 100.0):
        ok, got = _call(m, pick_backbone, f"pick_backbone(another catalogue, {budget})", made_up, budget)
        expected = _reference_pick(made_up, budget)
        if not ok or not _same_pick(got, expected):
            ok_all = False
            detail.append(f"budget {budget}: {_show(got)} instead of {expected!r}")
    m.criterion(
        ok_all, "works on another catalogue (no hard-coded names)", "on a made-up catalogue: " + "; ".join(detail), 1
    )
    ok, got = _call(m, pick_backbone, "pick_backbone(CATALOGUE, 1.0)", CATALOGUE, 1.0)
    if ok:
        m.criterion(
            got is None,
            "returns None when no model fits",
            f"with a budget of 1 million parameters nothing fits; return None, not {_show(got)}",
            0.5,
        )


# --------------------------------------------------------------------------- 3.4


def _reference_fraction(heatmap, box):
    top, left, bottom, right = box
    total = float(np.sum(heatmap))
    return float(np.sum(heatmap[top:bottom, left:right])) / total if total > 0 else 0.0


@exercise(
    LESSON,
    "3.4",
    "How much of the heat is on the object?",
    names=("heat_fraction",),
    points=3,
    hint="Arrays are indexed [row, column]: slice rows top:bottom and columns left:right, add up, divide by the "
    "total heat, and return 0.0 before dividing by a total of zero.",
)
def _(m, heat_fraction):
    if not m.criterion(callable(heat_fraction), "a function", "heat_fraction should be a function", 0):
        return
    rng = np.random.default_rng(11)
    heat = rng.uniform(0, 1, (10, 14)).astype(np.float32)
    heat[2:5, 6:12] += 3.0
    box = (2, 6, 5, 12)
    ok, got = _call(m, heat_fraction, "heat_fraction(heatmap, box)", heat, box, points=1.5)
    if ok:
        value = as_number(got)
        expected = _reference_fraction(heat, box)
        wrong = f"you return {_show(got)}, expected {expected:.4f}"
        if value is not None:
            if abs(value - _reference_fraction(heat, (box[1], box[0], box[3], box[2]))) < 1e-6:
                wrong += ": rows and columns swapped — box is (top, left, bottom, right) and arrays index [row, column]"
            elif abs(value - float(heat[2:5, 6:12].mean())) < 1e-5:
                wrong += ": that is a mean, not a share of the total heat"
            elif abs(value - _reference_fraction(heat, (2, 6, 6, 13))) < 1e-6:
                wrong += ": bottom and right are exclusive, like Python slices"
        m.criterion(value is not None and abs(value - expected) < 1e-5, "the share of heat inside the box", wrong, 1.5)
    uniform = np.ones((8, 8))
    ok, got = _call(m, heat_fraction, "heat_fraction(uniform heatmap, box)", uniform, (0, 0, 4, 8), points=0.5)
    if ok:
        value = as_number(got)
        m.criterion(
            value is not None and abs(value - 0.5) < 1e-6,
            "a uniform heatmap gives the box's area share",
            f"on a uniform 8x8 heatmap the top half should hold 0.5 of the heat, you return {_show(got)}",
            0.5,
        )
    ok, got = _call(m, heat_fraction, "heat_fraction(all-zero heatmap, box)", np.zeros((6, 6)), (1, 1, 3, 3), points=1)
    if ok:
        value = as_number(got)
        m.criterion(
            value == 0.0,
            "an all-zero heatmap gives 0.0 (no division by zero)",
            f"an all-zero heatmap should give 0.0, you return {_show(got)}",
            1,
        )
