"""The course's one training engine: transfer models (and the scratch CNN) trained the way lesson 4 teaches.

One run (``train_recipe(data, Recipe(...))``: ``tlcourse fit``, ``tlcourse bench``, lesson 1) and the
lessons' many-run experiments (``FineTuneExperiment``: ``head(seed)`` and ``run(strategy, lr, epochs,
seed)``; ``ScratchExperiment``: lessons 4–6) are the same code. Done by hand an experiment is 40–60
lines per lesson (snapshot and restore weights and optimizer state, score, pick the best epoch,
average over seeds); here it is one call per run, so a lesson's cell shows the experiment, not its
plumbing. What every run obeys:

- **Two phases, as lesson 4 teaches.** Phase 1 trains a new head on the frozen base; phase 2
  unfreezes the strategy's blocks (``some``/``most``/``full``: ``tlcourse.freeze.apply_strategy``,
  BatchNormalization stays frozen), compiles again with a **new** optimizer at a lower learning rate,
  optionally falling along a cosine (``cosine_schedule``), and starts from the seed's trained head.
- **Choices on validation data, numbers on test data.** Each run keeps the weights of its best
  epoch by validation balanced accuracy (``keras.callbacks.EarlyStopping`` with
  ``restore_best_weights``); learning rates are compared on validation scores too. By default a run
  trains all its epochs; with ``patience=k`` it stops once k epochs in a row have not beaten its best
  (``Run.epochs_trained`` says where), and still keeps the best epoch's weights. The test split
  (``ImageData.with_test_split``) is scored once per run, after every choice, and never chooses.
- **Only what the run varies differs.** A run starts as if its model had just been built and
  compiled (pretrained weights, the seed's trained head or a random one, a fresh optimizer
  state). Models and their training steps are built once per strategy and restored between runs,
  because tracing a training step costs seconds on a CPU.
- **Cheap where it is the same computation.** The head trains on pooled features extracted once
  (``fit_cached``); ``some`` and ``most`` train on activations cached at the cut (``fit_above_cut``:
  the same updates as through the base, without augmentation); ``full`` goes through the base.
  ``augment=True`` is an option of the same runs: every phase then trains through the base on
  augmented images (they change every epoch, so nothing can be cached), with the same rules otherwise.
- **Nothing lost when a run dies.** With a checkpoint folder (``checkpoint_dir``), every epoch of every
  run is saved (``tlcourse.checkpoint``): its weights, its optimizer's state, its history, and the best
  epoch so far (score, epoch and weights). ``resume=True`` skips finished runs and continues an
  interrupted one from its last completed epoch, on the batches, dropout masks and updates of an
  uninterrupted run, so it keeps the same best epoch and ends with the same numbers (with
  augmentation, the resumed epochs draw other random transformations).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import keras
import numpy as np

from tlcourse.backbones import load_backbone
from tlcourse.catalogue import DEFAULT_BACKBONE, SCHEDULES, Recipe, check_strategy
from tlcourse.checkpoint import Checkpointer
from tlcourse.cut import Cut, fit_above_cut, split_at_cut
from tlcourse.datasets import ImageData
from tlcourse.errors import CourseError
from tlcourse.features import features_of, images_fingerprint
from tlcourse.freeze import apply_strategy
from tlcourse.models import classifier_head, scratch_cnn, transfer_model
from tlcourse.train import FitResult, compile_classifier, compile_head, extract_features, fit, fit_cached

HEADS = ("trained", "random")  # what a fine-tuning run starts from: the seed's phase-1 head, or none
__all__ = [
    "HEADS",
    "SCHEDULES",
    "FineTuneExperiment",
    "Gain",
    "Recipe",
    "Run",
    "ScratchExperiment",
    "Scores",
    "Trained",
    "cosine_schedule",
    "mean_se",
    "paired_gain",
    "scores",
    "train_recipe",
]


def cosine_schedule(learning_rate: float, epochs: int):
    """``LearningRateScheduler``'s function: ``learning_rate`` at the first epoch, halfway down a cosine to 0
    at ``epochs / 2``, about 10 % of it at the last of 5 epochs."""
    import math

    return lambda epoch, _lr: learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


@dataclass(frozen=True)
class Scores:
    """Accuracy and balanced accuracy (mean recall over classes: 0.5 is chance for two) on n images."""

    accuracy: float
    balanced: float
    n: int

    @property
    def se(self) -> float:
        """The binomial standard error of the accuracy, sqrt(p(1-p)/n): the test set's own noise."""
        return float(np.sqrt(self.accuracy * (1 - self.accuracy) / max(self.n, 1)))


