"""tlcourse bench: its pieces report what they measured (timings are printed, never asserted)."""

import keras
import numpy as np

from tlcourse import bench


def test_resetting_the_optimizer_keeps_its_learning_rate():
    """Zeroing every optimizer variable also zeroed the learning rate: the head stopped learning."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    model.fit(np.ones((8, 3)), np.ones((8, 2)), verbose=0)
    bench._reset_optimizer(model.optimizer)
    values = {v.path.split("/")[-1]: keras.ops.convert_to_numpy(v) for v in model.optimizer.variables}
    assert np.isclose(values["learning_rate"], 1e-3)
    assert values["iteration"] == 0
    assert all(not np.any(v) for k, v in values.items() if k.endswith(("momentum", "velocity")))


def test_machine_description_names_cores_cpu_and_versions():
    m = bench.machine()
    assert m["cores"] >= 1 and m["cpu"] and m["tensorflow"].startswith("2.") and m["keras"].startswith("3.")
    assert bench.format_machine(m).startswith(f"machine: {m['cores']} cores")


def test_matmul_rate_is_positive():
    assert bench.matmul_gflops(n=256, repeats=2) > 0


def test_tables_show_the_measured_numbers():
    row = {
        "backbone": "efficientnet_lite0",
        "image_size": 160,
        "images_per_second": 271.5,
        "gflops_per_image": 0.392,
        "achieved_gflops": 106.4,
        "matmul_gflops": 200.0,
        "fraction_of_matmul": 0.532,
    }
    table = bench.format_throughput([row])
    assert "efficientnet_lite0" in table and "271.5" in table and "0.53" in table
    cached = {
        "epochs": 20,
        "through_base": {"seconds_per_epoch": 2.5, "total_seconds": 50.0, "val_accuracy": 0.915},
        "cached": {"extract_seconds": 1.6, "seconds_per_epoch": 0.08, "total_seconds": 3.2, "val_accuracy": 0.9},
        "speedup": 15.6,
    }
    assert "speedup 15.6x" in bench.format_cached(cached)
    runs = {"scratch": {"mean": 0.7, "sd": 0.02, "seconds": [30.0, 32.0]}}
    assert "0.700 ± 0.020" in bench.format_comparison(runs) and "31.0 s" in bench.format_comparison(runs)
    partial = {
        "strategy": "some",
        "cut_after": "block5",
        "image_size": 160,
        "n_train": 1837,
        "epochs": 4,
        "through_base": {"seconds_per_epoch": 39.1, "val_accuracy": 0.85},
        "above_cut": {"seconds_per_epoch": 9.8, "extract_seconds": 14.4, "val_accuracy": 0.85},
        "speedup": 3.98,
        "bound": 1.72,
        "fraction_of_bound": 2.31,
    }
    assert "speedup 3.98x of a 1.72x FLOP bound" in bench.format_partial(partial)
