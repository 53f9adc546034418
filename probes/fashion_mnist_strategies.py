"""The table's large & different corner: does unfreezing more beat `head` on Fashion-MNIST?

Fashion-MNIST (`load_dataset("fashion_mnist")`: Debian's dataset-fashion-mnist offline) is large and
far from ImageNet, so the strategy table predicts `full` (or `most`) there. Lesson 4's protocol at 64 px:
1,000 training images per class (the table's threshold for "large"), 500 validation images per class of
the official training set for every choice, 500 per class of the official test set for the numbers;
each seed's head trained 20 epochs on cached features; phase 2 from it at lr 1e-4 falling along a
cosine, 5 epochs, best validation epoch kept; a scratch CNN (lesson 1's) for 10 epochs beside them; no
augmentation anywhere; seeds 0–2; gains over `head` paired by seed (`paired_gain`).

    python probes/fashion_mnist_strategies.py [--size 64] [--per-class 1000] [VARIANT ...]

About 45 min on 2 cores (`full` is the largest part: 60-70 s per epoch through the base).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from summary import summarise

from tlcourse.datasets import load_dataset
from tlcourse.experiments import FineTuneExperiment, ScratchExperiment
from tlcourse.models import scratch_cnn

VARIANTS = ("some", "most", "full", "scratch")
SEEDS = [0, 1, 2]


def main(size: int, per_class: int, variants: list[str], epochs: int = 5, scratch_epochs: int = 10) -> dict:
    data = load_dataset("fashion_mnist", size, per_class=per_class, verbose=False)
    print(data.summary().splitlines()[0], flush=True)
    experiment = FineTuneExperiment(data, head_epochs=20, head_lr=1e-3, progress=False)
    heads = [experiment.head(seed) for seed in SEEDS]
    found = {
        "head": {
            "val": [h.val.balanced for h in heads],
            "test": [h.test.balanced for h in heads],
            "seconds": [h.seconds for h in heads],
        }
    }
    print(f"head: validation {[round(v, 4) for v in found['head']['val']]}", flush=True)
    build = lambda: scratch_cnn(data.input_shape, data.num_classes)  # noqa: E731
    cnn = ScratchExperiment(data, build, scratch_epochs, 1e-3, augment=False, progress=False)
    for name in variants:
        runs = []
        for seed in SEEDS:
            start = time.perf_counter()
            if name == "scratch":
                runs.append(cnn.run(seed))
            else:
                runs.append(experiment.run(name, 1e-4, epochs, seed, schedule="cosine"))
            curve = [round(v, 3) for v in runs[-1].history["val_balanced_accuracy"]]
            print(f"{name} seed {seed}: {time.perf_counter() - start:.0f} s, validation by epoch {curve}", flush=True)
        found[name] = summarise(name, runs, heads, data.test.labels)
        out = Path(f"build/probes/fashion_mnist_strategies-{size}px-{per_class}.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(found, indent=1))
    return found


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", help=f"some of {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--per-class", type=int, default=1000)
    args = parser.parse_args()
    if set(args.variants) - set(VARIANTS):
        parser.error(f"unknown variant(s) {sorted(set(args.variants) - set(VARIANTS))}: use {', '.join(VARIANTS)}")
    main(args.size, args.per_class, args.variants or list(VARIANTS))
