"""Grad-CAM: where in an image a CNN found the evidence for a class.

Grad-CAM (Selvaraju et al., 2017) takes the feature maps ``A_k`` of a late convolutional
layer and the gradient of the class score ``y_c`` (the logit, before the softmax) with
respect to them. Averaging each gradient map over its positions gives one weight per
channel, ``w_k = mean(dy_c / dA_k)``; the heatmap is ``ReLU(sum_k w_k A_k)``, scaled to
0..1 and resized to the image. Bright = the positions whose features raised the score.

It works on the two shapes of model the course builds (the keras-io recipe, plus one step
for a nested base): the ImageNet classifier from ``tlcourse.imagenet.load_classifier`` (a
``(model, preprocess)`` pair; the layer is in the model itself), and a transfer model from
``tlcourse.models.transfer_model``, a chain ``input → preprocessing → base → pooling → head``
whose layer is inside the nested base. Drawing the map is ``tlcourse.viz.overlay`` /
``plot_gradcam``.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable

import keras
import numpy as np

from tlcourse.errors import CourseError


def _layers(model: keras.Model) -> list:
    """The model's layers with those of its nested models (one level: the course's bases)."""
    return [
        inner
        for layer in model.layers
        for inner in ([layer, *layer.layers] if isinstance(layer, keras.Model) else [layer])
    ]


def spatial_layers(model) -> list[str]:
    """Names of the layers with a 4-D output (batch, height, width, channels), nested models included."""
    model = model[0] if isinstance(model, tuple) else model
    names = []
    for layer in _layers(model):
        if isinstance(layer, keras.layers.InputLayer | keras.Model):
            continue
        try:
            if len(layer.output.shape) == 4:
                names.append(layer.name)
        except (AttributeError, ValueError):  # a layer never called in a graph
            pass
    return names


def _logits(ops: list) -> list:
    """Score a class by its logit, as Grad-CAM does: open a final Sequential, drop a final softmax."""
    if ops and isinstance(ops[-1], keras.Sequential):
        ops = ops[:-1] + list(ops[-1].layers)
    last = ops[-1] if ops else None
    if (
        isinstance(last, keras.layers.Softmax)
        or getattr(getattr(last, "activation", None), "__name__", "") == "softmax"
    ):
        if isinstance(last, keras.layers.Dense):
            return ops[:-1] + [lambda x: x @ last.kernel + (last.bias if last.use_bias else 0)]
        return ops[:-1]
    return ops


def _plan(model: keras.Model, name: str) -> tuple[list, keras.Model, list]:
    """``(ops before, model giving [feature map, output], ops after)`` for the layer ``name``."""
    for layer in model.layers:
        if layer.name == name and not isinstance(layer, keras.Model):  # flat: the keras-io recipe
            last = model.layers[-1]
            return [], keras.Model(model.inputs, [layer.output, last.input]), _logits([last])
    ops = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    i = next(i for i, op in enumerate(ops) if isinstance(op, keras.Model) and name in spatial_layers(op))
    base = ops[i]
    inner = keras.Model(base.inputs, [base.get_layer(name).output, base.outputs[0]])
    probe = np.zeros((1, *model.input_shape[1:]), "float32")
    try:  # the layers in order must be the model: a branching outer model is not
        x = probe
        for op in ops:
            x = op(x, training=False)
        chain = np.allclose(np.asarray(x), np.asarray(model(probe, training=False)), atol=1e-4)
    except Exception:
        chain = False
    if not chain:
        raise CourseError(
            f"Grad-CAM through the nested model needs {model.name!r} to be a chain of layers "
            "(input → preprocessing → base → pooling → head); this model branches. "
            "Build a model whose layers include the feature map you want, or call gradcam on the base."
        )
    return ops[:i], inner, _logits(ops[i + 1 :])


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {layer: [plan, calls, compiled]}


def gradcam(model, image, class_index: int | None = None, layer: str | None = None, preprocess: Callable | None = None):
    """Grad-CAM heatmap of ``image`` for ``class_index`` (default: the predicted class).

    ``model``: a Keras classifier, or the ``(model, preprocess)`` pair of ``load_classifier``.
    ``image``: RGB pixels 0..255 (height, width, 3), resized to the model's input if needed.
    ``layer``: a layer with a 4-D output, possibly inside the nested base (default: the last).
    Returns float32 (height, width) of the image's size, in 0..1. The first call runs eagerly;
    from the second on a compiled function is used (tens of ms instead of about half a second).
    """
    import tensorflow as tf

    if isinstance(model, tuple) and len(model) == 2:
        model, preprocess = model[0], preprocess or model[1]
    if not isinstance(model, keras.Model):
        raise CourseError(
            f"gradcam needs a Keras model (or the pair load_classifier returns), got {type(model).__name__}"
        )
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim != 3 or pixels.shape[-1] != 3:
        raise CourseError(f"gradcam takes one RGB image shaped (height, width, 3), got shape {pixels.shape}")
    candidates = spatial_layers(model)
    name = layer or (candidates[-1] if candidates else None)
    if name not in candidates:
        if name in [lyr.name for lyr in _layers(model)]:
            raise CourseError(
                f"layer {name!r} has no (batch, height, width, channels) output: not a feature map; "
                f"choose a convolutional layer, e.g. {candidates[-1]}"
            )
        raise CourseError(
            f"no layer named {name!r} in model {model.name!r}: give a layer with a spatial output, e.g. "
            f"{', '.join(candidates[-3:])} (all: tlcourse.gradcam.spatial_layers(model))"
        )
    n_classes = int(model.output_shape[-1])
    if class_index is not None and (
        isinstance(class_index, bool)
        or not isinstance(class_index, int | np.integer)
        or not 0 <= class_index < n_classes
    ):
        raise CourseError(f"class_index must be an integer between 0 and {n_classes - 1}, got {class_index!r}")
    kinds = ("Preprocess", "Rescaling", "Normalization")
    inside = any(type(lyr).__name__ in kinds for lyr in _layers(model))
    if preprocess is None and not inside and pixels.max() > 2:
        warnings.warn(
            f"model {model.name!r} has no preprocessing layer and none was given: pixels 0..255 go in as they are. "
            "Pass the (model, preprocess) pair from load_classifier, or preprocess=...",
            stacklevel=2,
        )
    entry = _PLANS.setdefault(model, {}).setdefault(name, [None, 0, None])
    if entry[0] is None:
        entry[0] = _plan(model, name)
    before, inner, after = entry[0]

    def maps(x, wanted):
        with tf.GradientTape() as tape:
            for op in before:
                x = op(x, training=False)
            features, y = inner(x, training=False)
            for op in after:
                y = op(y, training=False) if isinstance(op, keras.layers.Layer) else op(y)
            score = tf.gather(y[0], tf.where(wanted < 0, tf.argmax(y[0], output_type=tf.int32), wanted))
        return features, tape.gradient(score, features)

    entry[1] += 1
    if entry[2] is None and entry[1] >= 2:  # used again: worth compiling
        entry[2] = tf.function(maps, reduce_retracing=True)
    x = tf.convert_to_tensor(pixels[None])
    if tuple(model.input_shape[1:3]) != pixels.shape[:2]:
        x = tf.image.resize(x, model.input_shape[1:3], method="bilinear")
    x = preprocess(x) if preprocess is not None else x
    features, grads = (entry[2] or maps)(x, tf.constant(-1 if class_index is None else int(class_index)))
    if grads is None:
        raise CourseError(f"the score does not depend on layer {name!r}: choose a layer before the classifier")
    cam = tf.nn.relu(tf.reduce_sum(features * tf.reduce_mean(grads, axis=(1, 2))[:, None, None, :], axis=-1))
    cam = cam / tf.maximum(tf.reduce_max(cam), 1e-12)
    resized = tf.image.resize(cam[..., None], pixels.shape[:2], method="bilinear")[0, :, :, 0]
    return np.clip(resized.numpy(), 0.0, 1.0).astype(np.float32)
