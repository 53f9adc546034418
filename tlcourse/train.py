"""Training with timing and a progress bar, and the fast path for a frozen base.

When the base is frozen its output for an image never changes, so pushing every image
through it every epoch repeats the same work. ``fit_cached`` extracts the pooled features
once and trains the *same* head (same layers, optimizer, loss) on the vectors; the full
model then holds the trained head. Augmentation is the one thing this path cannot do.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from tlcourse.cache import atomic_write_bytes, save_model
from tlcourse.datasets import ImageData
from tlcourse.errors import CourseError
from tlcourse.features import features_of
from tlcourse.freeze import find_base
from tlcourse.models import feature_extractor


@dataclass
class FitResult:
    """What a training run produced: per-epoch history and wall-clock seconds."""

    history: dict[str, list[float]]
    seconds: float
    extract_seconds: float = 0.0
    notes: dict = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return len(self.history.get("loss", []))

    @property
    def val_accuracy(self) -> float:
        """Validation accuracy after the last epoch."""
        return float(self.history["val_accuracy"][-1])

    @property
    def best_val_accuracy(self) -> float:
        return float(max(self.history["val_accuracy"]))

    def epochs_to(self, accuracy: float) -> int | None:
        """First epoch (1-based) whose validation accuracy reaches ``accuracy``, or None."""
        hits = [i + 1 for i, a in enumerate(self.history["val_accuracy"]) if a >= accuracy]
        return hits[0] if hits else None


class EpochProgress(keras.callbacks.Callback):
    """One progress bar over epochs, with the latest loss and accuracies (tqdm)."""

    def __init__(self, epochs: int, desc: str = "training"):
        super().__init__()
        self.epochs, self.desc, self.bar = epochs, desc, None

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.epochs, desc=self.desc, unit="epoch", leave=False)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if "acc" in k or k == "loss"})
        self.bar.update(1)

    def on_train_end(self, logs=None):
        self.bar.close()


def compile_classifier(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    """Adam, sparse categorical cross-entropy, accuracy: how every course model is compiled."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def compile_head(model: keras.Model) -> keras.Model:
    """Compile a transfer model's head alone, as the model is compiled (a new optimizer like its own)."""
    head = model.get_layer("head")
    head.compile(
        optimizer=type(model.optimizer).from_config(model.optimizer.get_config()),
        loss=model.loss,
        metrics=["accuracy"],
    )
    return head


def _require_compiled(model: keras.Model) -> None:
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise CourseError(
            f"model {model.name!r} is not compiled: call model.compile(...) first "
            "(and again after changing what is trainable)"
        )


def fit(
    model: keras.Model,
    data: ImageData,
    epochs: int = 10,
    batch_size: int = 32,
    augment: bool = False,
    seed: int = 0,
    callbacks=(),
    progress: bool = True,
    initial_epoch: int = 0,
    validate: bool = True,
) -> FitResult:
    """``model.fit`` on ``data`` with validation, wall time and an epoch progress bar.

    ``initial_epoch`` resumes an interrupted run: epochs ``initial_epoch..epochs-1`` run, on the
    batches an uninterrupted run would have drawn (``resume_batches``; with ``augment``, the
    resumed epochs draw other random transformations). ``validate=False`` skips Keras' validation
    pass (for callbacks that score validation themselves).
    """
    _require_compiled(model)
    keras.utils.set_random_seed(seed)
    train = resume_batches(data.pipeline("train", batch_size, augment=augment, seed=seed), initial_epoch)
    val = data.pipeline("val", batch_size) if validate else None
    callbacks = list(callbacks) + ([EpochProgress(epochs - initial_epoch, f"fit {model.name}")] if progress else [])
    start = time.perf_counter()
    history = model.fit(
        train,
        validation_data=val,
        epochs=epochs,
        initial_epoch=initial_epoch,
        verbose=0,
        callbacks=callbacks,
        shuffle=False,
    )
    return FitResult(_plain_history(history), time.perf_counter() - start)


# Keras 3.15's fit makes two iterators of a training set of known length per epoch: the one the
# epoch trains on, and one made ahead when the epoch ends (the next epoch makes its own anyway).
ITERATORS_PER_EPOCH = 2


