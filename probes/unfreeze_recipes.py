"""What makes unfreezing pay on a target far from ImageNet? Five phase-2 recipes on the solar cells.

The evidence quoted in lesson 4's section 6 and BENCHMARKS.md §10. Lesson 4's protocol: all 1,837
training cells at 160 px, the validation cells halved into validation (choices) and test (numbers),
each seed's head trained 20 epochs on cached features, phase 2 from that head at lr 1e-4, every run
keeping its best validation epoch; three seeds; the gain over `head` paired by seed (`paired_gain`).

    python probes/unfreeze_recipes.py [RECIPE ...]   # about 15 min on 2 cores for all five

Choose a recipe on the validation column; the test column is for reporting the one chosen.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from summary import summarise

from tlcourse.datasets import load_dataset
from tlcourse.experiments import FineTuneExperiment

RECIPES = {  # name: (strategy, epochs, schedule)
    "some-5": ("some", 5, "constant"),
    "some-10": ("some", 10, "constant"),
    "some-cos5": ("some", 5, "cosine"),
    "some-cos10": ("some", 10, "cosine"),
    "most-5": ("most", 5, "constant"),
}
SEEDS = [0, 1, 2]
LEARNING_RATE = 1e-4


def main(names: list[str]) -> dict:
    data = load_dataset("elpv", 160, verbose=False).with_test_split(0.5, seed=0)
    print(data.summary(), flush=True)
    experiment = FineTuneExperiment(data, head_epochs=20, head_lr=1e-3, progress=False)
    heads = [experiment.head(seed) for seed in SEEDS]
    found = {"head": {"val": [h.val.balanced for h in heads], "test": [h.test.balanced for h in heads]}}
    for name in names:
        strategy, epochs, schedule = RECIPES[name]
        runs = []
        for seed in SEEDS:
            start = time.perf_counter()
            runs.append(experiment.run(strategy, LEARNING_RATE, epochs, seed, schedule=schedule))
            seconds = time.perf_counter() - start
            print(f"{name} seed {seed}: kept epoch {runs[-1].best_epoch}, {seconds:.0f} s", flush=True)
        found[name] = summarise(name, runs, heads, data.test.labels)
    return found


if __name__ == "__main__":
    results = main(sys.argv[1:] or list(RECIPES))
    out = Path("build/probes/unfreeze_recipes.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")
