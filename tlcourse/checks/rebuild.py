"""Rebuild a student's Keras model from plain data, so the judge measures it itself.

A probe reports a model as its serialized config and weights (``plain.ModelData``); the judge
rebuilds it here from built-in Keras classes only (an allow-list of modules and class names,
no Lambda layers, no custom objects but the course's own ``Preprocess`` layer, ``safe_mode``)
and loads the reported weights. Whatever the judge then measures (shapes, parameters, outputs,
which layers train) is a property of a real model made of Keras' own code: a report cannot claim
a model it does not describe. The compile settings that travel in a config are read as data
(``compile_config``), never handed to Keras to build an optimizer.

A rebuilt model is bounded before anything calls it: at most ``MAX_LAYERS`` layers and
``MAX_WEIGHTS`` weights to rebuild, and ``run_model`` refuses a call whose estimated cost (FLOPs
and activations, from the layers' shapes) is over ``MAX_FLOPS`` / ``MAX_ACTIVATIONS``: a model
a student shaped to burn the judge's time or memory is refused in milliseconds, with the reason.
"""

from __future__ import annotations

import numpy as np

from tlcourse.checks.plain import ModelData

MAX_INT = 1_000_000  # any integer in a config (units, filters, shapes)
MAX_WEIGHTS = 5_000_000  # numbers in all weight tensors (the exercises' models hold at most a few hundred thousand)
MAX_LAYERS = 600  # layer configs in one model (EfficientNet-Lite0 whole has about 260)
MAX_FLOPS = 20e9  # of one call (all its images): about 0.2-1 s on two cores
MAX_ACTIVATIONS = 50_000_000  # numbers the layers output in one call (200 MB in float32)
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
    "tlcourse.backbones": {"Preprocess"},  # the course's own preprocessing layer (a backbone's)
}
REGISTERED = {"Preprocess": "tlcourse>Preprocess"}  # the registered name a custom class must carry
INTERNAL = {"__keras_tensor__", "__tuple__", "__numpy__"}  # markers Keras writes inside configs


class RebuildError(ValueError):
    """The model cannot be rebuilt from what was reported (and why, in a few words)."""


def _validate(node, depth: int = 0, count: list | None = None) -> None:
    count = count if count is not None else [0]
    if depth > 64:
        raise RebuildError("its config is nested too deeply")
    if type(node) is dict:
        name = node.get("class_name")
        if name is not None:
            count[0] += 1
            if count[0] > MAX_LAYERS:
                raise RebuildError(f"it has more than {MAX_LAYERS} layers")
            module = node.get("module")
            if name in INTERNAL and module is None:
                pass
            elif module not in ALLOWED or name not in ALLOWED[module]:
                raise RebuildError(
                    f"it uses {str(name)[:40]!r}, which the grader does not rebuild (built-in layers only)"
                )
            registered = node.get("registered_name")
            if registered not in (None, name, REGISTERED.get(name)):
                raise RebuildError("it uses a registered custom object")
        for value in node.values():
            _validate(value, depth + 1, count)
    elif type(node) is list:
        for value in node:
            _validate(value, depth + 1, count)
    elif type(node) is int and abs(node) > MAX_INT:
        raise RebuildError("its config holds a number too large to rebuild")
    elif type(node) is str and node.startswith(("lambda", "<function")):
        raise RebuildError("its config holds a function")


def rebuild(data: ModelData):
    """The Keras model ``data`` describes, with its weights; ``RebuildError`` when it cannot be."""
    import keras

    from tlcourse.backbones import Preprocess

    if type(data) is not ModelData:
        raise RebuildError("no model was reported")
    config = {k: v for k, v in data.config.items() if k != "compile_config"}  # read as data: compile_settings
    _validate(config)
    if sum(int(w.size) for w in data.weights) > MAX_WEIGHTS:
        raise RebuildError(f"more than {MAX_WEIGHTS:,} weights")
    try:
        model = keras.saving.deserialize_keras_object(
            config, custom_objects={REGISTERED["Preprocess"]: Preprocess}, safe_mode=True
        )
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