def resume_batches(dataset, initial_epoch: int):
    """``dataset`` (reshuffled at every iteration) as a run resumed at ``initial_epoch`` must see it.

    Each new iterator of a ``shuffle(..., seed, reshuffle_each_iteration=True)`` pipeline draws the
    next order of the seed's sequence, so epoch ``e`` of a run trains on the order drawn by the
    iterator ``fit`` makes for it (``ITERATORS_PER_EPOCH * e`` iterators before it). A resumed run
    makes the iterators the epochs before it made, unused, so it trains on the same batches as an
    uninterrupted run (``tests/test_resume.py`` checks the result; it fails if Keras changes this).
    """
    for _ in range(ITERATORS_PER_EPOCH * initial_epoch):
        iter(dataset)
    return dataset


def _plain_history(history) -> dict[str, list[float]]:
    return {k: [float(v) for v in vs] for k, vs in history.history.items()}


def extract_features(model: keras.Model, images: np.ndarray, use_cache: bool = True) -> np.ndarray:
    """Pooled feature vectors of ``images`` (pixels 0..255) from a transfer model (cached)."""
    return features_of(feature_extractor(model), images, use_cache=use_cache)


def _base_is_frozen(model: keras.Model) -> bool:
    base = find_base(model)
    return not base.trainable or not base.trainable_weights


def vector_batches(x: np.ndarray, y: np.ndarray, batch_size: int = 32, shuffle: bool = False, seed: int = 0):
    """Feature vectors and labels as a cached ``tf.data`` pipeline, reshuffled every epoch.

    On a few hundred vectors an epoch of the head is mostly Keras' fixed cost per epoch;
    from NumPy arrays that was about 80 ms per epoch with validation, from this pipeline
    about 35 ms (2 CPU cores), so 20 epochs on cached features cost less than the extraction.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((np.asarray(x, np.float32), np.asarray(y))).cache()
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit_cached(
    model: keras.Model,
    data: ImageData,
    epochs: int = 10,
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = True,
    callbacks=(),
    initial_epoch: int = 0,
    validate: bool = True,
) -> FitResult:
    """Train a frozen-base transfer model's head on features extracted once.

    Same head, optimizer and loss as ``fit`` would use; much faster after the first epoch.
    ``initial_epoch`` resumes an interrupted run (as for ``fit``): the head must then be compiled
    already (``compile_head``, its optimizer state restored), and keeps its optimizer; otherwise it
    is compiled here with a new optimizer like the model's. ``validate=False`` as for ``fit``.
    """
    _require_compiled(model)
    if not _base_is_frozen(model):
        raise CourseError("fit_cached needs a frozen base (base.trainable = False): use fit() for fine-tuning")
    start = time.perf_counter()
    train_x = extract_features(model, data.train.images)
    val_x = extract_features(model, data.val.images) if validate else None
    extract_seconds = time.perf_counter() - start
    head = model.get_layer("head")
    if not (getattr(head, "compiled", False) and initial_epoch > 0):
        compile_head(model)
    keras.utils.set_random_seed(seed)
    callbacks = list(callbacks)
    if progress:
        callbacks.append(EpochProgress(epochs - initial_epoch, f"fit head of {model.name} (cached features)"))
    batches = vector_batches(train_x, data.train.labels, batch_size, shuffle=True, seed=seed)
    history = head.fit(
        resume_batches(batches, initial_epoch),
        validation_data=vector_batches(val_x, data.val.labels, batch_size) if validate else None,
        epochs=epochs,
        initial_epoch=initial_epoch,
        verbose=0,
        callbacks=callbacks,
        shuffle=False,  # the pipeline shuffles (seeded, every epoch)
    )
    return FitResult(_plain_history(history), time.perf_counter() - start, extract_seconds)


def evaluate(model: keras.Model, data: ImageData, split: str = "val", batch_size: int = 64) -> dict[str, float]:
    """Loss and accuracy of ``model`` on a split, plus the predicted class of every image."""
    part = data.split(split)
    probs = model.predict(part.images.astype(np.float32), batch_size=batch_size, verbose=0)
    predicted = probs.argmax(axis=1)
    return {"accuracy": float((predicted == part.labels).mean()), "predicted": predicted, "probabilities": probs}


def save_run(model: keras.Model, history: dict, summary: dict, out: Path) -> None:
    """Model, history and summary of a run in ``out`` (each file written atomically)."""
    out = Path(out)
    save_model(model, out / "model.keras")
    atomic_write_bytes(out / "history.json", json.dumps(history, indent=1).encode())
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
