"""Checks of lesson 4, fine-tuning strategies.

A toy EfficientNet-Lite (same layer names and blocks as the real one, a few channels, random
weights, 32 px) stands in for the pretrained model and trains in milliseconds.

What each judge takes from the box and what it recomputes: 4.1, 4.2 and 4.4 take the values the
student's function returned and compare them with the keys' results on the same cases (4.1 and
4.4: an answer that is the same for every input earns nothing). 4.3 is a "set up this state"
exercise: which blocks to unfreeze and the head's rate are drawn at grading from the notebook's
secret seed, the probe builds the toy model after a phase 1 and calls the student's function on
it, and reports the model as its artefacts (config with its compile settings, weights, and its
optimizer's variables). The judge rebuilds that model itself and reads off it what trains (layer
by layer, against the layer list it builds itself), whether the optimizer is a new one (its step
counter: phase 1's took a step), and the learning rate compiled.
"""

from __future__ import annotations

import numpy as np

from tlcourse.checks.answers import as_array, as_bool, each_case, not_callable, same_for_every_input, show
from tlcourse.checks.plain import Build, ModelData
from tlcourse.checks.probe import builder
from tlcourse.checks.rebuild import RebuildError, compile_settings, rebuild
from tlcourse.checks.registry import exercise
from tlcourse.checks.toys import toy_batch, toy_lite_model

# --------------------------------------------------------------------------- the toy model


# --------------------------------------------------------------------------- 4.1


def cases_choose(rng):
    pairs = [("small", "similar"), ("small", "different"), ("large", "similar"), ("large", "different")]
    if rng is not None:
        pairs = [pairs[i] for i in rng.permutation(4)]
    return [{"label": f"{s} & {d}", "call": "choose_strategy", "args": [s, d]} for s, d in pairs]


@exercise(
    "4.1",
    "Choose a strategy from size and similarity",
    names=("choose_strategy",),
    points=4,
    hint=(
        "This is the table of section 1 of this lesson: one question about the size of the target set, one "
        "about its similarity to ImageNet, and a strategy in each of the four corners. The more data you "
        "have, the more of the base you can afford to retrain; the more different the target, the more of it "
        "needs retraining."
    ),
    cases=cases_choose,
)
def judge_choose(m, cases, results, expected):
    from tlcourse.catalogue import STRATEGIES

    if not_callable(m, "choose_strategy", results) or same_for_every_input(m, "choose_strategy", results, expected, 4):
        return
    failed = "choose_strategy({args[0]!r}, {args[1]!r}) {why}"
    for case, result, exp in each_case(m, cases, results, expected, wrong=failed):
        call = f"choose_strategy({case['args'][0]!r}, {case['args'][1]!r})"
        if type(result.value) is not str or result.value not in STRATEGIES:
            m.criterion(False, "", f"{call} returned {show(result.value)}: return one of {STRATEGIES}")
        else:
            m.criterion(
                result.value == exp["strategy"],
                f"{case['label']} → {result.value!r}",
                f"{case['label']} → {result.value!r} does not fit this corner of the table",
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
    "4.2",
    "BatchNormalization in both modes, by hand",
    names=("batchnorm",),
    points=4,
    hint=(
        "Section 4 of this lesson describes the two modes: inference mode normalises with the stored moving "
        "statistics, training mode with the mean and the (biased) variance of the batch itself. Take the "
        "batch statistics over every axis except the last one, the channels, and in both modes scale by gamma"
        " and shift by beta afterwards."
    ),
    cases=cases_batchnorm,
)
def judge_batchnorm(m, cases, results, expected):
    if not_callable(m, "batchnorm", results):
        return
    for case, result, exp in each_case(m, cases, results, expected, wrong="{label}: {why}"):
        label, want = case["label"], np.asarray(exp["value"])
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
        model.run_eagerly = True  # one step of a toy: tracing it cost 1.9 s per case, the state is the same
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # the optimizer and the train step exist
        model.run_eagerly = False  # as Keras leaves a model compiled by default
    return model


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
            "after": True,  # the model as the call left it: config, weights, its optimizer's variables
            "optimizer": True,
        }
        for blocks, lr, seed, step in plans
    ]


def _optimizer_value(data: ModelData, ending: str) -> float | None:
    """A scalar variable of the model's optimizer (its step counter, its rate), read from the artefact."""
    for path, value in data.optimizer or []:
        if path.rsplit("/", 1)[-1] == ending and value.size == 1:
            return float(value.reshape(-1)[0])
    return None