def scores(labels: np.ndarray, predicted: np.ndarray) -> Scores:
    """Accuracy and balanced accuracy of predicted classes (classes absent from ``labels`` are ignored)."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    if labels.shape != predicted.shape or not len(labels):
        raise CourseError(f"scores need as many predictions as labels, got {predicted.shape} for {labels.shape}")
    recalls = [np.mean(predicted[labels == c] == c) for c in np.unique(labels)]
    return Scores(float(np.mean(predicted == labels)), float(np.mean(recalls)), len(labels))


def mean_se(values) -> tuple[float, float]:
    """Mean and standard error of the mean (sample standard deviation / sqrt(n); 0 for one value)."""
    values = np.asarray(list(values), dtype=float)
    if not len(values):
        raise CourseError("mean_se needs at least one value")
    se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    return float(np.mean(values)), se


@dataclass(frozen=True)
class Gain:
    """How much B beats A in balanced accuracy on a test set, with both sources of noise.

    ``se_seeds``: the spread of the paired differences over seeds; ``se_test``: the test set's
    sampling error of the seed-averaged difference (a paired bootstrap over test images, per class).
    ``se`` combines both (their root sum of squares, a cautious choice: they overlap a little).
    """

    mean: float
    se_seeds: float
    se_test: float

    @property
    def se(self) -> float:
        return float(np.hypot(self.se_seeds, self.se_test))

    @property
    def in_se(self) -> float:
        """The gain in standard errors: beyond about ±2 it is evidence, within it noise."""
        if self.se > 0:
            return self.mean / self.se
        return 0.0 if self.mean == 0 else float("inf") * np.sign(self.mean)  # no noise measured (one seed, no spread)


def _balanced(labels: np.ndarray, predicted: np.ndarray, classes: np.ndarray) -> float:
    return float(np.mean([np.mean(predicted[labels == c] == c) for c in classes]))


def paired_gain(labels, predicted_a, predicted_b, resamples: int = 2000, seed: int = 0) -> Gain:
    """Balanced accuracy of B minus A: ``predicted_a`` and ``predicted_b`` hold one array per seed, same test set."""
    labels = np.asarray(labels)
    a, b = [np.asarray(p) for p in predicted_a], [np.asarray(p) for p in predicted_b]
    if len(a) != len(b) or not a or any(p.shape != labels.shape for p in a + b):
        raise CourseError("paired_gain needs the same number of seeds for A and B, one prediction per test label")
    classes = np.unique(labels)
    diffs = [_balanced(labels, pb, classes) - _balanced(labels, pa, classes) for pa, pb in zip(a, b)]
    mean, se_seeds = mean_se(diffs)
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(labels == c) for c in classes]
    boot = []
    for _ in range(resamples):
        idx = np.concatenate([rng.choice(members, len(members)) for members in by_class])
        y = labels[idx]
        boot.append(np.mean([_balanced(y, pb[idx], classes) - _balanced(y, pa[idx], classes) for pa, pb in zip(a, b)]))
    return Gain(mean, se_seeds, float(np.std(boot)))


@dataclass
class Run:
    """One training run: its settings, curves, the epoch kept, and its scores there."""

    strategy: str
    learning_rate: float  # the first epoch's (a cosine schedule lowers it after)
    seed: int
    head: str
    history: dict[str, list[float]]
    best_epoch: int  # 1-based: the epoch whose weights were kept (best validation balanced accuracy)
    val: Scores
    test: Scores | None
    test_predicted: np.ndarray | None = field(repr=False, default=None)
    seconds: float = 0.0  # the run's wall time, feature extraction included where it extracted any
    extract_seconds: float = 0.0  # of which spent computing features (0 when they came from the cache)
    schedule: str = "constant"  # the learning rate over the epochs (SCHEDULES)

    @property
    def epochs_trained(self) -> int:
        """How many epochs the run trained: all it was given, or fewer where ``patience`` stopped it."""
        return len(self.history.get("val_balanced_accuracy", []))


class _ValidationBalanced(keras.callbacks.Callback):
    """Scores the validation split once per epoch: ``val_loss``, ``val_accuracy`` and
    ``val_balanced_accuracy`` into the epoch's logs (before EarlyStopping reads them). The runs
    train with ``validate=False``, so Keras does not score the same images a second time."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        super().__init__()
        self.x, self.y = x, np.asarray(y)

    def on_epoch_end(self, epoch, logs=None):
        probabilities = self.model.predict(self.x, batch_size=128, verbose=0)
        predicted = probabilities.argmax(axis=1)
        found = probabilities[np.arange(len(self.y)), self.y]
        logs["val_loss"] = float(-np.mean(np.log(np.clip(found, 1e-7, 1.0))))
        logs["val_accuracy"] = float(np.mean(predicted == self.y))
        logs["val_balanced_accuracy"] = scores(self.y, predicted).balanced


