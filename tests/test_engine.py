"""The one training engine: the CLI, the lessons' experiments and augmentation are the same runs; resume loses
nothing."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from tlcourse.catalogue import TEST_FRACTION, TEST_SEED, Recipe
from tlcourse.checkpoint import Checkpointer
from tlcourse.datasets import load_dataset
from tlcourse.errors import CourseError
from tlcourse.experiments import FineTuneExperiment, train_recipe
from tlcourse.manifest import by_number

from conftest import ROOT, run_offline, tlcourse_cmd

SIZE, PER_CLASS = 64, 12  # small: the numbers are compared, not judged


@pytest.fixture(scope="module")
def small(hymenoptera):
    return load_dataset("hymenoptera", SIZE, per_class=PER_CLASS, verbose=False).with_test_split(0.5, seed=0)


@pytest.fixture(scope="module")
def uninterrupted(small):
    """``train_recipe(small, recipe)`` run once per recipe in this module: each run costs 6-12 s, mostly tracing."""
    runs = {}

    def run(recipe: Recipe):
        if recipe not in runs:
            runs[recipe] = train_recipe(small, recipe, progress=False)
        return runs[recipe]

    return run


SOME = Recipe(strategy="some", head_epochs=3, fine_tune_epochs=3, seed=2)  # the runs the tests below share


def test_the_default_recipe_is_lesson_4s():
    """The values of lesson 4's parameters cell (and the rate its headline run chose): catalogue.Recipe's docstring."""
    nb = json.loads((ROOT / "solutions" / by_number(4).notebook).read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    params = {}
    for line in "".join(cell["source"]).splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("#")[0].split("=", 1)
            try:
                params[name.strip()] = eval(value.strip(), {}, dict(params))  # literals and earlier names only
            except Exception:
                continue
    recipe = Recipe()
    assert (recipe.head_epochs, recipe.head_lr) == (params["HEAD_EPOCHS"], params["HEAD_LR"])
    assert (recipe.fine_tune_epochs, recipe.schedule) == (params["GRID_EPOCHS"], params["GRID_SCHEDULE"])
    assert recipe.strategy == params["GRID_STRATEGIES"][0] and recipe.fine_tune_lr in params["FINE_TUNE_LRS"]
    assert recipe.fine_tune_lr == params["LARGE_LR"], "the rate the lesson fixes where it does not choose"
    assert recipe.augment is False
    with pytest.raises(CourseError, match="schedule must be one of"):
        Recipe(schedule="step")
    with pytest.raises(CourseError, match="outside"):
        Recipe(fine_tune_lr=2.0)
    with pytest.raises(CourseError, match="unknown strategy"):
        Recipe(strategy="all")


def test_fit_on_the_command_line_gives_the_numbers_of_the_lessons_experiment(tmp_path, small):
    """``tlcourse fit`` (the real CLI, in another process) and ``FineTuneExperiment`` as lesson 4 calls it agree."""
    out = tmp_path / "run"
    args = ["fit", "hymenoptera", "--strategy", "some", "--image-size", str(SIZE), "--per-class", str(PER_CLASS)]
    args += ["--epochs", "2", "--fine-tune-epochs", "2", "--seed", "1", "--out", str(out)]
    result = run_offline(tlcourse_cmd(*args))
    assert result.returncode == 0, result.stderr[-3000:]
    noise = [line for line in result.stderr.splitlines() if "absl" in line or "oneDNN" in line]
    assert not noise, "TensorFlow's start-up lines reached the terminal"
    summary = json.loads(result.stdout.strip().splitlines()[-1])

    recipe = Recipe(strategy="some", head_epochs=2, fine_tune_epochs=2, seed=1)
    data = load_dataset("hymenoptera", SIZE, per_class=PER_CLASS, seed=1, verbose=False)
    data = data.with_test_split(TEST_FRACTION, seed=TEST_SEED)
    experiment = FineTuneExperiment(data, head_epochs=recipe.head_epochs, head_lr=recipe.head_lr, progress=False)
    head = experiment.head(recipe.seed)
    run = experiment.run("some", recipe.fine_tune_lr, recipe.fine_tune_epochs, recipe.seed, schedule=recipe.schedule)

    expected = {
        "strategy": "some",
        "backbone": recipe.backbone,
        "image_size": SIZE,
        "head_epochs": 2,
        "fine_tune_epochs": 2,
        "head_lr": recipe.head_lr,
        "fine_tune_lr": recipe.fine_tune_lr,
        "schedule": recipe.schedule,
        "augment": False,
        "seed": 1,
        "head_best_epoch": head.best_epoch,
        "fine_tune_best_epoch": run.best_epoch,
        "fine_tuned_above": experiment.cut.block,
        "n_train": len(data.train),
        "n_val": len(data.val),
        "n_test": len(data.test),
    }
    assert {k: summary[k] for k in expected} == expected
    numbers = {
        "val_accuracy": run.val.accuracy,
        "val_balanced_accuracy": run.val.balanced,
        "test_accuracy": run.test.accuracy,
        "test_balanced_accuracy": run.test.balanced,
        "head_val_balanced_accuracy": head.val.balanced,
        "head_test_balanced_accuracy": head.test.balanced,
    }
    for key, value in numbers.items():
        assert summary[key] == pytest.approx(value, abs=1e-6), key
    history = json.loads((out / "history.json").read_text())
    for phase, curves in (("head", head.history), ("fine_tune", run.history)):
        np.testing.assert_allclose(history[phase]["val_balanced_accuracy"], curves["val_balanced_accuracy"], atol=1e-6)
        np.testing.assert_allclose(history[phase]["loss"], curves["loss"], rtol=1e-5, err_msg=phase)


def _trainable_arrays(trained) -> list[np.ndarray]:
    return [w.numpy() for w in trained.model.trainable_weights]


def test_augmentation_is_an_option_of_the_same_engine(small, uninterrupted, monkeypatch):
    """``augment=True`` changes the images and where they are computed (through the base), nothing else.

    With an augmentation that leaves the images as they are, the augmented runs train the same weights
    as the plain ones (cached features and activations at the cut) up to float rounding: each trainable
    tensor within 1 % of how far a real augmentation moves it (the control, which shows the comparison
    can fail; the rounding: ``tests/test_cut.py``).
    """
    from tlcourse import datasets

    recipe = SOME
    plain = uninterrupted(recipe)
    augmented = train_recipe(small, replace(recipe, augment=True), progress=False)
    monkeypatch.setattr(datasets, "augmentation", lambda seed=0: lambda x, training=True: x)
    unchanged = train_recipe(small, replace(recipe, augment=True), progress=False)

    numbers = {"val_accuracy", "val_balanced_accuracy", "test_accuracy", "test_balanced_accuracy", "train_seconds"}
    numbers |= {"head_val_balanced_accuracy", "head_test_balanced_accuracy", "head_best_epoch", "fine_tune_best_epoch"}
    a, b = plain.summary(), augmented.summary()
    assert a.keys() == b.keys()
    assert {k for k in a if a[k] != b[k]} - numbers == {"augment", "fine_tuned_above"}
    assert a["fine_tuned_above"] == "block5" and b["fine_tuned_above"] is None, "augmented images: through the base"
    assert plain.history.keys() == augmented.history.keys() == {"head", "fine_tune"}
    for phase in ("head", "fine_tune"):
        assert plain.history[phase].keys() == augmented.history[phase].keys(), phase

    for w_plain, w_same, w_aug in zip(
        _trainable_arrays(plain), _trainable_arrays(unchanged), _trainable_arrays(augmented)
    ):
        control = np.linalg.norm(w_aug - w_plain)
        assert control > 0, "a real augmentation trains other weights"
        assert np.linalg.norm(w_same - w_plain) <= 1e-2 * control


class _Killed(Exception):
    pass


@pytest.mark.parametrize(
    "strategy, killed_after",
    [("some", 2), ("some", 5), ("scratch", 2)],
    ids=["some-in-the-head", "some-in-fine-tuning", "scratch"],
)
def test_an_interrupted_run_resumes_to_the_numbers_of_an_uninterrupted_one(
    small, uninterrupted, tmp_path, monkeypatch, strategy, killed_after
):
    """Killed right after its ``killed_after``-th checkpoint (the head's 2nd epoch; fine-tuning's 1st; the CNN's 2nd).

    Saves come after every epoch and when a run finishes: the head's 3 epochs are saves 1-3, its end 4,
    fine-tuning's epochs 5-7. The resumed run must keep the same best epochs, histories and predictions:
    the weights, optimizer state, best-so-far weights and score, batches and dropout all carry over.
    """
    recipe = replace(SOME, strategy=strategy)
    whole = uninterrupted(recipe)
    saves, original = [], Checkpointer.save

    def save_then_die(self, key, state, arrays):
        original(self, key, state, arrays)
        saves.append((key, state["epochs_done"]))
        if len(saves) == killed_after:
            raise _Killed

    monkeypatch.setattr(Checkpointer, "save", save_then_die)
    with pytest.raises(_Killed):
        train_recipe(small, recipe, tmp_path, progress=False)
    monkeypatch.setattr(Checkpointer, "save", original)
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    key, done = saves[-1]
    assert state["runs"][key]["epochs_done"] == done < 3 and not state["runs"][key]["complete"]
    assert "best" in state["runs"][key] and "best_epoch" in state["runs"][key], "the choice so far is saved"

    resumed = train_recipe(small, recipe, tmp_path, resume=True, progress=False)
    pairs = [(whole.run, resumed.run)] + ([(whole.head, resumed.head)] if whole.head is not None else [])
    for a, b in pairs:
        assert b.history == a.history, a.strategy
        assert b.best_epoch == a.best_epoch
        np.testing.assert_array_equal(b.test_predicted, a.test_predicted)
    assert resumed.summary() | {"train_seconds": 0} == whole.summary() | {"train_seconds": 0}


def test_resume_refuses_a_checkpoint_made_with_other_settings(small, tmp_path):
    with pytest.raises(CourseError, match="nothing to resume"):
        FineTuneExperiment(small, head_epochs=1, checkpoint_dir=tmp_path, resume=True)
    train_recipe(small, Recipe("head", head_epochs=1), tmp_path, progress=False)
    with pytest.raises(CourseError, match="other settings.*head_epochs"):
        train_recipe(small, Recipe("head", head_epochs=2), tmp_path, resume=True, progress=False)
    with pytest.raises(CourseError, match="other settings.*train_images"):
        train_recipe(small.per_class(4), Recipe("head", head_epochs=1), tmp_path, resume=True, progress=False)
