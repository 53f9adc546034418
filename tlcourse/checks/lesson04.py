"""Checks of lesson 4, fine-tuning strategies.

Every check builds its own inputs and calls the student's function on them, so it cannot
be fooled by other notebook variables: a toy EfficientNet-Lite (same layer names and
blocks as the real one, a few channels, random weights, 32 px) stands in for the
pretrained model and trains in milliseconds.
"""

from __future__ import annotations

import numpy as np

from tlcourse.checks import exercise
from tlcourse.checks.answers import call, not_a_function

LESSON = "04_fine_tuning_strategies"
BLOCK_ORDER = ["stem"] + [f"block{i}" for i in range(1, 8)] + ["head"]
VALID = ("full", "most", "some", "head")


# --------------------------------------------------------------------------- helpers


def toy_lite_model(seed: int = 0, num_classes: int = 2, size: int = 32):
    """A tiny transfer model with EfficientNet-Lite0's block structure and layer names."""
    import keras

    from tlcourse.backbones import Backbone, Preprocess
    from tlcourse.efficientnet_lite import STAGE_STRIDES, BlockSpec, build
    from tlcourse.models import transfer_model

    keras.utils.set_random_seed(seed)
    channels = [4, 4, 6, 6, 8, 8, 10]
    specs, in_ch = [], 4
    for stage, out_ch in enumerate(channels, start=1):
        specs.append(
            BlockSpec(
                index=stage - 1,
                name=f"block{stage}a",
                kernel=3,
                stride=STAGE_STRIDES[stage - 1],
                expand=stage > 1,
                in_channels=in_ch,
                out_channels=out_ch,
            )
        )
        in_ch = out_ch
    base = build("toy_lite", specs, (size, size, 3), include_top=False, head_channels=16, stem_channels=4)
    return transfer_model(Backbone(base, Preprocess("lite", name="toy_preprocess")), num_classes)


def _toy_batch(seed: int = 0, n: int = 16, size: int = 32):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (n, size, size, 3)).astype("float32"), rng.integers(0, 2, n).astype("int32")


def _block_of(name: str) -> str | None:
    for block in BLOCK_ORDER:
        if name.startswith(block + "_") or (
            block.startswith("block") and name.startswith(block) and name[len(block) :][:1].isalpha()
        ):
            return block
    return None


def _is_bn(layer) -> bool:
    import keras

    return isinstance(layer, keras.layers.BatchNormalization)


def _compile(model, lr=1e-3):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def _base(model):
    from tlcourse.freeze import find_base

    return find_base(model)


def _learning_rate(model) -> float | None:
    try:
        return float(np.asarray(model.optimizer.learning_rate))
    except Exception:
        return None


# --------------------------------------------------------------------------- 4.1


CASES_41 = [
    (("small", "similar"), "head"),
    (("small", "different"), "some"),
    (("large", "similar"), "most"),
    (("large", "different"), "full"),
]


@exercise(
    LESSON,
    "4.1",
    "Choose a strategy from size and similarity",
    names=("choose_strategy",),
    points=4,
    hint="Two questions: is the target set small or large, is it similar to ImageNet or different? "
    "The more data you have, the more of the base you can afford to retrain; the more different the "
    "target, the more of it you need to retrain.",
)
def _(m, choose_strategy):
    if not_a_function(m, "choose_strategy", choose_strategy):
        return
    for (size, similarity), expected in CASES_41:
        got, error = call(choose_strategy, size, similarity)
        if error:
            m.criterion(False, "", f"choose_strategy({size!r}, {similarity!r}) raised {error}")
        elif not isinstance(got, str) or got not in VALID:
            m.criterion(False, "", f"choose_strategy({size!r}, {similarity!r}) returned {got!r}: return one of {VALID}")
        else:
            m.criterion(
                got == expected,
                f"{size} & {similarity} → {got!r}",
                f"{size} & {similarity} → {got!r}, but the table says {expected!r}",
            )


# --------------------------------------------------------------------------- 4.2


