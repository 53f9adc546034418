"""The offline EfficientNet-Lite rebuild: architecture read from the weights, exact predictions."""

import numpy as np
import pytest

from tlcourse.catalogue import CATALOGUE
from tlcourse.efficientnet_lite import VARIANTS, block_specs, efficientnet_lite, weights_path
from tlcourse.imagenet import classify, load_classifier, prepare
from tlcourse.weights_reader import read_torch_state_dict


def test_lite0_blocks_follow_the_published_table():
    specs = block_specs(read_torch_state_dict(weights_path("efficientnet_lite0")))
    stages = {}
    for s in specs:
        stages.setdefault(s.name[:6], []).append(s)
    assert list(stages) == [f"block{i}" for i in range(1, 8)]
    assert [len(v) for v in stages.values()] == [1, 2, 2, 3, 3, 4, 1]
    assert [v[0].stride for v in stages.values()] == [1, 2, 2, 2, 1, 2, 1]
    assert [v[0].kernel for v in stages.values()] == [3, 3, 5, 3, 5, 5, 3]
    assert [v[-1].out_channels for v in stages.values()] == [16, 24, 40, 80, 112, 192, 320]
    assert not specs[0].expand and all(s.expand for s in specs[1:])
    assert all(s.stride == 1 for v in stages.values() for s in v[1:])


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_loads_with_all_its_parameters(name, no_network):
    size = CATALOGUE[name].native_size
    model = efficientnet_lite(name, (size, size, 3), include_top=True)
    assert model.count_params() == VARIANTS[name].params
    assert model.output_shape == (None, 1000)


def test_base_without_top_gives_a_1280_channel_map(no_network):
    base = efficientnet_lite("efficientnet_lite0", (160, 160, 3))
    assert base.output_shape == (None, 5, 5, 1280)
    assert base.get_layer("stem_conv").strides == (2, 2)
    assert base.get_layer("stem_conv").padding == "same"


def test_real_photos_get_the_expected_imagenet_classes(no_network):
    from skimage import data

    classifier = load_classifier("efficientnet_lite0")
    images = [prepare(img, 224) for img in (data.chelsea(), data.coffee(), data.stereo_motorcycle()[0])]
    cat, coffee, moto = classify(classifier, images, k=3)
    assert cat[0][0] in ("tiger cat", "Egyptian cat", "tabby, tabby cat")
    assert {name for name, _ in cat} >= {"tiger cat", "Egyptian cat"}
    assert coffee[0][0] == "espresso" and coffee[0][1] > 0.9
    assert moto[0][0] == "moped"


def test_wrong_preprocessing_breaks_predictions(no_network):
    """Raw 0..255 pixels instead of (x - 127) / 128: the espresso is no longer found."""
    from skimage import data

    model, preprocess = load_classifier("efficientnet_lite0")
    image = prepare(data.coffee(), 224)[None].astype(np.float32)
    right = model.predict(preprocess(image), verbose=0)[0]
    raw = model.predict(image, verbose=0)[0]
    espresso = 967
    assert right.argmax() == espresso
    assert raw[espresso] < 0.5 * right[espresso]
