"""The course runner executes notebooks with papermill and gathers their numbers."""

import json

import nbformat
import numpy as np

from tlcourse.course import run_course
from tlcourse.manifest import by_number


def _notebook(path, code_cells, params="QUICK = False"):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(params)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(c) for c in code_cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_run_collects_each_lessons_numbers_and_passes_quick(tmp_path, capsys, toy_manifest):
    from tlcourse.manifest import Lesson

    toy_manifest(Lesson(1, "01_a", "none", "none", quick={"X": 0.5}), "02_b")
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    record = "record('01_a', quick=QUICK, x=X)"
    _notebook(lessons / "01_a.ipynb", ["from tlcourse.results import record", record], params="QUICK = False\nX = 0.1")
    _notebook(lessons / "02_b.ipynb", ["from tlcourse.results import record", "record('02_b', y=2)"])
    _notebook(lessons / "03_not_listed.ipynb", ["raise ValueError('a notebook the manifest does not list ran')"])
    assert run_course(lessons, tmp_path / "build", quick=True) == 0
    results = json.loads((tmp_path / "build" / "results.json").read_text())
    assert results["01_a"]["quick"] is True and results["01_a"]["x"] == 0.5  # the manifest's quick parameters
    assert "03_not_listed" not in results
    assert results["02_b"]["y"] == 2 and results["02_b"]["seconds"] > 0
    assert all(results[n]["peak_memory_mb"] > 10 for n in ("01_a", "02_b"))  # a Python kernel holds tens of MB
    assert (tmp_path / "build" / "executed" / "01_a.ipynb").exists()
    out = capsys.readouterr()
    assert "01_a" in out.out and "[2/2] 02_b" in out.out
    for noise in ("Passed unknown parameter", "Unable to parse", "without encryption"):
        assert noise not in out.out + out.err
    report = (tmp_path / "build" / "report.html").read_text()
    assert "01_a" in report and "02_b" in report and "quick mode" in report


def test_the_kernels_log_goes_beside_the_executed_notebook_over_unix_sockets(tmp_path, capsys, toy_manifest):
    toy_manifest("01_a")
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    code = (
        "import sys, os\nprint('to stderr', file=sys.stderr)\n"
        "os.write(2, b'from C\\n')\nprint(os.environ['TLCOURSE_HEADLESS'])"
    )
    _notebook(lessons / "01_a.ipynb", [code])
    assert run_course(lessons, tmp_path / "build") == 0
    log = (tmp_path / "build" / "executed" / "01_a.log").read_text()
    assert "from C" in log and "without encryption" not in log  # fd 2 of the kernel; ipc, not TCP
    assert "from C" not in capsys.readouterr().err
    executed = nbformat.read(tmp_path / "build" / "executed" / "01_a.ipynb", as_version=4)
    texts = [o.get("text", "") for o in executed.cells[-1].outputs]
    assert "to stderr\n" in texts and "1\n" in texts  # what the cell prints stays in the notebook
    assert not list(tmp_path.glob("lessons/kernel*"))  # no socket files left beside the lessons


def test_a_failing_lesson_is_reported_and_the_others_still_run(tmp_path, capsys, toy_manifest):
    toy_manifest("01_bad", "02_ok")
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    _notebook(lessons / "01_bad.ipynb", ["raise ValueError('boom')"])
    _notebook(lessons / "02_ok.ipynb", ["from tlcourse.results import record", "record('02_ok', y=1)"])
    assert run_course(lessons, tmp_path / "build") == 1
    out = capsys.readouterr().out
    assert "FAILED 01_bad.ipynb" in out
    assert json.loads((tmp_path / "build" / "results.json").read_text())["02_ok"]["y"] == 1


