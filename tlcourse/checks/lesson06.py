"""Checks of lesson 6, when to transfer.

Cases are data the checks make (Gaussian blobs built beside the student's code, random labels,
hand-made predictions), so they verify the function, not a number the notebook printed. The
answers of the scenario exercise (6.4) are in the answer keys only.

What each judge takes from the box and what it recomputes: 6.1-6.3 take the values the student's
function returned and compare them with ranges or the keys' results on the same cases (6.1: an
accuracy that is the same whatever the data earns nothing); 6.4 takes the dict as it is. 6.5 takes
the returned model as its artefacts (config, weights), rebuilds it, builds the toy backbones it
handed out from the cases' seeds and checks that the base is inside, frozen and unchanged, then
computes the features of held-out images that only the judge draws (their seed is the case's
secret part) and compares them with the keys' extractor on the same images.
"""

from __future__ import annotations

import numpy as np

from tlcourse.checks.answers import as_bool, as_number, each_case, not_callable, same_for_every_input, show
from tlcourse.checks.plain import Build
from tlcourse.checks.probe import builder
from tlcourse.checks.rebuild import predictions, returned_model
from tlcourse.checks.registry import exercise

# --------------------------------------------------------------------------- 6.1


@builder("blobs")
def blobs(seed: int, n_train: int, n_val: int, dim: int, classes: int, separation: float, random_labels: bool = False):
    """``[train_x, train_y, val_x, val_y]``: Gaussian clusters, or noise with random labels."""
    rng = np.random.default_rng(seed)
    if random_labels:
        x_train, x_val = (
            rng.normal(size=(n_train, dim)).astype("float32"),
            rng.normal(size=(n_val, dim)).astype("float32"),
        )
        return [x_train, rng.integers(0, classes, n_train), x_val, rng.integers(0, classes, n_val)]
    centres = rng.normal(0, separation, (classes, dim))
    y_train, y_val = np.arange(n_train) % classes, np.arange(n_val) % classes
    x_train = centres[y_train] + rng.normal(size=(n_train, dim))
    x_val = centres[y_val] + rng.normal(size=(n_val, dim))
    return [x_train.astype("float32"), y_train, x_val.astype("float32"), y_val]


def cases_features(rng):
    seeds = [0, 1, 2] if rng is None else [int(s) for s in rng.integers(0, 10**6, 3)]
    specs = [
        (
            "two well-separated classes in 64 dimensions",
            dict(n_train=200, n_val=200, dim=64, classes=2, separation=1.0),
            (0.9, 1.0),
        ),
        (
            "three classes in 640 dimensions (feature-like)",
            dict(n_train=150, n_val=150, dim=640, classes=3, separation=0.4),
            (0.85, 1.0),
        ),
        (
            "random labels (nothing to learn)",
            dict(n_train=200, n_val=200, dim=150, classes=2, separation=0.0, random_labels=True),
            (0.3, 0.65),
        ),
    ]
    return [
        {
            "label": label,
            "call": "features_plus_classifier",
            "args": Build("blobs", {"seed": seed, **spec}),
            "range": list(bounds),
        }
        for seed, (label, spec, bounds) in zip(seeds, specs)
    ]


@exercise(
    "6.1",
    "A classical classifier on feature vectors",
    names=("features_plus_classifier",),
    points=4,
    hint=(
        "Section 3 of this lesson runs this very recipe with three classical classifiers. Pick one (most of "
        "them do better when the features are standardised first), fit it on the training vectors and labels "
        "only, and return its accuracy on the validation vectors as a float."
    ),
    cases=cases_features,
)
def judge_features(m, cases, results, expected):
    if not_callable(m, "features_plus_classifier", results):
        return
    values = [as_number(r.value) if r.ok else None for r in results]
    if all(v == 1.0 for v in values):
        m.criterion(
            False,
            "",
            "1.0 on every data set, random labels included: that is the score of a classifier on the data it "
            "was fitted on — fit on the training vectors, score on the validation ones",
            4,
        )
        return
    if same_for_every_input(m, "features_plus_classifier", results, [c["range"] for c in cases], 4):
        return
    bad = [
        f"{c['label']}: {r.why() if not r.ok else f'returned {show(r.value)}'}"
        for c, r, v in zip(cases, results, values)
        if v is None or not 0 <= v <= 1
    ]
    m.criterion(not bad, "returns an accuracy between 0 and 1", "; ".join(bad) + " — return one float between 0 and 1")
    for case, value in zip(cases, values):
        label, (low, high) = case["label"], case["range"]
        if value is None:
            m.criterion(False, "", f"{label}: no accuracy to judge")
        elif case["args"].params.get("random_labels"):
            m.criterion(
                low <= value <= high,
                f"{label}: {value:.2f}, about chance as it should be",
                f"{label}: {value:.2f} — on random labels a classifier trained only on the training "
                "vectors scores about 0.5; did you fit on the validation data?",
            )
        else:
            m.criterion(
                low <= value <= high,
                f"{label}: {value:.2f}",
                f"{label}: {value:.2f}, expected at least {low:.2f} (did you fit on the training data "
                "and score on the validation data? does it handle more than two classes?)",
            )