class _KeepBest(keras.callbacks.EarlyStopping):
    """Keeps the best epoch's weights (by validation balanced accuracy) and puts them back at the end.

    ``EarlyStopping`` with a patience of every epoch (``patience=None``): it never stops a run early;
    with ``patience=k`` it stops the run once k epochs in a row have not beaten the best. ``resumed`` (a
    checkpoint's best score, its epoch, epochs since, and its weights) continues the choice of an
    interrupted run, so the best epoch is chosen over all its epochs, before and after the kill.
    """

    def __init__(self, epochs: int, patience: int | None = None):
        patience = epochs if patience is None else patience
        super().__init__(monitor="val_balanced_accuracy", mode="max", patience=patience, restore_best_weights=True)
        self.resumed: tuple[dict, list[np.ndarray]] | None = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)  # forgets everything: a new fit
        if self.resumed is not None:
            state, weights = self.resumed
            self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
            self.best_weights = list(weights)

    def state(self) -> dict:
        return {
            "best": None if self.best is None else float(self.best),
            "best_epoch": self.best_epoch,
            "wait": self.wait,
        }


def _keep_best(
    x_val: np.ndarray, y_val: np.ndarray, epochs: int, patience: int | None = None
) -> list[keras.callbacks.Callback]:
    """Score every epoch on validation data and keep the best epoch's weights at the end."""
    return [_ValidationBalanced(x_val, y_val), _KeepBest(epochs, patience)]


class _SaveEpoch(keras.callbacks.Callback):
    """After each epoch (once the best-epoch choice has seen it): the run's checkpoint."""

    def __init__(self, checkpoint: Checkpointer, key: str, keep: _KeepBest, prior: dict, seconds: float):
        super().__init__()
        self.checkpoint, self.key, self.keep = checkpoint, key, keep
        self.history = {k: list(v) for k, v in prior.items()}
        self.seconds, self.start = seconds, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):  # Keras counts epochs from initial_epoch: epoch + 1 are done
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        state = {
            "epochs_done": epoch + 1,
            "complete": False,
            "history": self.history,
            "seconds": self.seconds + time.perf_counter() - self.start,
            **self.keep.state(),
        }
        arrays = {
            "model": [v.numpy() for v in self.model.variables],
            "optimizer": [v.numpy() for v in self.model.optimizer.variables],
            "best": list(self.keep.best_weights or []),
        }
        self.checkpoint.save(self.key, state, arrays)


