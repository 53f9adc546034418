"""Backbones: the catalogue, preprocessing, clear errors, offline behaviour."""

import sys

import numpy as np
import pytest

from tlcourse.backbones import CATALOGUE, OFFLINE_BACKBONES, Preprocess, imagenet_class_names, load_backbone
from tlcourse.errors import CourseError

from conftest import run_offline


def test_lite_preprocessing_is_x_minus_127_over_128():
    x = np.array([[[[0, 127, 255]]]], np.float32)
    np.testing.assert_allclose(np.asarray(Preprocess("lite")(x)), [[[[-127 / 128, 0, 1]]]], rtol=1e-6)


def test_caffe_preprocessing_swaps_to_bgr_and_subtracts_means():
    x = np.array([[[[10.0, 20.0, 30.0]]]], np.float32)
    out = np.asarray(Preprocess("caffe")(x))[0, 0, 0]
    np.testing.assert_allclose(out, [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=1e-5)


def test_tf_preprocessing_maps_to_minus_one_one():
    out = np.asarray(Preprocess("tf")(np.array([[[[0.0, 127.5, 255.0]]]], np.float32)))
    np.testing.assert_allclose(out, [[[[-1, 0, 1]]]], atol=1e-6)


def test_unknown_preprocessing_mode_is_refused():
    with pytest.raises(CourseError, match="unknown preprocessing mode"):
        Preprocess("imagenet")


def test_unknown_backbone_names_the_choices():
    with pytest.raises(CourseError, match="efficientnet_lite0"):
        load_backbone("resnet18")


def test_too_small_an_image_says_the_minimum():
    with pytest.raises(CourseError, match="at least 32 px"):
        load_backbone("efficientnet_lite0", (16, 16, 3))
    with pytest.raises(CourseError, match="at least 75 px"):
        load_backbone("inception_v3", (64, 64, 3))


def test_wrong_channel_count_is_refused():
    with pytest.raises(CourseError, match=r"\(height, width, 3\)"):
        load_backbone("efficientnet_lite0", (160, 160, 1))


def test_offline_backbone_loads_with_no_network(no_network, lite0):
    base, preprocess = load_backbone("efficientnet_lite0", (128, 128, 3))
    assert base.output_shape == (None, 4, 4, 1280)
    assert preprocess.mode == "lite"


def test_keras_application_offline_fails_fast_naming_the_offline_backbones(tmp_path):
    """No cached weights and no network: one clear error, exit 2, not a hang or a traceback."""
    code = (
        "from tlcourse.backbones import load_backbone\n"
        "from tlcourse.errors import CourseError\n"
        "try:\n    load_backbone('mobilenet_v2', (160, 160, 3))\n"
        "except CourseError as e:\n    print('ERR', e); raise SystemExit(2)\n"
    )
    result = run_offline([sys.executable, "-c", code], env={"KERAS_HOME": str(tmp_path)}, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "efficientnet_lite0" in result.stdout and "offline" in result.stdout


def test_catalogue_covers_the_families_the_course_names():
    families = {"vgg16", "vgg19", "resnet50", "inception_v3", "mobilenet_v2", "xception", "efficientnet_b0"}
    assert families <= set(CATALOGUE)
    assert set(OFFLINE_BACKBONES) <= set(CATALOGUE)
    assert all(0 < info.imagenet_top1 < 100 and info.params_millions > 0 for info in CATALOGUE.values())


def test_imagenet_class_names_are_available_offline(no_network):
    names = imagenet_class_names()
    assert len(names) == 1000
    assert names[281].startswith("tabby") and names[967] == "espresso"
