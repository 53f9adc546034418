"""Widget state and its effect on the model, without a browser."""

import keras
import numpy as np
import pytest

from tlcourse.catalogue import LARGE_PER_CLASS, recommend_strategy
from tlcourse.freeze import trainable_summary
from tlcourse.models import transfer_model
from tlcourse.train import compile_classifier
from tlcourse.widgets import FreezeControl, LiveHistory, PhotoClassifier, StrategyAdvisor


@pytest.fixture
def model(lite0):
    return compile_classifier(transfer_model(lite0, 2))


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_initial_state_mirrors_the_model(model):
    control = FreezeControl(model)
    assert control.frozen_blocks == control.block_names  # transfer_model freezes the base
    assert control.slider.value == len(control.block_names) and control.strategy.value == "head"
    assert all(t.value for t in control.toggles.values())
    assert f"{_trainable(model):,}" in control.counts.value
    assert not control.needs_recompile


def test_slider_freezes_leading_blocks_and_updates_counts(model):
    control = FreezeControl(model)
    control.slider.value = 3
    assert control.frozen_blocks == ["stem", "block1", "block2"]
    assert control.strategy.value == "most"  # 3 of 9 blocks is what 'most' freezes
    assert f"{_trainable(model):,}" in control.counts.value
    assert not any(
        layer.trainable
        for layer in model.get_layer("efficientnet_lite0").layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )


def test_toggle_unfreezes_one_block_and_the_dropdown_says_custom(model):
    control = FreezeControl(model)
    before = _trainable(model)
    control.toggles["block4"].value = False
    assert "block4" not in control.frozen_blocks and len(control.frozen_blocks) == 8
    assert _trainable(model) > before
    assert control.strategy.value == "(custom)"


def test_strategy_dropdown_applies_the_strategy(model):
    control = FreezeControl(model)
    control.strategy.value = "full"
    assert control.frozen_blocks == [] and control.slider.value == 0
    assert trainable_summary(model).frozen > 0  # BatchNormalization statistics stay frozen


def test_recompile_reminder_until_compiled(model):
    control = FreezeControl(model, recompile=lambda m: compile_classifier(m, 1e-5))
    control.apply_strategy("some")
    assert control.needs_recompile and "compile the model again" in control.reminder.value
    assert "recompile" in control.summary()
    control.recompile()
    assert not control.needs_recompile and float(model.optimizer.learning_rate) == pytest.approx(1e-5)
    control.apply_strategy("head")
    assert control.needs_recompile
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")  # compiling by hand counts too
    assert not control.needs_recompile


def test_text_fallback_is_a_readable_summary(model):
    bundle = FreezeControl(model)._repr_mimebundle_()
    assert bundle["text/plain"].startswith("FreezeControl: 9/9 blocks frozen")
    assert "application/vnd.jupyter.widget-view+json" in bundle


@pytest.mark.parametrize(
    "per_class, similar, expected",
    [(50, True, "head"), (50, False, "some"), (LARGE_PER_CLASS, True, "most"), (5000, False, "full")],
)
def test_advisor_follows_the_size_by_similarity_table(per_class, similar, expected):
    assert recommend_strategy(per_class, similar)[0] == expected
    advisor = StrategyAdvisor(images_per_class=per_class, similar=similar)
    assert advisor.recommendation[0] == expected and expected in advisor.advice.value


def test_advisor_applies_to_a_freeze_control(model):
    control = FreezeControl(model)
    advisor = StrategyAdvisor(control, images_per_class=40, similar=False)
    assert advisor.apply() == "some"
    assert control.strategy.value == "some" and control.frozen_blocks == control.block_names[:6]
    advisor.similarity.value = "similar to ImageNet"
    assert "head" in advisor.summary()


def test_photo_classifier_finds_the_espresso():
    import io

    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.coffee()).save(buffer, format="PNG")
    classifier = PhotoClassifier()
    top = classifier.classify_bytes(buffer.getvalue(), "coffee.png")
    assert top[0][0] == "espresso" and len(top) == 5
    assert "espresso" in classifier.summary()
    assert classifier.classify_bytes(b"not an image", "x.jpg") == []


def test_live_history_prints_lines_without_widgets(capsys):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    live = LiveHistory(epochs=2, widgets_enabled=False)
    model.fit(np.zeros((4, 2)), np.array([0, 1, 0, 1]), epochs=2, verbose=0, callbacks=[live])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("epoch 1/2") and out[1].startswith("epoch 2/2") and "accuracy=" in out[1]
    assert len(live.history["loss"]) == 2 and live.progress.value == 2


def test_live_history_in_a_course_run_keeps_lines_not_a_widget(monkeypatch):
    import tlcourse.widgets as w

    monkeypatch.setattr(w, "_in_kernel", lambda: True)
    monkeypatch.delenv("TLCOURSE_HEADLESS", raising=False)  # the test session sets it for nbval's kernels
    assert LiveHistory(epochs=1).widgets_enabled  # in a notebook the user watches: the widget
    monkeypatch.setenv("TLCOURSE_HEADLESS", "1")  # what tlcourse run sets for its kernels
    assert not LiveHistory(epochs=1).widgets_enabled
