"""Nothing lost: a run killed with SIGKILL mid-epoch resumes and ends as if it had never been killed."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import offline


def _start(args, env):
    command, env = offline([sys.executable, "-m", "tlcourse", *args], env)
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_state(path, ready, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = json.loads(path.read_text())
            if ready(state):
                return state
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    pytest.fail(f"no checkpoint matching the condition in {path} after {timeout} s")


FINE_TUNE = 4


def _fine_tuning_started(state):
    return any(key.startswith("full-") and 1 <= run["epochs_done"] < FINE_TUNE for key, run in state["runs"].items())


def test_kill_9_mid_epoch_then_resume_ends_as_an_uninterrupted_run(tmp_path, capsys):
    """``full`` fine-tunes through the base (seconds per epoch): killed a moment into its second epoch or later.

    The resumed run keeps the finished head, continues fine-tuning from the last saved epoch with the
    best epoch chosen so far, and ends with the numbers of a run that was never killed (the engine run
    here, in this process, on the same data with the same recipe).
    """
    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = ["fit", "hymenoptera", "--strategy", "full", "--image-size", "64", "--per-class", "40", "--seed", "1"]
    args += ["--epochs", "3", "--fine-tune-epochs", str(FINE_TUNE), "--out", str(out)]
    started = time.monotonic()
    first = _start(args, env)
    _wait_for_state(out / "checkpoint" / "state.json", _fine_tuning_started)
    time.sleep(0.4)  # into the next epoch
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    killed_after = time.monotonic() - started
    assert first.returncode == -signal.SIGKILL
    state = json.loads((out / "checkpoint" / "state.json").read_text())  # still a consistent pair
    assert state["runs"]["head-seed1"]["complete"], "phase 1 had finished"
    key = next(k for k in state["runs"] if k.startswith("full-"))
    saved = state["runs"][key]
    assert (out / "checkpoint" / saved["arrays"]).exists()
    done_before = saved["epochs_done"]
    assert 1 <= done_before < FINE_TUNE and not saved["complete"]
    assert saved["best_epoch"] < done_before and saved["best"] == max(saved["history"]["val_balanced_accuracy"])

    started = time.monotonic()
    second = _start(args + ["--resume"], env)
    stdout, stderr = second.communicate(timeout=600)
    resumed_in = time.monotonic() - started
    assert second.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    history = json.loads((out / "history.json").read_text())
    assert summary["epochs"] == 3 + FINE_TUNE
    assert {k: len(v) for k, v in history["fine_tune"].items()} == {k: FINE_TUNE for k in history["fine_tune"]}
    assert history["fine_tune"]["loss"][:done_before] == saved["history"]["loss"]  # the epochs before the kill

    from tlcourse.catalogue import Recipe
    from tlcourse.datasets import load_dataset
    from tlcourse.experiments import train_recipe

    data = load_dataset("hymenoptera", 64, per_class=40, seed=1, verbose=False).with_test_split(0.5, seed=0)
    whole = train_recipe(data, Recipe("full", head_epochs=3, fine_tune_epochs=FINE_TUNE, seed=1), progress=False)
    expected = whole.summary()
    for name in ("head_best_epoch", "fine_tune_best_epoch", "epochs", "n_train", "n_val", "n_test"):
        assert summary[name] == expected[name], name
    for name in ("val_accuracy", "val_balanced_accuracy", "test_accuracy", "test_balanced_accuracy"):
        assert summary[name] == pytest.approx(expected[name], abs=1e-6), name
    for phase, curves in whole.history.items():
        assert history[phase]["val_balanced_accuracy"] == pytest.approx(curves["val_balanced_accuracy"], abs=1e-6)
    with capsys.disabled():
        print(
            f"\n[full] killed after {killed_after:.1f} s with {done_before}/{FINE_TUNE} fine-tuning epochs "
            f"checkpointed; resumed and finished in {resumed_in:.1f} s"
        )


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tlcourse", "fit", "hymenoptera", "--out", str(tmp_path / "x"), "--resume"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "nothing to resume" in result.stderr