# --------------------------------------------------------------------------- 6.2


def cases_balanced(rng):
    def case(label, y_true, y_pred):
        return {"label": label, "call": "balanced_accuracy", "args": [y_true, y_pred]}

    if rng is None:
        return [
            case("always predicting the larger class (69 % / 31 %)", [0] * 69 + [1] * 31, [0] * 100),
            case("perfect predictions", [0, 1, 1, 0, 2, 2], [0, 1, 1, 0, 2, 2]),
            case("three classes, Python lists", [0, 0, 0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 1, 1, 2, 0]),
            case("numpy arrays, a class never predicted", np.array([1, 1, 1, 0, 0, 2]), np.array([1, 1, 0, 0, 0, 0])),
        ]
    major = int(rng.integers(55, 90))
    perfect = [int(v) for v in rng.integers(0, 3, 12)]
    three = [int(v) for v in rng.integers(0, 3, 15)]
    arrays = np.concatenate([[0, 1, 2], rng.integers(0, 3, 10)])
    return [
        case(
            f"always predicting the larger class ({major} % / {100 - major} %)",
            [0] * major + [1] * (100 - major),
            [0] * 100,
        ),
        case("perfect predictions", perfect, list(perfect)),
        case("three classes, Python lists", three, [int(v) for v in rng.integers(0, 3, 15)]),
        case("numpy arrays, a class never predicted", arrays, np.where(arrays == 2, 0, rng.integers(0, 2, 13))),
    ]


@exercise(
    "6.2",
    "Balanced accuracy",
    names=("balanced_accuracy",),
    points=4,
    hint=(
        "Section 3 of this lesson explains why the solar cells need this measure. For each class that occurs "
        "in the true labels, take that class's images and the share of them predicted as that class (its "
        "recall); return the mean of these recalls, so that every class counts once whatever its size."
    ),
    cases=cases_balanced,
)
def judge_balanced(m, cases, results, expected):
    if not_callable(m, "balanced_accuracy", results):
        return
    for case, result, exp in each_case(m, cases, results, expected, wrong="{label}: {why}"):
        label, want = case["label"], exp["value"]
        value = as_number(result.value)
        if value is None:
            m.criterion(False, "", f"{label}: returned {show(result.value)}, expected a number")
        else:
            y_true, y_pred = (np.asarray(a) for a in case["args"])
            plain = float(np.mean(y_true == y_pred))
            note = (
                " (that is the plain accuracy: average the per-class recalls instead)"
                if abs(value - plain) < 1e-9
                else ""
            )
            m.criterion(
                abs(value - want) < 1e-6,
                f"{label}: {value:.3f}",
                f"{label}: you said {value:.3f}, expected {want:.3f}{note}",
            )


# --------------------------------------------------------------------------- 6.3


def cases_gain(rng):
    if rng is None:
        rows = [(0.73, 0.90, 153), (0.79, 0.85, 787), (0.84, 0.86, 153), (0.98, 0.94, 540)]
    else:
        rows = []
        for gap in (0.15, 0.06, 0.01, -0.04):
            a = round(float(rng.uniform(0.6, 0.9 - max(gap, 0))), 2)
            rows.append((a, round(a + gap, 2), int(rng.integers(100, 900))))
    return [
        {
            "label": f"{a} → {b} on {n} images" + (" (transfer worse)" if b < a else ""),
            "call": "transfer_gain",
            "args": [a, b, n],
        }
        for a, b, n in rows
    ]


@exercise(
    "6.3",
    "Is the gain of transfer real?",
    names=("transfer_gain",),
    points=4,
    hint=(
        "Item 5 of the checklist in section 7 of this lesson asks this question. The gain is the transfer "
        "accuracy minus the scratch accuracy, in points; give each accuracy its own standard error from its "
        "value and the number of images (lesson 5 section 1 computes one), combine the two as independent "
        "errors, and call the gain significant when the difference, sign aside, is more than twice that."
    ),
    cases=cases_gain,
)
def judge_gain(m, cases, results, expected):
    if not_callable(m, "transfer_gain", results):
        return
    for case, result, exp in each_case(m, cases, results, expected, wrong="{label}: {why}"):
        label, want_gain, want_sig = case["label"], exp["gain"], exp["significant"]
        got = result.value
        if type(got) not in (tuple, list) or len(got) != 2:
            m.criterion(False, "", f"{label}: returned {show(got)}, expected a pair (gain in points, significant)")
            continue
        gain, significant = as_number(got[0]), as_bool(got[1])
        problems = []
        if gain is None or abs(gain - want_gain) > 0.05:
            hint = (
                " (in points: multiply the difference by 100)"
                if gain is not None and abs(100 * gain - want_gain) < 0.05
                else ""
            )
            problems.append(f"gain {show(got[0])}, expected {want_gain:+.1f} points{hint}")
        if significant is None or significant != want_sig:
            problems.append(f"significant={show(got[1])}, expected {want_sig}")
        m.criterion(
            not problems,
            f"{label}: {want_gain:+.1f} points, {'significant' if want_sig else 'within the noise'}",
            f"{label}: " + "; ".join(problems),
        )


