"""The checks of lessons 4 and 6: right answers pass, typical mistakes get specific partial
credit, and any value a student may assign gives feedback, never a crash."""

import math

import keras
import numpy as np
import pytest

from tlcourse.checks import evaluate, exercises_of
from tlcourse.checks.lesson04 import toy_lite_model
from tlcourse.freeze import blocks, find_base
from tlcourse_keys import lesson06 as l6

# --------------------------------------------------------------------------- reference answers


def choose_strategy(size, similarity):
    if size == "small":
        return "head" if similarity == "similar" else "some"
    return "most" if similarity == "similar" else "full"


def batchnorm(x, gamma, beta, moving_mean, moving_var, training, epsilon=1e-3):
    x = np.asarray(x, dtype=float)
    if training:
        axes = tuple(range(x.ndim - 1))
        moving_mean, moving_var = x.mean(axis=axes), x.var(axis=axes)
    return gamma * (x - moving_mean) / np.sqrt(moving_var + epsilon) + beta


def prepare_fine_tuning(model, train_blocks, head_lr):
    base = find_base(model)
    base.trainable = True
    for layer in base.layers:
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = layer.name.startswith(tuple(train_blocks)) and not is_bn
    model.compile(keras.optimizers.Adam(head_lr / 30), "sparse_categorical_crossentropy", metrics=["accuracy"])


def needs_recompile(model):
    if model.optimizer is None or not model.optimizer.built:
        return False
    tracked = sum(v.name.endswith("_momentum") for v in model.optimizer.variables)
    return tracked != len(model.trainable_weights)


def features_plus_classifier(train_x, train_y, val_x, val_y):
    from sklearn.linear_model import LogisticRegression

    return float(LogisticRegression(max_iter=2000).fit(train_x, train_y).score(val_x, val_y))


def balanced_accuracy(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]))


def transfer_gain(scratch, transfer, n):
    se = math.sqrt(scratch * (1 - scratch) / n + transfer * (1 - transfer) / n)
    return 100 * (transfer - scratch), abs(transfer - scratch) > 2 * se


RIGHT = {
    "4.1": {"choose_strategy": choose_strategy},
    "4.2": {"batchnorm": batchnorm},
    "4.3": {"prepare_fine_tuning": prepare_fine_tuning},
    "4.4": {"needs_recompile": needs_recompile},
    "6.1": {"features_plus_classifier": features_plus_classifier},
    "6.2": {"balanced_accuracy": balanced_accuracy},
    "6.3": {"transfer_gain": transfer_gain},
    "6.4": {
        "scenario": {
            "A": "similar domains",
            "B": "different domain",
            "C": "small data set",
            "D": "similar architecture",
        }
    },
    "6.5": {"feature_extractor": l6.reference_feature_extractor},
}


def test_every_exercise_of_both_lessons_is_covered():
    ids = {e.id for e in exercises_of("04_fine_tuning_strategies")} | {
        e.id for e in exercises_of("06_when_to_transfer")
    }
    assert ids == set(RIGHT)


@pytest.mark.parametrize("exercise_id", sorted(RIGHT))
def test_right_answers_pass(exercise_id):
    feedback = evaluate(exercise_id, RIGHT[exercise_id])
    assert feedback.status == "pass", str(feedback)


@pytest.mark.parametrize("exercise_id", sorted(RIGHT))
@pytest.mark.parametrize("value", [3, "text", [1, 2], {"a": 1}, lambda *a: None, lambda *a: 1 / 0, np.zeros(3)])
def test_any_value_gives_feedback_not_an_error(exercise_id, value):
    (name,) = RIGHT[exercise_id]
    feedback = evaluate(exercise_id, {name: value})
    assert feedback.status in ("fail", "partial", "missing"), str(feedback)  # missing: a do-nothing lambda
    assert feedback.wrong and feedback.points < feedback.max_points


def test_unanswered_is_missing():
    assert evaluate("4.3", {"prepare_fine_tuning": None}).status == "missing"


# --------------------------------------------------------------------------- typical mistakes


def test_41_partial_credit_names_the_wrong_quadrant_without_giving_its_answer():
    fb = evaluate("4.1", {"choose_strategy": lambda size, sim: "head" if size == "small" else "full"})
    assert fb.status == "partial" and fb.points == 2
    assert any("small & different" in w for w in fb.wrong)
    assert not any("'some'" in w or "'most'" in w for w in fb.wrong), fb.wrong  # the key is not quoted


def test_41_and_44_a_canned_answer_earns_nothing():
    assert evaluate("4.1", {"choose_strategy": lambda size, sim: "some"}).points == 0
    assert evaluate("4.4", {"needs_recompile": lambda model: False}).points == 0


def test_42_statistics_over_the_batch_axis_only_is_explained():
    def per_axis0(x, gamma, beta, mean, var, training, epsilon=1e-3):
        x = np.asarray(x, float)
        if training:
            mean, var = x.mean(axis=0), x.var(axis=0)
        return gamma * (x - mean) / np.sqrt(var + epsilon) + beta

    fb = evaluate("4.2", {"batchnorm": per_axis0})
    assert fb.points == 3 and "batch, height and width" in " ".join(fb.wrong)


