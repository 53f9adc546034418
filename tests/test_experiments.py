"""The experiment harness: scores, standard errors, a test split no choice sees, runs that repeat."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from tlcourse.datasets import load_dataset
from tlcourse.errors import CourseError
from tlcourse.experiments import FineTuneExperiment, ScratchExperiment, mean_se, paired_gain, scores

SIZE = 64  # the smallest size the lessons' quick mode uses


def test_scores_count_accuracy_and_mean_recall():
    labels = np.array([0, 0, 0, 1])
    majority = scores(labels, np.zeros(4, int))
    assert (majority.accuracy, majority.balanced, majority.n) == (0.75, 0.5, 4)  # the majority class is chance
    mixed = scores(labels, np.array([0, 1, 0, 1]))
    assert mixed.accuracy == 0.75 and mixed.balanced == pytest.approx((2 / 3 + 1) / 2)
    assert majority.se == pytest.approx(np.sqrt(0.75 * 0.25 / 4))
    with pytest.raises(CourseError, match="as many predictions"):
        scores(labels, np.zeros(3, int))


def test_mean_se_is_the_standard_error_of_the_mean():
    assert mean_se([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1 / np.sqrt(3)))
    assert mean_se([0.8]) == (0.8, 0.0)
    with pytest.raises(CourseError):
        mean_se([])


def test_paired_gain_is_zero_for_the_same_predictions_and_counts_both_noises():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    a = [np.where(rng.random(200) < 0.8, labels, 1 - labels) for _ in range(3)]
    same = paired_gain(labels, a, a)
    assert same.mean == 0 and same.se == 0
    perfect = paired_gain(labels, a, [labels] * 3)
    balanced_a = np.mean([scores(labels, p).balanced for p in a])
    assert perfect.mean == pytest.approx(1 - balanced_a)
    assert perfect.se_seeds > 0 and perfect.se_test > 0 and perfect.in_se > 2
    assert perfect.se == pytest.approx(np.hypot(perfect.se_seeds, perfect.se_test))
    with pytest.raises(CourseError, match="same number of seeds"):
        paired_gain(labels, a, a[:2])


def test_a_test_split_comes_out_of_validation_stratified_and_disjoint(hymenoptera):
    data = load_dataset("hymenoptera", SIZE, verbose=False)
    with pytest.raises(CourseError, match="no test split"):
        data.split("test")
    held = data.with_test_split(0.5, seed=0)
    assert held.train.paths == data.train.paths, "the training set is untouched"
    assert not set(held.val.paths) & set(held.test.paths)
    assert sorted(held.val.paths + held.test.paths) == sorted(data.val.paths)
    for part in (held.val, held.test):  # both halves keep the class proportions (within one image)
        share = np.mean(part.labels)
        assert abs(share - np.mean(data.val.labels)) < 1.5 / len(part)
    assert held.per_class(5).test is held.test, "subsetting training images keeps the test split"
    assert "test" in held.summary()
    with pytest.raises(CourseError, match="already has a test split"):
        held.with_test_split()


def test_a_fresh_test_split_comes_from_training_images_and_the_spent_one_trains(hymenoptera):
    data = load_dataset("hymenoptera", SIZE, verbose=False)
    with pytest.raises(CourseError, match="no test split to replace"):
        data.with_fresh_test()
    spent = data.with_test_split(0.5, seed=0)
    fresh = spent.with_fresh_test(seed=0)
    assert fresh.val.paths == spent.val.paths, "validation is untouched"
    assert set(fresh.test.paths) <= set(spent.train.paths), "the new test images were training images"
    assert set(spent.test.paths) <= set(fresh.train.paths), "the spent test images now train"
    assert not set(fresh.test.paths) & set(fresh.train.paths) and not set(fresh.test.paths) & set(fresh.val.paths)
    everything = spent.train.paths + spent.val.paths + spent.test.paths
    assert sorted(fresh.train.paths + fresh.val.paths + fresh.test.paths) == sorted(everything)
    n = spent.num_classes
    assert fresh.test.class_counts(n) == spent.test.class_counts(n)
    assert fresh.train.class_counts(n) == spent.train.class_counts(n)
    where = {p: i for i, p in enumerate(everything)}
    pixels = np.concatenate([spent.train.images, spent.val.images, spent.test.images])
    for part in (fresh.train, fresh.test):  # each image keeps its own pixels and label
        assert np.array_equal(part.images, pixels[[where[p] for p in part.paths]])
    labels = np.concatenate([spent.train.labels, spent.val.labels, spent.test.labels])
    assert np.array_equal(fresh.train.labels, labels[[where[p] for p in fresh.train.paths]])
    assert spent.with_fresh_test(seed=0).test.paths == fresh.test.paths
    assert spent.with_fresh_test(seed=1).test.paths != fresh.test.paths
    with pytest.raises(CourseError, match="before per_class"):
        spent.per_class(5).with_fresh_test()


@pytest.fixture(scope="module")
def experiment(hymenoptera):
    data = load_dataset("hymenoptera", SIZE, per_class=16, verbose=False).with_test_split(0.5, seed=0)
    return FineTuneExperiment(data, head_epochs=4, progress=False)


def test_a_run_keeps_its_best_validation_epoch_and_repeats_exactly(experiment):
    first = experiment.run("some", 1e-4, epochs=3, seed=0)
    curve = first.history["val_balanced_accuracy"]
    assert len(curve) == 3 and first.best_epoch == int(np.argmax(curve)) + 1
    assert first.val.balanced == pytest.approx(curve[first.best_epoch - 1]), "the kept weights are the best epoch's"
    other = experiment.run("some", 1e-5, epochs=3, seed=0)  # something else in between ...
    again = experiment.run("some", 1e-4, epochs=3, seed=0)  # ... then the first run once more
    assert again.history == first.history, "a run starts as if built and compiled anew"
    np.testing.assert_array_equal(again.test_predicted, first.test_predicted)
    assert other.learning_rate == 1e-5 and other.history != first.history


def test_a_cosine_schedule_lowers_the_rate_each_epoch_and_leaves_no_trace_in_the_next_run(experiment):
    constant = experiment.run("some", 1e-4, epochs=3, seed=0)
    cosine = experiment.run("some", 1e-4, epochs=3, seed=0, schedule="cosine")
    assert cosine.schedule == "cosine" and constant.schedule == "constant"
    np.testing.assert_allclose(cosine.history["learning_rate"], [1e-4, 0.75e-4, 0.25e-4], rtol=1e-5)
    assert cosine.history["val_balanced_accuracy"] != constant.history["val_balanced_accuracy"] or (
        cosine.history["loss"] != constant.history["loss"]
    ), "a lower rate after the first epoch changes the training"
    again = experiment.run("some", 1e-4, epochs=3, seed=0)
    assert again.history == constant.history, "the next run starts at its own rate again"
    with pytest.raises(CourseError, match="schedule must be one of"):
        experiment.run("some", 1e-4, epochs=1, schedule="step")


def test_the_head_is_trained_once_per_seed_and_fine_tuning_starts_from_it(experiment):
    head = experiment.head(0)
    assert experiment.head(0) is head
    assert head.best_epoch == int(np.argmax(head.history["val_balanced_accuracy"])) + 1
    assert experiment.run("head", 1e-3, epochs=1, seed=0) is head
    from_random = experiment.run("some", 1e-4, epochs=1, seed=0, head="random")
    from_trained = experiment.run("some", 1e-4, epochs=1, seed=0)
    assert from_random.history != from_trained.history
    with pytest.raises(CourseError, match="head must be one of"):
        experiment.run("some", 1e-4, epochs=1, head="pretrained")
    with pytest.raises(CourseError, match="outside"):
        experiment.run("some", 3.0, epochs=1)


def test_test_labels_never_take_part_in_a_choice(experiment):
    """Scramble the test labels: curves, kept epochs and validation scores stay the same."""
    data = experiment.data
    rng = np.random.default_rng(0)
    scrambled = dataclasses.replace(data.test, labels=rng.permutation(data.test.labels))
    blind = FineTuneExperiment(
        dataclasses.replace(data, test=scrambled), head_epochs=experiment.head_epochs, progress=False
    )
    for build in (lambda e: e.head(1), lambda e: e.run("some", 1e-4, epochs=2, seed=1)):
        seen, unseen = build(experiment), build(blind)
        assert (unseen.history, unseen.best_epoch, unseen.val) == (seen.history, seen.best_epoch, seen.val)
        np.testing.assert_array_equal(unseen.test_predicted, seen.test_predicted)


def test_full_has_no_cut_and_trains_through_the_base_with_the_same_rules(experiment):
    run = experiment.run("full", 1e-5, epochs=2, seed=0)
    curve = run.history["val_balanced_accuracy"]
    assert run.strategy == "full" and len(curve) == 2
    assert run.val.balanced == pytest.approx(curve[run.best_epoch - 1], abs=1e-6), (
        "the kept weights are the best epoch's"
    )
    assert run.test is not None and run.test.n == len(experiment.data.test)


def test_a_scratch_run_starts_from_its_seeds_random_weights_and_repeats_exactly(experiment):
    from tlcourse.models import scratch_cnn

    data = experiment.data
    builds = []

    def build():
        builds.append(scratch_cnn(data.input_shape, data.num_classes))
        return builds[-1]

    scratch = ScratchExperiment(data, build, epochs=2, progress=False)
    first = scratch.run(0)
    curve = first.history["val_balanced_accuracy"]
    assert first.strategy == "scratch" and first.best_epoch == int(np.argmax(curve)) + 1
    assert first.val.balanced == pytest.approx(curve[first.best_epoch - 1], abs=1e-6)
    assert first.val.accuracy == pytest.approx(first.history["val_accuracy"][first.best_epoch - 1], abs=1e-6), (
        "the run scores validation once per epoch itself (no second pass by Keras), with fit's keys"
    )
    assert first.test is not None and first.test.n == len(data.test)
    other = scratch.run(1)
    assert other.history != first.history, "another seed, other initial weights and batches"
    assert scratch.run(0) is first, "each seed is trained once"
    again = ScratchExperiment(data, build, epochs=2, progress=False)
    again.run(1)  # a different order of seeds on a fresh experiment ...
    repeat = again.run(0)  # ... gives the seed-0 run exactly
    assert repeat.history == first.history
    np.testing.assert_array_equal(repeat.test_predicted, first.test_predicted)
    widths = iter([8, 16])
    odd = ScratchExperiment(
        data,
        lambda: keras.Sequential(
            [
                keras.Input(data.input_shape),
                keras.layers.Flatten(),
                keras.layers.Dense(next(widths)),
                keras.layers.Dense(2, activation="softmax"),
            ]
        ),
        epochs=1,
        progress=False,
    )
    odd.run(0)
    with pytest.raises(CourseError, match="same architecture"):
        odd.run(1)
    with pytest.raises(CourseError, match="outside"):
        ScratchExperiment(data, build, epochs=1, learning_rate=2.0)


def test_a_backbone_without_weights_is_the_same_architecture_with_random_weights():
    from tlcourse.backbones import load_backbone

    pretrained = load_backbone("efficientnet_lite0", (64, 64, 3)).model
    random = load_backbone("efficientnet_lite0", (64, 64, 3), weights=None).model
    assert [(w.path, tuple(w.shape)) for w in random.weights] == [(w.path, tuple(w.shape)) for w in pretrained.weights]
    kernel = "stem_conv"
    assert not np.allclose(random.get_layer(kernel).get_weights()[0], pretrained.get_layer(kernel).get_weights()[0])
    with pytest.raises(CourseError, match="'imagenet'"):
        load_backbone("efficientnet_lite0", (64, 64, 3), weights="random")


@pytest.fixture(scope="module")
def tiny(hymenoptera):
    return load_dataset("hymenoptera", 32, per_class=8, verbose=False).with_test_split(0.5, seed=0)


def _small_cnn(data):
    return keras.Sequential(
        [
            keras.Input(data.input_shape),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(data.num_classes, activation="softmax"),
        ]
    )


def test_patience_stops_a_run_on_a_plateau_and_keeps_its_best_epoch(tiny, tmp_path):
    build = lambda: _small_cnn(tiny)  # noqa: E731
    flat = dict(learning_rate=1e-9, augment=False, progress=False)  # steps too small to change a prediction
    everything = ScratchExperiment(tiny, build, 6, **flat).run(0)
    assert everything.epochs_trained == 6, "without patience a run trains every epoch, as before"
    stopped = ScratchExperiment(tiny, build, 6, patience=2, checkpoint_dir=tmp_path, **flat).run(0)
    assert (stopped.best_epoch, stopped.epochs_trained) == (1, 3), "a flat curve: epoch 1 kept, stopped 2 epochs later"
    again = ScratchExperiment(tiny, build, 6, patience=2, checkpoint_dir=tmp_path, resume=True, **flat).run(0)
    assert again.history == stopped.history and again.epochs_trained == 3, "a stopped run resumes as finished"

    learning = ScratchExperiment(tiny, build, 10, 1e-2, augment=False, progress=False, patience=3).run(0)
    curve = learning.history["val_balanced_accuracy"]
    assert learning.epochs_trained == len(curve) <= 10
    assert learning.best_epoch == int(np.argmax(curve)) + 1
    kept = curve[learning.best_epoch - 1]
    assert learning.val.balanced == pytest.approx(kept), "the kept weights are the best epoch's"
    if learning.epochs_trained < 10:  # it stopped: 3 epochs in a row did not beat the best
        assert learning.epochs_trained - learning.best_epoch == 3


def test_patience_is_a_whole_number_of_epochs(tiny):
    for wrong in (0, 1.5, True):
        with pytest.raises(CourseError, match="patience"):
            ScratchExperiment(tiny, lambda: _small_cnn(tiny), 3, patience=wrong)
    with pytest.raises(CourseError, match="patience"):
        FineTuneExperiment(tiny, patience=0)
