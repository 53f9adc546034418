"""The two model kinds, and the BatchNormalization behaviour the course teaches."""

import keras
import numpy as np

from tlcourse.models import feature_extractor, scratch_cnn, transfer_model


def test_scratch_cnn_is_the_seeds_small_cnn():
    model = scratch_cnn((160, 160, 3), 2)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert [c.filters for c in convs] == [32, 64, 128] and len(pools) == 3
    assert model.get_layer("dense").units == 128
    assert isinstance(model.get_layer("dropout"), keras.layers.Dropout)
    assert model.output_shape == (None, 2)
    assert model.count_params() == 6_647_234  # 20x20x128 flattened into dense 128 dominates


def test_transfer_model_structure(lite0):
    model = transfer_model(lite0, 3)
    assert model.output_shape == (None, 3)
    assert [type(layer).__name__ for layer in model.layers[1:]] == [
        "Preprocess",
        "Functional",
        "GlobalAveragePooling2D",
        "Sequential",
    ]
    assert feature_extractor(model).output_shape == (None, 1280)


def _one_bn_base(trainable_bn: bool):
    inputs = keras.Input((4,))
    bn = keras.layers.BatchNormalization(name="bn")
    bn.trainable = trainable_bn
    return keras.Model(inputs, bn(inputs)), bn


def _outer_call(base, x, training):
    inputs = keras.Input((4,))
    outer = keras.Model(inputs, base(inputs, training=False))
    return np.asarray(outer(x, training=training))


def test_nested_training_false_does_not_protect_a_trainable_bn_under_training_true():
    """Keras 3.15: the outer call's training=True overrides the nested training=False."""
    x = np.random.default_rng(0).normal(5.0, 1.0, (64, 4)).astype("float32")
    base, bn = _one_bn_base(trainable_bn=True)
    out = _outer_call(base, x, training=True)
    assert abs(out.mean()) < 0.1  # batch statistics were used
    assert np.abs(np.asarray(bn.moving_mean)).max() > 0.01  # and the moving mean moved


def test_bn_trainable_false_keeps_inference_statistics_under_training_true():
    x = np.random.default_rng(0).normal(5.0, 1.0, (64, 4)).astype("float32")
    base, bn = _one_bn_base(trainable_bn=False)
    out = _outer_call(base, x, training=True)
    assert abs(out.mean() - 5.0) < 0.1  # moving statistics (0 mean, 1 var) were used
    assert np.allclose(np.asarray(bn.moving_mean), 0.0)


def test_fit_with_full_strategy_leaves_bn_statistics_untouched(lite0):
    model = transfer_model(lite0, 2, strategy="full")
    base = model.get_layer("efficientnet_lite0")
    before = np.asarray(base.get_layer("stem_bn").moving_mean).copy()
    conv_before = np.asarray(base.get_layer("stem_conv").kernel).copy()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(0, 255, (8, 160, 160, 3)).astype("float32")
    model.fit(x, np.array([0, 1] * 4), epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(np.asarray(base.get_layer("stem_bn").moving_mean), before)
    assert not np.allclose(np.asarray(base.get_layer("stem_conv").kernel), conv_before)  # convs did train
