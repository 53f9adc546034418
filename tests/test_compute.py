"""FLOP and parameter counts against published figures."""

import keras
import pytest

from tlcourse.compute import count_flops, count_params
from tlcourse.models import scratch_cnn


def test_scratch_cnn_flops_by_hand():
    # conv1 160x160x(3*9)x32, conv2 80x80x(32*9)x64, conv3 40x40x(64*9)x128, dense 12800->128, 128->2
    expected = 2 * (160 * 160 * 27 * 32 + 80 * 80 * 288 * 64 + 40 * 40 * 576 * 128 + 20 * 20 * 128 * 128 + 128 * 2)
    assert count_flops(scratch_cnn((160, 160, 3), 2)) == expected


def test_lite0_matches_its_published_cost(lite0):
    from tlcourse.efficientnet_lite import efficientnet_lite

    flops = count_flops(efficientnet_lite("efficientnet_lite0", (224, 224, 3), include_top=True))
    assert flops == pytest.approx(0.77e9, rel=0.05)  # published: ~0.4 G multiply-adds


def test_mobilenet_v2_matches_its_published_cost():
    model = keras.applications.MobileNetV2(weights=None, include_top=True)
    assert count_flops(model) == pytest.approx(0.6e9, rel=0.05)  # published: 300 M multiply-adds


def test_param_counts_split_trainable_and_frozen():
    model = scratch_cnn((64, 64, 3), 2)
    model.get_layer("conv1").trainable = False
    counts = count_params(model)
    assert counts["frozen"] == 3 * 3 * 3 * 32 + 32
    assert counts["trainable"] + counts["frozen"] == counts["total"] == model.count_params()


def test_separable_convolutions_are_counted():
    inputs = keras.Input((16, 16, 8))
    outputs = keras.layers.SeparableConv2D(4, 3, padding="same")(inputs)
    model = keras.Model(inputs, outputs)
    assert count_flops(model) == 2 * 16 * 16 * (9 * 8 + 8 * 4)
