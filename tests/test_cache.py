"""Cached arrays: atomic, verified, rebuilt when corrupt."""

import os

import numpy as np
import pytest

from tlcourse.cache import atomic_write_bytes, cache_dir, data_root, load_arrays, save_arrays


def test_round_trip(tmp_path):
    arrays = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "names": np.array(["a", "b"])}
    save_arrays(tmp_path / "a.npz", arrays)
    loaded = load_arrays(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded["x"], arrays["x"])
    assert loaded["names"].tolist() == ["a", "b"]


def test_missing_file_is_none(tmp_path):
    assert load_arrays(tmp_path / "nothing.npz") is None


def test_truncated_file_is_reported_removed_and_not_used(tmp_path):
    path = tmp_path / "a.npz"
    save_arrays(path, {"x": np.ones(10000)})
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.warns(UserWarning, match="corrupt"):
        assert load_arrays(path) is None
    assert not path.exists()


def test_a_corrupt_file_in_the_shared_cache_is_skipped_never_deleted(tmp_path, monkeypatch):
    """A class reads one instructor-filled cache: no student's kernel may delete a file in it (found
    by tests/test_hub.py, where root's kernels could)."""
    shared, own = tmp_path / "shared", tmp_path / "own"
    monkeypatch.setenv("TLCOURSE_CACHE", str(own))
    monkeypatch.setenv("TLCOURSE_CACHE_SHARED", str(shared))
    save_arrays(shared / "features" / "a.npz", {"x": np.ones(10000)})
    broken = (shared / "features" / "a.npz").read_bytes()[:-100]
    (shared / "features" / "a.npz").write_bytes(broken)
    with pytest.warns(UserWarning, match="corrupt"):
        assert load_arrays(cache_dir() / "features" / "a.npz") is None
    assert (shared / "features" / "a.npz").read_bytes() == broken


def test_altered_content_fails_the_checksum(tmp_path):
    path = tmp_path / "a.npz"
    save_arrays(path, {"x": np.zeros(4)})
    np.savez(path, x=np.ones(4), __sha256__=np.load(path)["__sha256__"])  # same checksum, new data
    with pytest.warns(UserWarning, match="checksum"):
        assert load_arrays(path) is None


def test_atomic_write_leaves_no_temp_files_and_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "f.json"
    atomic_write_bytes(target, b"{}")
    assert target.read_bytes() == b"{}"
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]
    assert target.stat().st_mode & 0o044  # readable by others, unlike mkstemp's 0600


def test_roots_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path / "d"))
    assert cache_dir() == tmp_path / "c" and os.path.isdir(tmp_path / "c")
    assert data_root() == tmp_path / "d"
    monkeypatch.delenv("TLCOURSE_DATA")
    assert data_root() == tmp_path / "c" / "data"
