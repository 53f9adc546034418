"""Rebuild a student's Keras model from plain data, so the judge measures it itself.

A probe reports a model as its serialized config and weights (``plain.ModelData``); the judge
rebuilds it here from built-in Keras classes only (an allow-list of modules and class names,
no Lambda layers, no custom objects, ``safe_mode``) and loads the reported weights. Whatever
the judge then measures (shapes, parameters, outputs, which layers train) is a property of a
real model made of Keras' own code: a report cannot claim a model it does not describe.
"""

from __future__ import annotations

import numpy as np

from tlcourse.checks.plain import ModelData

MAX_INT = 1_000_000  # any integer in a config (units, filters, shapes)
MAX_WEIGHTS = 20_000_000  # numbers in all weight tensors
LAYERS = {
    "InputLayer",
    "Conv2D",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "Conv1D",
    "Dense",
    "BatchNormalization",
    "LayerNormalization",
    "Dropout",
    "SpatialDropout2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "Flatten",
    "Reshape",
    "Rescaling",
    "Normalization",
    "Resizing",
    "CenterCrop",
    "Activation",
    "ReLU",
    "Softmax",
    "LeakyReLU",
    "ZeroPadding2D",
    "Add",
    "Concatenate",
    "Multiply",
    "Average",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
    "Identity",
}
ALLOWED = {
    "keras": {"Sequential", "DTypePolicy", "Functional", "Model"},
    "keras.src.models.functional": {"Functional"},
    "keras.src.models.sequential": {"Sequential"},
    "keras.layers": LAYERS,
    "keras.initializers": {
        "GlorotUniform",
        "GlorotNormal",
        "HeUniform",
        "HeNormal",
        "LecunUniform",
        "LecunNormal",
        "Zeros",
        "Ones",
        "Constant",
        "RandomNormal",
        "RandomUniform",
        "TruncatedNormal",
        "VarianceScaling",
        "Orthogonal",
    },
    "keras.regularizers": {"L1", "L2", "L1L2"},
    "keras.constraints": {"MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm"},
}
INTERNAL = {"__keras_tensor__", "__tuple__", "__numpy__"}  # markers Keras writes inside configs


class RebuildError(ValueError):
    """The model cannot be rebuilt from what was reported (and why, in a few words)."""


def _validate(node, depth: int = 0) -> None:
    if depth > 64:
        raise RebuildError("its config is nested too deeply")
    if type(node) is dict:
        name = node.get("class_name")
        if name is not None:
            module = node.get("module")
            if name in INTERNAL and module is None:
                pass
            elif module not in ALLOWED or name not in ALLOWED[module]:
                raise RebuildError(
                    f"it uses {str(name)[:40]!r}, which the grader does not rebuild (built-in layers only)"
                )
            registered = node.get("registered_name")
            if registered not in (None, name):
                raise RebuildError("it uses a registered custom object")
        for value in node.values():
            _validate(value, depth + 1)
    elif type(node) is list:
        for value in node:
            _validate(value, depth + 1)
    elif type(node) is int and abs(node) > MAX_INT:
        raise RebuildError("its config holds a number too large to rebuild")
    elif type(node) is str and node.startswith(("lambda", "<function")):
        raise RebuildError("its config holds a function")


def rebuild(data: ModelData):
    """The Keras model ``data`` describes, with its weights; ``RebuildError`` when it cannot be."""
    import keras

    if type(data) is not ModelData:
        raise RebuildError("no model was reported")
    _validate(data.config)
    if sum(int(w.size) for w in data.weights) > MAX_WEIGHTS:
        raise RebuildError(f"more than {MAX_WEIGHTS:,} weights")
    try:
        model = keras.saving.deserialize_keras_object(data.config, safe_mode=True)
    except Exception as err:
        raise RebuildError(f"Keras could not rebuild it ({type(err).__name__})") from None
    if not isinstance(model, keras.Model):
        raise RebuildError("the config is not a model")
    if len(model.weights) != len(data.weights) or any(
        tuple(v.shape) != w.shape for v, w in zip(model.weights, data.weights)
    ):
        raise RebuildError("its weights do not match its layers")
    for variable, value in zip(model.weights, data.weights):
        variable.assign(np.asarray(value, dtype=variable.dtype))
    return model
