"""The toy models and data the checks build beside a student's code, and the answer keys build too.

Small, seeded and fast: a tiny EfficientNet-Lite with the real block names (lesson 4), a shallow
backbone and a task its features separate (lessons 5 and 6), models whose trainable share is easy
to get wrong (lesson 2), made-up backbone catalogues (lesson 3). They live here, apart from the
lessons' checks, because both the checks and the keys need them: the keys import this module, never
a lesson's checks. A ``@builder`` is what a case's ``Build(...)`` argument calls, in the box and in
the judge alike.
"""

from __future__ import annotations

import numpy as np

from tlcourse.checks.probe import builder

TOY_SIZE = 32  # pixels of lessons 5 and 6's toy images


# --------------------------------------------------------------------------- lesson 2

FRACTION_MODELS = (
    "all-trainable dense net",
    "first layer frozen",
    "conv + BatchNormalization",
    "frozen nested base + head",
)


@builder("fraction_model")
def fraction_model(which: str, width: int = 3, channels: int = 4):
    """Small models whose trainable share of weights is easy to get wrong (frozen layers, BN statistics)."""
    import keras

    if which in ("all-trainable dense net", "first layer frozen"):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(width), keras.layers.Dense(2)])
        model.layers[0].trainable = which == "all-trainable dense net"
        return model
    if which == "conv + BatchNormalization":
        return keras.Sequential(
            [
                keras.Input((8, 8, 3)),
                keras.layers.Conv2D(channels, 3),
                keras.layers.BatchNormalization(),
                keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(2),
            ]
        )
    base = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(channels + 2, 3), keras.layers.BatchNormalization()]
    )
    base.trainable = False
    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    return keras.Model(inputs, keras.layers.Dense(2)(pooled))


# --------------------------------------------------------------------------- lesson 3


@builder("catalogue")
def catalogue(rows: list | None = None):
    """The course's backbone catalogue (``rows=None``) or a made-up one from (name, params, top-1) rows."""
    from tlcourse.backbones import CATALOGUE, BackboneInfo

    if rows is None:
        return dict(CATALOGUE)
    return {n: BackboneInfo(n, n.title(), "tf", 224, 32, p, t, p * 4) for n, p, t in rows}


# --------------------------------------------------------------------------- lesson 4


def toy_lite_model(seed: int = 0, num_classes: int = 2, size: int = 32):
    """A tiny transfer model with EfficientNet-Lite0's block structure and layer names."""
    import keras

    from tlcourse.backbones import Backbone, Preprocess
    from tlcourse.efficientnet_lite import STAGE_STRIDES, BlockSpec, build
    from tlcourse.models import transfer_model

    keras.utils.set_random_seed(seed)
    channels = [4, 4, 6, 6, 8, 8, 10]
    specs, in_ch = [], 4
    for stage, out_ch in enumerate(channels, start=1):
        specs.append(
            BlockSpec(
                index=stage - 1,
                name=f"block{stage}a",
                kernel=3,
                stride=STAGE_STRIDES[stage - 1],
                expand=stage > 1,
                in_channels=in_ch,
                out_channels=out_ch,
            )
        )
        in_ch = out_ch
    base = build("toy_lite", specs, (size, size, 3), include_top=False, head_channels=16, stem_channels=4)
    return transfer_model(Backbone(base, Preprocess("lite", name="toy_preprocess")), num_classes)


def toy_batch(seed: int = 0, n: int = 16, size: int = 32):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (n, size, size, 3)).astype("float32"), rng.integers(0, 2, n).astype("int32")


def base_layers(model) -> list[tuple[str, bool]]:
    """``(name, is BatchNormalization)`` of every layer with weights in the model's base."""
    from tlcourse.freeze import find_base, is_batchnorm

    return [(layer.name, is_batchnorm(layer)) for layer in find_base(model).layers if layer.weights]


# --------------------------------------------------------------------------- lessons 5 and 6


def toy_task(seed: int, n: int, num_classes: int, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Noise images tinted by class (class c leans to its own colour): a task a frozen toy base's
    pooled features separate, so a head trained on them clears the bar and an untrained one does not."""
    rng = np.random.default_rng([seed, {"train": 0, "test": 1}[split]])
    labels = np.arange(n) % num_classes
    rng.shuffle(labels)
    tints = np.array([[220, 40, 40], [40, 40, 220], [40, 220, 40], [220, 220, 40]], dtype=np.float32)[:num_classes]
    noise = rng.uniform(0, 255, (n, TOY_SIZE, TOY_SIZE, 3)).astype(np.float32)
    return 0.25 * noise + 0.75 * tints[labels][:, None, None, :], labels.astype(np.int32)


@builder("toy_backbone")
def toy_backbone(seed: int):
    """A small ``Backbone(model, preprocess)`` like ``load_backbone``'s: two strided convolution stages.

    Shallow on purpose: with random weights a deep base (the toy Lite of lesson 4's checks) washes
    the colour out of its pooled features, and a head could learn nothing from them in seconds.
    """
    import keras

    from tlcourse.backbones import Backbone, Preprocess

    keras.utils.set_random_seed(seed)
    layers = [keras.Input((TOY_SIZE, TOY_SIZE, 3))]
    for name, channels in (("stem", 16), ("head", 32)):
        layers += [
            keras.layers.Conv2D(channels, 3, strides=2, use_bias=False, name=f"{name}_conv"),
            keras.layers.BatchNormalization(name=f"{name}_bn"),
            keras.layers.ReLU(6.0, name=f"{name}_activation"),
        ]
    backbone = Backbone(keras.Sequential(layers, name="toy_base"), Preprocess("lite", name="toy_preprocess"))
    _calibrate(backbone, seed)
    return backbone


def _calibrate(backbone, seed: int) -> None:
    """Give the toy base's BatchNormalization the statistics of its inputs, as pretraining would.

    With random weights and BN's initial statistics (mean 0, variance 1) the features' scale is
    arbitrary (in lesson 4's deeper toy base they end near 1e-9). One pass in training mode with
    momentum 0 stores each layer's batch statistics (of randomly tinted noise, not of the task) as
    its moving averages; the base is then an untrained but well-scaled one.
    """
    import keras

    base, preprocess = backbone
    rng = np.random.default_rng([seed, 2])
    tints = rng.uniform(0, 255, (64, 1, 1, 3))
    images = (0.5 * rng.uniform(0, 255, (64, TOY_SIZE, TOY_SIZE, 3)) + 0.5 * tints).astype(np.float32)
    layers = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.momentum = 0.0
    base(preprocess(images), training=True)
    for layer in layers:
        layer.momentum = 0.99


@builder("toy_task_images")
def _toy_images(seed: int, n: int, num_classes: int):
    return toy_task(seed, n, num_classes)[0]


@builder("toy_task_labels")
def _toy_labels(seed: int, n: int, num_classes: int):
    return toy_task(seed, n, num_classes)[1]
