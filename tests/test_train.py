"""Training: timing and history, the cached-features path, saving."""

import keras
import numpy as np
import pytest

from tlcourse.errors import CourseError
from tlcourse.models import scratch_cnn, transfer_model
from tlcourse.train import FitResult, compile_classifier, evaluate, fit, fit_cached, save_run


@pytest.fixture(scope="module")
def small(hymenoptera):
    return hymenoptera.per_class(12, seed=0)


def test_cached_head_training_is_the_same_head_as_the_full_model(lite0, small):
    keras.utils.set_random_seed(0)
    model = compile_classifier(transfer_model(lite0, 2))
    result = fit_cached(model, small, epochs=40, progress=False)
    assert result.epochs == 40 and result.extract_seconds > 0 and result.seconds >= result.extract_seconds
    full = evaluate(model, small)["accuracy"]
    assert abs(full - result.val_accuracy) < 1e-6  # the full model holds the trained head
    assert result.val_accuracy > 0.7  # 24 images, pretrained features: well above chance


def test_cached_path_refuses_a_trainable_base(lite0, small):
    model = compile_classifier(transfer_model(lite0, 2, strategy="some"))
    with pytest.raises(CourseError, match="frozen base"):
        fit_cached(model, small, epochs=1, progress=False)


def test_uncompiled_model_gets_a_clear_error(small):
    with pytest.raises(CourseError, match="not compiled"):
        fit(scratch_cnn(small.input_shape, 2), small, epochs=1, progress=False)


def test_fit_records_history_and_time(small):
    model = compile_classifier(scratch_cnn(small.input_shape, 2))
    result = fit(model, small.per_class(4), epochs=2, progress=False)
    assert set(result.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.epochs == 2 and result.seconds > 0


def test_epochs_to_a_target_accuracy():
    result = FitResult({"loss": [1, 1, 1], "val_accuracy": [0.5, 0.8, 0.9]}, 1.0)
    assert result.epochs_to(0.8) == 2 and result.epochs_to(0.95) is None
    assert result.best_val_accuracy == 0.9 and result.val_accuracy == 0.9


def test_saved_model_reloads_with_the_same_predictions(lite0, small, tmp_path):
    model = compile_classifier(transfer_model(lite0, 2))
    result = fit_cached(model, small, epochs=1, progress=False)
    save_run(model, result.history, {"val_accuracy": result.val_accuracy}, tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["history.json", "model.keras", "summary.json"]
    reloaded = keras.models.load_model(tmp_path / "run" / "model.keras")
    x = small.val.images[:4].astype(np.float32)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