def _reference_bn(x, gamma, beta, mean, var, training, epsilon=1e-3):
    x = np.asarray(x, dtype=np.float64)
    if training:
        axes = tuple(range(x.ndim - 1))
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


@exercise(
    LESSON,
    "4.2",
    "BatchNormalization in both modes, by hand",
    names=("batchnorm",),
    points=4,
    hint="Inference: (x - moving_mean) / sqrt(moving_var + epsilon) * gamma + beta. Training: the same with "
    "the mean and the (biased) variance of the batch, computed over every axis except the last (channels): "
    "x.mean(axis=tuple(range(x.ndim - 1))).",
)
def _(m, batchnorm):
    if not_a_function(m, "batchnorm", batchnorm):
        return
    rng = np.random.default_rng(4)
    channels = 3
    gamma, beta = rng.uniform(0.5, 2, channels), rng.normal(0, 1, channels)
    mean, var = rng.normal(0, 1, channels), rng.uniform(0.5, 2, channels)
    flat = rng.normal(5, 2, (64, channels))
    images = rng.normal(-3, 3, (8, 5, 5, channels))
    cases = [
        ("inference mode on (batch, channels)", flat, False),
        ("training mode on (batch, channels)", flat, True),
        ("inference mode on images (batch, height, width, channels)", images, False),
        ("training mode on images: statistics over batch, height and width", images, True),
    ]
    for description, x, training in cases:
        expected = _reference_bn(x, gamma, beta, mean, var, training)
        got, error = call(batchnorm, x.copy(), gamma, beta, mean, var, training)
        if error:
            m.criterion(False, "", f"{description}: raised {error}")
            continue
        if got is None:
            m.criterion(False, "", f"{description}: returned None (not answered yet?): return the normalised array")
            continue
        try:
            got = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):
            m.criterion(False, "", f"{description}: returned {type(got).__name__}, expected an array")
            continue
        if got.shape != expected.shape:
            m.criterion(False, "", f"{description}: output shape {got.shape}, expected {expected.shape} (same as x)")
            continue
        ok = bool(np.allclose(got, expected, atol=1e-4))
        why = ""
        if not ok:
            other = _reference_bn(x, gamma, beta, mean, var, not training)
            if np.allclose(got, other, atol=1e-4):
                why = (
                    " — that is the other mode's output (training uses the batch's statistics, "
                    "inference the moving ones)"
                )
            elif training and x.ndim == 4:
                per_axis0 = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-3) * gamma + beta
                if np.allclose(got, per_axis0, atol=1e-4):
                    why = " — statistics over axis 0 only: for images average over batch, height and width"
        m.criterion(ok, description, f"{description}: wrong values{why}")


# --------------------------------------------------------------------------- 4.3


def _prepare_scenario(prepare_fine_tuning, train_blocks, head_lr, seed, train_step=True):
    """Phase 1 on the toy model, the student's phase-2 set-up, then (optionally) one training step.

    Phase 1 runs a real (compiled) train step so the optimizer and the cached train function
    exist, as after a real head phase. The step after the student's set-up runs eagerly when
    the model was compiled again (no second tracing); when it was not, Keras reuses the old
    train function, exactly what happens in a notebook.
    """
    import keras

    from tlcourse.freeze import apply_strategy

    model = toy_lite_model(seed=seed)
    apply_strategy(model, "head")
    _compile(model, head_lr)
    x, y = _toy_batch(seed)
    if train_step:
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # phase 1 ran: optimizer and train step exist
    old_optimizer = model.optimizer
    _, error = call(prepare_fine_tuning, model, list(train_blocks), head_lr)
    if error:
        return None, f"prepare_fine_tuning(model, {list(train_blocks)}, {head_lr:g}) raised {error}"
    result = {
        "model": model,
        "base": _base(model),
        "old_optimizer": old_optimizer,
        "moved": None,
        "fit_error": None,
        "train_blocks": set(train_blocks),
        "head_lr": head_lr,
    }
    if not train_step:
        return result, None
    before = {v.path: np.array(keras.ops.convert_to_numpy(v)) for v in model.weights}
    try:
        if getattr(model, "train_function", None) is None:
            model.run_eagerly = True  # compiled again: a fresh step, run without tracing (faster)
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    except Exception as err:
        text = str(err).splitlines()[0] if str(err) else ""
        if "Unknown variable" in text:
            text = (
                "the optimizer was built for the head's weights only and does not know the unfrozen ones: "
                "compile with a NEW optimizer instance, e.g. keras.optimizers.Adam(...)"
            )
        result["fit_error"] = f"{type(err).__name__}: {text[:200]}"
    after = {v.path: np.array(keras.ops.convert_to_numpy(v)) for v in model.weights}
    result["moved"] = {p for p in before if p in after and not np.array_equal(before[p], after[p])}
    return result, None


