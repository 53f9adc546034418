"""Shared fixtures: an isolated cache, the offline data root, and ways to cut the network."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "datasets"

# Before anything imports tlcourse: a fresh cache for the session, the shared data if present.
# pytest-xdist's workers inherit the controller's environment: they share its cache (the cache is
# safe for concurrent processes, tests/test_reliability.py), so a lesson's features are extracted once.
if "PYTEST_XDIST_WORKER" in os.environ and os.environ.get("TLCOURSE_TEST_SESSION_CACHE"):
    _SESSION_CACHE = Path(os.environ["TLCOURSE_TEST_SESSION_CACHE"])
else:
    _SESSION_CACHE = Path(tempfile.mkdtemp(prefix="tlcourse-test-cache-"))
    _SESSION_CACHE.chmod(0o755)  # a grading box (the host's nobody) reads it, as it reads an instructor's cache
    os.environ["TLCOURSE_TEST_SESSION_CACHE"] = str(_SESSION_CACHE)
os.environ["TLCOURSE_CACHE"] = str(_SESSION_CACHE)
if "TLCOURSE_DATA" not in os.environ and (SHARED_DATA / "hymenoptera_data").is_dir():
    os.environ["TLCOURSE_DATA"] = str(SHARED_DATA)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

GUARD_DIR = Path(__file__).parent / "netguard"  # a sitecustomize that blocks sockets


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


UNSHARE = _unshare_works()


def run_offline(args: list[str], env: dict | None = None, timeout: int = 600, **kwargs):
    """Run a command with no network: ``unshare -n`` where possible, else a socket guard."""
    env = {**os.environ, **(env or {})}
    if UNSHARE:
        args = ["unshare", "-n", *args]
    else:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(GUARD_DIR), env.get("PYTHONPATH")]))
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, **kwargs)


def tlcourse_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tlcourse", *args]


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _loopback_only(original):
    """Wrap a socket function so it refuses any address that is not loopback (or a Unix socket)."""

    def guarded(*args, **kwargs):
        address = args[1] if original.__name__ == "connect" else args[0]
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in _LOOPBACK:
            raise OSError(f"network disabled by the tlcourse tests (tried {address})")
        return original(*args, **kwargs)

    return guarded


@pytest.fixture(autouse=True, scope="session")
def offline_session():
    """The whole suite runs as if offline: outside connections fail at once; localhost still works."""
    patches = [(socket.socket, "connect"), (socket, "create_connection")]
    saved = [(owner, name, getattr(owner, name)) for owner, name in patches]
    for owner, name, original in saved:
        setattr(owner, name, _loopback_only(original))
    yield
    for owner, name, original in saved:
        setattr(owner, name, original)


@pytest.fixture
def no_network(monkeypatch):
    """In-process guard: any attempt to open a connection fails at once."""

    def refuse(*_args, **_kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="session")
def hymenoptera():
    """Ants/bees at 160 px (needs the shared copy or a download)."""
    from tlcourse.datasets import load_dataset

    return load_dataset("hymenoptera", 160, verbose=False)


@pytest.fixture(scope="session")
def lite0():
    from tlcourse.backbones import load_backbone

    return load_backbone("efficientnet_lite0", (160, 160, 3))


def pytest_sessionfinish(session, exitstatus):
    if "PYTEST_XDIST_WORKER" not in os.environ:  # the controller (or a plain run) ends last
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


# root needs --no-sandbox; the rest keeps Chromium from calling home
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_executable() -> str:
    candidates = [
        os.environ.get("TLCOURSE_CHROMIUM"),
        "/usr/lib/chromium/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "no Chromium browser found for the browser test: install Debian's package "
        "(`apt-get install -y chromium`; `make test` does this where apt is available) "
        "or set TLCOURSE_CHROMIUM to a Chromium/Chrome executable"
    )
