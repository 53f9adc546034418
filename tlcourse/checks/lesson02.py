"""Checks for lesson 2, "What transfer learning is".

Every check builds its own inputs (tiny Keras models, synthetic feature vectors) and
calls the student's function on them, so it cannot be fooled by other notebook
variables, and it reports what is right and wrong for any value it is given.
"""

from __future__ import annotations

import math

import numpy as np

from tlcourse.checks import exercise

LESSON = "02_what_is_transfer_learning"

# --------------------------------------------------------------------------- 2.1

KINDS = {"A": "inductive", "B": "transductive", "C": "inductive", "D": "transductive"}
KIND_WHY = {
    "A": "the target task (ants vs bees) differs from the source task (1000 ImageNet classes) and has labels",
    "B": "the task (read a digit) stays the same, the domain changes, and only the source has labels",
    "C": "the target task (skin lesions) differs from the source task and 2,000 labelled images exist",
    "D": "the task (positive or negative) stays the same, the domain changes, and the target has no labels",
}
TRANSFERRED = {"A": "parameters", "E": "instances", "F": "relational"}
TRANSFERRED_POINTS = {"A": 0.5, "E": 0.75, "F": 0.75}
TRANSFERRED_WHY = {
    "A": "what moves from ImageNet to ants/bees is the trained weights",
    "E": "source images themselves are reused (re-weighted) as training data",
    "F": "a relation between data points (co-authors share topics) is what carries over",
}
SYNONYMS = {
    "parameters": {"parameter", "parameters", "weights", "weight", "model parameters", "parameter transfer"},
    "instances": {"instance", "instances", "samples", "data", "examples", "instance transfer"},
    "relational": {"relational", "relational knowledge", "relations", "relation", "relational-knowledge"},
}


def _label(value) -> str | None:
    text = str(value).strip().lower().replace("_", " ")
    for canonical, words in SYNONYMS.items():
        if text in words:
            return canonical
    return text


def _grade_dict(m, answer, key, why, name, allowed, points):
    if not isinstance(answer, dict):
        m.criterion(False, "", f"`{name}` should be a dict like {{'A': '...', ...}}, got {type(answer).__name__}", 0)
        return
    answer = {str(k).strip().upper(): v for k, v in answer.items()}
    for item, expected in key.items():
        points_each = points[item]
        if item not in answer:
            m.criterion(False, "", f"{name}: scenario {item} is missing", points_each)
            continue
        given = _label(answer[item])
        if given not in allowed:
            m.criterion(
                False, "", f"{name}[{item!r}] = {answer[item]!r}: use one of {', '.join(sorted(allowed))}", points_each
            )
        else:
            m.criterion(
                given == expected,
                f"scenario {item}: {expected} ({why[item]})",
                f"scenario {item} is not {given}",
                points_each,
            )


@exercise(
    LESSON,
    "2.1",
    "Name the kind of transfer",
    names=("kinds", "transferred"),
    points=4,
    hint="Same task in a new domain with labels only in the source is transductive; a new task with its own "
    "labels is inductive. Ask what physically moves: data (instances), weights (parameters) or relations.",
)
def _(m, kinds, transferred):
    _grade_dict(m, kinds, KINDS, KIND_WHY, "kinds", {"inductive", "transductive"}, dict.fromkeys(KINDS, 0.5))
    _grade_dict(
        m, transferred, TRANSFERRED, TRANSFERRED_WHY, "transferred", set(TRANSFERRED.values()), TRANSFERRED_POINTS
    )


# --------------------------------------------------------------------------- 2.2


def _tiny_classifier(channels: int, classes: int = 10, seed: int = 0):
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


