"""Checks of lesson 4, fine-tuning strategies.

A toy EfficientNet-Lite (same layer names and blocks as the real one, a few channels, random
weights, 32 px) stands in for the pretrained model and trains in milliseconds. The probe builds it
beside the student's code, calls their function and reports what the model then looks like
(``fine_tuning_state``); the judge decides from that report, against the layer list it builds itself.
"""

from __future__ import annotations

import numpy as np

from tlcourse.checks import exercise
from tlcourse.checks.answers import as_array, as_bool, not_callable, show
from tlcourse.checks.plain import Build
from tlcourse.checks.probe import builder, observer

LESSON = "04_fine_tuning_strategies"


# --------------------------------------------------------------------------- the toy model


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


def toy_batch(seed: int = 0, n: int = 16, size: int = 32):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (n, size, size, 3)).astype("float32"), rng.integers(0, 2, n).astype("int32")


def base_layers(model) -> list[tuple[str, bool]]:
    """``(name, is BatchNormalization)`` of every layer with weights in the model's base."""
    from tlcourse.freeze import find_base, is_batchnorm

    return [(layer.name, is_batchnorm(layer)) for layer in find_base(model).layers if layer.weights]


# --------------------------------------------------------------------------- 4.1


def cases_choose(rng):
    pairs = [("small", "similar"), ("small", "different"), ("large", "similar"), ("large", "different")]
    if rng is not None:
        pairs = [pairs[i] for i in rng.permutation(4)]
    return [{"label": f"{s} & {d}", "call": "choose_strategy", "args": [s, d]} for s, d in pairs]


@exercise(
    LESSON,
    "4.1",
    "Choose a strategy from size and similarity",
    names=("choose_strategy",),
    points=4,
    hint="Two questions: is the target set small or large, is it similar to ImageNet or different? "
    "The more data you have, the more of the base you can afford to retrain; the more different the "
    "target, the more of it you need to retrain.",
    cases=cases_choose,
)
def judge_choose(m, cases, results, expected):
    from tlcourse.catalogue import STRATEGIES

    if not_callable(m, "choose_strategy", results):
        return
    for case, result, exp in zip(cases, results, expected):
        call = f"choose_strategy({case['args'][0]!r}, {case['args'][1]!r})"
        if not result.ok:
            m.criterion(False, "", f"{call} {result.why()}")
        elif type(result.value) is not str or result.value not in STRATEGIES:
            m.criterion(False, "", f"{call} returned {show(result.value)}: return one of {STRATEGIES}")
        else:
            m.criterion(
                result.value == exp["strategy"],
                f"{case['label']} → {result.value!r}",
                f"{case['label']} → {result.value!r}, but the table says {exp['strategy']!r}",
            )


# --------------------------------------------------------------------------- 4.2


def cases_batchnorm(rng):
    local = np.random.default_rng(4) if rng is None else rng
    channels = 3 if rng is None else int(local.integers(2, 6))
    gamma, beta = local.uniform(0.5, 2, channels), local.normal(0, 1, channels)
    mean, var = local.normal(0, 1, channels), local.uniform(0.5, 2, channels)
    flat = local.normal(5, 2, (64, channels))
    images = local.normal(-3, 3, (8, 5, 5, channels))
    cases = []
    for label, x, training in (
        ("inference mode on (batch, channels)", flat, False),
        ("training mode on (batch, channels)", flat, True),
        ("inference mode on images (batch, height, width, channels)", images, False),
        ("training mode on images: statistics over batch, height and width", images, True),
    ):
        cases.append({"label": label, "call": "batchnorm", "args": [x, gamma, beta, mean, var, training]})
    return cases


