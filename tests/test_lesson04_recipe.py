"""Lesson 4's two-phase recipe, written out in plain Keras in one cell, gives what ``tlcourse.experiments`` gives.

The cell is taken from the master notebook itself (the code cell whose first line starts with ``MARKER``) and run
on a small data set; ``FineTuneExperiment`` then runs the same recipe (``head(seed)``, then
``run("some", lr, epochs, seed, schedule="cosine")``) on the same data, seed and settings. The engine trains the
head on cached pooled features and phase 2 on activations cached at the cut (after ``block5``), the cell through the
whole model: the same updates to float rounding (``tests/test_cut.py``). So both must keep the same best epochs,
score the same, and have the same per-epoch curves, within float tolerance.

One convention differs, and the test aligns it rather than the cell: the engine draws each run's dropout masks
from the seed alone (``_seed_dropout``: a run is as if its model were just built), while a plain Keras model's
dropout layer draws its masks from a seed generator that phase 2 simply continues. The engine's dropout state is
set here to exactly the plain model's at the start of each phase (checked: the plain model's final state is what
that bookkeeping predicts). Everything else — the head's first weights, the batch order, the optimizer, the
cosine schedule, the frozen BatchNormalization, the best epoch kept — must agree as the two codes stand.
A control (the engine with a constant rate) shows that the comparison can fail.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tlcourse import experiments
from tlcourse.datasets import load_dataset
from tlcourse.experiments import FineTuneExperiment
from tlcourse.manifest import by_number

from conftest import ROOT

MARKER = "# THE TWO-PHASE RECIPE"
SIZE, PER_CLASS, BATCH = 64, 12, 32
SEED, HEAD_EPOCHS, HEAD_LR, LR, EPOCHS = 1, 4, 1e-3, 1e-4, 3


def recipe_cell() -> str:
    nb = json.loads((ROOT / "solutions" / by_number(4).notebook).read_text())
    found = [
        "".join(c["source"])
        for c in nb["cells"]
        if c["cell_type"] == "code" and "".join(c["source"]).startswith(MARKER)
    ]
    assert len(found) == 1, f"lesson 4 must have exactly one code cell starting {MARKER!r}"
    return found[0]


@pytest.fixture(scope="module")
def small():
    return load_dataset("hymenoptera", SIZE, per_class=PER_CLASS, verbose=False).with_test_split(0.5, seed=0)


def test_the_recipe_cell_is_plain_keras():
    """The lines the lesson teaches are in the cell, not behind a course function."""
    source = recipe_cell()
    for line in (
        "base.trainable = False",
        "base.trainable = True",
        "keras.layers.BatchNormalization",
        "model.compile(",
        "model.fit(",
        "keras.callbacks.LearningRateScheduler(",
        "keras.callbacks.EarlyStopping(",
        "keras.optimizers.Adam(fine_tune_lr)",
    ):
        assert line in source, line
    assert source.count("model.compile(") == 2, "compile once per phase"
    assert "tlcourse.experiments" not in source.split("\n", 2)[-1], "the recipe must not call the engine"


def test_the_plain_keras_recipe_gives_what_the_experiment_helper_gives(small, monkeypatch, capsys):
    namespace: dict = {}
    exec(compile(recipe_cell(), "lesson 4's recipe cell", "exec"), namespace)
    model, _base, plain = namespace["two_phase_recipe"](small, SEED, HEAD_EPOCHS, HEAD_LR, LR, EPOCHS)
    assert "Epoch 1/" in capsys.readouterr().out, "the cell shows a line per epoch"

    # The plain model's dropout: one draw of its seed generator per training step.
    states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    assert len(states) == 1, "one dropout layer, in the head"
    start, drawn = (int(v) for v in states[0].numpy())
    steps = math.ceil(len(small.train) / BATCH)
    assert drawn == (HEAD_EPOCHS + EPOCHS) * steps
    phase_starts = [np.array([start, 0]), np.array([start, HEAD_EPOCHS * steps])]

    def plain_keras_dropout(model, seed):
        (state,) = [v for v in model.variables if v.path.endswith("seed_generator_state")]
        state.assign(phase_starts.pop(0).astype(state.dtype))

    monkeypatch.setattr(experiments, "_seed_dropout", plain_keras_dropout)
    experiment = FineTuneExperiment(small, head_epochs=HEAD_EPOCHS, head_lr=HEAD_LR, batch_size=BATCH, progress=False)
    head = experiment.head(SEED)
    run = experiment.run("some", LR, EPOCHS, SEED, schedule="cosine")
    assert experiment.cut.block == "block5", "the engine trains block6, block7 and head, as the cell does"
    assert not phase_starts, "the engine seeded dropout once per phase"

    assert plain["head_history"]["val_balanced_accuracy"] == pytest.approx(
        head.history["val_balanced_accuracy"], abs=1e-6
    )
    assert plain["history"]["val_balanced_accuracy"] == pytest.approx(run.history["val_balanced_accuracy"], abs=1e-6)
    np.testing.assert_allclose(plain["head_history"]["loss"], head.history["loss"], rtol=1e-4)
    np.testing.assert_allclose(plain["history"]["loss"], run.history["loss"], rtol=1e-4)
    assert int(np.argmax(plain["head_history"]["val_balanced_accuracy"])) + 1 == head.best_epoch
    assert int(np.argmax(plain["history"]["val_balanced_accuracy"])) + 1 == run.best_epoch
    assert plain["head_scores"] == pytest.approx({"val": head.val.balanced, "test": head.test.balanced}, abs=1e-6)
    assert plain["scores"] == pytest.approx({"val": run.val.balanced, "test": run.test.balanced}, abs=1e-6)

    # The control: a constant rate instead of the cosine trains other weights, and the curves show it.
    phase_starts.append(np.array([start, HEAD_EPOCHS * steps]))
    constant = experiment.run("some", LR, EPOCHS, SEED, schedule="constant")
    assert not np.allclose(plain["history"]["loss"][1:], constant.history["loss"][1:], rtol=1e-4)
