"""Fine-tuning above the cut: the same model, the same training as ``fit`` without augmentation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tlcourse.backbones import load_backbone
from tlcourse.cut import fit_above_cut, split_at_cut
from tlcourse.datasets import load_dataset
from tlcourse.errors import CourseError
from tlcourse.freeze import apply_strategy
from tlcourse.models import transfer_model
from tlcourse.train import compile_classifier, fit

SHAPE = (96, 96, 3)


@pytest.fixture(scope="module")
def data():
    return load_dataset("hymenoptera", SHAPE[0], per_class=12, verbose=False)


def _model(strategy: str, head_weights=None) -> keras.Model:
    keras.utils.set_random_seed(0)  # the same dropout seed in every model built here
    model = transfer_model(load_backbone("efficientnet_lite0", SHAPE), 2)
    if head_weights is not None:
        model.get_layer("head").set_weights(head_weights)
    apply_strategy(model, strategy)
    return compile_classifier(model, 1e-4)


def test_the_two_parts_compute_the_model_and_share_its_weights():
    model = _model("most")
    cut = split_at_cut(model)
    x = np.random.default_rng(1).uniform(0, 255, (3, *SHAPE)).astype("float32")
    np.testing.assert_allclose(cut.top(cut.bottom(x)), model(x), rtol=1e-5, atol=1e-6)
    model_ids = {id(w) for w in model.weights}
    assert {id(w) for w in cut.top.weights} <= model_ids and {id(w) for w in cut.bottom.weights} <= model_ids
    assert not cut.bottom.trainable_weights, "nothing below the cut trains"
    assert {id(w) for w in cut.top.trainable_weights} == {id(w) for w in model.trainable_weights}


@pytest.mark.parametrize("strategy", ["head", "full"])
def test_head_and_full_have_no_cut_to_train_above(strategy):
    model = _model(strategy)
    assert split_at_cut(model) is None
    with pytest.raises(CourseError, match="'some' or 'most'"):
        fit_above_cut(model, None, epochs=1)


def test_training_above_the_cut_moves_the_weights_as_fit_does(data):
    """Same seed, batches, optimizer and dropout: the updates agree up to float rounding.

    The cached activations come from the BatchNormalization-folded bottom (``tlcourse.fold``),
    which rounds differently from the layers ``fit`` runs, and Adam divides by the running gradient
    size, so tiny gradients carry that rounding into the updates: each weight tensor's update must
    match ``fit``'s to 1 % of its size. Measured: at most 6.7e-5 on an AMD EPYC (2026-12-02), 3.2e-3 on
    an Intel Xeon with AVX-512/AMX (2026-12-05: oneDNN picks other kernels). Training that differs in
    substance is far outside that: the same path with another seed moves each tensor 28-100+ % away
    (the control at the end, which shows the comparison can fail).
    """
    head = _model("head").get_layer("head").get_weights()
    through, above, other = _model("some", head), _model("some", head), _model("some", head)
    before = [w.numpy().copy() for w in through.weights]
    ran = fit(through, data, epochs=2, batch_size=8, augment=False, seed=3, progress=False)
    cached = fit_above_cut(above, data, epochs=2, batch_size=8, seed=3, progress=False)
    fit_above_cut(other, data, epochs=2, batch_size=8, seed=4, progress=False)  # the control: another seed
    moved, control = 0, []
    for w_through, w_above, w_other, w0 in zip(through.weights, above.weights, other.weights, before):
        step_through, step_above = w_through.numpy() - w0, w_above.numpy() - w0
        size = np.linalg.norm(step_through)
        if size == 0:
            assert np.linalg.norm(step_above) == 0, f"{w_above.path} moved above the cut only"
            continue
        moved += 1
        assert np.linalg.norm(step_above - step_through) <= 1e-2 * size, w_above.path
        control.append(np.linalg.norm(w_other.numpy() - w_through.numpy()) / size)
    assert moved == len(through.trainable_weights), "every trainable tensor moved"
    assert np.median(control) > 0.1, "another seed's training should not pass for the same one"
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(cached.history[key], ran.history[key], rtol=1e-3, atol=1e-4, err_msg=key)
    assert cached.notes["cut"] == split_at_cut(above).block == "block5", "'some' trains block6 and up"


def test_the_flop_bound_grows_as_the_cut_moves_up():
    from tlcourse.bench import partial_bound
    from tlcourse.compute import count_flops

    some, most = split_at_cut(_model("some")), split_at_cut(_model("most"))
    assert partial_bound(some, 100, 0) > partial_bound(most, 100, 0) > 1, "less above the cut: more to save"
    bottom, top = count_flops(some.bottom), count_flops(some.top)
    assert partial_bound(some, 0, 10) == pytest.approx((bottom + top) / top), "validation: forward passes only"