@exercise(
    LESSON,
    "4.2",
    "BatchNormalization in both modes, by hand",
    names=("batchnorm",),
    points=4,
    hint="Inference: (x - moving_mean) / sqrt(moving_var + epsilon) * gamma + beta. Training: the same with "
    "the mean and the (biased) variance of the batch, computed over every axis except the last (channels): "
    "x.mean(axis=tuple(range(x.ndim - 1))).",
    cases=cases_batchnorm,
)
def judge_batchnorm(m, cases, results, expected):
    if not_callable(m, "batchnorm", results):
        return
    for case, result, exp in zip(cases, results, expected):
        label, want = case["label"], np.asarray(exp["value"])
        if not result.ok:
            m.criterion(False, "", f"{label}: {result.why()}")
            continue
        if result.value is None:
            m.criterion(False, "", f"{label}: returned None (not answered yet?): return the normalised array")
            continue
        got = as_array(result.value)
        if got is None:
            m.criterion(False, "", f"{label}: returned {show(result.value)}, expected an array")
            continue
        if got.shape != want.shape:
            m.criterion(False, "", f"{label}: output shape {got.shape}, expected {want.shape} (same as x)")
            continue
        ok = bool(np.allclose(got, want, atol=1e-4))
        why = ""
        if not ok and np.allclose(got, exp["other_mode"], atol=1e-4):
            why = " — that is the other mode's output (training uses the batch's statistics, inference the moving ones)"
        elif not ok and exp.get("axis0") is not None and np.allclose(got, exp["axis0"], atol=1e-4):
            why = " — statistics over axis 0 only: for images average over batch, height and width"
        m.criterion(ok, label, f"{label}: wrong values{why}")


# --------------------------------------------------------------------------- 4.3


def _compile(model, lr=1e-3):
    from tlcourse.train import compile_classifier

    compile_classifier(model, lr)


@builder("toy_phase1")
def toy_phase1(seed: int, head_lr: float, train_step: bool):
    """The toy transfer model after phase 1: base frozen, head compiled (and trained one step)."""
    from tlcourse.freeze import apply_strategy

    model = toy_lite_model(seed=seed)
    apply_strategy(model, "head")
    _compile(model, head_lr)
    if train_step:
        x, y = toy_batch(seed)
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # the optimizer and the train step exist
    model._tlcourse_probe = {"seed": seed, "train_step": train_step}
    return model


def _learning_rate(model) -> float | None:
    try:
        return float(np.asarray(model.optimizer.learning_rate))
    except Exception:
        return None


@observer("fine_tuning_state")
class FineTuningState:
    """After the student's phase-2 set-up: what trains, the optimizer, and what one fit step moves."""

    def before(self, args):
        import keras

        from tlcourse.freeze import all_layers

        model = args[0]
        return {
            "optimizer": model.optimizer,
            "flags": [(layer.name, layer.trainable) for layer in all_layers(model)],
            "weights": {v.path: np.array(keras.ops.convert_to_numpy(v)) for v in model.weights},
        }

    def after(self, args, returned, state):
        import keras

        from tlcourse.freeze import all_layers, find_base, is_batchnorm

        model = args[0]
        base = find_base(model)
        trainable = {id(w) for w in model.trainable_weights}
        base_ids = {id(w) for w in base.weights}
        layers = [
            [
                layer.name,
                is_batchnorm(layer),
                bool(layer.trainable),
                all(id(w) in trainable for w in layer.weights),
                any(id(w) in trainable for w in layer.weights),
            ]
            for layer in base.layers
            if layer.weights
        ]
        report = {
            "layers": layers,
            "head_trainable": sum(1 for w in model.trainable_weights if id(w) not in base_ids),
            "new_optimizer": model.optimizer is not state["optimizer"],
            "learning_rate": _learning_rate(model),
            "changed": [(layer.name, layer.trainable) for layer in all_layers(model)] != state["flags"]
            or model.optimizer is not state["optimizer"],
            "moved": None,
            "fit_error": None,
        }
        if getattr(model, "_tlcourse_probe", {}).get("train_step"):
            before = {v.path: np.array(keras.ops.convert_to_numpy(v)) for v in model.weights}
            x, y = toy_batch(model._tlcourse_probe["seed"])
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
                report["fit_error"] = f"{type(err).__name__}: {text[:200]}"
            after = {v.path: np.array(keras.ops.convert_to_numpy(v)) for v in model.weights}
            paths = {v.path: layer.name for layer in base.layers for v in layer.weights}
            moved = {paths[p] for p in before if p in paths and not np.array_equal(before[p], after[p])}
            report["moved"] = sorted(moved)
        return report


