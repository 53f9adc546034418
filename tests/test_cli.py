"""The command line, run as a user would: offline, in a subprocess."""

import json
import math
import sys

import pytest

from tlcourse.cache import data_root

from conftest import run_offline, tlcourse_cmd


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    from PIL import Image
    from skimage import data

    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(data.chelsea()).save(folder / "chelsea.png")
    Image.fromarray(data.coffee()).save(folder / "coffee.png")
    (folder / "notes.jpg").write_text("not a photo")
    return folder


def test_predict_offline_finds_a_cat_and_an_espresso(photos):
    result = run_offline(tlcourse_cmd("predict", str(photos / "chelsea.png"), str(photos / "coffee.png"), "--top", "3"))
    assert result.returncode == 0, result.stderr[-2000:]
    blocks = result.stdout.split(str(photos / "coffee.png"))
    cat_lines, coffee_lines = blocks[0].splitlines(), blocks[1].splitlines()
    assert "cat" in cat_lines[1] and cat_lines[1].strip().startswith("1.")
    assert "espresso" in coffee_lines[1]
    assert len(coffee_lines) == 4  # header + top 3
    assert not [line for line in result.stderr.splitlines() if "absl" in line or "oneDNN" in line], result.stderr


def test_predict_reports_an_unreadable_file_and_still_classifies_the_rest(photos):
    result = run_offline(tlcourse_cmd("predict", str(photos / "notes.jpg"), str(photos / "coffee.png")))
    assert result.returncode == 2
    assert "notes.jpg" in result.stderr and "espresso" in result.stdout


def test_fit_head_on_ants_and_bees_beats_the_majority_class_clearly(tmp_path):
    result = run_offline(tlcourse_cmd("fit", "hymenoptera", "--strategy", "head", "--out", str(tmp_path / "run")))
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [line for line in result.stderr.splitlines() if "absl" in line or "oneDNN" in line], result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    val = data_root() / "hymenoptera_data" / "val"
    counts = [sum(1 for p in (val / c).iterdir() if p.is_file()) for c in ("ants", "bees")]
    majority, n = max(counts) / sum(counts), summary["n_test"]  # the test half keeps the class proportions
    # guessing the larger class, plus three standard errors of an accuracy measured on n photos
    assert summary["test_accuracy"] > majority + 3 * math.sqrt(majority * (1 - majority) / n), (summary, counts)
    assert summary["strategy"] == "head" and summary["n_train"] == 244 and summary["n_val"] + n == sum(counts) == 153
    assert summary["fine_tune_epochs"] == 0 and summary["fine_tune_best_epoch"] is None
    assert 1 <= summary["head_best_epoch"] <= summary["head_epochs"] == summary["epochs"]
    assert [p.rsplit("/", 1)[-1] for p in summary["skipped_files"]] == ["imageNotFound.gif"]
    assert summary["train_seconds"] > 0
    assert (tmp_path / "run" / "model.keras").stat().st_size > 1_000_000


def test_fit_scratch_on_a_tiny_subset_runs_end_to_end(tmp_path):
    result = run_offline(
        tlcourse_cmd(
            "fit",
            "hymenoptera",
            "--strategy",
            "scratch",
            "--epochs",
            "1",
            "--per-class",
            "8",
            "--image-size",
            "64",
            "--out",
            str(tmp_path / "run"),
        )
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["n_train"] == 16 and summary["backbone"] is None and summary["epochs"] == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "no/such/folder"], "no such folder"),
        (["fit", "hymenoptera", "--backbone", "resnet18"], "unknown backbone"),
        (["fit", "hymenoptera", "--per-class", "1000"], "use at most"),
        (["fit", "hymenoptera", "--image-size", "16"], "at least 32 px"),
        (["fit", "hymenoptera", "--fine-tune-lr", "3"], "outside (0, 1)"),
    ],
)
def test_user_errors_end_with_one_clear_line_and_exit_2(args, message):
    result = run_offline(tlcourse_cmd(*args))
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("tlcourse: error:")]
    assert len(error_lines) == 1 and message in error_lines[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_run_with_no_lessons_says_so(tmp_path):
    (tmp_path / "lessons").mkdir()
    result = run_offline(tlcourse_cmd("run", "--lessons", str(tmp_path / "lessons"), "--out", str(tmp_path / "b")))
    assert result.returncode == 0 and "no lessons yet" in result.stdout


@pytest.mark.parametrize("args", [["--help"], ["fit", "--help"], ["grade", "--help"], ["lessons", "--check"]])
def test_the_parser_and_the_copies_check_load_no_tensorflow(args):
    """What needs no model starts at once: the parser is built from the catalogue, which imports no Keras."""
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['tlcourse', *{args!r}]\n"
        "try:\n"
        "    runpy.run_module('tlcourse', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))\n"
    )
    result = run_offline([sys.executable, "-c", code])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "LOADED []", result.stdout[-2000:]
