"""Grad-CAM: where in an image a CNN found the evidence for a class.

Grad-CAM (Selvaraju et al., 2017) takes the feature maps ``A_k`` of a late convolutional
layer and the gradient of the class score ``y_c`` (the logit, before the softmax) with
respect to them. Averaging each gradient map over its positions gives one weight per
channel, ``w_k = mean(dy_c / dA_k)``; the heatmap is ``ReLU(sum_k w_k A_k)``, scaled to
0..1 and resized to the image. Bright = the positions whose features raised the score.

``gradcam`` works on the two kinds of model the course uses:

- the ImageNet classifier from ``tlcourse.imagenet.load_classifier`` — a ``Backbone``
  pair ``(model, preprocess)`` whose preprocessing is a separate layer (pass the pair, or
  the model and ``preprocess=``);
- a transfer model from ``tlcourse.models.transfer_model`` (or any model built as a chain
  ``input → ... → base → ... → output`` around a nested pretrained base), whose
  preprocessing is inside.

By default it uses the last layer with a spatial (4-D) output: for EfficientNet-Lite that
is ``head_activation`` (7 x 7 at 224 px, 5 x 5 at 160 px).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np

from tlcourse.errors import CourseError

__all__ = ["gradcam", "overlay", "plot_gradcam", "spatial_layers"]


# --------------------------------------------------------------------------- model structure


def _is_input(layer) -> bool:
    return isinstance(layer, keras.layers.InputLayer)


def _is_spatial(layer) -> bool:
    """A layer whose output is a 4-D feature map (batch, height, width, channels)."""
    if _is_input(layer) or isinstance(layer, keras.Model):
        return False
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):  # a layer that was never called in a graph
        return False


def spatial_layers(model) -> list[str]:
    """Names of the layers with a 4-D output, nested models included, in order."""
    model = _unpack(model)[0]
    names = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            names += spatial_layers(layer)
        elif _is_spatial(layer):
            names.append(layer.name)
    return names


def _find(model: keras.Model, name: str):
    """``(path of nested models, layer)`` for a layer name anywhere in ``model``, else None."""
    for layer in model.layers:
        if layer.name == name and not isinstance(layer, keras.Model):
            return [], layer
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found = _find(layer, name)
            if found is not None:
                return [layer] + found[0], found[1]
    return None


def _chain(model: keras.Model) -> list:
    """The layers of ``model`` in order if it is a chain (one input flows through each); else raise."""
    if isinstance(model, keras.Sequential):
        return [layer for layer in model.layers if not _is_input(layer)]
    by_depth = getattr(model, "_nodes_by_depth", None)
    if not by_depth:
        raise CourseError(f"cannot read the structure of model {model.name!r}: build it with the functional API")
    nodes = [n for depth in sorted(by_depth, reverse=True) for n in by_depth[depth]]
    is_chain = all(len(by_depth[d]) == 1 for d in by_depth) and all(len(n.parent_nodes) <= 1 for n in nodes)
    if not is_chain or len(model.inputs) != 1 or len(model.outputs) != 1:
        raise CourseError(
            f"Grad-CAM through the nested model needs {model.name!r} to be a chain of layers "
            "(input → preprocessing → base → pooling → head); this model branches. "
            "Build a model whose layers include the feature map you want, or call gradcam on the base."
        )
    return [n.operation for n in nodes if not _is_input(n.operation)]


def _expand(layers: list) -> list:
    """Open nested Sequential models (e.g. the ``head``) into their layers."""
    out = []
    for layer in layers:
        out += _expand(_chain(layer)) if isinstance(layer, keras.Sequential) else [layer]
    return out


def _linear_part(dense: keras.layers.Dense) -> Callable:
    """A Dense layer without its activation: the logits of a softmax layer."""

    def logits(x):
        y = keras.ops.matmul(x, dense.kernel)
        return y + dense.bias if dense.use_bias else y

    return logits


def _is_softmax(activation) -> bool:
    return activation is keras.activations.softmax or getattr(activation, "__name__", "") == "softmax"


def _drop_softmax(after: list) -> list:
    """Score the class by its logit, as Grad-CAM does, not by its softmax probability."""
    if not after:
        return after
    last = after[-1]
    if isinstance(last, keras.layers.Activation) and _is_softmax(last.activation):
        return after[:-1]
    if isinstance(last, keras.layers.Softmax):
        return after[:-1]
    if isinstance(last, keras.layers.Dense) and _is_softmax(last.activation):
        return after[:-1] + [_linear_part(last)]
    return after


def _split(model: keras.Model, path: list, target) -> tuple[list, keras.Model, list]:
    """``(layers before, inner model returning [feature map, output], layers after)``."""
    if not path:
        output_layer = model.layers[-1]
        outputs = model.outputs[0]
        after = []
        scorer = (keras.layers.Dense, keras.layers.Activation, keras.layers.Softmax)
        if isinstance(output_layer, scorer) and output_layer is not target:
            outputs, after = output_layer.input, [output_layer]  # so a softmax can be dropped
        return [], keras.Model(model.inputs, [target.output, outputs]), after
    nested, rest = path[0], path[1:]
    chain = _chain(model)
    i = chain.index(nested)
    before, inner, after = _split(nested, rest, target)
    return chain[:i] + before, inner, after + _expand(chain[i + 1 :])


def _unpack(model, preprocess=None):
    """Accept a ``Backbone`` pair ``(model, preprocess)`` or a model (plus ``preprocess``)."""
    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], keras.Model):
        model, paired = model
        preprocess = preprocess or paired
    if not isinstance(model, keras.Model):
        raise CourseError(
            f"gradcam needs a Keras model (or the pair load_classifier returns), got {type(model).__name__}"
        )
    return model, preprocess


def _has_preprocessing(model: keras.Model) -> bool:
    kinds = ("Preprocess", "Rescaling", "Normalization")
    for layer in model.layers:
        if type(layer).__name__ in kinds:
            return True
        if isinstance(layer, keras.Model) and layer is not model and _has_preprocessing(layer):
            return True
    return False


# --------------------------------------------------------------------------- Grad-CAM


def _as_image(image) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise CourseError(f"gradcam takes one RGB image shaped (height, width, 3), got shape {array.shape}")
    return array.astype(np.float32)


@dataclass
class _Plan:
    """How to compute (feature map, class scores) for one model and layer; compiled once reused."""

    before: list
    inner: keras.Model
    after: list
    n_classes: int | None
    calls: int = 0
    compiled: Callable | None = None


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {layer name: _Plan}


def _plan(model: keras.Model, layer: str | None) -> tuple[str, _Plan]:
    """Find and validate the layer, split the model around it (cached per model and layer)."""
    plans = _PLANS.setdefault(model, {})
    if layer in plans:
        return layer, plans[layer]
    candidates = spatial_layers(model)
    if not candidates:
        raise CourseError(f"model {model.name!r} has no layer with a spatial (4-D) output: Grad-CAM needs one")
    name = candidates[-1] if layer is None else layer
    found = _find(model, name) if isinstance(name, str) else None
    if found is None:
        shown = ", ".join(candidates[:3] + ["..."] + candidates[-3:]) if len(candidates) > 6 else ", ".join(candidates)
        raise CourseError(
            f"no layer named {name!r} in model {model.name!r}: give the name of a layer with a spatial "
            f"output ({len(candidates)} of them: {shown}); see tlcourse.gradcam.spatial_layers(model)"
        )
    path, target = found
    if not _is_spatial(target):
        raise CourseError(
            f"layer {name!r} has output shape {tuple(target.output.shape)}, not a (batch, height, width, channels) "
            "feature map: choose a convolutional layer, e.g. " + candidates[-1]
        )
    before, inner, after = _split(model, path, target)
    try:
        n_classes = int(model.output_shape[-1])
    except (TypeError, ValueError, AttributeError):
        n_classes = None
    plans[name] = plans[layer] = _Plan(before, inner, _drop_softmax(after), n_classes)
    return name, plans[name]


def _apply(op, x):
    return op(x, training=False) if isinstance(op, keras.layers.Layer) else op(x)


def _forward_backward(plan: _Plan, x, class_index):
    """Feature maps, their gradient for the class score, and the class used (-1 = the top class)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        for op in plan.before:
            x = _apply(op, x)
        features, y = plan.inner(x, training=False)
        for op in plan.after:
            y = _apply(op, y)
        y = tf.reshape(y, (1, -1))
        chosen = tf.where(class_index < 0, tf.argmax(y[0], output_type=tf.int32), class_index)
        score = tf.gather(y[0], chosen)
    return features, tape.gradient(score, features), chosen


