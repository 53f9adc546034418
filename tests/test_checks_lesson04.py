"""Lesson 4's checks: the mistakes particular to its exercises get partial credit and are named,
and a right answer other than the master's (other words, another way) still earns every point.

That the master's answer passes, junk gets feedback and nothing is "missing" is tested once, for every
exercise, in ``test_checks_contract.py``; a mistake here starts from the answer key's reference
function or from the master's own answer (``masters.py``), never from an answer typed again.
"""

import keras
import numpy as np

from tlcourse.checks import evaluate
from tlcourse.checks.toys import toy_lite_model
from tlcourse.freeze import blocks, find_base
from tlcourse_keys import lesson04 as l4

from masters import master_answers


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
        if training:  # the key's normalisation, with the batch's statistics over axis 0 alone
            x = np.asarray(x, float)
            return l4.reference_bn(x, gamma, beta, x.mean(axis=0), x.var(axis=0), False, epsilon)
        return l4.reference_bn(x, gamma, beta, mean, var, False, epsilon)

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
    prepare_fine_tuning = master_answers("4.3")["prepare_fine_tuning"]

    def same_optimizer(model, train_blocks, head_lr):
        phase1_optimizer = model.optimizer  # built in phase 1 for the head's weights only
        prepare_fine_tuning(model, train_blocks, head_lr)
        model.compile(phase1_optimizer, "sparse_categorical_crossentropy")

    fb = evaluate("4.3", {"prepare_fine_tuning": same_optimizer})
    assert "still holds phase 1's optimizer" in " ".join(fb.wrong) and fb.points == 4  # and phase 1's rate


def test_43_setting_an_optimizer_without_compiling_is_caught():
    prepare_fine_tuning = master_answers("4.3")["prepare_fine_tuning"]

    def assigned(model, train_blocks, head_lr):
        prepare_fine_tuning(model, train_blocks, head_lr)
        model.compile(keras.optimizers.Adam(head_lr), "sparse_categorical_crossentropy")  # phase 1's rate
        model.optimizer = keras.optimizers.Adam(head_lr / 30)  # swapped in afterwards, never compiled

    fb = evaluate("4.3", {"prepare_fine_tuning": assigned})
    assert fb.points < fb.max_points and "compile it again" in " ".join(fb.wrong)


def test_44_counting_the_optimizers_own_variables_earns_every_point():
    def needs_recompile(model):  # without the lesson's tracked_by_optimizer: Adam's momentum, one per weight
        if model.optimizer is None or not model.optimizer.built:
            return False
        tracked = sum(v.name.endswith("_momentum") for v in model.optimizer.variables)
        return tracked != len(model.trainable_weights)

    feedback = evaluate("4.4", {"needs_recompile": needs_recompile})
    assert feedback.status == "pass" and feedback.points == feedback.max_points, str(feedback)


def test_44_counting_trainable_weights_only_is_not_enough():
    fb = evaluate("4.4", {"needs_recompile": lambda m: len(m.trainable_weights) > 2})
    assert fb.status in ("partial", "fail")


def test_toy_model_has_the_lite0_blocks():
    model = toy_lite_model()
    assert list(blocks(model)) == ["stem"] + [f"block{i}" for i in range(1, 8)] + ["head"]
    assert model.count_params() < 20_000
