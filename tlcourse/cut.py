"""Fine-tune the top of a base on activations cached at the cut: the same training, for less.

When the bottom blocks of a base are frozen and BatchNormalization runs in inference mode (it
does: the course keeps BN layers non-trainable), the frozen part maps an image to the same
activations at every epoch. Without augmentation, ``fit`` recomputes them anyway. Here they are
computed once at the cut (the output of the last frozen block), cached in memory and on disk
like pooled features (``tlcourse.features``: keyed by the bottom's weights and architecture, so
by the cut, and by the images), and only the trainable top — the unfrozen blocks, pooling and
the head, sharing their weights with the model — is trained on them. Same batches, same order,
same optimizer object, same dropout: ``tests/test_cut.py`` compares the weights with ``fit``'s.

The saving is bounded by the work above the cut: a step through the whole base costs the
bottom's forward pass plus the top's forward and backward passes; on cached activations only the
latter (``partial_bound``, from ``tlcourse.compute``'s FLOP counts). With augmentation the
activations change every epoch, and ``full`` has nothing frozen: both keep ``fit``.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import keras
import numpy as np

from tlcourse.datasets import ImageData
from tlcourse.errors import CourseError
from tlcourse.features import features_of
from tlcourse.freeze import blocks, find_base
from tlcourse.train import (
    EpochProgress,
    FitResult,
    _plain_history,
    _require_compiled,
    resume_batches,
    vector_batches,
)


class Cut(NamedTuple):
    """A transfer model split at the top of its frozen bottom; both parts share the model's weights."""

    block: str  # the last frozen block
    bottom: keras.Model  # image (pixels 0..255) -> activations at the cut
    top: keras.Model  # activations -> class probabilities (the unfrozen blocks, pooling, head)


def _frozen(layers) -> bool:
    return not any(layer.trainable and layer.weights for layer in layers)


def split_at_cut(model: keras.Model) -> Cut | None:
    """The model cut after its last frozen bottom block; None when nothing at the bottom is frozen.

    Also None when the graph cannot be cut there (a connection that skips over the cut) or the two
    parts do not compute what the model computes (an outer graph other than the course's chain).
    """
    base = find_base(model)
    groups = blocks(model)
    names = list(groups)
    frozen = 0
    while frozen < len(names) and _frozen(groups[names[frozen]]):
        frozen += 1
    if frozen == 0 or frozen == len(names):  # nothing frozen (full), or nothing trains in the base (head)
        return None
    cut_layer = groups[names[frozen - 1]][-1]
    outer = model.layers
    base_index = outer.index(base)
    try:
        bottom_base = keras.Model(base.input, cut_layer.output, name=f"{base.name}_to_{names[frozen - 1]}")
        top_base = keras.Model(cut_layer.output, base.output, name=f"{base.name}_from_{names[frozen]}")
    except ValueError:  # "graph disconnected": something skips over the cut
        return None
    image = keras.Input(shape=model.input_shape[1:], name="image")
    x = image
    for layer in outer[1:base_index]:  # the preprocessing before the base
        x = layer(x)
    bottom = keras.Model(image, bottom_base(x, training=False), name=f"{model.name}_cut_{names[frozen - 1]}")
    activations = keras.Input(shape=cut_layer.output.shape[1:], name="activations")
    y = top_base(activations, training=False)
    for layer in outer[base_index + 1 :]:  # pooling and head
        y = layer(y)
    top = keras.Model(activations, y, name=f"{model.name}_above_{names[frozen - 1]}")
    # The outer model must be the chain the course builds (preprocess, base, pooling, head): check it.
    sample = np.random.default_rng(0).uniform(0, 255, (2, *model.input_shape[1:])).astype("float32")
    want = keras.ops.convert_to_numpy(model(sample, training=False))
    got = keras.ops.convert_to_numpy(top(bottom(sample, training=False), training=False))
    if not np.allclose(got, want, rtol=1e-4, atol=1e-5):
        return None
    return Cut(names[frozen - 1], bottom, top)


def fit_above_cut(
    model: keras.Model,
    data: ImageData,
    epochs: int = 10,
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = True,
    callbacks=(),
    initial_epoch: int = 0,
    cut: Cut | None = None,
    validate: bool = True,
) -> FitResult:
    """``fit(model, data, …)`` without augmentation, computed on activations cached at the cut.

    Trains the model's own trainable weights with the model's own optimizer (compile it as for
    ``fit``: after changing what trains, compile again); the history has ``fit``'s keys.
    Pass the ``cut`` of an earlier call (``split_at_cut(model)``, what trains unchanged) to run
    again without re-tracing its training step: seconds per run on a CPU. ``validate=False``
    skips Keras' own validation pass (for callbacks that score the validation split themselves);
    ``initial_epoch`` resumes an interrupted run on the batches it would have seen (as ``fit``).
    """
    _require_compiled(model)
    cut = cut or split_at_cut(model)
    if cut is None:
        raise CourseError(
            "fit_above_cut needs frozen blocks at the bottom of the base and trainable ones above "
            "(strategies 'some' or 'most'): use fit() for 'full', fit_cached() for 'head'"
        )
    start = time.perf_counter()
    train_x = features_of(cut.bottom, data.train.images, batch_size)
    val_x = features_of(cut.bottom, data.val.images, batch_size) if validate else None
    extract_seconds = time.perf_counter() - start
    if getattr(cut.top, "optimizer", None) is not model.optimizer:  # compiled for this optimizer: keep its step
        cut.top.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"])
    keras.utils.set_random_seed(seed)
    callbacks = list(callbacks)
    if progress:
        callbacks.append(EpochProgress(epochs - initial_epoch, f"fit {model.name} above {cut.block} (cached)"))
    batches = vector_batches(train_x, data.train.labels.astype("int32"), batch_size, shuffle=True, seed=seed)
    history = cut.top.fit(
        resume_batches(batches, initial_epoch),
        validation_data=vector_batches(val_x, data.val.labels.astype("int32"), batch_size) if validate else None,
        epochs=epochs,
        initial_epoch=initial_epoch,
        verbose=0,
        callbacks=callbacks,
        shuffle=False,  # the pipeline shuffles (seeded, every epoch)
    )
    return FitResult(_plain_history(history), time.perf_counter() - start, extract_seconds, {"cut": cut.block})