def test_a_headline_says_what_its_own_numbers_show():
    from tlcourse.headlines import headline

    lesson = by_number(5).name
    numbers = {"test_accuracy_frozen": 0.85, "test_accuracy_frozen_se": 0.01, "test_accuracy_scratch": 0.7, "seeds": 3}
    won = headline(lesson, {**numbers, "frozen_minus_scratch_se": 5.0})
    assert won.startswith("frozen pretrained beats scratch (test balanced acc.): 0.850 ± 0.010 vs 0.700, 3 seeds")
    assert "ImageNet's own photos" in won, "the ants/bees margin carries its caveat"
    sizes = {f"image_size_{c}": 96 for c in ("scratch_cnn", "lite0_random", "frozen", "fine_tuned")}
    assert "on ants/bees, every contestant at 96 px" in headline(lesson, {**numbers, **sizes})
    mixed = headline(lesson, {**numbers, **sizes, "image_size_frozen": 224})
    assert "every contestant" not in mixed, "no claim of one size where the contestants' sizes differ"
    assert "ties scratch" in headline(lesson, {**numbers, "frozen_minus_scratch_se": 1.5}), "within 2 s.e.: a tie"
    lost = headline(lesson, {"test_accuracy_frozen": 0.6, "test_accuracy_scratch": 0.7, "seeds": 1})
    assert "does not beat" in lost and "1 seed" in lost
    solar = {"solar_test_accuracy_frozen": 0.7, "solar_test_accuracy_scratch": 0.75}
    solar["solar_frozen_minus_scratch_se"] = -3.0
    assert "solar cells (not in ImageNet, 400 train): frozen 0.70 loses to scratch 0.75" in headline(
        lesson, {**numbers, **solar, "solar_n_train": 400}
    )
    assert headline(lesson, {"seconds": 3}) == ""  # nothing recorded: no claim
    lesson4 = {
        "finetune_solar_best_strategy": "some",
        "finetune_solar_head_test_balanced_accuracy": 0.79,
        "finetune_solar_some_test_balanced_accuracy": 0.84,
        "finetune_solar_n_train": 1837,
        "finetune_solar_image_size": 160,
        "finetune_seeds": 3,
    }
    won = headline(by_number(4).name, {**lesson4, "finetune_solar_gain_balanced_in_se": 3.0})
    assert won == "solar cells (1837 train, 160 px, 3 seeds, test balanced acc.): some 0.84 beats head 0.79 (+3.0 s.e.)"
    tied = headline(by_number(4).name, {**lesson4, "finetune_solar_gain_balanced_in_se": 1.2})
    assert "some 0.84 ties head 0.79 (+1.2 s.e.)" in tied, "a gain inside 2 standard errors is not a win"
    solar = {**lesson4, "finetune_solar_gain_balanced_in_se": 3.0}
    fashion = {k.replace("solar", "fashion"): v for k, v in solar.items() if "solar" in k}
    both = headline(by_number(4).name, {**solar, **fashion, "finetune_fashion_seeds": 1})
    assert "solar cells (1837 train, 160 px, 3 seeds" in both and "Fashion-MNIST (1837 train, 160 px, 1 seed," in both


def test_every_lesson_has_a_headline_and_a_master():
    from pathlib import Path

    from tlcourse import manifest
    from tlcourse.course import lesson_notebooks
    from tlcourse.headlines import headlines

    assert list(headlines()) == manifest.lesson_names()
    masters = lesson_notebooks(Path(__file__).parents[1] / "solutions")
    assert [p.stem for p in masters] == manifest.lesson_names()


def test_mixed_precision_is_one_switch_and_keeps_the_softmax_in_float32():
    import os
    import subprocess
    import sys

    import keras

    from tlcourse.models import classifier_head, scratch_cnn

    code = (
        "import keras\n"
        "from tlcourse.models import classifier_head, scratch_cnn\n"
        "m = scratch_cnn((32, 32, 3))\n"
        "out = keras.backend.standardize_dtype(m(keras.ops.zeros((1, 32, 32, 3))).dtype)\n"
        "print(keras.mixed_precision.global_policy().name, m.layers[1].compute_dtype, m.layers[-1].compute_dtype,"
        " classifier_head(2, input_dim=8).layers[-1].compute_dtype, out)"
    )
    on = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TLCOURSE_MIXED_PRECISION": "1"},
        capture_output=True,
        text=True,
    )
    assert on.stdout.split() == ["mixed_float16", "float16", "float32", "float32", "float32"], on.stderr[-2000:]
    if os.environ.get("TLCOURSE_MIXED_PRECISION") != "1":  # without the switch (every CPU path): float32 throughout
        m = scratch_cnn((32, 32, 3))
        assert keras.mixed_precision.global_policy().name == "float32"
        assert {layer.compute_dtype for layer in m.layers} | {
            classifier_head(2, input_dim=8).layers[-1].compute_dtype
        } == {"float32"}


def test_recorded_numbers_keep_small_values_such_as_a_learning_rate(tmp_path, monkeypatch):
    from tlcourse.results import record

    monkeypatch.setenv("TLCOURSE_RESULTS", str(tmp_path))
    kept = record("00_x", lr=1e-5, accuracy=0.941349, seconds=532.4123, zero=0.0, gain=-0.0012346, n=np.int64(77))
    assert kept == {"lr": 1e-5, "accuracy": 0.9413, "seconds": 532.4123, "zero": 0.0, "gain": -0.001235, "n": 77}