def _fit_kept(
    train,
    model: keras.Model,
    fitted: keras.Model,
    inputs,
    data: ImageData,
    epochs: int,
    seed: int,
    batch_size: int,
    progress: bool,
    callbacks: list | None = None,
    checkpoint: Checkpointer | None = None,
    key: str = "",
    optimizer=None,
    patience: int | None = None,
) -> FitResult:
    """``train(model, data, ...)`` keeping the best validation epoch: the engine's one training loop.

    ``fitted`` is what ``train`` fits (the head on cached features, the top above the cut, or
    ``model`` itself); ``inputs(split)`` is what it takes. With a ``checkpoint`` every epoch is saved
    under ``key``; a saved run is resumed (``optimizer()`` returns the optimizer, built, that the
    resumed epochs will use) or, when complete, restored without training. ``patience``: stop once
    that many epochs in a row have not beaten the best (None: train every epoch).
    """
    callbacks = list(callbacks or []) + _keep_best(inputs(data.val), data.val.labels, epochs, patience)
    keep = callbacks[-1]
    prior, done, prior_seconds = {}, 0, 0.0
    saved = checkpoint.saved(key) if checkpoint else None
    if saved is not None:
        state, arrays = saved
        prior, done, prior_seconds = state["history"], state["epochs_done"], state["seconds"]
        _assign(fitted.variables, arrays["model"])
        stopped = patience is not None and state.get("wait", 0) >= patience  # killed after patience ran out
        if state["complete"] or done >= epochs or stopped:  # nothing left to train: the kept epoch's weights
            if not state["complete"]:
                fitted.set_weights(arrays["best"])
            return FitResult(prior, prior_seconds, state.get("extract_seconds", 0.0))
        opt = optimizer()
        if not opt.built:
            opt.build(fitted.trainable_variables)
        _assign(opt.variables, arrays["optimizer"])
        keep.resumed = (state, arrays["best"])
    if checkpoint is not None:
        callbacks.append(_SaveEpoch(checkpoint, key, keep, prior, prior_seconds))
    result = train(
        model,
        data,
        epochs,
        batch_size,
        seed=seed,
        progress=progress,
        callbacks=callbacks,
        validate=False,
        initial_epoch=done,
    )
    if done:
        history = {k: prior.get(k, []) + v for k, v in result.history.items()}
        result = FitResult(history, prior_seconds + result.seconds, result.extract_seconds, result.notes)
    if checkpoint is not None:  # finished: the kept epoch's weights, for a resumed experiment to skip this run
        state = {"epochs_done": epochs, "complete": True, "history": result.history, "seconds": result.seconds}
        state |= {"extract_seconds": result.extract_seconds, **keep.state()}
        checkpoint.save(key, state, {"model": [v.numpy() for v in fitted.variables]})
    return result


def _assign(variables, values) -> None:
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def _seed_dropout(model: keras.Model, seed: int) -> None:
    """Dropout's random state from ``seed`` alone, not from how many models were built before."""
    states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    for i, state in enumerate(states):
        state.assign(np.array([seed * 1009 + i, 0], dtype=state.dtype))


def _best_epoch(history: dict[str, list[float]]) -> int:
    return int(np.argmax(history["val_balanced_accuracy"])) + 1  # EarlyStopping keeps the first best


def _data_fingerprint(data: ImageData) -> dict:
    """What a checkpoint must have been made on: the same classes, image size and images in every split."""
    splits = {"train": data.train, "val": data.val, "test": data.test}
    return {
        "data": data.name,
        "classes": list(data.class_names),
        "image_size": data.image_size,
        **{
            f"{name}_images": None if part is None else f"{len(part)} {images_fingerprint(part.images)}"
            for name, part in splits.items()
        },
        **{
            f"{name}_labels": None if part is None else images_fingerprint(np.asarray(part.labels))
            for name, part in splits.items()
        },
    }


def _patience_setting(patience: int | None) -> dict:
    """``patience`` as a checkpoint setting: absent by default, so runs saved before it existed still resume."""
    if patience is None:
        return {}
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise CourseError(f"patience must be a whole number of epochs, at least 1 (or None), got {patience!r}")
    return {"patience": patience}


def _checkpointer(checkpoint_dir, resume: bool, settings: dict, data: ImageData) -> Checkpointer | None:
    """The checkpoint of an experiment with these settings on ``data`` (None without a folder)."""
    if checkpoint_dir is None:
        if resume:
            raise CourseError("resume=True needs the checkpoint_dir to resume from")
        return None
    return Checkpointer(Path(checkpoint_dir), {**settings, **_data_fingerprint(data)}, resume)


