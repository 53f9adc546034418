"""Answer keys of lesson 6."""

from __future__ import annotations

import math

import numpy as np

SCENARIO = {"A": "similar domains", "B": "different domain", "C": "small data set", "D": "similar architecture"}
SCENARIO_WHY = {
    "A": "an ImageNet-style photo classifier retrained for other everyday objects shares wheels, fur, textures",
    "B": "a model from one kind of image (natural photos) reused on a very different kind (thermal or medical)",
    "C": "a few dozen labelled images are too few to train a CNN: transfer is what makes the task possible",
    "D": "only the design is reused: start from an existing, proven architecture, because no pretrained model fits",
}


def reference_balanced(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]))


def reference_gain(a, b, n):
    se = math.sqrt(a * (1 - a) / n + b * (1 - b) / n)
    return 100 * (b - a), abs(b - a) > 2 * se


def _gain(case):
    gain, significant = reference_gain(*case["args"])
    return {"gain": gain, "significant": bool(significant)}


def reference_feature_extractor(backbone, pooling: str = "average", preprocessed: bool = True):
    import keras

    base, preprocess = backbone
    base.trainable = False
    inputs = keras.Input(shape=base.input_shape[1:])
    x = base(preprocess(inputs) if preprocessed else inputs, training=False)
    pool = keras.layers.GlobalAveragePooling2D() if pooling == "average" else keras.layers.GlobalMaxPooling2D()
    return keras.Model(inputs, pool(x))


def _features(case):
    """The course extractor's features (and the usual mistakes') on the judge's held-out images."""
    from tlcourse.checks.toys import toy_backbone, toy_task

    seed = case["args"][0].params["seed"]
    images, _ = toy_task(case["secret"]["heldout_seed"], case["secret"]["n"], 3, "test")
    out = {}
    for key, kwargs in (("features", {}), ("no_preprocess", {"preprocessed": False}), ("max_pool", {"pooling": "max"})):
        model = reference_feature_extractor(toy_backbone(seed), **kwargs)
        out[key] = np.round(model.predict(images, verbose=0).astype(float), 5)
    return out


EXPECTED = {
    "6.1": lambda case: {},
    "6.2": lambda case: {"value": reference_balanced(*case["args"])},
    "6.3": _gain,
    "6.4": lambda case: {"answers": SCENARIO, "why": SCENARIO_WHY},
    "6.5": _features,
}
