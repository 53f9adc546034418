"""The course's vocabulary: the backbones it knows and the fine-tuning strategies it teaches.

One place, importing neither Keras nor NumPy, so that what only needs a name (the CLI's
parser, ``tlcourse --help``, a check that validates a strategy) never loads TensorFlow.
``tlcourse.backbones``, ``tlcourse.freeze``, ``tlcourse.strategies`` and the checks read
their names, sizes and advice from here.

The strategy table (target data size x similarity to ImageNet):

========  =========================================  ==========================
strategy  what trains                                 use when (target data)
========  =========================================  ==========================
full      the whole base + the new classifier         large, different
most      all but the first third of the blocks       large, similar
some      the last third of the blocks                small, different
head      only the new classifier (frozen base)       small, similar
========  =========================================  ==========================
"""

from __future__ import annotations

from dataclasses import dataclass

from tlcourse.errors import CourseError


@dataclass(frozen=True)
class BackboneInfo:
    """Catalogue entry: how to build a backbone and the numbers a lesson's table shows."""

    name: str
    display: str
    preprocess: str  # a key of PREPROCESS_MODES
    native_size: int  # the input size it was trained at (px)
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
OFFLINE_BACKBONES = tuple(name for name, info in CATALOGUE.items() if info.keras_app is None)
DEFAULT_BACKBONE = "efficientnet_lite0"

# Input scaling conventions, as affine maps on RGB pixels in 0..255 (caffe also swaps to BGR).
PREPROCESS_MODES = {
    "lite": {"scale": (1 / 128,) * 3, "offset": (-127 / 128,) * 3, "bgr": False},
    "tf": {"scale": (1 / 127.5,) * 3, "offset": (-1.0,) * 3, "bgr": False},
    "caffe": {"scale": (1.0,) * 3, "offset": (-103.939, -116.779, -123.68), "bgr": True},
    "none": {"scale": (1.0,) * 3, "offset": (0.0,) * 3, "bgr": False},
}

STRATEGIES = ("full", "most", "some", "head")  # what a pretrained base can do (see the table above)
ALL_STRATEGIES = ("scratch",) + STRATEGIES  # and the baseline: the small CNN from random weights
STRATEGY_ADVICE = {
    "full": "large target set, different from ImageNet: retrain everything",
    "most": "large target set, similar to ImageNet: retrain most of the base",
    "some": "small target set, different from ImageNet: retrain the last blocks",
    "head": "small target set, similar to ImageNet: freeze the base, train the head",
}
LARGE_PER_CLASS = 1000  # from about this many labelled images per class, a target set counts as large
FINE_TUNE_LR_FACTOR = 100  # fine-tuning after the head: the learning rate divided by this


def backbone_info(name: str) -> BackboneInfo:
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


def check_strategy(name: str, scratch: bool = False) -> str:
    """``name`` if it is a strategy (``scratch`` too when allowed), else a CourseError listing them."""
    choices = ALL_STRATEGIES if scratch else STRATEGIES
    if name not in choices:
        raise CourseError(f"unknown strategy {name!r}: use one of {', '.join(choices)}")
    return name


def recommend_strategy(images_per_class: int, similar: bool) -> tuple[str, str]:
    """The size x similarity table: ``(strategy, reason)`` for a target data set."""
    large = images_per_class >= LARGE_PER_CLASS
    strategy = {(False, True): "head", (False, False): "some", (True, True): "most", (True, False): "full"}[
        (large, bool(similar))
    ]
    size = f"{images_per_class} images per class is {'large' if large else 'small'} (threshold {LARGE_PER_CLASS})"
    return strategy, f"{size}; {STRATEGY_ADVICE[strategy]}"
