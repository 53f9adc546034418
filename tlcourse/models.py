"""The two kinds of model the course compares: a small CNN from scratch, and transfer.

``transfer_model`` is the standard Keras recipe (Keras guide "Transfer learning &
fine-tuning"): preprocessing, the pretrained base called with ``training=False``,
global average pooling, dropout, a new dense head. The head is its own small
``Sequential`` named ``"head"`` so it can also be trained alone on cached features
(``tlcourse.train.fit_cached``) and still be the head of the full model.
"""

from __future__ import annotations

import weakref

import keras

from tlcourse.backbones import Backbone
from tlcourse.precision import configure

configure()  # mixed precision where switched on (GPU); float32 otherwise


def scratch_cnn(input_shape=(160, 160, 3), num_classes: int = 2, dropout: float = 0.2) -> keras.Model:
    """The seed's small CNN: 3 x (conv 3x3 + max-pool) with 32/64/128 filters, dense 128, dropout."""
    layers = [keras.Input(shape=input_shape), keras.layers.Rescaling(1 / 255, name="rescale")]
    for i, filters in enumerate((32, 64, 128), start=1):
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}"),
            keras.layers.MaxPooling2D(name=f"pool{i}"),
        ]
    layers += [
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(128, activation="relu", name="dense"),
        keras.layers.Dropout(dropout, name="dropout"),
        keras.layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32"),
    ]
    return keras.Sequential(layers, name="scratch_cnn")


def classifier_head(num_classes: int, dropout: float = 0.2, input_dim: int | None = None) -> keras.Sequential:
    """Dropout then a dense softmax layer: the new classifier put on a pretrained base."""
    layers = [keras.Input(shape=(input_dim,))] if input_dim else []
    layers += [keras.layers.Dropout(dropout), keras.layers.Dense(num_classes, activation="softmax", dtype="float32")]
    return keras.Sequential(layers, name="head")


def transfer_model(
    backbone: Backbone, num_classes: int, dropout: float = 0.2, strategy: str = "head", head: keras.Model | None = None
) -> keras.Model:
    """Pretrained base + pooling + dropout + new head; ``strategy`` sets what trains (default: head only).

    ``head`` reuses a trained head (e.g. one restored from a checkpoint) instead of a new one.

    Whatever the strategy, BatchNormalization layers stay non-trainable: under ``fit`` in
    Keras 3 that, not ``training=False``, is what keeps them in inference mode.
    """
    from tlcourse.freeze import apply_strategy

    base, preprocess = backbone
    inputs = keras.Input(shape=base.input_shape[1:], name="image")
    x = preprocess(inputs)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = (head or classifier_head(num_classes, dropout, input_dim=x.shape[-1]))(x)
    model = keras.Model(inputs, outputs, name=f"{base.name}_transfer")
    apply_strategy(model, strategy)
    return model


_EXTRACTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def feature_extractor(model: keras.Model) -> keras.Model:
    """The part of a transfer model up to the pooled feature vector (shares its weights)."""
    if model not in _EXTRACTORS:
        _EXTRACTORS[model] = keras.Model(model.inputs, model.get_layer("pool").output, name=f"{model.name}_features")
    return _EXTRACTORS[model]