def cases_prepare(rng):
    plans = [(["block7", "head"], 1e-3, 2, True), (["block5", "block6", "block7", "head"], 3e-3, 3, False)]
    if rng is not None:
        first = int(rng.integers(5, 8))
        plans = [
            (
                [f"block{i}" for i in range(first, 8)] + ["head"],
                float(rng.choice([1e-3, 2e-3, 5e-4])),
                int(rng.integers(0, 999)),
                True,
            ),
            (
                [f"block{i}" for i in range(int(rng.integers(3, 6)), 8)] + ["head"],
                float(rng.choice([3e-3, 1e-2])),
                int(rng.integers(0, 999)),
                False,
            ),
        ]
    return [
        {
            "label": f"prepare_fine_tuning(model, {blocks}, {lr:g})",
            "call": "prepare_fine_tuning",
            "args": [Build("toy_phase1", {"seed": seed, "head_lr": lr, "train_step": step}), blocks, lr],
            "observe": "fine_tuning_state",
        }
        for blocks, lr, seed, step in plans
    ]


def _state(result, layers_expected):
    """The observed state when it is well formed and describes the toy model's layers, else None."""
    state = result.observed
    if type(state) is not dict or not {"layers", "new_optimizer", "moved", "head_trainable"} <= set(state):
        return None
    rows = state["layers"]
    if type(rows) is not list or not all(type(r) is list and len(r) == 5 for r in rows):
        return None
    if [(r[0], r[1]) for r in rows] != [tuple(pair) for pair in layers_expected]:
        return None
    return state


@exercise(
    LESSON,
    "4.3",
    "Set up phase 2: unfreeze the top blocks, BN frozen, recompile",
    names=("prepare_fine_tuning",),
    points=6,
    hint="In order: `base.trainable = True`; then every layer of the base trains only if its name starts "
    "with one of `train_blocks` and it is not a BatchNormalization layer; then "
    "`model.compile(optimizer=keras.optimizers.Adam(head_lr / 30), ...)` with a NEW optimizer.",
    cases=cases_prepare,
    returns_none=True,
)
def judge_prepare(m, cases, results, expected):
    from tlcourse.freeze import block_of

    if not_callable(m, "prepare_fine_tuning", results):
        return
    states = []
    for case, result, exp in zip(cases, results, expected):
        if not result.ok:
            m.criterion(False, "", f"{case['label']} {result.why()}", points=6)
            return
        state = _state(result, exp["layers"])
        if state is None:
            m.criterion(False, "", f"after {case['label']} the model could not be inspected", points=6)
            return
        states.append((set(case["args"][1]), case["args"][2], state))
    if not any(s["changed"] for _, _, s in states):
        m.criterion(False, "", "prepare_fine_tuning changed nothing: unfreeze the blocks and compile again", points=6)
        return

    def every(pred):
        return all(pred(blocks, lr, s) for blocks, lr, s in states)

    def named(blocks, s, inside, bn=False):
        return [r for r in s["layers"] if (block_of(r[0]) in blocks) == inside and r[1] == bn]

    m.criterion(
        every(lambda b, lr, s: all(r[3] for r in named(b, s, True))),
        "the convolutions of the blocks you named are trainable",
        "some convolutions of the named blocks are not in model.trainable_weights "
        "(did you set `base.trainable = True` first? a frozen container hides its layers' weights)",
    )
    m.criterion(
        every(lambda b, lr, s: not any(r[4] for r in named(b, s, False))),
        "the earlier blocks stay frozen",
        "layers outside the named blocks are trainable: only the blocks in `train_blocks` should train",
    )
    m.criterion(
        every(lambda b, lr, s: not any(r[2] or r[0] in (s["moved"] or []) for r in s["layers"] if r[1])),
        "every BatchNormalization layer stays non-trainable (its statistics did not move during fit)",
        "some BatchNormalization layers are trainable: under fit they switch to batch statistics and "
        "overwrite their ImageNet moving averages — set `layer.trainable = False` on every one",
    )
    m.criterion(
        every(lambda b, lr, s: type(s["head_trainable"]) is int and s["head_trainable"] >= 2),
        "the new classifier still trains",
        "the classifier (Dense head) is frozen: keep it trainable",
    )

    def recompiled(blocks, lr, s):
        if s["new_optimizer"] is not True:
            return False
        if s["moved"] is None:  # case without a training step: only the optimizer is checked
            return True
        return not s["fit_error"] and {r[0] for r in named(blocks, s, True)} <= set(s["moved"])

    errors = [s["fit_error"] for _, _, s in states if type(s.get("fit_error")) is str]
    m.criterion(
        every(recompiled),
        "compiled again with a new optimizer: one fit step moved the unfrozen weights",
        f"fit after your set-up failed ({errors[0]})"
        if errors
        else "after your set-up, fit did not update the newly unfrozen weights: call `model.compile(...)` "
        "again with a new optimizer instance (the old train step only knows the head's weights)",
    )

    def lr_ok(blocks, lr, s):
        rate = s.get("learning_rate")
        return type(rate) is float and lr / 100 * 0.999 <= rate <= lr / 10 * 1.001

    m.criterion(
        every(lr_ok),
        "learning rate 10–100× below the head's",
        f"learning rates {[s.get('learning_rate') for _, _, s in states]} "
        f"for head rates {[lr for _, lr, _ in states]}: "
        "use 10–100× lower (compute it from `head_lr`, do not hard-code it)",
    )