class FineTuneExperiment:
    """Runs of one backbone on one data set: ``head(seed)`` and ``run(strategy, lr, epochs, seed)``.

    ``data`` needs a test split (``data.with_test_split()``) for test scores; without one, runs
    report validation scores only. ``augment=True`` trains every run through the base on augmented
    images (the head too), with the same rules otherwise. With ``checkpoint_dir`` every epoch of
    every run is checkpointed; ``resume=True`` continues the experiment saved there (module doc).
    ``patience=k`` stops every run (head and phase 2) once k epochs in a row have not beaten its best
    validation epoch; by default (``None``) each trains all its epochs.
    """

    def __init__(
        self,
        data: ImageData,
        backbone: str = DEFAULT_BACKBONE,
        head_epochs: int = 20,
        head_lr: float = 1e-3,
        batch_size: int = 32,
        progress: bool = True,
        augment: bool = False,
        checkpoint_dir: Path | None = None,
        resume: bool = False,
        patience: int | None = None,
    ):
        self.data, self.backbone, self.batch_size, self.progress = data, backbone, batch_size, progress
        self.head_epochs, self.head_lr, self.augment, self.patience = head_epochs, head_lr, augment, patience
        settings = {"kind": "transfer", "backbone": backbone, "head_epochs": head_epochs, "head_lr": head_lr}
        settings |= {"batch_size": batch_size, "augment": augment} | _patience_setting(patience)
        self._checkpoint = _checkpointer(checkpoint_dir, resume, settings, data)
        self._phase1 = self._build()
        self._phase1_state = [v.numpy() for v in self._phase1.variables]
        self._heads: dict[int, Run] = {}
        self._head_weights: dict[int, list[np.ndarray]] = {}
        self._head_state: dict[int, list[np.ndarray]] = {}  # the head's variables, its dropout's state too
        self._models: dict[str, tuple[keras.Model, Cut | None, list, list]] = {}
        self.model: keras.Model | None = None  # the model holding the kept weights of the latest run
        self.cut: Cut | None = None  # where the latest run was cut (None: it trained through the base)

    def _build(self) -> keras.Model:
        return transfer_model(load_backbone(self.backbone, self.data.input_shape), self.data.num_classes)

    def _random_head(self, seed: int) -> list[np.ndarray]:
        """A freshly initialised head, drawn by ``seed`` (what ``transfer_model`` would start from)."""
        keras.utils.set_random_seed(seed)
        head = self._phase1.get_layer("head")
        fresh = classifier_head(self.data.num_classes, head.layers[0].rate, input_dim=head.input_shape[-1])
        return fresh.get_weights()

    def head(self, seed: int = 0) -> Run:
        """Phase 1 for ``seed``: the new head on the frozen base (cached features); computed once per seed."""
        if seed in self._heads:
            _assign(self._phase1.get_layer("head").variables, self._head_state[seed])  # the model holds it again
            self.model, self.cut = self._phase1, None
            return self._heads[seed]
        model, data = self._phase1, self.data
        _assign(model.variables, self._phase1_state)
        _seed_dropout(model, seed)
        model.get_layer("head").set_weights(self._random_head(seed))
        compile_classifier(model, self.head_lr)
        if self.augment:  # augmented images through the frozen base, every epoch
            fitted, inputs, train = model, _pixels, partial(fit, augment=True)
        else:
            fitted, train = model.get_layer("head"), fit_cached
            inputs = lambda split: extract_features(model, split.images)  # noqa: E731
        result = _fit_kept(
            train,
            model,
            fitted,
            inputs,
            data,
            self.head_epochs,
            seed,
            self.batch_size,
            self.progress,
            checkpoint=self._checkpoint,
            key=f"head-seed{seed}",
            optimizer=(lambda: model.optimizer) if self.augment else (lambda: compile_head(model).optimizer),
            patience=self.patience,
        )
        head = model.get_layer("head")
        self._head_weights[seed] = head.get_weights()
        self._head_state[seed] = [v.numpy() for v in head.variables]
        run = self._finish("head", self.head_lr, seed, "trained", result.history, result.seconds, fitted, inputs)
        run.extract_seconds = result.extract_seconds
        self._heads[seed] = run
        self.model, self.cut = model, None
        return run

    def _strategy_model(self, strategy: str):
        """The strategy's model, compiled once, with its starting weights and optimizer state."""
        if strategy not in self._models:
            model = self._build()
            apply_strategy(model, strategy)  # BatchNormalization stays frozen
            compile_classifier(model, self.head_lr)  # the learning rate is set per run
            model.optimizer.build(model.trainable_variables)
            weights = [v.numpy() for v in model.variables]
            state = [v.numpy() for v in model.optimizer.variables]
            cut = None if self.augment else split_at_cut(model)  # augmented images change every activation
            self._models[strategy] = (model, cut, weights, state)
        return self._models[strategy]

    def run(
        self,
        strategy: str,
        learning_rate: float,
        epochs: int,
        seed: int = 0,
        head: str = "trained",
        schedule: str = "constant",
    ) -> Run:
        """Fine-tune ``strategy`` from the seed's trained head (or a ``"random"`` one) for ``epochs`` epochs.

        The model starts as built and compiled anew: a new optimizer state at ``learning_rate``.
        ``schedule="cosine"`` lowers the learning rate epoch by epoch along a cosine (``cosine_schedule``):
        large steps first, small ones at the end, where a constant rate keeps the weights jumping
        between epochs.
        """
        check_strategy(strategy)
        if strategy == "head":
            return self.head(seed)
        if head not in HEADS:
            raise CourseError(f"head must be one of {HEADS}, got {head!r}")
        if not (0 < learning_rate < 1):
            raise CourseError(f"learning rate {learning_rate} is outside (0, 1): try 1e-4")
        if schedule not in SCHEDULES:
            raise CourseError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        head_weights = self._head_weights_for(seed) if head == "trained" else self._random_head(seed + 1000)
        model, cut, weights, state = self._strategy_model(strategy)
        _assign(model.variables, weights)  # as just built ...
        _assign(model.optimizer.variables, state)  # ... and compiled
        _seed_dropout(model, seed)  # runs repeat exactly
        model.optimizer.learning_rate = learning_rate
        model.get_layer("head").set_weights(head_weights)
        data = self.data
        if cut is not None:  # some, most: train the top on activations cached at the cut
            inputs = lambda split: features_of(cut.bottom, split.images, self.batch_size)  # noqa: E731
            scorer, train = cut.top, partial(fit_above_cut, cut=cut)
        else:  # full (nothing frozen to cache), or augmented images: through the base
            inputs, scorer, train = _pixels, model, partial(fit, augment=self.augment)
        callbacks = []
        if schedule == "cosine":
            callbacks.append(keras.callbacks.LearningRateScheduler(cosine_schedule(learning_rate, epochs)))
        result = _fit_kept(
            train,
            model,
            scorer,
            inputs,
            data,
            epochs,
            seed,
            self.batch_size,
            self.progress,
            callbacks,
            checkpoint=self._checkpoint,
            key=f"{strategy}-lr{learning_rate:g}-{schedule}-{epochs}epochs-{head}head-seed{seed}",
            optimizer=lambda: model.optimizer,
            patience=self.patience,
        )
        run = self._finish(strategy, learning_rate, seed, head, result.history, result.seconds, scorer, inputs)
        run.schedule = schedule
        self.model, self.cut = model, cut
        return run

    def _head_weights_for(self, seed: int) -> list[np.ndarray]:
        self.head(seed)
        return self._head_weights[seed]

    def _finish(self, strategy, learning_rate, seed, head, history, seconds, scorer, inputs) -> Run:
        return _scored_run(self.data, strategy, learning_rate, seed, head, history, seconds, scorer, inputs)


