"""Shared fixtures: an isolated cache, the offline data root, and ways to cut the network."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from netguard import socketguard

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

# The network, cut in one place: in this process (``offline_session``, ``no_network``), in the commands the
# tests start (``offline``, ``run_offline``) and in the browser (``offline_page``); what "cut" means for
# Python's sockets is ``netguard/socketguard.py``. (``make test`` also runs the whole suite in a network
# namespace, ``.ci/offline``.)
GUARD_DIR = Path(__file__).parent / "netguard"  # a sitecustomize that blocks sockets, for child processes


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


UNSHARE = _unshare_works()


def offline(args: list[str], env: dict | None = None) -> tuple[list[str], dict]:
    """A command and its environment with no network (for ``subprocess.Popen``; ``run_offline`` runs one).

    ``unshare -n`` where possible, else the socket guard in every Python process it starts.
    """
    env = {**os.environ, **(env or {})}
    if UNSHARE:
        return ["unshare", "-n", *args], env
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(GUARD_DIR), env.get("PYTHONPATH")]))
    return list(args), env


def run_offline(args: list[str], env: dict | None = None, timeout: int = 600, **kwargs):
    """Run a command with no network (``offline``), its output captured as text."""
    args, env = offline(args, env)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, **kwargs)


def tlcourse_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tlcourse", *args]


@pytest.fixture(autouse=True, scope="session")
def offline_session():
    """The whole suite runs as if offline: outside connections fail at once; localhost still works."""
    with pytest.MonkeyPatch.context() as patch:
        for owner, name, replacement in socketguard.replacements(loopback=True):
            patch.setattr(owner, name, replacement)
        yield


@pytest.fixture
def no_network(monkeypatch):
    """In-process guard: any attempt to open a connection or look up a name fails at once."""
    for owner, name, replacement in socketguard.replacements(loopback=False):
        monkeypatch.setattr(owner, name, replacement)


@pytest.fixture
def toy_manifest(monkeypatch):
    """``toy_manifest(*lessons)``: the course's lessons replaced by these (``tlcourse.manifest.Lesson`` each, or
    a name), for as long as the test runs: everything that lists lessons reads the manifest."""
    from tlcourse import manifest

    def replace(*lessons):
        entries = tuple(
            entry if isinstance(entry, manifest.Lesson) else manifest.Lesson(i, entry, "none", "none")
            for i, entry in enumerate(lessons, 1)
        )
        monkeypatch.setattr(manifest, "LESSONS", entries)
        return entries

    return replace


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


def offline_page(browser, base: str):
    """A new page of a Playwright browser that reaches only ``base`` (the local server): every other request
    is refused, as for a reader offline. Returns the page and the list of the URLs it refused."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    refused: list[str] = []

    def route(r):
        if r.request.url.startswith(base):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return page, refused


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
