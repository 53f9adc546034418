"""Freezing by block: the four strategies, BatchNormalization always frozen, the summary."""

import keras
import pytest

from tlcourse.catalogue import STRATEGIES
from tlcourse.errors import CourseError
from tlcourse.freeze import (
    apply_strategy,
    blocks,
    freeze_up_to,
    frozen_blocks,
    set_frozen_blocks,
    strategy_frozen_count,
    trainable_summary,
)
from tlcourse.models import transfer_model

LITE0_BLOCKS = ["stem"] + [f"block{i}" for i in range(1, 8)] + ["head"]


@pytest.fixture(scope="module")
def model(lite0):
    return transfer_model(lite0, 2)


def _bn_layers(model):
    base = model.get_layer("efficientnet_lite0")
    return [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]


def test_lite0_blocks_are_named_in_order(model):
    assert list(blocks(model)) == LITE0_BLOCKS
    every_weighted = {w.path for layer in model.get_layer("efficientnet_lite0").layers for w in layer.weights}
    grouped = {w.path for layers in blocks(model).values() for layer in layers for w in layer.weights}
    assert grouped == every_weighted


@pytest.mark.parametrize(
    "strategy, frozen",
    [("full", []), ("most", LITE0_BLOCKS[:3]), ("some", LITE0_BLOCKS[:6]), ("head", LITE0_BLOCKS)],
)
def test_strategies_freeze_leading_blocks_and_never_batchnorm(model, strategy, frozen):
    apply_strategy(model, strategy)
    assert frozen_blocks(model) == frozen
    assert not any(layer.trainable for layer in _bn_layers(model))
    summary = trainable_summary(model)
    assert summary.trainable + summary.frozen == model.count_params()
    assert summary.trainable == sum(int(w.numpy().size) for w in model.trainable_weights)
    assert summary.rows[-1].block == "classifier" and summary.rows[-1].trainable == 1280 * 2 + 2


def test_more_frozen_means_fewer_trainable_parameters(model):
    counts = []
    for strategy in STRATEGIES:
        apply_strategy(model, strategy)
        counts.append(trainable_summary(model).trainable)
    assert counts == sorted(counts, reverse=True) and len(set(counts)) == 4


def test_changing_strategy_back_and_forth_is_consistent(model):
    apply_strategy(model, "some")
    first = trainable_summary(model).trainable
    apply_strategy(model, "head")
    apply_strategy(model, "full")
    apply_strategy(model, "some")
    assert trainable_summary(model).trainable == first


def test_freeze_up_to_and_explicit_blocks(model):
    freeze_up_to(model, 2)
    assert frozen_blocks(model) == ["stem", "block1"]
    set_frozen_blocks(model, ["block3", "head"])
    assert frozen_blocks(model) == ["block3", "head"]
    with pytest.raises(CourseError, match="unknown block"):
        set_frozen_blocks(model, ["block9"])
    with pytest.raises(CourseError, match="between 0 and 9"):
        freeze_up_to(model, 10)


def test_unknown_strategy_lists_the_four():
    with pytest.raises(CourseError, match="full, most, some, head"):
        strategy_frozen_count("half", 9)


def test_summary_prints_a_table(model):
    apply_strategy(model, "head")
    text = str(trainable_summary(model))
    assert text.splitlines()[0].split() == ["block", "trainable", "frozen"]
    assert "block6" in text and text.splitlines()[-1].startswith("total")


@pytest.mark.parametrize(
    "app, expected",
    [
        ("MobileNetV2", ["stem", "block0", "block1", "head"]),
        ("ResNet50", ["stem", "conv2", "conv3", "conv4", "conv5"]),
        ("VGG16", ["block1", "block2", "block3", "block4", "block5"]),
        ("EfficientNetB0", ["stem", "block1", "block7", "head"]),
    ],
)
def test_keras_application_layers_group_into_blocks(app, expected):
    """Block rules on the real Keras architectures (random weights: no download needed)."""
    model = getattr(keras.applications, app)(weights=None, include_top=False, input_shape=(96, 96, 3))
    groups = list(blocks(model))
    assert [g for g in groups if g in expected] == expected
    weighted = [layer for layer in model.layers if layer.weights]
    assert sum(len(v) for v in blocks(model).values()) >= len(weighted)


def test_the_lessons_hand_written_unfreezing_is_what_some_sets_up(model):
    """Lesson 5 unfreezes block6, block7 and head_* by hand (BN frozen) and says it equals apply_strategy('some')."""
    apply_strategy(model, "some")
    expected = {w.path for w in model.trainable_weights}
    apply_strategy(model, "head")
    base = model.get_layer("efficientnet_lite0")
    base.trainable = True
    for layer in base.layers:  # the lesson's cell, line for line
        in_top_blocks = layer.name.startswith(("block6", "block7", "head_"))
        layer.trainable = in_top_blocks and not isinstance(layer, keras.layers.BatchNormalization)
    assert {w.path for w in model.trainable_weights} == expected
