"""Grad-CAM: it looks where the object is, on the flat ImageNet classifier and on a nested transfer model."""

import warnings

import keras
import numpy as np
import pytest

from tlcourse.backbones import imagenet_class_names, load_backbone
from tlcourse.errors import CourseError
from tlcourse.gradcam import gradcam, spatial_layers
from tlcourse.imagenet import load_classifier, prepare
from tlcourse.models import transfer_model
from tlcourse.viz import overlay, plot_gradcam

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def classifier():
    return load_classifier("efficientnet_lite0")


@pytest.fixture(scope="module")
def coffee():
    return prepare(skimage_data.coffee(), 224)


def _centre_and_border(heatmap, border=0.125):
    h, w = heatmap.shape
    bh, bw = round(h * border), round(w * border)
    ring = np.ones_like(heatmap, bool)
    ring[bh:-bh, bw:-bw] = False
    centre = heatmap[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    return float(centre.mean()), float(heatmap[ring].mean())


def test_espresso_heatmap_is_on_the_cup_not_the_border(classifier, coffee):
    espresso = imagenet_class_names().index("espresso")
    heatmap = gradcam(classifier, coffee, class_index=espresso)
    assert heatmap.shape == (224, 224) and heatmap.dtype == np.float32
    assert 0.0 <= heatmap.min() and heatmap.max() <= 1.0 and heatmap.max() > 0.9
    centre, border = _centre_and_border(heatmap)
    assert centre > 2 * border, (centre, border)


def test_default_class_is_the_prediction_and_default_layer_the_last_feature_map(classifier, coffee):
    espresso = imagenet_class_names().index("espresso")
    assert spatial_layers(classifier)[-1] == "head_activation"
    np.testing.assert_allclose(
        gradcam(classifier, coffee), gradcam(classifier, coffee, espresso, layer="head_activation"), atol=1e-6
    )


def test_heatmap_has_the_size_of_the_image_whatever_the_model_input(classifier):
    photo = skimage_data.coffee()  # 400 x 600, resized to 224 for the model
    heatmap = gradcam(classifier, photo)
    assert heatmap.shape == photo.shape[:2]
    assert 0.0 <= heatmap.min() and heatmap.max() <= 1.0


def test_model_and_preprocess_given_separately_equal_the_pair(classifier, coffee):
    model, preprocess = classifier
    np.testing.assert_allclose(gradcam(model, coffee, preprocess=preprocess), gradcam(classifier, coffee), atol=1e-6)


def test_missing_preprocessing_is_warned_about(classifier, coffee):
    with pytest.warns(UserWarning, match="no preprocessing"):
        gradcam(classifier.model, coffee)


def test_nested_base_gives_the_same_map_as_the_flat_classifier(classifier, coffee):
    """A transfer model whose head holds the ImageNet classifier's weights is the same function."""
    model = transfer_model(load_backbone("efficientnet_lite0", (224, 224, 3)), 1000)
    model.get_layer("head").layers[-1].set_weights(classifier.model.get_layer("logits").get_weights())
    np.testing.assert_allclose(
        model.predict(coffee[None].astype("float32"), verbose=0),
        classifier.model.predict(classifier.preprocess(coffee[None].astype("float32")), verbose=0),
        atol=1e-5,
    )
    espresso = imagenet_class_names().index("espresso")
    for layer in ("head_activation", "block6a_project_bn"):
        nested = gradcam(model, coffee, espresso, layer=layer)
        flat = gradcam(classifier, coffee, espresso, layer=layer)
        np.testing.assert_allclose(nested, flat, atol=2e-3)


def test_transfer_model_at_160_px(lite0, coffee):
    model = transfer_model(lite0, 2)
    small = coffee[::2, ::2][:112, :112]
    heatmap = gradcam(model, small, class_index=1, layer="block5c_add")
    assert heatmap.shape == (112, 112) and 0.0 <= heatmap.min() and heatmap.max() <= 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the transfer model preprocesses inside: no warning
        gradcam(model, coffee)


def test_unknown_layer_is_a_clear_error(classifier, coffee):
    with pytest.raises(CourseError, match=r"no layer named 'conv_last'.*head_activation"):
        gradcam(classifier, coffee, layer="conv_last")


def test_layer_without_a_feature_map_is_refused(classifier, coffee):
    with pytest.raises(CourseError, match="not a .*feature map"):
        gradcam(classifier, coffee, layer="avg_pool")


@pytest.mark.parametrize("bad", [-1, 1000, 2.5, "espresso"])
def test_bad_class_index_is_a_clear_error(classifier, coffee, bad):
    with pytest.raises(CourseError, match="class_index"):
        gradcam(classifier, coffee, class_index=bad)


def test_bad_image_shape_is_a_clear_error(classifier):
    with pytest.raises(CourseError, match="RGB image"):
        gradcam(classifier, np.zeros((2, 224, 224, 3)))


def _tiny_base():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="tiny_conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="tiny_conv2")(x)
    return keras.Model(inputs, x, name="tiny_base")


def test_any_chain_around_a_nested_base_works():
    base = _tiny_base()
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.Sequential([keras.layers.Dropout(0.2), keras.layers.Dense(3, activation="softmax")], name="head")(x)
    model = keras.Model(inputs, outputs)
    image = np.random.default_rng(0).integers(0, 256, (48, 40, 3)).astype(np.uint8)
    for layer in (None, "tiny_conv1"):
        heatmap = gradcam(model, image, class_index=2, layer=layer)
        assert heatmap.shape == (48, 40) and 0.0 <= heatmap.min() and heatmap.max() <= 1.0


def test_branching_outer_model_is_refused():
    base = _tiny_base()
    inputs = keras.Input((32, 32, 3))
    x = base(inputs)
    a = keras.layers.GlobalAveragePooling2D()(x)
    b = keras.layers.GlobalMaxPooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Concatenate()([a, b]))
    model = keras.Model(inputs, outputs)
    with pytest.raises(CourseError, match="chain"):
        gradcam(model, np.zeros((32, 32, 3)), layer="tiny_conv1")


def test_overlay_and_plot(coffee):
    heatmap = np.zeros((224, 224), np.float32)
    heatmap[100:120, 100:120] = 1.0
    blended = overlay(coffee, heatmap)
    assert blended.shape == coffee.shape and blended.dtype == np.uint8
    assert not np.array_equal(blended[110, 110], blended[10, 10])
    assert overlay(coffee, heatmap[::4, ::4]).shape == coffee.shape  # a small map is resized
    fig = plot_gradcam([coffee, coffee], [heatmap, heatmap], ["a", "b"])
    assert len(fig.axes) == 4


def test_compiled_repeat_calls_match_the_first_eager_call(coffee):
    classifier = load_classifier("efficientnet_lite0")  # a fresh model: its first call runs eagerly
    first = gradcam(classifier, coffee, class_index=504, layer="block6d_add")  # 504 = coffee mug
    again = [gradcam(classifier, coffee, class_index=504, layer="block6d_add") for _ in range(2)]
    for heatmap in again:
        np.testing.assert_allclose(heatmap, first, atol=1e-5)
    other_class = gradcam(classifier, coffee, class_index=967, layer="block6d_add")
    assert not np.allclose(other_class, first, atol=1e-3)  # the class is an input, not baked into the trace