# --------------------------------------------------------------------------- 6.4

SCENARIOS = ("similar domains", "different domain", "small data set", "similar architecture")
CASES_64 = ("A", "B", "C", "D")


def cases_scenario(rng):
    return [{"label": "scenario", "value": "scenario"}]


@exercise(
    "6.4",
    "Name the scenario",
    names=("scenario",),
    points=4,
    hint=(
        "Section 2 of this lesson describes the four scenarios, with an example each. For every case, ask "
        "what source and target share: the kind of images, only the design of the network, or is the point "
        "that there are very few labels?"
    ),
    cases=cases_scenario,
    key_is_answer=True,
)
def judge_scenario(m, cases, results, expected):
    answer, key = results[0].value, expected[0] if expected else None
    if type(answer) is not dict:
        m.criterion(False, "", f"`scenario` should be a dict like {{'A': 'similar domains', ...}}, got {show(answer)}")
        return
    for case in CASES_64:
        got = answer.get(case)
        if got is None:
            m.criterion(False, "", f"case {case}: no answer")
        elif type(got) is not str or got.strip().lower() not in SCENARIOS:
            m.criterion(False, "", f"case {case}: {show(got)} is not one of {SCENARIOS}")
        elif key is None:
            m.criterion(True, f"case {case}: answered ({got.strip().lower()})", "")
        else:
            m.criterion(
                got.strip().lower() == key["answers"][case],
                f"case {case}: {key['answers'][case]}",
                f"case {case}: {got!r} does not fit best — look again at what source and target share",
            )


# --------------------------------------------------------------------------- 6.5

FEATURE_IMAGES = 8  # held-out toy images whose features are compared (public.json stores the public ones)


def cases_extractor(rng):
    seeds = [0, 1] if rng is None else [int(s) for s in rng.integers(0, 10_000, 2)]
    heldout = [2000, 2001] if rng is None else [int(s) for s in rng.integers(10_000, 2**31, 2)]
    return [
        {
            "label": f"a toy backbone (seed {seed})" if rng is None else f"a toy backbone ({i + 1} of 2)",
            "call": "feature_extractor",
            "args": [Build("toy_backbone", {"seed": seed})],
            "model": True,
            "secret": {"heldout_seed": held, "n": FEATURE_IMAGES},  # the judge's images: never sent to the box
        }
        for i, (seed, held) in enumerate(zip(seeds, heldout))
    ]


@exercise(
    "6.5",
    "A feature extractor from a pretrained backbone",
    names=("feature_extractor",),
    points=4,
    hint=(
        "Lesson 2 built this model in section 3 and stopped before the classifier: the preprocessing, then "
        "the base, frozen and called in inference mode, then average pooling of the feature map into one "
        "vector per image. Those vectors are the features that section 3 of this lesson feeds to the "
        "classical classifiers."
    ),
    cases=cases_extractor,
)
def judge_extractor(m, cases, results, expected):
    from tlcourse.checks.lesson05 import base_in
    from tlcourse.checks.toys import toy_backbone, toy_task

    if not_callable(m, "feature_extractor", results, 4):
        return
    per = 1 / len(cases)  # four criteria per case, four points in all
    for case, result, exp in each_case(m, cases, results, expected, points=4 * per):
        label = case["label"]
        model = returned_model(m, label, result.value, 4 * per)
        if model is None:
            continue
        base = base_in(model, toy_backbone(case["args"][0].params["seed"]).model)
        m.criterion(
            base["inside"] and base["changed"] == 0,
            f"{label}: the backbone's base is inside, with its weights",
            f"{label}: the model does not contain the backbone's base as it was given: apply the base to the "
            "preprocessed input",
            per,
        )
        m.criterion(
            base["inside"] and base["trainable"] == 0,
            f"{label}: the base is frozen",
            f"{label}: {base['trainable']} of the base's weight arrays train: freeze the base",
            per,
        )
        images, _ = toy_task(case["secret"]["heldout_seed"], case["secret"]["n"], 3, "test")
        got, why = predictions(model, images)
        want = np.asarray(exp["features"])
        shape_ok = got is not None and got.shape == want.shape
        m.criterion(
            shape_ok,
            f"{label}: one vector of {want.shape[1]} numbers per image",
            f"{label}: "
            + (
                why
                or f"the output has shape {show(None if got is None else list(got.shape))}, expected "
                f"{list(want.shape)}: one pooled vector per image, no classifier"
            ),
            per,
        )
        hint = ""
        if shape_ok and np.allclose(got, exp["no_preprocess"], atol=1e-3):
            hint = " (they match the base on raw 0..255 pixels: the backbone's preprocessing comes first)"
        elif shape_ok and np.allclose(got, exp["max_pool"], atol=1e-3):
            hint = " (they match max pooling: the course's models average the feature map)"
        m.criterion(
            shape_ok and np.allclose(got, want, atol=1e-3),
            f"{label}: the same features as the course's extractor",
            f"{label}: the features differ from preprocess → base → average pooling{hint}",
            per,
        )
