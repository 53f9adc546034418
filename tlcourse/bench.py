"""``tlcourse bench``: how fast the course runs on this machine, and how accurate it is.

Four measurements, printed as tables and written as JSON (default ``build/bench.json``):

1. ``throughput``: feature extraction images/second of each offline backbone at 128, 160
   and 224 px (batch 32), with the achieved GFLOP/s next to the machine's float32 matmul
   GFLOP/s;
2. ``cached_head``: the head of a frozen-base model trained for 20 epochs on ants/bees,
   images through the base every epoch vs features extracted once (same head, optimizer,
   data, no augmentation, both after a warm-up); ``speedup`` = slow total / cached total;
3. ``partial_finetune``: fine-tuning ``some`` on all solar-cell images at 160 px through the base
   vs on activations cached at the cut (``tlcourse.cut``), against the FLOP bound;
   ``comparison``: scratch vs frozen vs fine-tuned on ants/bees, mean +- sd over 3 seeds;
   ``best_pretrained``: the frozen head on each offline backbone at its native size. These two
   train with the course's engine (``tlcourse.experiments.train_recipe``, lesson 4's recipe): each
   run keeps its best epoch on half the validation photos and is scored on the other half
   (``with_test_split(0.5, seed=0)``), the accuracy reported; (1) and (2) time the mechanisms the
   engine is built on (``fit``, ``fit_cached``, ``fit_above_cut``) side by side;
4. ``course``: wall seconds of each lesson and of the whole course (quick and default).

Benchmarks report; nothing here is a pass/fail threshold.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from tlcourse.backbones import load_backbone
from tlcourse.cache import atomic_write_bytes
from tlcourse.catalogue import CATALOGUE, OFFLINE_BACKBONES

SIZES = (128, 160, 224)


def machine() -> dict:
    """Cores, CPU model, library versions and thread settings of this run."""
    import keras
    import tensorflow as tf

    model = platform.processor()
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or "default (all cores)",
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or "default",
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    }


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 matrix-multiply rate of TensorFlow here (2 n^3 FLOPs per product)."""
    import tensorflow as tf

    a = tf.random.normal((n, n), dtype=tf.float32)
    product = tf.function(lambda x: tf.linalg.matmul(x, x))
    product(a).numpy()
    best = min(_timed(lambda: product(a).numpy()) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def throughput(
    images: int = 256, batch: int = 32, backbones=OFFLINE_BACKBONES, sizes=SIZES, repeats: int = 3
) -> list[dict]:
    """Feature-extraction speed of each backbone and size: random images, after a warm-up, best of ``repeats``.

    Times the compiled forward pass the course uses (``tlcourse.features``, BatchNormalization
    folded), batch by batch including the copy back to NumPy, nothing else.
    """
    import tensorflow as tf

    from tlcourse import features
    from tlcourse.compute import count_flops
    from tlcourse.models import feature_extractor, transfer_model

    peak = matmul_gflops()
    rows = []
    for name in backbones:
        for size in sizes:
            extractor = feature_extractor(transfer_model(load_backbone(name, (size, size, 3)), 2))
            x = np.random.default_rng(0).integers(0, 256, (images, size, size, 3)).astype(np.float32)
            features._forward_batches(extractor, x[:batch], batch, "warm-up")  # folds, traces
            forward = features._FORWARD[extractor][1]
            batches = [tf.constant(x[i : i + batch]) for i in range(0, images, batch)]
            seconds = min(_timed(lambda f=forward, bs=batches: [f(b).numpy() for b in bs]) for _ in range(repeats))
            flops = count_flops(extractor)
            achieved = flops * images / seconds / 1e9
            rows.append(
                {
                    "backbone": name,
                    "image_size": size,
                    "batch": batch,
                    "images_per_second": images / seconds,
                    "gflops_per_image": flops / 1e9,
                    "achieved_gflops": achieved,
                    "matmul_gflops": peak,
                    "fraction_of_matmul": achieved / peak,
                }
            )
    return rows


def _reset_optimizer(optimizer) -> None:
    """Back to step 0 with empty moments, keeping the learning rate (also one of its variables)."""
    for v in optimizer.variables:
        if not v.path.endswith("learning_rate"):
            v.assign(np.zeros(v.shape, v.dtype))


def cached_head(epochs: int = 20, image_size: int = 160, seed: int = 0) -> dict:
    """Head training two ways on ants/bees: through the frozen base each epoch vs cached features."""
    import keras

    from tlcourse.datasets import load_dataset
    from tlcourse.features import features_of
    from tlcourse.models import feature_extractor, transfer_model
    from tlcourse.train import compile_classifier, vector_batches

    data = load_dataset("hymenoptera", image_size, verbose=False)
    keras.utils.set_random_seed(seed)
    model = compile_classifier(transfer_model(load_backbone("efficientnet_lite0", data.input_shape), 2))
    head = model.get_layer("head")
    initial_head = [w.copy() for w in head.get_weights()]
    # the dropout masks too: both runs then see the same batches, masks and updates
    generators = [layer.seed_generator for layer in head.layers if hasattr(layer, "seed_generator")]
    initial_rng = [keras.ops.convert_to_numpy(g.state) for g in generators]
    train = data.pipeline("train", 32, shuffle=True, seed=seed)
    val = data.pipeline("val", 32)

    # images through the base every epoch
    model.fit(train.take(1), validation_data=val.take(1), epochs=1, verbose=0)  # warm-up: trace train/val steps
    head.set_weights(initial_head)
    _reset_optimizer(model.optimizer)
    _ = [g.state.assign(state) for g, state in zip(generators, initial_rng)]
    start = time.perf_counter()
    slow = model.fit(train, validation_data=val, epochs=epochs, verbose=0)
    slow_seconds = time.perf_counter() - start

    # features once, then the same head on vectors
    extractor = feature_extractor(model)
    features_of(extractor, data.train.images[:32], use_cache=False)  # warm-up: trace the forward pass
    head.set_weights(initial_head)
    head.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    xs = features_of(extractor, data.train.images[:64], use_cache=False)
    warm = vector_batches(xs, data.train.labels[:64], 32)
    head.fit(warm, validation_data=warm, epochs=1, verbose=0)  # warm-up: trace the head's train and val steps
    head.set_weights(initial_head)
    _reset_optimizer(head.optimizer)
    _ = [g.state.assign(state) for g, state in zip(generators, initial_rng)]
    start = time.perf_counter()
    train_x = features_of(extractor, data.train.images, use_cache=False)
    val_x = features_of(extractor, data.val.images, use_cache=False)
    extract_seconds = time.perf_counter() - start
    fast = head.fit(
        vector_batches(train_x, data.train.labels, 32, shuffle=True, seed=seed),
        validation_data=vector_batches(val_x, data.val.labels, 32),
        epochs=epochs,
        verbose=0,
    )
    fast_seconds = time.perf_counter() - start
    return {
        "epochs": epochs,
        "through_base": {
            "seconds_per_epoch": slow_seconds / epochs,
            "total_seconds": slow_seconds,
            "val_accuracy": float(slow.history["val_accuracy"][-1]),
        },
        "cached": {
            "extract_seconds": extract_seconds,
            "seconds_per_epoch": (fast_seconds - extract_seconds) / epochs,
            "total_seconds": fast_seconds,
            "val_accuracy": float(fast.history["val_accuracy"][-1]),
        },
        "speedup": slow_seconds / fast_seconds,
    }


def _epoch_timer():
    """A Keras callback keeping each epoch's seconds (the first includes tracing: reported apart)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds, self._last = [], time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            self.seconds.append(now - self._last)
            self._last = now

    return EpochTimer()


def partial_bound(cut, n_train: int, n_val: int) -> float:
    """The most fine-tuning above the cut can save, from FLOPs: (through the base) / (on activations).

    A training image costs the bottom's forward pass plus the top's forward and backward passes
    (backward ~ 2x forward) through the base, the top's alone on cached activations; a validation
    image costs the whole forward pass against the top's.
    """
    from tlcourse.compute import count_flops

    bottom, top = count_flops(cut.bottom), count_flops(cut.top)
    through = n_train * (bottom + 3 * top) + n_val * (bottom + top)
    cached = n_train * 3 * top + n_val * top
    return through / cached


def partial_finetune(epochs: int = 4, image_size: int = 160, strategy: str = "some", seed: int = 0) -> dict:
    """Fine-tuning ``strategy`` on all solar-cell images two ways: through the base vs above the cut.

    Both start from the same trained head and the same weights, with the same seed, batches and
    learning rate (no augmentation: that is when the cut applies). Seconds per epoch are the median
    of the epochs after the first (the first includes tracing); the one-off extraction of the
    activations at the cut is reported apart, as is the FLOP bound (``partial_bound``).
    """
    import keras

    from tlcourse.catalogue import Recipe
    from tlcourse.cut import fit_above_cut, split_at_cut
    from tlcourse.datasets import load_dataset
    from tlcourse.freeze import apply_strategy
    from tlcourse.models import transfer_model
    from tlcourse.train import compile_classifier, fit, fit_cached

    data = load_dataset("elpv", image_size)
    keras.utils.set_random_seed(seed)
    start_model = compile_classifier(transfer_model(load_backbone("efficientnet_lite0", data.input_shape), 2))
    fit_cached(start_model, data, epochs=10, seed=seed, progress=False)  # phase 1: the head, base frozen
    head = start_model.get_layer("head").get_weights()
    runs = {}
    for way in ("through_base", "above_cut"):
        keras.utils.set_random_seed(seed)  # the same dropout seed in both models
        model = transfer_model(load_backbone("efficientnet_lite0", data.input_shape), 2)
        model.get_layer("head").set_weights(head)
        apply_strategy(model, strategy)
        compile_classifier(model, Recipe().fine_tune_lr)  # lesson 4's phase-2 rate
        timer = _epoch_timer()
        if way == "through_base":
            result = fit(model, data, epochs, augment=False, seed=seed, callbacks=[timer], progress=False)
        else:
            result = fit_above_cut(model, data, epochs, seed=seed, callbacks=[timer], progress=False)
            cut = split_at_cut(model)
        runs[way] = {
            "seconds_per_epoch": statistics.median(timer.seconds[1:] or timer.seconds),
            "first_epoch_seconds": timer.seconds[0],
            "extract_seconds": result.extract_seconds,
            "total_seconds": result.seconds,
            "val_accuracy": result.val_accuracy,
        }
    bound = partial_bound(cut, len(data.train), len(data.val))
    speedup = runs["through_base"]["seconds_per_epoch"] / runs["above_cut"]["seconds_per_epoch"]
    return {
        "strategy": strategy,
        "cut_after": cut.block,
        "image_size": image_size,
        "n_train": len(data.train),
        "n_val": len(data.val),
        "epochs": epochs,
        **runs,
        "speedup": speedup,
        "bound": bound,
        "fraction_of_bound": speedup / bound,
    }


def comparison(
    seeds=(0, 1, 2),
    image_size: int = 160,
    scratch_epochs: int = 30,
    head_epochs: int = 20,
    fine_tune_epochs: int = 5,
    backbone: str = "efficientnet_lite0",
) -> dict:
    """Scratch vs frozen vs fine-tuned (``some``) on ants/bees: test accuracy mean +- sd, wall seconds.

    Lesson 4's recipe (``tlcourse.catalogue.Recipe``) for the pretrained runs; the scratch CNN with
    augmentation, as lessons 1 and 5 train it. Every run keeps its best validation epoch.
    """
    from tlcourse.catalogue import TEST_FRACTION, TEST_SEED, Recipe
    from tlcourse.datasets import load_dataset
    from tlcourse.experiments import train_recipe

    data = load_dataset("hymenoptera", image_size, verbose=False).with_test_split(TEST_FRACTION, seed=TEST_SEED)
    recipes = {
        "scratch": Recipe("scratch", head_epochs=scratch_epochs, augment=True),
        "frozen": Recipe("head", backbone, head_epochs=head_epochs),
        "fine_tuned": Recipe("some", backbone, head_epochs=head_epochs, fine_tune_epochs=fine_tune_epochs),
    }
    out = {}
    for label, recipe in recipes.items():
        accuracies, seconds, epochs = [], [], 0
        for seed in seeds:
            start = time.perf_counter()
            trained = train_recipe(data, replace(recipe, seed=seed), progress=False)
            seconds.append(time.perf_counter() - start)
            accuracies.append(trained.run.test.accuracy)
            epochs = trained.summary()["epochs"]
        out[label] = {
            "mean": statistics.mean(accuracies),
            "sd": statistics.stdev(accuracies) if len(seeds) > 1 else 0.0,
            "accuracies": accuracies,
            "seconds": seconds,
            "epochs": epochs,
        }
    return {"image_size": image_size, "n_test": len(data.test), "runs": out}


NATIVE_SIZES = {name: CATALOGUE[name].native_size for name in OFFLINE_BACKBONES}


def best_pretrained(seeds=(0, 1, 2), epochs: int = 20, backbones=None) -> dict:
    """Frozen head on every offline backbone at 160 px and at its native size: test accuracy mean +- sd over seeds.

    The larger EfficientNet-Lite variants at the size they were trained at are where a frozen
    base does best; this is the "best pretrained" figure of the benchmark. Lesson 4's recipe,
    phase 1 only (``strategy="head"``), best validation epoch kept.
    """
    from tlcourse.catalogue import TEST_FRACTION, TEST_SEED, Recipe
    from tlcourse.datasets import load_dataset
    from tlcourse.experiments import train_recipe

    configs = [("efficientnet_lite0", 160)] + [(name, size) for name, size in NATIVE_SIZES.items()]
    out = {}
    for name, size in configs:
        if backbones is not None and name not in backbones:
            continue
        data = load_dataset("hymenoptera", size, verbose=False).with_test_split(TEST_FRACTION, seed=TEST_SEED)
        accuracies, seconds = [], []
        for seed in seeds:
            start = time.perf_counter()
            trained = train_recipe(data, Recipe("head", name, head_epochs=epochs, seed=seed), progress=False)
            seconds.append(time.perf_counter() - start)
            accuracies.append(trained.run.test.accuracy)
        out[f"{name}@{size}"] = {
            "mean": statistics.mean(accuracies),
            "sd": statistics.stdev(accuracies) if len(seeds) > 1 else 0.0,
            "accuracies": accuracies,
            "seconds": seconds,
            "epochs": epochs,
        }
    return out


def course(quick: bool, lessons: Path = Path("lessons"), out: Path = Path("build/bench-course")) -> dict:
    """Wall seconds of every lesson and of the whole run."""
    from tlcourse.course import run_course

    start = time.perf_counter()
    code = run_course(lessons, out / ("quick" if quick else "default"), quick=quick)
    total = time.perf_counter() - start
    results = json.loads((out / ("quick" if quick else "default") / "results.json").read_text())
    return {
        "mode": "quick" if quick else "default",
        "ok": code == 0,
        "total_seconds": total,
        "lessons": {k: v.get("seconds") for k, v in results.items()},
    }


def run_bench(quick: bool, out: Path, lessons: Path = Path("lessons")) -> dict:
    """Everything, printed and written to ``out``."""
    report = {"machine": machine(), "quick": quick}
    report["throughput"] = throughput(images=128 if quick else 320)
    print(format_throughput(report["throughput"]), flush=True)
    report["cached_head"] = cached_head()
    print(format_cached(report["cached_head"]), flush=True)
    report["partial_finetune"] = partial_finetune(epochs=3 if quick else 4)
    print(format_partial(report["partial_finetune"]), flush=True)
    if quick:  # the scratch CNN dominates: lesson 5's size (96 px), fewer epochs
        report["comparison"] = comparison(image_size=96, scratch_epochs=8, fine_tune_epochs=2)
    else:
        report["comparison"] = comparison()
    size = report["comparison"]["image_size"]
    print(format_comparison(report["comparison"]["runs"], f"same data at {size} px"), flush=True)
    report["best_pretrained"] = best_pretrained()
    print(format_comparison(report["best_pretrained"], "frozen head per backbone@px"), flush=True)
    report["course"] = {"quick": course(True, lessons)}
    if not quick:
        report["course"]["default"] = course(False, lessons)
    print(format_course(report["course"]), flush=True)
    atomic_write_bytes(out, json.dumps(report, indent=1).encode())
    print(format_machine(report["machine"]))
    print(f"wrote {out}")
    return report


def format_machine(m: dict) -> str:
    return (
        f"machine: {m['cores']} cores, {m['cpu']}, TF {m['tensorflow']}, Keras {m['keras']}, "
        f"threads intra={m['intra_op_threads']} inter={m['inter_op_threads']}, GPUs {m['gpus'] or 'none'}"
    )


def format_throughput(rows: list[dict]) -> str:
    lines = [
        "feature extraction (batch 32)",
        f"{'backbone':<20}{'px':>5}{'img/s':>9}{'GFLOP/img':>11}{'GFLOP/s':>9}{'matmul':>9}{'ratio':>7}",
    ]
    lines += [
        f"{r['backbone']:<20}{r['image_size']:>5}{r['images_per_second']:>9.1f}{r['gflops_per_image']:>11.3f}"
        f"{r['achieved_gflops']:>9.1f}{r['matmul_gflops']:>9.1f}{r['fraction_of_matmul']:>7.2f}"
        for r in rows
    ]
    return "\n".join(lines)


def format_cached(c: dict) -> str:
    slow, fast = c["through_base"], c["cached"]
    return "\n".join(
        [
            f"head training, {c['epochs']} epochs, ants/bees",
            f"  through the base: {slow['seconds_per_epoch']:.2f} s/epoch, {slow['total_seconds']:.1f} s, "
            f"val acc {slow['val_accuracy']:.3f}",
            f"  cached features : {fast['seconds_per_epoch']:.3f} s/epoch "
            f"+ {fast['extract_seconds']:.1f} s extraction, "
            f"{fast['total_seconds']:.1f} s, val acc {fast['val_accuracy']:.3f}",
            f"  speedup {c['speedup']:.1f}x",
        ]
    )


def format_partial(p: dict) -> str:
    slow, fast = p["through_base"], p["above_cut"]
    return "\n".join(
        [
            f"fine-tuning '{p['strategy']}' on {p['n_train']} solar cells at {p['image_size']} px, "
            f"{p['epochs']} epochs",
            f"  through the base : {slow['seconds_per_epoch']:.2f} s/epoch, val acc {slow['val_accuracy']:.3f}",
            f"  above the cut ({p['cut_after']}): {fast['seconds_per_epoch']:.2f} s/epoch "
            f"+ {fast['extract_seconds']:.1f} s extraction once, val acc {fast['val_accuracy']:.3f}",
            f"  speedup {p['speedup']:.2f}x of a {p['bound']:.2f}x FLOP bound ({p['fraction_of_bound']:.2f})",
        ]
    )


def format_comparison(c: dict, title: str = "scratch vs pretrained") -> str:
    lines = [f"ants/bees test accuracy (best validation epoch kept), mean ± sd over seeds: {title}"]
    lines += [
        f"  {k:<24} {v['mean']:.3f} ± {v['sd']:.3f}   {sum(v['seconds']) / len(v['seconds']):6.1f} s per run"
        for k, v in c.items()
    ]
    return "\n".join(lines)


def format_course(c: dict) -> str:
    lines = []
    for mode, r in c.items():
        lines.append(f"course ({mode}): {r['total_seconds']:.0f} s{'' if r['ok'] else ' (a lesson FAILED)'}")
        lines += [f"  {k:<40} {v:6.1f} s" for k, v in sorted(r["lessons"].items()) if v is not None]
    return "\n".join(lines)
