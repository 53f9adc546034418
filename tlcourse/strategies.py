"""Train a classifier on a data set with one named strategy, end to end.

The lessons show the Keras lines of each strategy once; this module runs them when a
lesson needs many runs (all strategies, several seeds, several data sizes) and backs
``tlcourse fit``. The strategies:

- ``scratch``: the small CNN from random weights (augmented);
- ``head``: frozen pretrained base, train the new head on cached features;
- ``some`` / ``most`` / ``full``: the head first (as ``head``), then unfreeze that much of
  the base (BatchNormalization stays frozen), recompile with a learning rate 100x lower
  and fine-tune for ``fine_tune_epochs`` more epochs (augmented; with ``augment=False``, ``some``
  and ``most`` train on activations cached at the cut: ``tlcourse.cut``).

With ``checkpoint_dir`` every epoch is checkpointed (``tlcourse.checkpoint``) and
``resume=True`` continues an interrupted run from its last completed epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras

from tlcourse.backbones import load_backbone
from tlcourse.catalogue import DEFAULT_BACKBONE, FINE_TUNE_LR_FACTOR, check_strategy
from tlcourse.checkpoint import Checkpointer
from tlcourse.cut import fit_above_cut, split_at_cut
from tlcourse.datasets import ImageData
from tlcourse.freeze import apply_strategy
from tlcourse.models import scratch_cnn, transfer_model
from tlcourse.train import FitResult, compile_classifier, fit, fit_cached


@dataclass
class StrategyRun:
    """A trained model and how it got there (histories of both phases concatenated)."""

    strategy: str
    model: keras.Model
    result: FitResult


@dataclass
class _Plan:
    """Everything a run needs, so phases can be resumed independently."""

    data: ImageData
    strategy: str
    backbone: str
    epochs: int
    fine_tune_epochs: int
    learning_rate: float
    batch_size: int
    augment: bool
    seed: int
    progress: bool
    callbacks: tuple
    checkpointer: Checkpointer | None


def _with_prior(prior: dict, result: FitResult) -> FitResult:
    """Prepend the history of epochs run before an interruption."""
    history = {k: prior.get(k, []) + v for k, v in result.history.items()}
    return FitResult(history, result.seconds, result.extract_seconds, result.notes)


def _callbacks(plan: _Plan, phase: str, target: keras.Model, prior: dict) -> list:
    extra = [plan.checkpointer.callback(phase, target, prior)] if plan.checkpointer else []
    return list(plan.callbacks) + extra


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
    checkpoint_dir: Path | None = None,
    resume: bool = False,
) -> StrategyRun:
    """Build, compile and train a model for ``data`` with ``strategy`` (see module doc)."""
    check_strategy(strategy, scratch=True)
    checkpointer = Checkpointer(checkpoint_dir) if checkpoint_dir else None
    state = checkpointer.load() if (checkpointer and resume) else None
    plan = _Plan(
        data,
        strategy,
        backbone,
        epochs,
        fine_tune_epochs,
        learning_rate,
        batch_size,
        augment is not False,
        seed,
        progress,
        tuple(callbacks),
        checkpointer,
    )
    keras.utils.set_random_seed(seed)
    if strategy == "scratch":
        return _scratch(plan, state)
    model, head_result = _head_phase(plan, state)
    if strategy == "head" or fine_tune_epochs <= 0:
        return StrategyRun(strategy, model, head_result)
    return _finetune_phase(plan, state, model, head_result)


def _scratch(plan: _Plan, state: dict | None) -> StrategyRun:
    if state and state["phase"] == "scratch":
        model, done, prior = state["loaded"], state["epochs_done"], state["history"]
    else:
        model = compile_classifier(scratch_cnn(plan.data.input_shape, plan.data.num_classes), plan.learning_rate)
        done, prior = 0, {}
    result = fit(
        model,
        plan.data,
        plan.epochs,
        plan.batch_size,
        augment=plan.augment,
        seed=plan.seed,
        progress=plan.progress,
        callbacks=_callbacks(plan, "scratch", model, prior),
        initial_epoch=done,
    )
    return StrategyRun("scratch", model, _with_prior(prior, result))


def _head_phase(plan: _Plan, state: dict | None) -> tuple[keras.Model, FitResult]:
    """Train the head on cached features (or pick up a finished or interrupted head phase)."""
    backbone = load_backbone(plan.backbone, plan.data.input_shape)
    if state and state["phase"] == "head":
        head, done, prior = state["loaded"], state["epochs_done"], state["history"]
        model = transfer_model(backbone, plan.data.num_classes, head=head)
    elif state and state["phase"] == "finetune":
        return None, FitResult(state["history"], 0.0)  # the fine-tune phase restores the whole model
    else:
        model, done, prior = transfer_model(backbone, plan.data.num_classes), 0, {}
        head = model.get_layer("head")
    compile_classifier(model, plan.learning_rate)
    if done >= plan.epochs:
        return model, FitResult(prior, 0.0)
    result = fit_cached(
        model,
        plan.data,
        plan.epochs,
        plan.batch_size,
        seed=plan.seed,
        progress=plan.progress,
        callbacks=_callbacks(plan, "head", head, prior),
        initial_epoch=done,
    )
    return model, _with_prior(prior, result)


def _finetune_phase(plan: _Plan, state: dict | None, model, head_result: FitResult) -> StrategyRun:
    """Unfreeze per the strategy (BN stays frozen), recompile with a lower rate, fine-tune."""
    if state and state["phase"] == "finetune":
        model, done, prior = state["loaded"], state["epochs_done"], state["history"]
        head_epochs = plan.epochs
    else:
        apply_strategy(model, plan.strategy)
        compile_classifier(model, plan.learning_rate / FINE_TUNE_LR_FACTOR)  # recompile: trainable changed
        done, prior, head_epochs = 0, head_result.history, head_result.epochs
    settings = dict(
        seed=plan.seed,
        progress=plan.progress,
        callbacks=_callbacks(plan, "finetune", model, prior),
        initial_epoch=done,
    )
    cut = None if plan.augment else split_at_cut(model)
    if cut is not None:  # the frozen bottom's output never changes
        tuned = fit_above_cut(model, plan.data, plan.fine_tune_epochs, plan.batch_size, cut=cut, **settings)
    else:
        tuned = fit(model, plan.data, plan.fine_tune_epochs, plan.batch_size, augment=plan.augment, **settings)
    history = {k: prior.get(k, []) + v for k, v in tuned.history.items()}
    notes = {"head_epochs": head_epochs, "fine_tune_epochs": plan.fine_tune_epochs, **tuned.notes}
    return StrategyRun(
        plan.strategy,
        model,
        FitResult(history, head_result.seconds + tuned.seconds, head_result.extract_seconds, notes),
    )