def _scored_run(data, strategy, learning_rate, seed, head, history, seconds, scorer, inputs) -> Run:
    """Score the kept weights on validation and, where there is one, on the test split."""

    def predict(split):
        return scorer.predict(inputs(split), batch_size=128, verbose=0).argmax(axis=1)

    val = scores(data.val.labels, predict(data.val))
    test_predicted = predict(data.test) if data.test is not None else None
    test = scores(data.test.labels, test_predicted) if test_predicted is not None else None
    return Run(strategy, learning_rate, seed, head, history, _best_epoch(history), val, test, test_predicted, seconds)


def _pixels(split) -> np.ndarray:
    return split.images.astype(np.float32)


class ScratchExperiment:
    """Runs of one architecture trained from random weights, every layer of it: ``run(seed)``.

    ``build()`` returns a new, uncompiled model; its random initial weights come from Keras'
    global seed, which ``run`` sets. The first model is compiled and its training step traced
    once; every run then loads the weights a fresh ``build()`` drew for its seed and a fresh
    optimizer state, so seeds differ in their initial weights, batch order, augmentation and
    dropout, and in nothing else. Like the fine-tuning runs, each keeps its best validation epoch
    and is scored once on the test split; ``checkpoint_dir`` and ``resume`` as for ``FineTuneExperiment``.
    ``patience=k`` stops a run once k epochs in a row have not beaten its best validation epoch (``epochs``
    is then the most it may train); by default (``None``) every run trains all ``epochs``.
    """

    def __init__(
        self,
        data: ImageData,
        build,
        epochs: int,
        learning_rate: float = 1e-3,
        augment: bool = True,
        batch_size: int = 32,
        progress: bool = True,
        checkpoint_dir: Path | None = None,
        resume: bool = False,
        patience: int | None = None,
    ):
        if epochs < 1:
            raise CourseError(f"epochs must be at least 1, got {epochs}")
        if not (0 < learning_rate < 1):
            raise CourseError(f"learning rate {learning_rate} is outside (0, 1): try 1e-3")
        self.data, self.build, self.epochs, self.learning_rate = data, build, epochs, learning_rate
        self.augment, self.batch_size, self.progress, self.patience = augment, batch_size, progress, patience
        settings = {"kind": "scratch", "epochs": epochs, "learning_rate": learning_rate, "augment": augment}
        settings |= {"batch_size": batch_size} | _patience_setting(patience)
        self._checkpoint = _checkpointer(checkpoint_dir, resume, settings, data)
        self._model: keras.Model | None = None
        self._optimizer_state: list[np.ndarray] = []
        self._runs: dict[int, Run] = {}

    @property
    def model(self) -> keras.Model | None:
        """The model holding the kept weights of the latest run (None before the first)."""
        return self._model

    def _initial(self, seed: int) -> keras.Model:
        """The model compiled once, holding the initial weights ``build()`` draws for ``seed``."""
        keras.utils.set_random_seed(seed)
        fresh = self.build()
        if self._model is None:
            compile_classifier(fresh, self.learning_rate)
            fresh.optimizer.build(fresh.trainable_variables)
            self._model, self._optimizer_state = fresh, [v.numpy() for v in fresh.optimizer.variables]
            return fresh
        model = self._model
        if [tuple(v.shape) for v in fresh.variables] != [tuple(v.shape) for v in model.variables]:
            raise CourseError("build() must return the same architecture every time")
        _assign(model.variables, [v.numpy() for v in fresh.variables])
        _assign(model.optimizer.variables, self._optimizer_state)
        return model

    def run(self, seed: int = 0) -> Run:
        """Train from the seed's random weights for ``epochs`` epochs; computed once per seed."""
        if seed in self._runs:
            return self._runs[seed]
        model = self._initial(seed)
        _seed_dropout(model, seed)
        data = self.data
        result = _fit_kept(
            partial(fit, augment=self.augment),
            model,
            model,
            _pixels,
            data,
            self.epochs,
            seed,
            self.batch_size,
            self.progress,
            checkpoint=self._checkpoint,
            key=f"scratch-seed{seed}",
            optimizer=lambda: model.optimizer,
            patience=self.patience,
        )
        run = _scored_run(
            data, "scratch", self.learning_rate, seed, "random", result.history, result.seconds, model, _pixels
        )
        self._runs[seed] = run
        return run


