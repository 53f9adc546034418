"""Feature cache: reused for the same weights and images, never for changed ones."""

import numpy as np

import tlcourse.features as features
from tlcourse.cache import cache_dir
from tlcourse.models import feature_extractor, transfer_model


def _images(n=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 160, 160, 3)).astype(np.uint8)


def test_cached_features_equal_a_fresh_forward_pass(lite0):
    extractor = feature_extractor(transfer_model(lite0, 2))
    images = _images()
    first = features.features_of(extractor, images)
    features._MEMORY.clear()
    from_disk = features.features_of(extractor, images)
    fresh = features.features_of(extractor, images, use_cache=False)
    np.testing.assert_allclose(from_disk, first)
    np.testing.assert_allclose(fresh, first, atol=1e-5)
    assert first.shape == (6, 1280)


def test_other_images_or_changed_weights_get_new_features(lite0):
    model = transfer_model(lite0, 2)
    extractor = feature_extractor(model)
    a = features.features_of(extractor, _images(seed=1))
    b = features.features_of(extractor, _images(seed=2))
    assert not np.allclose(a, b)
    before = features.weights_fingerprint(extractor)
    kernel = extractor.get_layer("efficientnet_lite0").get_layer("head_conv")
    kernel.kernel.assign(kernel.kernel * 1.01)
    assert features.weights_fingerprint(extractor) != before
    c = features.features_of(extractor, _images(seed=1))
    assert not np.allclose(a, c)
    kernel.kernel.assign(kernel.kernel / 1.01)


def test_a_corrupt_feature_file_is_rebuilt(lite0, tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "cache"))  # its own: it corrupts every file in it
    extractor = feature_extractor(transfer_model(lite0, 2))
    images = _images(seed=3)
    good = features.features_of(extractor, images)
    features._MEMORY.clear()
    for path in (cache_dir() / "features").glob("*.npz"):
        path.write_bytes(path.read_bytes()[:50])
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = features.features_of(extractor, images)
    assert any("corrupt" in str(w.message) for w in caught)
    np.testing.assert_allclose(again, good, atol=1e-5)


def test_freezing_does_not_change_the_cache_key(lite0):
    from tlcourse.freeze import apply_strategy

    model = transfer_model(lite0, 2)
    extractor = feature_extractor(model)
    frozen = features.weights_fingerprint(extractor)
    apply_strategy(model, "full")
    assert features.weights_fingerprint(extractor) == frozen


def test_folded_batchnorm_copy_computes_the_same_features(lite0):
    """The faster extraction path (BN merged into the convolutions) agrees with the model itself."""
    import keras

    from tlcourse.fold import fold_batchnorm

    extractor = feature_extractor(transfer_model(lite0, 2))
    folded = fold_batchnorm(extractor)
    base = folded.get_layer("efficientnet_lite0")
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in base.layers)
    x = _images(4, seed=3).astype("float32")
    want = keras.ops.convert_to_numpy(extractor(x, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(folded(x, training=False)), want, atol=1e-3, rtol=1e-3)
    np.testing.assert_allclose(features.features_of(extractor, x, use_cache=False), want, atol=1e-3, rtol=1e-3)


def test_extraction_after_fine_tuning_uses_the_new_weights(lite0):
    """The compiled (folded) forward pass is rebuilt when the weights change, never reused stale."""
    import keras

    extractor = feature_extractor(transfer_model(lite0, 2))
    x = _images(4, seed=4).astype("float32")
    before = features.features_of(extractor, x, use_cache=False)
    bn = extractor.get_layer("efficientnet_lite0").get_layer("head_bn")
    bn.gamma.assign(bn.gamma * 1.5)  # what fine-tuning (or a changed BN) does to a folded copy's source
    try:
        after = features.features_of(extractor, x, use_cache=False)
        want = keras.ops.convert_to_numpy(extractor(x, training=False))
        assert not np.allclose(after, before)
        np.testing.assert_allclose(after, want, atol=1e-3, rtol=1e-3)
    finally:
        bn.gamma.assign(bn.gamma / 1.5)