def returned_model(m, label: str, value, points: float, wanted: str = "a keras.Model"):
    """The model a case returned, rebuilt here; or None, after a failed criterion (worth ``points``) saying why.

    What comes back from the box is a model's artefacts (``ModelData``) or some other value: either
    way the judge measures only what it rebuilt itself.
    """
    from tlcourse.checks.answers import show

    if type(value) is not ModelData:
        m.criterion(False, "", f"{label}: returned {show(value)}, expected {wanted}", points)
        return None
    try:
        return rebuild(value)
    except RebuildError as err:
        m.criterion(False, "", f"{label}: the model could not be rebuilt for checking: {err}", points)
        return None


def predictions(model, images: np.ndarray) -> tuple[np.ndarray | None, str]:
    """``(outputs, "")`` of a rebuilt student model on the judge's own images, or ``(None, why)``.

    A model over the compute budget is not called (``run_model``); one that fails on the images is
    feedback for the student, never an error of the judge.
    """
    try:
        return run_model(model, images), ""
    except RebuildError as err:
        return None, f"your model was not run: {err}"
    except Exception as err:  # the student's model failed on our images
        return None, f"predicting held-out images raised {type(err).__name__}"


def compile_settings(data: ModelData) -> dict | None:
    """What ``compile`` was given, read from the model's config as plain data (never built).

    ``{"optimizer": class name, "learning_rate": float or None, "loss": ...}``; None when the model
    was never compiled (or the config says nothing readable about it).
    """
    compiled = data.config.get("compile_config") if type(data) is ModelData else None
    optimizer = compiled.get("optimizer") if type(compiled) is dict else None
    if type(optimizer) is str:  # compile(optimizer="adam"): Keras' defaults
        name, rate = optimizer, None
    elif type(optimizer) is dict and type(optimizer.get("config")) is dict:
        name, rate = str(optimizer.get("class_name")), optimizer["config"].get("learning_rate")
    else:
        return None
    if type(rate) is dict:  # a schedule: its starting rate
        inner = rate.get("config")
        rate = inner.get("initial_learning_rate") if type(inner) is dict else None
    loss = compiled.get("loss")
    if type(loss) is dict:  # a loss object: its class, in the name compile's strings use
        loss = {"SparseCategoricalCrossentropy": "sparse_categorical_crossentropy"}.get(loss.get("class_name"))
    return {
        "optimizer": name[:40],
        "learning_rate": float(rate) if type(rate) in (int, float) else None,
        "loss": loss if type(loss) is str else None,
    }


def cost(model) -> tuple[int, int]:
    """``(FLOPs, activations)`` of one image through ``model``, from its layers' shapes; ``RebuildError``
    when a shape is not fixed (the cost could not be bounded)."""
    import math

    from tlcourse.compute import _layer_flops
    from tlcourse.freeze import all_layers

    flops = activations = 0
    for layer in all_layers(model):
        if hasattr(layer, "layers"):  # a nested model: its layers are counted themselves
            continue
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):
            continue
        if any(d is None for d in shape[1:]):
            raise RebuildError("a layer's output has no fixed shape: give keras.Input a fixed shape")
        activations += math.prod(shape[1:])
        if layer.weights:
            flops += _layer_flops(layer, shape)
    return int(flops), int(activations)


def run_model(model, images: np.ndarray) -> np.ndarray:
    """``model`` on ``images`` (inference mode) once its estimated cost is known to be within budget."""
    flops, activations = cost(model)
    n = len(images)
    if flops * n > MAX_FLOPS or activations * n > MAX_ACTIVATIONS:
        raise RebuildError(
            f"it would take {flops * n / 1e9:,.0f} GFLOP and {activations * n * 4 / 2**20:,.0f} MB of activations "
            "to compute its outputs on the check's images, over what the grader gives one answer: keep the model small"
        )
    return np.asarray(model(images, training=False))