def _weighted_layers(base):
    return [layer for layer in base.layers if layer.weights]


@exercise(
    LESSON,
    "4.3",
    "Set up phase 2: unfreeze the top blocks, BN frozen, recompile",
    names=("prepare_fine_tuning",),
    points=6,
    hint="In order: `base.trainable = True`; then every layer of the base trains only if its name starts "
    "with one of `train_blocks` and it is not a BatchNormalization layer; then "
    "`model.compile(optimizer=keras.optimizers.Adam(head_lr / 30), ...)` with a NEW optimizer.",
)
def _(m, prepare_fine_tuning):
    if not_a_function(m, "prepare_fine_tuning", prepare_fine_tuning):
        return
    scenarios = []
    for blocks_, lr, seed, step in (
        (["block7", "head"], 1e-3, 2, True),
        (["block5", "block6", "block7", "head"], 3e-3, 3, False),
    ):
        result, error = _prepare_scenario(prepare_fine_tuning, blocks_, lr, seed, step)
        if error:
            m.criterion(False, "", error, points=6)
            return
        scenarios.append(result)

    def every(pred):
        return all(pred(s) for s in scenarios)

    # 1. the named blocks train (their convolutions are in trainable_weights)
    def named_train(s):
        trainable = {id(w) for w in s["model"].trainable_weights}
        return all(
            all(id(w) in trainable for w in layer.weights)
            for layer in _weighted_layers(s["base"])
            if _block_of(layer.name) in s["train_blocks"] and not _is_bn(layer)
        )

    m.criterion(
        every(named_train),
        "the convolutions of the blocks you named are trainable",
        "some convolutions of the named blocks are not in model.trainable_weights "
        "(did you set `base.trainable = True` first? a frozen container hides its layers' weights)",
    )

    # 2. everything else in the base stays frozen
    def others_frozen(s):
        trainable = {id(w) for w in s["model"].trainable_weights}
        return not any(
            id(w) in trainable
            for layer in _weighted_layers(s["base"])
            if _block_of(layer.name) not in s["train_blocks"] and not _is_bn(layer)
            for w in layer.weights
        )

    m.criterion(
        every(others_frozen),
        "the earlier blocks stay frozen",
        "layers outside the named blocks are trainable: only the blocks in `train_blocks` should train",
    )

    # 3. BatchNormalization frozen: not trainable, statistics unchanged by a training step
    def bn_frozen(s):
        bns = [layer for layer in s["base"].layers if _is_bn(layer)]
        paths = {w.path for layer in bns for w in layer.weights}
        return all(not layer.trainable for layer in bns) and not (paths & (s["moved"] or set()))

    m.criterion(
        every(bn_frozen),
        "every BatchNormalization layer stays non-trainable (its statistics did not move during fit)",
        "some BatchNormalization layers are trainable: under fit they switch to batch statistics and "
        "overwrite their ImageNet moving averages — set `layer.trainable = False` on every one",
    )

    # 4. the classifier keeps training
    def head_trains(s):
        base_ids = {id(w) for w in s["base"].weights}
        rest = [w for w in s["model"].trainable_weights if id(w) not in base_ids]
        return len(rest) >= 2

    m.criterion(
        every(head_trains),
        "the new classifier still trains",
        "the classifier (Dense head) is frozen: keep it trainable",
    )

    # 5. compiled again: a new optimizer, and a training step really moves the unfrozen weights
    def recompiled(s):
        if s["moved"] is None:  # scenario without a training step: only the optimizer is checked
            return s["model"].optimizer is not s["old_optimizer"]
        if s["fit_error"]:
            return False
        unfrozen = {
            w.path
            for layer in _weighted_layers(s["base"])
            if _block_of(layer.name) in s["train_blocks"] and not _is_bn(layer)
            for w in layer.weights
        }
        return s["model"].optimizer is not s["old_optimizer"] and unfrozen <= s["moved"]

    errors = [s["fit_error"] for s in scenarios if s["fit_error"]]
    m.criterion(
        every(recompiled),
        "compiled again with a new optimizer: one fit step moved the unfrozen weights",
        f"fit after your set-up failed ({errors[0]})"
        if errors
        else "after your set-up, fit did not update the newly unfrozen weights: call `model.compile(...)` "
        "again with a new optimizer instance (the old train step only knows the head's weights)",
    )

    # 6. learning rate 10-100x lower than the head's
    def lr_ok(s):
        lr = _learning_rate(s["model"])
        return lr is not None and s["head_lr"] / 100 * 0.999 <= lr <= s["head_lr"] / 10 * 1.001

    rates = [_learning_rate(s["model"]) for s in scenarios]
    m.criterion(
        every(lr_ok),
        "learning rate 10–100× below the head's",
        f"learning rates {rates} for head rates {[s['head_lr'] for s in scenarios]}: use 10–100× lower "
        "(compute it from `head_lr`, do not hard-code it)",
    )


