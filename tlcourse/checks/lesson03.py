"""Checks for lesson 3, "ImageNet and pretrained models".

Cases: random probability tables, pixel arrays, model catalogues (the course's and made-up ones,
built beside the student's code) and small heatmaps. The expected results, and the results of the
usual mistakes the feedback names, come from the answer keys or ``public.json``.

What each judge takes from the box and what it recomputes: 3.1, 3.3 and 3.4 take the values the
student's function returned on the cases and compare them with the keys' results on the same
cases. 3.2 takes the returned arrays and, for the float batch, the argument as the call left it
(an artefact: the array itself), which the judge compares with the input it drew; that criterion
counts only beside a right output.
"""

from __future__ import annotations

import numpy as np

from tlcourse.checks.answers import as_array, as_number, each_case, not_callable, show
from tlcourse.checks.plain import Build
from tlcourse.checks.registry import exercise

# --------------------------------------------------------------------------- 3.1


def cases_top_k(rng):
    local = np.random.default_rng(3) if rng is None else rng
    probabilities = local.dirichlet(np.full(10, 0.5), size=200)
    labels = local.integers(0, 10, size=200)
    if rng is None:
        few, few_labels = [[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]], [0, 0, 1, 2]
    else:
        few = np.round(local.dirichlet(np.ones(3), size=4), 3).tolist()
        few_labels = [int(v) for v in local.integers(0, 3, 4)]

    def case(kind, label, p, y, k):
        return {"label": label, "kind": kind, "call": "top_k_accuracy", "args": [p, y, k]}

    return [
        case("top1", "top_k_accuracy(probabilities, labels, 1)", probabilities, labels, 1),
        case("top5", "top_k_accuracy(probabilities, labels, 5)", probabilities, labels, 5),
        case("lists", "top_k_accuracy on Python lists", few, few_labels, 2),
    ]


@exercise(
    "3.1",
    "Top-1 and top-5 accuracy",
    names=("top_k_accuracy",),
    points=3,
    hint=(
        "Section 3 of this lesson scores the ImageNet classifier on our ants and bees this way. For each row,"
        " find the k classes with the highest probabilities (an ascending sort puts them at the end), count "
        "the row when its label is among them, and return the fraction of rows that count; convert lists to "
        "arrays first."
    ),
    cases=cases_top_k,
)
def judge_top_k(m, cases, results, expected):
    if not_callable(m, "top_k_accuracy", results, 0):
        return
    for case, result, exp in each_case(m, cases, results, expected, wrong="{label} {why}"):
        value, want = as_number(result.value), exp["value"]
        ok = value is not None and abs(value - want) < 1e-9
        if case["kind"] == "top1":
            wrong = f"with k=1 you return {show(result.value)}, expected {want:.3f} (rows whose argmax is the label)"
            if value is not None and abs(value - want * len(case["args"][1])) < 1e-9:
                wrong = "you return a count of correct rows: divide by the number of rows to get a fraction"
            m.criterion(ok, f"top-1 accuracy right ({want:.3f})", wrong, 1)
        elif case["kind"] == "top5":
            wrong = f"with k=5 you return {show(result.value)}, expected {want:.3f}"
            if value is not None and abs(value - exp["least_probable"]) < 1e-9:
                wrong += " — you took the 5 *least* probable classes: sort in descending order"
            elif value is not None and abs(value - exp["top6"]) < 1e-9:
                wrong += " — that is top-6: take exactly k classes"
            m.criterion(ok, f"top-5 accuracy right ({want:.3f})", wrong, 1)
        else:
            rows, labels = case["args"][0], case["args"][1]
            m.criterion(
                ok,
                f"works on plain lists (top-2 of {len(rows)} rows: {want})",
                f"on a {len(rows)} x {len(rows[0])} list of lists with labels {labels} and k=2 you return "
                f"{show(result.value)}, expected {want} (convert inputs with np.asarray)",
                1,
            )


# --------------------------------------------------------------------------- 3.2


def cases_preprocess(rng):
    local = np.random.default_rng(7) if rng is None else rng
    batch = local.uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    if rng is None:
        pixels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=-1)
    else:
        pixels = local.integers(0, 256, (12, 12, 3)).astype(np.uint8)
        pixels[0, 0] = 0  # a dark pixel, so uint8 wrap-around always shows
    return [
        {
            "label": "lite_preprocess(float batch)",
            "kind": "float",
            "call": "lite_preprocess",
            "args": [batch],
            "after": True,
        },
        {"label": "lite_preprocess(uint8 image)", "kind": "uint8", "call": "lite_preprocess", "args": [pixels]},
    ]