def gradcam(
    model,
    image,
    class_index: int | None = None,
    layer: str | None = None,
    preprocess: Callable | None = None,
) -> np.ndarray:
    """Grad-CAM heatmap of ``image`` for ``class_index`` (default: the predicted class).

    ``model``: a Keras classifier, or the ``(model, preprocess)`` pair from
    ``tlcourse.imagenet.load_classifier``. ``image``: RGB pixels 0..255, shaped
    (height, width, 3); resized to the model's input size if they differ. ``layer``: the
    name of a layer with a 4-D output, possibly inside the nested base (default: the last
    one). Returns a float32 array (height, width) of the image's size, in 0..1.

    The first call for a model and layer runs eagerly; from the second on, a compiled
    TensorFlow function is used (tracing costs about a second, then each map takes tens
    of milliseconds instead of about half a second on a laptop CPU).
    """
    import tensorflow as tf

    model, preprocess = _unpack(model, preprocess)
    pixels = _as_image(image)
    height, width = pixels.shape[:2]
    layer, plan = _plan(model, layer)
    if class_index is not None:
        bad = isinstance(class_index, bool) or not isinstance(class_index, int | np.integer)
        if bad or class_index < 0 or (plan.n_classes is not None and class_index >= plan.n_classes):
            top = f"{plan.n_classes - 1}" if plan.n_classes else "the number of classes - 1"
            raise CourseError(f"class_index must be an integer between 0 and {top}, got {class_index!r}")
    if preprocess is None and not _has_preprocessing(model) and pixels.max() > 2:
        warnings.warn(
            f"model {model.name!r} has no preprocessing layer and none was given: pixels 0..255 go in as they are. "
            "Pass the (model, preprocess) pair from load_classifier, or preprocess=...",
            stacklevel=2,
        )

    x = tf.convert_to_tensor(pixels[None])
    size = model.input_shape[1:3]
    if None not in size and tuple(size) != (height, width):
        x = tf.image.resize(x, size, method="bilinear")
    if preprocess is not None:
        x = preprocess(x)
    wanted = tf.constant(-1 if class_index is None else int(class_index), dtype=tf.int32)
    plan.calls += 1
    if plan.compiled is None and plan.calls >= 2:  # used again: worth compiling
        plan.compiled = tf.function(lambda x, c: _forward_backward(plan, x, c), reduce_retracing=True)
    try:
        run = plan.compiled or (lambda x, c: _forward_backward(plan, x, c))
        features, grads, _ = run(x, wanted)
    except tf.errors.InvalidArgumentError as err:  # a class index beyond the outputs
        raise CourseError(f"class_index {class_index!r} is out of range for this model ({err.message})") from err
    if grads is None:
        raise CourseError(f"the score does not depend on layer {layer!r}: choose a layer before the classifier")
    weights = tf.reduce_mean(grads, axis=(1, 2))  # one weight per channel
    cam = tf.nn.relu(tf.reduce_sum(features * weights[:, None, None, :], axis=-1))[0]
    cam = cam.numpy().astype(np.float32)
    top = float(cam.max())
    cam = cam / top if top > 0 else np.zeros_like(cam)
    resized = tf.image.resize(cam[None, :, :, None], (height, width), method="bilinear")[0, :, :, 0].numpy()
    return np.clip(resized, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- showing it


def overlay(image, heatmap, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
    """The image with the heatmap blended on top in colour, as RGB uint8 (same size as the image)."""
    import matplotlib

    pixels = _as_image(image)
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.shape != pixels.shape[:2]:
        import tensorflow as tf

        heat = tf.image.resize(heat[None, :, :, None], pixels.shape[:2], method="bilinear")[0, :, :, 0].numpy()
    colours = matplotlib.colormaps[cmap](np.clip(heat, 0, 1))[..., :3] * 255.0
    return np.clip((1 - alpha) * pixels + alpha * colours, 0, 255).astype(np.uint8)


def plot_gradcam(
    images: Sequence, heatmaps: Sequence, titles: Sequence[str] | None = None, size: float = 2.6, alpha: float = 0.45
):
    """Each image above its Grad-CAM overlay, one column per image; returns the Figure."""
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(size * n, size * 2 + 0.4), squeeze=False)
    for k in range(n):
        axes[0, k].imshow(_as_image(images[k]).astype(np.uint8))
        axes[1, k].imshow(overlay(images[k], heatmaps[k], alpha))
        if titles is not None:
            axes[0, k].set_title(titles[k], fontsize=9)
        for ax in axes[:, k]:
            ax.axis("off")
    axes[0, 0].text(-0.08, 0.5, "image", transform=axes[0, 0].transAxes, rotation=90, va="center", ha="right")
    axes[1, 0].text(-0.08, 0.5, "Grad-CAM", transform=axes[1, 0].transAxes, rotation=90, va="center", ha="right")
    fig.tight_layout()
    return fig