@exercise(
    LESSON,
    "2.2",
    "Cut off the source classifier, put on a new one",
    names=("swap_head",),
    points=4,
    hint="Build on the symbolic tensor classifier.get_layer(cut_at).output: freeze what you keep (trainable = False), "
    "add a Dense layer with a softmax, and make a keras.Model from the classifier's input to it.",
)
def _(m, swap_head):
    import keras

    if not m.criterion(callable(swap_head), "a function", "swap_head should be a function", 0):
        return
    source = _tiny_classifier(channels=4)
    try:
        new = swap_head(source, 3, "pool")
    except Exception as err:  # noqa: BLE001 - the student's code: report, do not crash
        m.criterion(False, "", f"swap_head(classifier, 3, 'pool') raised {type(err).__name__}: {err}", 0)
        return
    if not m.criterion(
        isinstance(new, keras.Model), "returns a Keras model", f"swap_head returned {type(new).__name__}, not a Model"
    ):
        return
    x = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    try:
        out = np.asarray(new.predict(x, verbose=0))
    except Exception as err:  # noqa: BLE001
        m.criterion(False, "", f"the new model cannot predict 16x16 images: {type(err).__name__}: {err}", 3)
        return
    m.criterion(
        out.shape == (2, 3),
        "3 outputs per image",
        f"the new model gives outputs shaped {out.shape} for 2 images; expected (2, 3)",
        0.5,
    )
    m.criterion(
        out.shape[-1:] == (3,) and np.all(out >= 0) and np.allclose(out.sum(axis=-1), 1, atol=1e-4),
        "outputs are probabilities (softmax)",
        "each row of outputs should be probabilities summing to 1: use activation='softmax'",
        0.5,
    )
    layers = list(new.layers)
    kept = source.get_layer("conv") in layers and source.get_layer("bn") in layers
    dropped = source.get_layer("logits") not in layers and source.get_layer("predictions") not in layers
    m.criterion(
        kept and dropped,
        "the pretrained layers are reused and the old 1000-way (here 10-way) classifier is gone",
        (
            "the old classifier layers ('logits', 'predictions') are still in the model"
            if kept
            else "the model does not reuse the classifier's own layers (its conv and BN layers are missing)"
        ),
        1,
    )
    trainable = _count(new.trainable_weights)
    m.criterion(
        trainable == 4 * 3 + 3,
        "only the new classifier trains (15 parameters: 4 features x 3 classes + 3 biases)",
        f"{trainable} trainable parameters; only the new Dense layer (15) should train: freeze the kept layers",
        1,
    )
    try:
        other = swap_head(_tiny_classifier(channels=8, seed=1), 5, "pool")
        ok = isinstance(other, keras.Model) and tuple(other.output_shape) == (None, 5)
        ok = ok and _count(other.trainable_weights) == 8 * 5 + 5
        detail = "" if ok else f"output shape {getattr(other, 'output_shape', '?')}"
    except Exception as err:  # noqa: BLE001
        ok, detail = False, f"{type(err).__name__}: {err}"
    m.criterion(
        ok,
        "works for another classifier and number of classes",
        f"swap_head(other classifier with 8 features, 5, 'pool') is not a frozen 5-class model ({detail}): "
        "do not hard-code sizes",
        1,
    )


# --------------------------------------------------------------------------- 2.3


def _reference_centroid(train_x, train_y, x):
    classes = np.unique(train_y)
    centroids = np.stack([train_x[train_y == c].mean(axis=0) for c in classes])
    distances = ((x[:, None, :] - centroids[None]) ** 2).sum(-1)
    return classes[distances.argmin(axis=1)]


def _centroid_data(seed: int, labels=(0, 1, 2)):
    """Imbalanced clusters where class means, 1-NN and per-class sums give different answers."""
    rng = np.random.default_rng(seed)
    sizes = [40, 6, 15][: len(labels)]
    means = rng.normal(0, 3, (len(labels), 5))
    train_x = np.concatenate([rng.normal(mu, 2.0, (n, 5)) for mu, n in zip(means, sizes)])
    train_y = np.concatenate([np.full(n, lab) for lab, n in zip(labels, sizes)])
    x = rng.normal(means.mean(0), 3.0, (60, 5))
    return train_x, train_y, x


def _one_nn(train_x, train_y, x):
    d = ((x[:, None, :] - train_x[None]) ** 2).sum(-1)
    return train_y[d.argmin(axis=1)]