@exercise(
    "3.2",
    "EfficientNet-Lite's preprocessing, by hand",
    names=("lite_preprocess",),
    points=3,
    hint=(
        "Section 4 of this lesson gives EfficientNet-Lite's scaling. Convert the pixels to a 32-bit float "
        "copy before any arithmetic, because unsigned 8-bit numbers wrap around below zero, and leave the "
        "array you were given as it was."
    ),
    cases=cases_preprocess,
)
def judge_preprocess(m, cases, results, expected):
    if not_callable(m, "lite_preprocess", results, 0):
        return
    for case, result, exp in zip(cases, results, expected):
        x = np.asarray(case["args"][0], dtype=np.float64)
        want = np.asarray(exp["value"], dtype=np.float64)
        if not result.ok:  # not each_case: a failed uint8 call also loses the float32 criterion, right after
            m.criterion(False, "", f"{case['label']} {result.why()}", 1)
            if case["kind"] == "uint8":
                m.criterion(False, "", "return float32", 0.5)
            continue
        out = as_array(result.value)
        if case["kind"] == "float":
            if out is None or out.shape != x.shape:
                m.criterion(
                    False,
                    "",
                    f"lite_preprocess returned {show(result.value)} for a batch shaped {x.shape}: keep the shape",
                    1,
                )
            else:
                diff = float(np.max(np.abs(out.astype(np.float64) - want)))
                wrong = f"on float pixels your output differs from (x - 127) / 128 by up to {diff:.3g}"
                if np.allclose(out, x / 127.5 - 1, atol=1e-6):
                    wrong = (
                        "you computed x / 127.5 - 1 (the 'tf' convention): close (off by < 0.01) and harmless in "
                        "practice, but EfficientNet-Lite was trained with (x - 127) / 128"
                    )
                elif np.allclose(out, x / 255, atol=1e-6):
                    wrong = "you computed x / 255: that gives 0..1, the network expects about -1..1"
                elif np.allclose(out, x, atol=1e-6):
                    wrong = "the pixels come back unchanged: apply (x - 127) / 128"
                m.criterion(diff < 1e-5, "float pixels mapped to (x - 127) / 128", wrong, 1)
                after = result.after[0] if type(result.after) is list and result.after else None
                unchanged = type(after) is np.ndarray and after.shape == x.shape and np.array_equal(after, x)
                m.criterion(
                    diff < 1e-5 and unchanged,
                    "the input array is left unchanged",
                    "your function changed the array it was given: compute on a new array"
                    if diff < 1e-5
                    else "the input array counts as left unchanged once the output is right",
                    0.5,
                )
        else:
            good = out is not None and out.shape == x.shape and np.allclose(out, want, atol=1e-5)
            wrong = "on a uint8 image (H, W, 3) the result is wrong"
            if out is not None and out.shape == x.shape and np.all(out >= -1e-6):
                wrong += (
                    ": everything is >= 0, so pixels below 127 wrapped around — uint8 arithmetic cannot go "
                    "negative; convert to float32 before subtracting"
                )
            m.criterion(good, "uint8 images work (converted to float before subtracting)", wrong, 1)
            m.criterion(
                good and out.dtype == np.float32,
                "returns float32 (what Keras models take)",
                f"return float32, got {out.dtype if out is not None else show(result.value)}",
                0.5,
            )


# --------------------------------------------------------------------------- 3.3


def cases_pick(rng):
    from tlcourse.backbones import CATALOGUE

    def case(kind, catalogue_rows, budget, label):
        return {
            "label": label,
            "kind": kind,
            "call": "pick_backbone",
            "args": [Build("catalogue", {"rows": catalogue_rows}), budget],
        }

    if rng is None:
        course_budgets, exact = [5.0, 6.0, 30.0], 3.5
        rows = [
            ("alpha", 2.0, 70.0),
            ("beta", 9.0, 80.5),
            ("gamma", 12.0, 78.0),
            ("delta", 8.0, 74.0),
            ("eps", 40, 82.0),
        ]
        made_up_budgets, none_budget = [10.0, 8.5, 100.0], 1.0
    else:
        sizes = sorted({info.params_millions for info in CATALOGUE.values()})
        course_budgets = [round(float(rng.uniform(sizes[0] + 0.05, 200)), 1) for _ in range(3)]
        exact = float(rng.choice(sizes[1:]))
        names = ["ant", "bee", "cat", "dog", "eel", "fox"]
        params = rng.choice(np.arange(2, 60), len(names), replace=False)
        rows = [(n, float(p), round(float(rng.uniform(60, 85)), 1)) for n, p in zip(names, params)]
        made_up_budgets = [round(float(rng.uniform(min(params), max(params) + 5)), 1) for _ in range(2)] + [1000.0]
        none_budget = round(float(rng.uniform(0.1, sizes[0] - 0.1)), 2)
    return (
        [case("course", None, b, f"budget {b} M") for b in course_budgets]
        + [case("exact", None, exact, f"budget {exact} M")]
        + [case("made_up", rows, b, f"budget {b}") for b in made_up_budgets]
        + [case("none", None, none_budget, f"pick_backbone(CATALOGUE, {none_budget})")]
    )


def _same_pick(value, want) -> bool:
    """``value`` is exactly the expected name (or None), whatever type a student returned."""
    return value is None if want is None else type(value) is str and value == want