@dataclass
class Trained:
    """One recipe trained end to end (``train_recipe``): the model, its runs and what it scored.

    ``model`` holds the kept weights (the best validation epoch of the last phase) and takes
    pixels (0..255); ``run`` is the last phase (phase 2, or the head for ``head``, or the scratch
    CNN); ``head`` is phase 1 of a pretrained strategy (None for ``scratch``).
    """

    recipe: Recipe
    model: keras.Model
    run: Run
    head: Run | None
    cut: str | None  # phase 2 trained above this block, on cached activations (None: through the base)
    image_size: int
    n_train: int
    n_val: int
    n_test: int | None

    @property
    def seconds(self) -> float:
        """Wall seconds of the training (both phases; feature extraction included)."""
        return self.run.seconds + (self.head.seconds if self.head is not None and self.head is not self.run else 0.0)

    @property
    def history(self) -> dict[str, dict[str, list[float]]]:
        """Each phase's per-epoch history: ``{"head": ..., "fine_tune": ...}`` (``{"scratch": ...}``)."""
        if self.head is None:
            return {"scratch": self.run.history}
        return {"head": self.head.history} | ({"fine_tune": self.run.history} if self.run is not self.head else {})

    def summary(self) -> dict:
        """The recipe and the numbers, as plain JSON data (``tlcourse fit``'s last line)."""
        r, run, tuned = self.recipe, self.run, self.head is not None and self.run is not self.head
        phase1 = self.head or self.run
        numbers = {
            "strategy": r.strategy,
            "backbone": None if r.strategy == "scratch" else r.backbone,
            "image_size": self.image_size,
            "head_epochs": r.head_epochs,
            "fine_tune_epochs": r.fine_tune_epochs if tuned else 0,
            "head_lr": r.head_lr,
            "fine_tune_lr": r.fine_tune_lr if tuned else None,
            "schedule": r.schedule if tuned else None,
            "augment": r.augment,
            "seed": r.seed,
            "batch_size": r.batch_size,
            "head_best_epoch": phase1.best_epoch,
            "fine_tune_best_epoch": run.best_epoch if tuned else None,
            "fine_tuned_above": self.cut,
            "epochs": sum(len(h.get("loss", [])) for h in self.history.values()),
            "val_accuracy": run.val.accuracy,
            "val_balanced_accuracy": run.val.balanced,
            "test_accuracy": run.test.accuracy if run.test else None,
            "test_balanced_accuracy": run.test.balanced if run.test else None,
        }
        if tuned:  # where phase 2 started from
            numbers |= {
                "head_val_balanced_accuracy": phase1.val.balanced,
                "head_test_balanced_accuracy": phase1.test.balanced if phase1.test else None,
            }
        numbers |= {"n_train": self.n_train, "n_val": self.n_val, "n_test": self.n_test, "train_seconds": self.seconds}
        return numbers


