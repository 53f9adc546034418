"""The course's vocabulary: the backbones it knows and the fine-tuning strategies it teaches.

One place, importing neither Keras nor NumPy, so that what only needs a name (the CLI's
parser, ``tlcourse --help``, a check that validates a strategy) never loads TensorFlow.
``tlcourse.backbones``, ``tlcourse.freeze``, the training engine (``tlcourse.experiments``), the
CLI and the checks read their names, sizes, advice and the default recipe from here.

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
SCHEDULES = ("constant", "cosine")  # a fine-tuning run's learning rate over its epochs

# Lesson 4's single run, the defaults of ``tlcourse fit`` and of ``Recipe``: see ``Recipe``.
IMAGE_SIZE = 160  # lesson 4's GRID_IMAGE_SIZE (section 6, the strategy experiment)
TEST_FRACTION, TEST_SEED = 0.5, 0  # section 6's test split: with_test_split(0.5, seed=0) of the validation images


@dataclass(frozen=True)
class Recipe:
    """How one model is trained end to end by ``tlcourse.experiments.train_recipe`` (and ``tlcourse fit``).

    The defaults are lesson 4's recipe (its master notebook in ``solutions/``: its parameters
    cell and section 6, whose headline numbers BENCHMARKS.md §10 records):

    - ``strategy="some"``: what section 6 unfreezes beside the head (``GRID_STRATEGIES``);
    - ``head_epochs=20``, ``head_lr=1e-3``: phase 1, the new head on the frozen base (``HEAD_EPOCHS``,
      ``HEAD_LR``), the best validation epoch kept;
    - ``fine_tune_epochs=5``, ``schedule="cosine"``: phase 2 (``GRID_EPOCHS``, ``GRID_SCHEDULE``: the rate
      falls along a cosine, ``tlcourse.experiments.cosine_schedule``), the best validation epoch kept;
    - ``fine_tune_lr=1e-4``: the rate the lesson's headline run chose on validation from ``FINE_TUNE_LRS``
      (1e-3, 1e-4, 1e-5) for the solar cells (BENCHMARKS.md §10, 2026-12-05), which the lesson then fixes
      for Fashion-MNIST (``LARGE_LR``); a new optimizer at this rate after the head, 10x below ``head_lr``;
    - ``augment=False``: section 6 trains on activations cached at the cut, without augmentation;
      ``True`` trains every phase through the base on augmented images, with the same rules otherwise;
    - ``batch_size=32``: the course's training functions' default (``tlcourse.train``).

    The image size (``IMAGE_SIZE``) and the test split (``TEST_FRACTION``, ``TEST_SEED``) belong to the
    data; they are above. ``scratch`` trains the small CNN from random weights for ``head_epochs``
    epochs at ``head_lr`` (its one phase; it has no fine-tuning phase); ``head`` stops after phase 1.
    """

    strategy: str = "some"
    backbone: str = DEFAULT_BACKBONE
    head_epochs: int = 20
    fine_tune_epochs: int = 5
    head_lr: float = 1e-3
    fine_tune_lr: float = 1e-4
    schedule: str = "cosine"
    augment: bool = False
    seed: int = 0
    batch_size: int = 32

    def __post_init__(self):
        check_strategy(self.strategy, scratch=True)
        if self.strategy != "scratch":
            backbone_info(self.backbone)
        if self.head_epochs < 1 or self.fine_tune_epochs < 0 or self.batch_size < 1:
            raise CourseError(
                "epochs must be at least 1 (fine-tuning: 0 or more) and the batch size at least 1, got "
                f"head_epochs={self.head_epochs}, fine_tune_epochs={self.fine_tune_epochs}, "
                f"batch_size={self.batch_size}"
            )
        for name in ("head_lr", "fine_tune_lr"):
            if not (0 < getattr(self, name) < 1):
                raise CourseError(f"learning rate {name}={getattr(self, name)} is outside (0, 1): try 1e-3 or 1e-4")
        if self.schedule not in SCHEDULES:
            raise CourseError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")

    @property
    def fine_tunes(self) -> bool:
        """True when a phase 2 runs: a pretrained strategy that unfreezes something, for at least one epoch."""
        return self.strategy not in ("scratch", "head") and self.fine_tune_epochs > 0


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
