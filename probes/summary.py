"""What both probes print and store for a set of runs: validation and test over seeds, the gain over `head`."""

from __future__ import annotations

from tlcourse.experiments import Run, mean_se, paired_gain


def summarise(name: str, runs: list[Run], heads: list[Run], test_labels) -> dict:
    """One line (validation and test mean ± s.e., the paired gain over `head`) printed; the numbers returned."""
    gain = paired_gain(test_labels, [h.test_predicted for h in heads], [r.test_predicted for r in runs])
    val, test = mean_se(r.val.balanced for r in runs), mean_se(r.test.balanced for r in runs)
    print(
        f"== {name}: validation {val[0]:.4f} ± {val[1]:.4f} | test {test[0]:.4f} ± {test[1]:.4f}, "
        f"minus head {100 * gain.mean:+.1f} ± {100 * gain.se:.1f} points ({gain.in_se:+.1f} s.e.)",
        flush=True,
    )
    return {
        "val": [r.val.balanced for r in runs],
        "test": [r.test.balanced for r in runs],
        "kept": [r.best_epoch for r in runs],
        "curves": [r.history["val_balanced_accuracy"] for r in runs],
        "seconds": [r.seconds for r in runs],
        "gain": gain.mean,
        "gain_se": gain.se,
    }