def test_43_forgetting_to_recompile_and_bn_is_caught():
    def no_compile(model, train_blocks, head_lr):
        base = find_base(model)
        base.trainable = True
        for layer in base.layers:
            layer.trainable = layer.name.startswith(tuple(train_blocks))

    fb = evaluate("4.3", {"prepare_fine_tuning": no_compile})
    text = " ".join(fb.wrong)
    assert fb.status == "partial"
    assert "BatchNormalization" in text and "compile" in text and "10–100×" in text


def test_43_reusing_the_old_optimizer_is_explained():
    def same_optimizer(model, train_blocks, head_lr):
        phase1_optimizer = model.optimizer  # built in phase 1 for the head's weights only
        prepare_fine_tuning(model, train_blocks, head_lr)
        model.compile(phase1_optimizer, "sparse_categorical_crossentropy")

    fb = evaluate("4.3", {"prepare_fine_tuning": same_optimizer})
    assert "still holds phase 1's optimizer" in " ".join(fb.wrong) and fb.points == 4  # and phase 1's rate


def test_43_setting_an_optimizer_without_compiling_is_caught():
    def assigned(model, train_blocks, head_lr):
        prepare_fine_tuning(model, train_blocks, head_lr)
        model.compile(keras.optimizers.Adam(head_lr), "sparse_categorical_crossentropy")  # phase 1's rate
        model.optimizer = keras.optimizers.Adam(head_lr / 30)  # swapped in afterwards, never compiled

    fb = evaluate("4.3", {"prepare_fine_tuning": assigned})
    assert fb.points < fb.max_points and "compile it again" in " ".join(fb.wrong)


def test_44_counting_trainable_weights_only_is_not_enough():
    fb = evaluate("4.4", {"needs_recompile": lambda m: len(m.trainable_weights) > 2})
    assert fb.status in ("partial", "fail")


def test_61_a_constant_accuracy_earns_nothing():
    fb = evaluate("6.1", {"features_plus_classifier": lambda train_x, train_y, val_x, val_y: 0.95})
    assert fb.points == 0 and "whatever its input" in fb.message


def test_61_fitting_on_validation_data_is_detected():
    from sklearn.linear_model import LogisticRegression

    def cheat(train_x, train_y, val_x, val_y):
        return float(LogisticRegression(max_iter=2000).fit(val_x, val_y).score(val_x, val_y))

    fb = evaluate("6.1", {"features_plus_classifier": cheat})
    assert fb.points == 0 and "validation" in " ".join(fb.wrong)  # 1.0 everywhere, random labels included


def test_62_plain_accuracy_is_recognised():
    fb = evaluate("6.2", {"balanced_accuracy": lambda t, p: float(np.mean(np.asarray(t) == np.asarray(p)))})
    assert "plain accuracy" in " ".join(fb.wrong)


def test_63_fraction_instead_of_points_is_recognised():
    def as_fraction(s, t, n):
        gain, significant = transfer_gain(s, t, n)
        return gain / 100, significant

    fb = evaluate("6.3", {"transfer_gain": as_fraction})
    assert fb.points == 0 and "multiply the difference by 100" in " ".join(fb.wrong)


def test_64_wrong_label_and_unknown_label():
    fb = evaluate("6.4", {"scenario": {"A": "similar domains", "B": "small data set", "C": "tiny", "D": None}})
    assert fb.points == 1 and len(fb.wrong) == 3


# --------------------------------------------------------------------------- the toy model


def test_65_the_features_must_be_preprocessed_and_averaged_and_the_base_frozen():
    raw = lambda b: l6.reference_feature_extractor(b, preprocessed=False)  # noqa: E731
    unprocessed = evaluate("6.5", {"feature_extractor": raw})
    assert unprocessed.status == "partial" and all("preprocessing comes first" in w for w in unprocessed.wrong)
    max_pooled = evaluate("6.5", {"feature_extractor": lambda b: l6.reference_feature_extractor(b, pooling="max")})
    assert all("max pooling" in w for w in max_pooled.wrong)

    def flattened_and_trainable(backbone):
        base, preprocess = backbone
        inputs = keras.Input(base.input_shape[1:])
        return keras.Model(inputs, keras.layers.Flatten()(base(preprocess(inputs))))

    fb = evaluate("6.5", {"feature_extractor": flattened_and_trainable})
    assert fb.points == pytest.approx(1)  # only "the base is inside", on both cases
    assert any("freeze the base" in w for w in fb.wrong) and any("one pooled vector" in w for w in fb.wrong)


def test_toy_model_has_the_lite0_blocks():
    model = toy_lite_model()
    assert list(blocks(model)) == ["stem"] + [f"block{i}" for i in range(1, 8)] + ["head"]
    assert model.count_params() < 20_000
