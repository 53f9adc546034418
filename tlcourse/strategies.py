"""Train a classifier on a data set with one named strategy, end to end.

The lessons show the Keras lines of each strategy once; this module runs them when a
lesson needs many runs (all strategies, several seeds, several data sizes) and backs
``tlcourse fit``. The strategies:

- ``scratch``: the small CNN from random weights (augmented);
- ``head``: frozen pretrained base, train the new head on cached features;
- ``some`` / ``most`` / ``full``: the head first (as ``head``), then unfreeze that much of
  the base (BatchNormalization stays frozen), recompile with a learning rate 100x lower
  and fine-tune for ``fine_tune_epochs`` more epochs (augmented).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from tlcourse.backbones import DEFAULT_BACKBONE, load_backbone
from tlcourse.datasets import ImageData
from tlcourse.errors import CourseError
from tlcourse.freeze import STRATEGIES, apply_strategy
from tlcourse.models import scratch_cnn, transfer_model
from tlcourse.train import FitResult, compile_classifier, fit, fit_cached

ALL_STRATEGIES = ("scratch",) + STRATEGIES
FINE_TUNE_LR_FACTOR = 100


@dataclass
class StrategyRun:
    """A trained model and how it got there (histories of both phases concatenated)."""

    strategy: str
    model: keras.Model
    result: FitResult


def _join(first: FitResult, second: FitResult) -> FitResult:
    history = {k: first.history[k] + second.history.get(k, []) for k in first.history}
    notes = {"head_epochs": first.epochs, "fine_tune_epochs": second.epochs}
    return FitResult(history, first.seconds + second.seconds, first.extract_seconds, notes)


def train_with_strategy(
    data: ImageData,
    strategy: str = "head",
    backbone: str = DEFAULT_BACKBONE,
    epochs: int = 10,
    fine_tune_epochs: int = 5,
    learning_rate: float = 1e-3,
    batch_size: int = 32,
    augment: bool | None = None,
    seed: int = 0,
    progress: bool = True,
    callbacks=(),
) -> StrategyRun:
    """Build, compile and train a model for ``data`` with ``strategy`` (see module doc)."""
    if strategy not in ALL_STRATEGIES:
        raise CourseError(f"unknown strategy {strategy!r}: use one of {', '.join(ALL_STRATEGIES)}")
    keras.utils.set_random_seed(seed)
    if strategy == "scratch":
        model = compile_classifier(scratch_cnn(data.input_shape, data.num_classes), learning_rate)
        result = fit(
            model,
            data,
            epochs,
            batch_size,
            augment=augment is not False,
            seed=seed,
            progress=progress,
            callbacks=callbacks,
        )
        return StrategyRun(strategy, model, result)
    model = transfer_model(load_backbone(backbone, data.input_shape), data.num_classes, strategy="head")
    compile_classifier(model, learning_rate)
    result = fit_cached(model, data, epochs, batch_size, seed=seed, progress=progress)
    if strategy == "head" or fine_tune_epochs <= 0:
        return StrategyRun(strategy, model, result)
    apply_strategy(model, strategy)
    compile_classifier(model, learning_rate / FINE_TUNE_LR_FACTOR)  # recompile: trainable changed
    tuned = fit(
        model,
        data,
        fine_tune_epochs,
        batch_size,
        augment=augment is not False,
        seed=seed,
        progress=progress,
        callbacks=callbacks,
    )
    return StrategyRun(strategy, model, _join(result, tuned))
