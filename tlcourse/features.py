"""Feature vectors from a frozen pretrained base, extracted once and cached.

A frozen base maps the same image to the same vector every time, so lessons that train
many heads on one data set (strategies, seeds, data sizes, classical classifiers) need
the expensive forward pass only once (and ``tlcourse.cut`` caches the activations of a frozen
bottom the same way). Vectors are cached in memory and on disk, keyed
by a fingerprint of the extractor's weights and of the images, so a fine-tuned base or
different images never reuse stale features.
"""

from __future__ import annotations

import hashlib
import json
import weakref

import keras
import numpy as np

from tlcourse.cache import cache_dir, load_arrays, save_arrays

_MEMORY: dict[str, np.ndarray] = {}
_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Feature sets kept in memory, oldest dropped first: pooled vectors are small (N x 1280 float32),
# activations at a cut (tlcourse.cut) are not (1,837 solar cells at 160 px after block5: 82 MB).
_MEMORY_LIMIT_BYTES = 768 * 2**20


def _without_trainable(config):
    """A model config minus the ``trainable`` flags: freezing does not change what a forward pass computes."""
    if isinstance(config, dict):
        return {k: _without_trainable(v) for k, v in config.items() if k != "trainable"}
    if isinstance(config, list):
        return [_without_trainable(v) for v in config]
    return config


def weights_fingerprint(model: keras.Model) -> str:
    """sha1 over the architecture (not what is frozen) and every weight of ``model``."""
    config = _without_trainable(model.get_config())
    h = hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode())
    for w in model.weights:
        h.update(np.ascontiguousarray(keras.ops.convert_to_numpy(w)).tobytes())
    return h.hexdigest()[:20]


def images_fingerprint(images: np.ndarray) -> str:
    h = hashlib.sha1(f"{images.shape}|{images.dtype}".encode())
    h.update(np.ascontiguousarray(images).tobytes())
    return h.hexdigest()[:20]


def _compiled_forward(extractor: keras.Model, sample: np.ndarray):
    """A compiled forward pass of ``extractor``, on its BatchNormalization-folded copy when that agrees.

    The folded copy (``tlcourse.fold``) is about 1.5x faster on a CPU; it is checked against
    the original on ``sample`` and dropped if they differ beyond float rounding.
    """
    import tensorflow as tf

    from tlcourse.fold import fold_batchnorm

    model = extractor
    try:
        folded = fold_batchnorm(extractor)
    except Exception:  # an architecture the folding does not understand: use the original
        folded = None
    if folded is not None and len(sample):
        x = tf.convert_to_tensor(sample[:2], dtype=tf.float32)
        want = keras.ops.convert_to_numpy(extractor(x, training=False))
        got = keras.ops.convert_to_numpy(folded(x, training=False))
        if np.allclose(got, want, rtol=1e-3, atol=1e-3 * (1.0 + float(np.abs(want).max()))):
            model = folded
    shape = tuple(extractor.input_shape[1:])
    if None in shape:
        return tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    # one trace for every batch size (the last batch is usually smaller): tracing costs seconds
    spec = tf.TensorSpec((None, *shape), tf.float32)
    return tf.function(lambda x: model(x, training=False), input_signature=[spec])


def _forward_batches(
    extractor: keras.Model, images: np.ndarray, batch_size: int, desc: str, fingerprint: str | None = None
) -> np.ndarray:
    """The extractor's outputs for ``images``, batch by batch, with a progress bar."""
    import tensorflow as tf
    from tqdm.auto import tqdm

    fingerprint = fingerprint or weights_fingerprint(extractor)
    known = _FORWARD.get(extractor)
    if known is None or known[0] != fingerprint:  # one compiled function per weights: tracing costs seconds
        known = _FORWARD[extractor] = (fingerprint, _compiled_forward(extractor, images[:batch_size]))
    forward = known[1]
    outputs = []
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc=desc, unit="batch", leave=False, disable=len(images) < 512):
        batch = tf.convert_to_tensor(images[start : start + batch_size], dtype=tf.float32)
        outputs.append(forward(batch).numpy())
    if not outputs:
        return np.zeros((0,) + tuple(extractor.output_shape[1:]), np.float32)
    return np.concatenate(outputs)


def features_of(extractor: keras.Model, images: np.ndarray, batch_size: int = 32, use_cache: bool = True) -> np.ndarray:
    """``extractor(images)`` as float32 vectors, from the cache when these weights saw these images."""
    if not use_cache:
        return _forward_batches(extractor, images, batch_size, f"features ({extractor.name})")
    fingerprint = weights_fingerprint(extractor)
    key = f"{extractor.name}-{fingerprint}-{images_fingerprint(images)}"
    if key in _MEMORY:
        return _MEMORY[key]
    path = cache_dir() / "features" / f"{key}.npz"
    stored = load_arrays(path)
    if stored is not None and stored["features"].shape[0] == len(images):
        features = stored["features"]
    else:
        features = _forward_batches(extractor, images, batch_size, f"features ({extractor.name})", fingerprint)
        save_arrays(path, {"features": features})
    _MEMORY[key] = features
    while len(_MEMORY) > 1 and sum(f.nbytes for f in _MEMORY.values()) > _MEMORY_LIMIT_BYTES:
        _MEMORY.pop(next(iter(_MEMORY)))
    return features