# --------------------------------------------------------------------------- 4.4

RECOMPILE_STATES = (
    "compiled, never trained",
    "unfrozen after compile but before the first fit",
    "trained, nothing changed since",
    "head trained, then base unfrozen",
    "unfrozen, then compiled again",
    "trained whole, then base frozen",
)


@builder("recompile_state")
def recompile_state(state: str, seed: int):
    """A small model with a nested base, left in one of ``RECOMPILE_STATES``."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    base = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(8)], name="base")
    model = keras.Model(
        inputs, keras.layers.Dense(2, activation="softmax", name="classifier")(base(inputs, training=False))
    )
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(32, 6)).astype("float32"), rng.integers(0, 2, 32).astype("int32")

    def fit():
        model.run_eagerly = True  # the state (which weights the optimizer was built with) is the same; no tracing
        model.fit(x, y, epochs=1, verbose=0)

    base.trainable = state == "trained whole, then base frozen"
    _compile(model)
    if state == "unfrozen after compile but before the first fit":
        base.trainable = True
    elif state in (
        "trained, nothing changed since",
        "head trained, then base unfrozen",
        "unfrozen, then compiled again",
    ):
        fit()
        if state != "trained, nothing changed since":
            base.trainable = True
        if state == "unfrozen, then compiled again":
            _compile(model, 1e-5)
    elif state == "trained whole, then base frozen":
        fit()
        base.trainable = False
    return model


def cases_recompile(rng):
    order = range(len(RECOMPILE_STATES)) if rng is None else rng.permutation(len(RECOMPILE_STATES))
    return [
        {
            "label": RECOMPILE_STATES[i],
            "call": "needs_recompile",
            "args": [
                Build(
                    "recompile_state",
                    {"state": RECOMPILE_STATES[i], "seed": i if rng is None else int(rng.integers(0, 999))},
                )
            ],
        }
        for i in order
    ]


@exercise(
    LESSON,
    "4.4",
    "Detect a stale compile",
    names=("needs_recompile",),
    points=6,
    hint="The optimizer is built at the first fit with the weights trainable then; Adam keeps a "
    "`..._momentum` slot per weight it updates (`model.optimizer.variables`). An optimizer that is not "
    "built yet (`model.optimizer.built`) will be built with the current weights at the next fit.",
    cases=cases_recompile,
)
def judge_recompile(m, cases, results, expected):
    if not_callable(m, "needs_recompile", results):
        return
    for case, result, exp in zip(cases, results, expected):
        label, answer = case["label"], exp["answer"]
        value = as_bool(result.value) if result.ok else None
        if not result.ok:
            m.criterion(False, "", f"{label}: your function {result.why()}")
        elif value is None:
            m.criterion(False, "", f"{label}: returned {show(result.value)}, expected True or False")
        else:
            m.criterion(value == answer, f"{label} → {value}", f"{label} → you said {value}, but it is {answer}")