@exercise(
    "3.3",
    "Pick a backbone under a parameter budget",
    names=("pick_backbone",),
    points=3,
    hint=(
        "Section 2 of this lesson charts the same trade-off between size and accuracy. Keep only the "
        "catalogue entries whose parameter count fits the budget (a model exactly at the budget fits), and "
        "return the name of the one with the highest published top-1 accuracy, or None when nothing fits."
    ),
    cases=cases_pick,
)
def judge_pick(m, cases, results, expected):
    if not_callable(m, "pick_backbone", results, 0):
        return
    rows = list(zip(cases, results, expected))
    course = [(c, r, e) for c, r, e in rows if c["kind"] in ("course", "exact")]
    wrong = []
    for case, result, exp in course:
        if not result.ok:
            wrong.append(f"{case['label']}: {result.why()}")
        elif not _same_pick(result.value, exp["name"]):
            wrong.append(f"{case['label']}: you pick {show(result.value)}, expected {exp['name']!r}")
            if case["kind"] == "exact" and result.value is None:
                wrong.append(f"a model with exactly the budget's parameters ({case['args'][1]} M) fits: use <=")
    budgets = ", ".join(f"{c['args'][1]:g}" for c, _, _ in course)
    m.criterion(not wrong, f"the right model for budgets of {budgets} million parameters", "; ".join(wrong), 1.5)
    detail = [
        f"{c['label']}: {show(r.value) if r.ok else r.why()} instead of {e['name']!r}"
        for c, r, e in rows
        if c["kind"] == "made_up" and not (r.ok and _same_pick(r.value, e["name"]))
    ]
    m.criterion(
        not detail,
        "works on another catalogue (no hard-coded names)",
        "on a made-up catalogue: " + "; ".join(detail),
        1,
    )
    case, result, _ = next(row for row in rows if row[0]["kind"] == "none")
    m.criterion(
        result.ok and result.value is None,
        "returns None when no model fits",
        f"with a budget of {case['args'][1]} million parameters nothing fits; return None, not "
        + (show(result.value) if result.ok else f"an error ({result.error})"),
        0.5,
    )


# --------------------------------------------------------------------------- 3.4


def cases_hottest(rng):
    def case(kind, label, heat, height, width):
        return {"label": label, "kind": kind, "call": "hottest_box", "args": [heat, height, width]}

    local = np.random.default_rng(11) if rng is None else rng
    rows, cols = (10, 14) if rng is None else (int(local.integers(8, 16)), int(local.integers(8, 16)))
    height, width = (3, 4) if rng is None else (int(local.integers(2, 5)), int(local.integers(2, 5)))
    spot = (int(local.integers(0, rows - height)), int(local.integers(0, cols - width)))
    main = local.uniform(0, 1, (rows, cols)).astype(np.float32)
    main[spot[0] : spot[0] + height, spot[1] : spot[1] + width] += 2.0
    edge = local.uniform(0, 1, (rows, cols)).astype(np.float32)
    edge[rows - height :, cols - width :] += 2.0  # the hottest box touches the last row and column
    n = 6 if rng is None else int(local.integers(4, 9))
    return [
        case("main", f"a {height} x {width} box on a {rows} x {cols} heatmap", main, height, width),
        case("edge", "the hottest box touches the last row and the last column", edge, height, width),
        case("whole", "a box as large as the heatmap", local.uniform(0, 1, (n, n + 1)), n, n + 1),
        case("ties", "a uniform heatmap: every box ties, the first one counts", np.ones((n, n)), 2, 3),
    ]


def _corner(value) -> tuple[int, int] | None:
    """A (top, left) pair of whole numbers from what the function returned, else None."""
    if type(value) not in (tuple, list) and not (isinstance(value, np.ndarray) and value.shape == (2,)):
        return None
    parts = [as_number(v) for v in value]
    if len(parts) != 2 or any(v is None or v != int(v) for v in parts):
        return None
    return int(parts[0]), int(parts[1])


@exercise(
    "3.4",
    "Where is the heat?",
    names=("hottest_box",),
    points=3,
    hint=(
        "At the end of section 6 of this lesson we add up the heat inside one box, the cup box; here, do that"
        " for every box of the requested size that lies entirely inside the heatmap, and keep the top-left "
        "corner of the hottest. Visit the corners row by row and take a new best only when it holds strictly "
        "more heat, so that ties go to the first one."
    ),
    cases=cases_hottest,
)
def judge_hottest(m, cases, results, expected):
    if not_callable(m, "hottest_box", results, 0):
        return
    worth = {"main": 1.5, "edge": 0.5, "whole": 0.5, "ties": 0.5}
    for case, result, exp in each_case(
        m, cases, results, expected, points=lambda case: worth[case["kind"]], wrong="{label} {why}"
    ):
        label, want = case["label"], tuple(exp["corner"])
        got = _corner(result.value)
        wrong = f"{label}: you return {show(result.value)}, expected {want}"
        if got is None:
            wrong = f"{label}: you return {show(result.value)}: return the (top, left) corner, two whole numbers"
        elif got == tuple(exp["swapped"]) and got != want:
            wrong += " — (left, top) instead of (top, left): arrays index [row, column]"
        elif case["kind"] in ("edge", "whole") and got != want:
            wrong += " — the last box that fits starts at (rows - height, columns - width): include it"
        m.criterion(got == want, f"{label}: {want}", wrong, worth[case["kind"]])
