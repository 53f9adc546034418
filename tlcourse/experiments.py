"""Fine-tuning experiments done properly, written once: seeds, a chosen epoch, held-out scores.

The lessons' experiments compare a frozen base (``head``) with fine-tuned ones over seeds and
learning rates. Done by hand that is 40–60 lines per lesson (snapshot and restore weights and
optimizer state, score, pick the best epoch, average over seeds); here it is one call per run,
so a lesson's cell shows the experiment, not its plumbing. What every run obeys:

- **Choices on validation data, numbers on test data.** Each run keeps the weights of its best
  epoch by validation balanced accuracy (``keras.callbacks.EarlyStopping`` with
  ``restore_best_weights``); learning rates are compared on validation scores too. The test split
  (``ImageData.with_test_split``) is scored once per run, after every choice, and never chooses.
- **Only what the run varies differs.** A run starts as if its model had just been built and
  compiled (pretrained weights, the seed's trained head or a random one, a fresh optimizer
  state). Models and their training steps are built once per strategy and restored between runs,
  because tracing a training step costs seconds on a CPU.
- **Cheap where it is the same computation.** The head trains on pooled features extracted once
  (``fit_cached``); ``some`` and ``most`` train on activations cached at the cut (``fit_above_cut``:
  the same updates as through the base, without augmentation); ``full`` goes through the base.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import keras
import numpy as np

from tlcourse.backbones import load_backbone
from tlcourse.catalogue import DEFAULT_BACKBONE, check_strategy
from tlcourse.cut import Cut, fit_above_cut, split_at_cut
from tlcourse.datasets import ImageData
from tlcourse.errors import CourseError
from tlcourse.features import features_of
from tlcourse.freeze import apply_strategy
from tlcourse.models import classifier_head, transfer_model
from tlcourse.train import compile_classifier, extract_features, fit, fit_cached

HEADS = ("trained", "random")  # what a fine-tuning run starts from: the seed's phase-1 head, or none
SCHEDULES = ("constant", "cosine")  # a fine-tuning run's learning rate over its epochs


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


def _keep_best(x_val: np.ndarray, y_val: np.ndarray, epochs: int) -> list[keras.callbacks.Callback]:
    """Score every epoch on validation data and keep the best epoch's weights at the end."""
    best = keras.callbacks.EarlyStopping(
        monitor="val_balanced_accuracy", mode="max", patience=epochs, restore_best_weights=True
    )
    return [_ValidationBalanced(x_val, y_val), best]


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


class FineTuneExperiment:
    """Runs of one backbone on one data set: ``head(seed)`` and ``run(strategy, lr, epochs, seed)``.

    ``data`` needs a test split (``data.with_test_split()``) for test scores; without one, runs
    report validation scores only.
    """

    def __init__(
        self,
        data: ImageData,
        backbone: str = DEFAULT_BACKBONE,
        head_epochs: int = 20,
        head_lr: float = 1e-3,
        batch_size: int = 32,
        progress: bool = True,
    ):
        self.data, self.backbone, self.batch_size, self.progress = data, backbone, batch_size, progress
        self.head_epochs, self.head_lr = head_epochs, head_lr
        self._phase1 = self._build()
        self._phase1_state = [v.numpy() for v in self._phase1.variables]
        self._heads: dict[int, Run] = {}
        self._head_weights: dict[int, list[np.ndarray]] = {}
        self._models: dict[str, tuple[keras.Model, Cut | None, list, list]] = {}

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
            return self._heads[seed]
        model, data = self._phase1, self.data
        _assign(model.variables, self._phase1_state)
        _seed_dropout(model, seed)
        model.get_layer("head").set_weights(self._random_head(seed))
        compile_classifier(model, self.head_lr)
        x_val = extract_features(model, data.val.images)
        result = fit_cached(
            model,
            data,
            self.head_epochs,
            self.batch_size,
            seed=seed,
            progress=self.progress,
            callbacks=_keep_best(x_val, data.val.labels, self.head_epochs),
            validate=False,
        )
        head = model.get_layer("head")
        self._head_weights[seed] = head.get_weights()
        run = self._finish(
            "head",
            self.head_lr,
            seed,
            "trained",
            result.history,
            result.seconds,
            head,
            lambda split: extract_features(model, split.images),
        )
        run.extract_seconds = result.extract_seconds
        self._heads[seed] = run
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
            self._models[strategy] = (model, split_at_cut(model), weights, state)
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
        else:  # full: nothing frozen to cache
            inputs, scorer, train = _pixels, model, fit
        callbacks = _keep_best(inputs(data.val), data.val.labels, epochs)
        if schedule == "cosine":
            callbacks.insert(0, keras.callbacks.LearningRateScheduler(cosine_schedule(learning_rate, epochs)))
        result = train(
            model,
            data,
            epochs,
            self.batch_size,
            seed=seed,
            progress=self.progress,
            callbacks=callbacks,
            validate=False,
        )
        run = self._finish(strategy, learning_rate, seed, head, result.history, result.seconds, scorer, inputs)
        run.schedule = schedule
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
    and is scored once on the test split.
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
    ):
        if epochs < 1:
            raise CourseError(f"epochs must be at least 1, got {epochs}")
        if not (0 < learning_rate < 1):
            raise CourseError(f"learning rate {learning_rate} is outside (0, 1): try 1e-3")
        self.data, self.build, self.epochs, self.learning_rate = data, build, epochs, learning_rate
        self.augment, self.batch_size, self.progress = augment, batch_size, progress
        self._model: keras.Model | None = None
        self._optimizer_state: list[np.ndarray] = []
        self._runs: dict[int, Run] = {}

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
        result = fit(
            model,
            data,
            self.epochs,
            self.batch_size,
            augment=self.augment,
            seed=seed,
            progress=self.progress,
            callbacks=_keep_best(_pixels(data.val), data.val.labels, self.epochs),
            validate=False,
        )
        run = _scored_run(
            data, "scratch", self.learning_rate, seed, "random", result.history, result.seconds, model, _pixels
        )
        self._runs[seed] = run
        return run