@exercise(
    LESSON,
    "2.3",
    "A nearest-centroid classifier",
    names=("nearest_centroid",),
    points=3,
    hint="One centroid per label in np.unique(train_y) (the mean of that class's rows); for each row of x, the "
    "label of the nearest centroid (Euclidean distance). Return labels, not positions in the list of labels.",
)
def _(m, nearest_centroid):
    if not m.criterion(callable(nearest_centroid), "a function", "nearest_centroid should be a function", 0):
        return
    train_x, train_y, x = _centroid_data(0)
    try:
        got = nearest_centroid(train_x, train_y, x)
    except Exception as err:  # noqa: BLE001
        m.criterion(False, "", f"nearest_centroid raised {type(err).__name__}: {err}", 0)
        return
    if got is None:
        m.criterion(False, "", "nearest_centroid returned None: return one predicted label per row of x", 0)
        return
    got = np.asarray(got).reshape(-1) if np.ndim(got) else np.asarray([got])
    if not m.criterion(
        len(got) == len(x),
        "one prediction per query row",
        f"{len(got)} predictions for {len(x)} query rows",
        0.5,
    ):
        return
    expected = _reference_centroid(train_x, train_y, x)
    agree = float(np.mean(got == expected))
    wrong = f"your predictions agree with the class-mean rule on {agree:.0%} of the points"
    if np.array_equal(got, _one_nn(train_x, train_y, x)):
        wrong += " — they match 1-nearest-neighbour instead: compare with the class means, not single points"
    m.criterion(agree == 1.0, "matches the nearest-class-mean rule on imbalanced classes", wrong, 1.5)
    train_x, train_y, x = _centroid_data(1, labels=(3, 7))
    try:
        got = np.asarray(nearest_centroid(train_x, train_y, x)).reshape(-1)
        ok = np.array_equal(got, _reference_centroid(train_x, train_y, x))
    except Exception:  # noqa: BLE001
        ok = False
    m.criterion(
        ok,
        "returns the labels themselves (works for labels 3 and 7, not only 0..k-1)",
        "with labels 3 and 7 the predictions are wrong: return labels from train_y, not centroid positions",
        1,
    )


# --------------------------------------------------------------------------- 2.4


def _fraction_models():
    """(description, model, expected fraction) for a few small models."""
    import keras

    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    half = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    half.layers[0].trainable = False
    with_bn = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3),
            keras.layers.BatchNormalization(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2),
        ]
    )
    base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(6, 3), keras.layers.BatchNormalization()])
    base.trainable = False
    nested_in = keras.Input((8, 8, 3))
    nested = keras.Model(
        nested_in, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(base(nested_in, training=False)))
    )
    cases = []
    for name, model in (
        ("all-trainable dense net", dense),
        ("first layer frozen", half),
        ("conv + BatchNormalization", with_bn),
        ("frozen nested base + head", nested),
    ):
        total = _count(model.weights)
        cases.append((name, model, _count(model.trainable_weights) / total))
    return cases


@exercise(
    LESSON,
    "2.4",
    "What fraction of a model trains?",
    names=("trainable_fraction",),
    points=3,
    hint="Count elements, not tensors (a kernel shaped (3, 3, 3, 32) holds 864 numbers): once over "
    "model.trainable_weights, once over model.weights, which also holds BatchNormalization's moving statistics.",
)
def _(m, trainable_fraction):
    if not m.criterion(callable(trainable_fraction), "a function", "trainable_fraction should be a function", 0):
        return
    results = []
    for name, model, expected in _fraction_models():
        try:
            got = trainable_fraction(model)
            if got is None:
                results.append((name, expected, None, "returned None: return the fraction as a float"))
                continue
            value = float(got)
        except Exception as err:  # noqa: BLE001
            results.append((name, expected, None, f"raised {type(err).__name__}: {err}"))
            continue
        results.append((name, expected, value, ""))
    first_values = [v for _, _, v, _ in results if v is not None]
    if first_values and max(first_values) > 1.0 + 1e-6:
        m.criterion(False, "", "return a fraction between 0 and 1, not a percentage", 0)
    points = {
        "all-trainable dense net": 0.5,
        "first layer frozen": 1.0,
        "conv + BatchNormalization": 0.75,
        "frozen nested base + head": 0.75,
    }
    for name, expected, value, error in results:
        if error:
            m.criterion(False, "", f"{name}: {error}", points[name])
            continue
        ok = value is not None and abs(value - expected) < 1e-6
        wrong = f"{name}: you return {value:.4g}, expected {expected:.4g}"
        if name == "conv + BatchNormalization" and not ok and abs(value - 1.0) < 1e-6:
            wrong += " (BatchNormalization's moving mean and variance are weights that never train: count them)"
        m.criterion(ok, f"{name}: {expected:.4g}", wrong, points[name])