def fine_tuning_state(result, layers_expected) -> tuple[dict | None, str]:
    """What the model after the student's set-up is, measured by the judge on the rebuilt model.

    ``(state, "")``, or ``(None, why)`` when the arguments did not come back as a model of the toy's layers.
    """
    from tlcourse.freeze import find_base, is_batchnorm

    after = result.after
    data = after[0] if type(after) is list and after else None
    if type(data) is not ModelData:
        return None, "the model could not be saved after your set-up"
    try:
        model = rebuild(data)
    except RebuildError as err:
        return None, f"the model after your set-up could not be rebuilt for checking: {err}"
    base = find_base(model)
    trainable = {id(w) for w in model.trainable_weights}
    rows = [
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
    if [(r[0], r[1]) for r in rows] != [tuple(pair) for pair in layers_expected]:
        return None, "the model after your set-up is not the one the check gave you (its layers differ)"
    base_ids = {id(w) for w in base.weights}
    return {
        "layers": rows,
        "head_trainable": sum(1 for w in model.trainable_weights if id(w) not in base_ids),
        "compiled": compile_settings(data),
        "steps": _optimizer_value(data, "iteration"),
        "rate": _optimizer_value(data, "learning_rate"),
    }, ""


@exercise(
    "4.3",
    "Set up phase 2: unfreeze the top blocks, BN frozen, recompile",
    names=("prepare_fine_tuning",),
    points=6,
    hint=(
        "Follow the phase-2 recipe of section 5 of this lesson: make the base's container trainable first, "
        "then decide layer by layer (trainable only inside the named blocks, and never a BN layer). Finally "
        "compile again with a brand-new optimizer, at a learning rate 10 to 100 times lower than the head's."
    ),
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
        state, why = fine_tuning_state(result, exp["layers"])
        if state is None:
            m.criterion(False, "", f"after {case['label']}: {why}", points=6)
            return
        states.append((set(case["args"][1]), case["args"][2], case["args"][0].params["train_step"], state))

    def compiled_rate(state) -> float | None:
        """The rate of the optimizer the model holds (its variable), else the one compile was given."""
        rate = state["rate"] if state["rate"] is not None else (state["compiled"] or {}).get("learning_rate")
        return rate if type(rate) is float else None

    if not any(any(r[4] for r in s["layers"]) for *_, s in states) and all(
        compiled_rate(s) is not None and abs(compiled_rate(s) - lr) <= 1e-6 * lr for _, lr, _, s in states
    ):
        m.criterion(False, "", "prepare_fine_tuning changed nothing: unfreeze the blocks and compile again", points=6)
        return

    def every(pred):
        return all(pred(blocks, lr, step, s) for blocks, lr, step, s in states)

    def named(blocks, s, inside, bn=False):
        return [r for r in s["layers"] if (block_of(r[0]) in blocks) == inside and r[1] == bn]

    m.criterion(
        every(lambda b, lr, step, s: all(r[3] for r in named(b, s, True))),
        "the convolutions of the blocks you named are trainable",
        "some convolutions of the named blocks are not trainable (a frozen container hides its layers' weights: "
        "open the base itself first)",
    )
    m.criterion(
        every(lambda b, lr, step, s: not any(r[4] for r in named(b, s, False))),
        "the earlier blocks stay frozen",
        "layers outside the named blocks are trainable: only the blocks in `train_blocks` should train",
    )
    m.criterion(
        every(lambda b, lr, step, s: not any(r[2] or r[4] for r in s["layers"] if r[1])),
        "every BatchNormalization layer stays non-trainable (its statistics stay ImageNet's under fit)",
        "some BatchNormalization layers are trainable: under fit they switch to batch statistics and "
        "overwrite their ImageNet moving averages — keep every one of them frozen",
    )
    m.criterion(
        every(lambda b, lr, step, s: type(s["head_trainable"]) is int and s["head_trainable"] >= 2),
        "the new classifier still trains",
        "the classifier (Dense head) is frozen: keep it trainable",
    )

    def recompiled(blocks, lr, step, s):
        compiled = s["compiled"]
        if compiled is None or compiled["loss"] != "sparse_categorical_crossentropy":
            return False
        if step and s["steps"] != 0:  # phase 1's optimizer took a step: a model still holding it was not recompiled
            return False
        rate = compiled["learning_rate"]
        return s["rate"] is None or rate is None or abs(s["rate"] - rate) <= 1e-6 * max(rate, 1e-12)

    m.criterion(
        every(recompiled),
        "compiled again with a new optimizer (its step counter starts from zero)",
        "after your set-up the model still holds phase 1's optimizer (or was not compiled with the loss "
        "'sparse_categorical_crossentropy'): compile it again with a new optimizer — the old one was built for "
        "the head's weights only",
    )

    def lr_ok(blocks, lr, step, s):
        rate = compiled_rate(s)
        return rate is not None and lr / 100 * 0.999 <= rate <= lr / 10 * 1.001

    m.criterion(
        every(lr_ok),
        "learning rate 10–100× below the head's",
        f"learning rates {[compiled_rate(s) for *_, s in states]} for head rates {[lr for _, lr, _, _ in states]}: "
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
    "4.4",
    "Detect a stale compile",
    names=("needs_recompile",),
    points=6,
    hint=(
        "Section 5 of this lesson shows the trap and a way to see it: the optimizer is built at the first fit"
        " for the weights that were trainable then, and counting its momentum slots tells you how many weight"
        " tensors it updates. Compare that with how many tensors are trainable now; an optimizer that has not"
        " been built yet needs nothing."
    ),
    cases=cases_recompile,
)
def judge_recompile(m, cases, results, expected):
    if not_callable(m, "needs_recompile", results) or same_for_every_input(m, "needs_recompile", results, expected, 6):
        return
    for case, result, exp in each_case(m, cases, results, expected):
        label, answer = case["label"], exp["answer"]
        value = as_bool(result.value)
        if value is None:
            m.criterion(False, "", f"{label}: returned {show(result.value)}, expected True or False")
        else:
            m.criterion(value == answer, f"{label} → {value}", f"{label} → you said {value}, but it is {answer}")