def train_recipe(
    data: ImageData,
    recipe: Recipe | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> Trained:
    """Train one model on ``data`` with ``recipe`` (default: lesson 4's, ``tlcourse.catalogue.Recipe``).

    The same runs as the lessons' experiments: for a pretrained strategy,
    ``FineTuneExperiment(data, backbone, head_epochs, head_lr, batch_size).head(seed)`` and then
    ``.run(strategy, fine_tune_lr, fine_tune_epochs, seed, schedule=schedule)``; for ``scratch``,
    ``ScratchExperiment(data, scratch_cnn, head_epochs, head_lr).run(seed)``. Give ``data`` a test
    split (``data.with_test_split()``) for test scores. ``checkpoint_dir``/``resume``: module doc.
    """
    r = recipe or Recipe()
    common = dict(progress=progress, checkpoint_dir=checkpoint_dir, resume=resume, batch_size=r.batch_size)
    counts = dict(
        image_size=data.image_size,
        n_train=len(data.train),
        n_val=len(data.val),
        n_test=None if data.test is None else len(data.test),
    )
    if r.strategy == "scratch":
        cnn = ScratchExperiment(
            data,
            lambda: scratch_cnn(data.input_shape, data.num_classes),
            r.head_epochs,
            r.head_lr,
            augment=r.augment,
            **common,
        )
        run = cnn.run(r.seed)
        return Trained(r, cnn.model, run, None, None, **counts)
    experiment = FineTuneExperiment(data, r.backbone, r.head_epochs, r.head_lr, augment=r.augment, **common)
    head = experiment.head(r.seed)
    if not r.fine_tunes:
        return Trained(r, experiment.model, head, head, None, **counts)
    run = experiment.run(r.strategy, r.fine_tune_lr, r.fine_tune_epochs, r.seed, schedule=r.schedule)
    cut = experiment.cut.block if experiment.cut is not None else None
    return Trained(r, experiment.model, run, head, cut, **counts)
