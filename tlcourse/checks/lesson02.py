"""Checks for lesson 2, "What transfer learning is".

The probe builds tiny Keras models (``tiny_classifier``, ``fraction_model``) beside the student's
code and calls their functions on them; the judge rebuilds any model they return from plain data
and measures it itself. The answers of the naming exercise (2.1) are in the answer keys only.

What each judge takes from the box and what it recomputes: 2.1 takes the two dicts as they are
and compares them with the keys; 2.2 takes the returned models as artefacts (config, weights),
rebuilds them, builds the source classifier itself from the case's seed and checks reuse, what
trains and the outputs on images it draws; 2.3 and 2.4 take the returned labels and fractions
and compare them with the keys' results on the same cases.
"""

from __future__ import annotations

import math

import numpy as np

from tlcourse.checks.answers import as_array, as_number, each_case, not_callable, show
from tlcourse.checks.plain import Build, ModelData
from tlcourse.checks.probe import builder
from tlcourse.checks.rebuild import RebuildError, rebuild, run_model
from tlcourse.checks.registry import exercise
from tlcourse.checks.toys import FRACTION_MODELS

# --------------------------------------------------------------------------- 2.1

KIND_LABELS = ("inductive", "transductive")
TRANSFER_LABELS = ("parameters", "instances", "relational")
SCENARIOS_21 = {"kinds": ("A", "B", "C", "D"), "transferred": ("A", "E", "F")}
POINTS_21 = {"kinds": dict.fromkeys("ABCD", 0.5), "transferred": {"A": 0.5, "E": 0.75, "F": 0.75}}
SYNONYMS = {
    "parameters": {"parameter", "parameters", "weights", "weight", "model parameters", "parameter transfer"},
    "instances": {"instance", "instances", "samples", "data", "examples", "instance transfer"},
    "relational": {"relational", "relational knowledge", "relations", "relation", "relational-knowledge"},
}


def _label(value) -> str | None:
    if type(value) is not str:
        return None
    text = value.strip().lower().replace("_", " ")
    for canonical, words in SYNONYMS.items():
        if text in words:
            return canonical
    return text


def cases_kinds(rng):
    return [{"label": name, "value": name} for name in ("kinds", "transferred")]


def _grade_dict(m, answer, name, allowed, key):
    """Scenario by scenario; with no key (student edition) only the form is checked."""
    points = POINTS_21[name]
    if type(answer) is not dict:
        m.criterion(False, "", f"`{name}` should be a dict like {{'A': '...', ...}}, got {show(answer)}", 0)
        return
    answer = {k.strip().upper(): v for k, v in answer.items() if type(k) is str}
    for item in SCENARIOS_21[name]:
        if item not in answer:
            m.criterion(False, "", f"{name}: scenario {item} is missing", points[item])
            continue
        given = _label(answer[item])
        if given not in allowed:
            m.criterion(
                False,
                "",
                f"{name}[{item!r}] = {show(answer[item])}: use one of {', '.join(sorted(allowed))}",
                points[item],
            )
        elif key is None:
            m.criterion(True, f"scenario {item}: answered ({given})", "", points[item])
        else:
            m.criterion(
                given == key["answers"][item],
                f"scenario {item}: {given} ({key['why'][item]})",
                f"scenario {item} is not {given}",
                points[item],
            )


@exercise(
    "2.1",
    "Name the kind of transfer",
    names=("kinds", "transferred"),
    points=4,
    hint=(
        "For inductive or transductive, ask each scenario the questions of the “Inductive or transductive?” "
        "table in section 2 of this lesson: is the target task new or the same as the source's, and does the "
        "target come with labels of its own? For what is transferred, use the table below it and ask what "
        "physically moves from source to target: data points, trained weights, or relations between data "
        "points."
    ),
    cases=cases_kinds,
    key_is_answer=True,
)
def judge_kinds(m, cases, results, expected):
    for case, result, key in zip(cases, results, expected or [None] * len(cases)):
        allowed = set(KIND_LABELS if case["value"] == "kinds" else TRANSFER_LABELS)
        _grade_dict(m, result.value, case["value"], allowed, key)


# --------------------------------------------------------------------------- 2.2


@builder("tiny_classifier")
def tiny_classifier(channels: int, classes: int = 10, seed: int = 0):
    """A miniature 'ImageNet classifier': conv, BN, pooling, dropout, logits, softmax."""
    import keras

    init = keras.initializers.GlorotUniform(seed=seed)  # no global seeding: the notebook's RNG stays as it was
    inputs = keras.Input((16, 16, 3), name="pixels")
    x = keras.layers.Conv2D(channels, 3, activation="relu", kernel_initializer=init, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.2, name="drop")(x)
    x = keras.layers.Dense(classes, kernel_initializer=init, name="logits")(x)
    outputs = keras.layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny_source_classifier")


