"""Lesson 6's checks: the mistakes particular to its exercises get partial credit and are named,
and a right answer other than the master's (other words, another way) still earns every point.

That the master's answer passes, junk gets feedback and nothing is "missing" is tested once, for every
exercise, in ``test_checks_contract.py``; a mistake here starts from the answer key's reference
function, never from an answer typed again.
"""

import keras
import numpy as np
import pytest

from tlcourse.checks import evaluate
from tlcourse_keys import lesson06 as l6


def test_61_another_fair_classifier_earns_every_point():
    from sklearn.linear_model import LogisticRegression

    def unscaled(train_x, train_y, val_x, val_y):  # not the master's pipeline: no scaler, the default C
        return float(LogisticRegression(max_iter=2000).fit(train_x, train_y).score(val_x, val_y))

    feedback = evaluate("6.1", {"features_plus_classifier": unscaled})
    assert feedback.status == "pass" and feedback.points == feedback.max_points, str(feedback)


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
        gain, significant = l6.reference_gain(s, t, n)
        return gain / 100, significant

    fb = evaluate("6.3", {"transfer_gain": as_fraction})
    assert fb.points == 0 and "multiply the difference by 100" in " ".join(fb.wrong)


def test_64_wrong_label_and_unknown_label():
    fb = evaluate("6.4", {"scenario": {"A": "similar domains", "B": "small data set", "C": "tiny", "D": None}})
    assert fb.points == 1 and len(fb.wrong) == 3


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