# --------------------------------------------------------------------------- 4.4


def _recompile_states():
    """(description, model, expected answer) for models in typical states."""
    import keras

    def fit(model):
        model.run_eagerly = True  # the state (which weights the optimizer was built with) is the same; no tracing
        model.fit(x, y, epochs=1, verbose=0)

    def make(seed):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((6,))
        base = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(8)], name="base")
        outputs = keras.layers.Dense(2, activation="softmax", name="classifier")(base(inputs, training=False))
        return keras.Model(inputs, outputs), base

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 6)).astype("float32"), rng.integers(0, 2, 32).astype("int32")
    states = []

    model, base = make(0)
    base.trainable = False
    _compile(model)
    states.append(("compiled, never trained", model, False))

    model, base = make(1)
    base.trainable = False
    _compile(model)
    base.trainable = True
    states.append(("unfrozen after compile but before the first fit", model, False))

    model, base = make(2)
    base.trainable = False
    _compile(model)
    fit(model)
    states.append(("trained, nothing changed since", model, False))

    model, base = make(3)
    base.trainable = False
    _compile(model)
    fit(model)
    base.trainable = True
    states.append(("head trained, then base unfrozen", model, True))

    model, base = make(4)
    base.trainable = False
    _compile(model)
    fit(model)
    base.trainable = True
    _compile(model, 1e-5)
    states.append(("unfrozen, then compiled again", model, False))

    model, base = make(5)
    _compile(model)
    fit(model)
    base.trainable = False
    states.append(("trained whole, then base frozen", model, True))
    return states


@exercise(
    LESSON,
    "4.4",
    "Detect a stale compile",
    names=("needs_recompile",),
    points=6,
    hint="The optimizer is built at the first fit with the weights trainable then; Adam keeps a "
    "`..._momentum` slot per weight it updates (`model.optimizer.variables`). An optimizer that is not "
    "built yet (`model.optimizer.built`) will be built with the current weights at the next fit.",
)
def _(m, needs_recompile):
    if not_a_function(m, "needs_recompile", needs_recompile):
        return
    for description, model, expected in _recompile_states():
        got, error = call(needs_recompile, model)
        if error:
            m.criterion(False, "", f"{description}: your function raised {error}")
        elif not isinstance(got, (bool, np.bool_)):
            m.criterion(False, "", f"{description}: returned {got!r}, expected True or False")
        else:
            m.criterion(
                bool(got) == expected,
                f"{description} → {bool(got)}",
                f"{description} → you said {bool(got)}, but it is {expected}",
            )