def _count(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def cases_swap_head(rng):
    def case(label, channels, seed, classes):
        source = Build("tiny_classifier", {"channels": channels, "seed": seed})
        return {"label": label, "call": "swap_head", "args": [source, classes, "pool"], "model": True}

    if rng is None:
        return [case("main", 4, 0, 3), case("other", 8, 1, 5)]
    first, second = rng.choice(np.arange(3, 12), 2, replace=False)
    return [
        case("main", int(first), int(rng.integers(0, 1000)), int(rng.integers(2, 7))),
        case("other", int(second), int(rng.integers(0, 1000)), int(rng.integers(2, 9))),
    ]


def _reuses(model, source) -> tuple[bool, bool]:
    """(the source's conv and BN layers are in ``model`` with their trained weights, its classifier is not)."""
    from tlcourse.freeze import all_layers

    layers = {layer.name: layer for layer in all_layers(model)}
    kept = all(
        name in layers
        and len(layers[name].weights) == len(source.get_layer(name).weights)
        and all(
            np.allclose(np.asarray(a), np.asarray(b))
            for a, b in zip(layers[name].weights, source.get_layer(name).weights)
        )
        for name in ("conv", "bn")
    )
    return kept, "logits" not in layers and "predictions" not in layers


def _rebuilt(result):
    if not result.ok:
        return None, f"swap_head{'' if result.kind == 'not_callable' else '(classifier, …)'} {result.why()}"
    if type(result.value) is not ModelData:
        return None, f"swap_head returned {show(result.value)}, not a Model"
    try:
        return rebuild(result.value), ""
    except RebuildError as err:
        return None, f"the model swap_head returned could not be rebuilt for checking: {err}"


@exercise(
    "2.2",
    "Cut off the source classifier, put on a new one",
    names=("swap_head",),
    points=4,
    hint=(
        "Section 3 of this lesson builds a new classifier on a base that came without one; here you start "
        "from the whole classifier instead. Build on the output of the layer named `cut_at`, freeze what you "
        "keep, add the new softmax layer with one output per class, and make the new model run from the "
        "classifier's own input to that layer."
    ),
    cases=cases_swap_head,
)
def judge_swap_head(m, cases, results, expected):
    if not_callable(m, "swap_head", results, 0):
        return
    main, other = cases
    source_build = main["args"][0]
    channels, classes = source_build.params["channels"], main["args"][1]
    model, problem = _rebuilt(results[0])
    if not m.criterion(model is not None, "returns a Keras model", problem, 0):
        return
    x = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    try:
        out = run_model(model, x)
    except RebuildError as err:
        m.criterion(False, "", f"the new model was not run: {err}", 3)
        return
    except Exception as err:  # the rebuilt model cannot run on the classifier's images
        m.criterion(False, "", f"the new model cannot predict 16x16 images: {type(err).__name__}", 3)
        return
    m.criterion(
        out.shape == (2, classes),
        f"{classes} outputs per image",
        f"the new model gives outputs shaped {out.shape} for 2 images; expected (2, {classes})",
        0.5,
    )
    m.criterion(
        out.shape[-1:] == (classes,) and np.all(out >= 0) and np.allclose(out.sum(axis=-1), 1, atol=1e-4),
        "outputs are probabilities (softmax)",
        "each row of outputs should be probabilities summing to 1: use activation='softmax'",
        0.5,
    )
    source = tiny_classifier(**source_build.params)
    kept, dropped = _reuses(model, source)
    m.criterion(
        kept and dropped,
        "the pretrained layers are reused and the old 1000-way (here 10-way) classifier is gone",
        (
            "the old classifier layers ('logits', 'predictions') are still in the model"
            if kept
            else "the model does not reuse the classifier's own layers "
            "(its conv and BN layers, with their weights, are missing)"
        ),
        1,
    )
    trainable, want = _count(model.trainable_weights), channels * classes + classes
    m.criterion(
        trainable == want,
        f"only the new classifier trains ({want} parameters: "
        f"{channels} features x {classes} classes + {classes} biases)",
        f"{trainable} trainable parameters; only the new Dense layer ({want}) should train: freeze the kept layers",
        1,
    )
    second, problem = _rebuilt(results[1])
    o_channels, o_classes = other["args"][0].params["channels"], other["args"][1]
    ok = second is not None and tuple(second.output_shape) == (None, o_classes)
    ok = ok and _count(second.trainable_weights) == o_channels * o_classes + o_classes
    detail = problem or ("" if ok else f"output shape {getattr(second, 'output_shape', '?')}")
    m.criterion(
        ok,
        "works for another classifier and number of classes",
        f"swap_head(other classifier with {o_channels} features, {o_classes}, 'pool') is not a frozen "
        f"{o_classes}-class model ({detail}): do not hard-code sizes",
        1,
    )


# --------------------------------------------------------------------------- 2.3


def centroid_data(seed: int, labels=(0, 1, 2)):
    """Imbalanced clusters where class means, 1-NN and per-class sums give different answers."""
    rng = np.random.default_rng(seed)
    sizes = [40, 6, 15][: len(labels)]
    means = rng.normal(0, 3, (len(labels), 5))
    train_x = np.concatenate([rng.normal(mu, 2.0, (n, 5)) for mu, n in zip(means, sizes)])
    train_y = np.concatenate([np.full(n, lab) for lab, n in zip(labels, sizes)])
    x = rng.normal(means.mean(0), 3.0, (60, 5))
    return train_x, train_y, x


def cases_centroid(rng):
    def case(label, data):
        return {"label": label, "call": "nearest_centroid", "args": list(data)}

    if rng is None:
        return [case("imbalanced classes", centroid_data(0)), case("labels 3 and 7", centroid_data(1, labels=(3, 7)))]
    a, b = (int(s) for s in rng.integers(2, 10**6, 2))
    first, second = (int(v) for v in rng.choice(np.arange(2, 20), 2, replace=False))
    return [
        case("imbalanced classes", centroid_data(a)),
        case(f"labels {first} and {second}", centroid_data(b, labels=(first, second))),
    ]


@exercise(
    "2.3",
    "A nearest-centroid classifier",
    names=("nearest_centroid",),
    points=3,
    hint=(
        "In the two-dimensional picture of section 5 of this lesson the classes form separate clouds: "
        "describe each class by its mean point, one per distinct label of the training rows. Give each query "
        "row the label of the nearest mean (straight-line distance), and answer with the label itself, not "
        "its position in your list of labels."
    ),
    cases=cases_centroid,
)
def judge_nearest_centroid(m, cases, results, expected):
    if not_callable(m, "nearest_centroid", results, 0):
        return
    result, exp, n = results[0], expected[0], len(cases[0]["args"][2])
    if not result.ok:
        m.criterion(False, "", f"nearest_centroid {result.why()}", 0)
        return
    got = as_array(result.value)
    if got is None:
        m.criterion(
            False, "", f"nearest_centroid returned {show(result.value)}: return one predicted label per row of x", 0
        )
        return
    got = got.reshape(-1)
    if not m.criterion(
        len(got) == n, "one prediction per query row", f"{len(got)} predictions for {n} query rows", 0.5
    ):
        return
    want = np.asarray(exp["labels"])
    agree = float(np.mean(got == want))
    wrong = f"your predictions agree with the class-mean rule on {agree:.0%} of the points"
    if np.array_equal(got, np.asarray(exp["one_nn"])):
        wrong += " — they match 1-nearest-neighbour instead: compare with the class means, not single points"
    m.criterion(agree == 1.0, "matches the nearest-class-mean rule on imbalanced classes", wrong, 1.5)
    second = as_array(results[1].value) if results[1].ok else None
    ok = second is not None and np.array_equal(second.reshape(-1), np.asarray(expected[1]["labels"]))
    m.criterion(
        ok,
        f"returns the labels themselves (works for {cases[1]['label']}, not only 0..k-1)",
        f"with {cases[1]['label']} the predictions are wrong: return labels from train_y, not centroid positions",
        1,
    )


# --------------------------------------------------------------------------- 2.4

POINTS_24 = dict(zip(FRACTION_MODELS, (0.5, 1.0, 0.75, 0.75)))


def cases_fraction(rng):
    sizes = [(3, 4)] * 4 if rng is None else [(int(rng.integers(2, 9)), int(rng.integers(2, 9))) for _ in range(4)]
    return [
        {
            "label": which,
            "call": "trainable_fraction",
            "args": [Build("fraction_model", {"which": which, "width": w, "channels": c})],
        }
        for which, (w, c) in zip(FRACTION_MODELS, sizes)
    ]


@exercise(
    "2.4",
    "What fraction of a model trains?",
    names=("trainable_fraction",),
    points=3,
    hint=(
        "Section 3 of this lesson counts the trainable parameters of each strategy: count the numbers inside "
        "each weight tensor (the product of its shape), not the tensors. Divide the count over the trainable "
        "weights by the count over all the weights, which also hold BatchNormalization's moving statistics."
    ),
    cases=cases_fraction,
)
def judge_trainable_fraction(m, cases, results, expected):
    if not_callable(m, "trainable_fraction", results, 0):
        return
    values = [as_number(r.value) if r.ok else None for r in results]
    if any(v is not None and v > 1.0 + 1e-6 for v in values):
        m.criterion(False, "", "return a fraction between 0 and 1, not a percentage", 0)
    for case, result, exp in each_case(
        m, cases, results, expected, points=lambda case: POINTS_24[case["label"]], wrong="{label}: {why}"
    ):
        name, want, points = case["label"], exp["fraction"], POINTS_24[case["label"]]
        value = as_number(result.value)
        if value is None:
            m.criterion(False, "", f"{name}: returned {show(result.value)}: return the fraction as a float", points)
        else:
            ok = abs(value - want) < 1e-6
            wrong = f"{name}: you return {value:.4g}, expected {want:.4g}"
            if name == "conv + BatchNormalization" and not ok and abs(value - 1.0) < 1e-6:
                wrong += " (BatchNormalization's moving mean and variance are weights that never train: count them)"
            m.criterion(ok, f"{name}: {want:.4g}", wrong, points)
