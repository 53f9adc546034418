"""Nothing lost: a run killed with SIGKILL mid-epoch resumes and ends with a gap-free history."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import UNSHARE


def _start(args, env):
    prefix = ["unshare", "-n"] if UNSHARE else []
    return subprocess.Popen(
        prefix + [sys.executable, "-m", "tlcourse", *args],
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


@pytest.mark.parametrize(
    "strategy, extra, killed_in, total",
    [
        ("scratch", ["--epochs", "6"], lambda s: s["phase"] == "scratch" and s["epochs_done"] >= 2, 6),
        (
            "some",
            ["--epochs", "4", "--fine-tune-epochs", "3"],
            lambda s: s["phase"] == "finetune" and s["epochs_done"] >= 1,
            7,
        ),
    ],
    ids=["scratch", "head-then-finetune"],
)
def test_kill_9_mid_epoch_then_resume(tmp_path, strategy, extra, killed_in, total, capsys):
    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = [
        "fit",
        "hymenoptera",
        "--strategy",
        strategy,
        "--image-size",
        "64",
        "--per-class",
        "40",
        "--out",
        str(out),
        *extra,
    ]
    started = time.monotonic()
    first = _start(args, env)
    state = _wait_for_state(out / "checkpoint" / "state.json", killed_in)
    time.sleep(0.4)  # into the next epoch
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    killed_after = time.monotonic() - started
    assert first.returncode == -signal.SIGKILL
    state = json.loads((out / "checkpoint" / "state.json").read_text())  # still a consistent pair
    assert (out / "checkpoint" / state["model"]).exists()
    done_before = len(state["history"]["loss"])
    assert done_before < total

    started = time.monotonic()
    second = _start(args + ["--resume"], env)
    stdout, stderr = second.communicate(timeout=600)
    resumed_in = time.monotonic() - started
    assert second.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    history = json.loads((out / "history.json").read_text())
    assert summary["epochs"] == total
    assert all(len(values) == total for values in history.values()), {k: len(v) for k, v in history.items()}
    assert history["loss"][:done_before] == state["history"]["loss"]  # the epochs before the kill are kept
    with capsys.disabled():
        print(
            f"\n[{strategy}] killed after {killed_after:.1f} s with {done_before}/{total} epochs checkpointed; "
            f"resumed and finished in {resumed_in:.1f} s"
        )


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tlcourse", "fit", "hymenoptera", "--out", str(tmp_path / "x"), "--resume"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "nothing to resume" in result.stderr
