"""End to end in a real browser: FreezeControl in JupyterLab, driven by headless Chromium.

Starts JupyterLab on a free localhost port with a token and a temporary root, opens a
notebook, runs the cell that shows ``FreezeControl``, moves the slider and clicks a block
toggle, checks that the parameter count in the page changes, and reads the model back
from the kernel through another cell. Saves a screenshot in ``build/test-artifacts/``.
Needs Chromium (Debian's ``chromium``; ``make test`` installs it where apt is available):
without it the test fails saying so — it is never skipped.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "build" / "test-artifacts"

SETUP_CELL = """\
from tlcourse.backbones import load_backbone
from tlcourse.models import transfer_model
from tlcourse.widgets import FreezeControl
model = transfer_model(load_backbone("efficientnet_lite0", (96, 96, 3)), 2)
control = FreezeControl(model)
control"""

READBACK_CELL = """\
import json
import numpy as np
print("READBACK" + json.dumps({"trainable": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
                               "frozen": control.frozen_blocks}))"""


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP_CELL), nbformat.v4.new_code_cell(READBACK_CELL)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on localhost; yields (base url, token); always stopped afterwards."""
    root, state = tmp_path / "root", tmp_path / "state"
    root.mkdir()
    settings = state / "settings"
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"checkForUpdates": False, "fetchNews": "false"}))
    _write_notebook(root / "freeze.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **{k: v for k, v in os.environ.items() if k != "TLCOURSE_HEADLESS"},  # a person watches: widgets
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
    }
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--port-retries=0",
            "--allow-root",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={settings}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def _trainable_shown(page) -> int:
    return int(page.locator(".tlc-freeze-control .tlc-trainable").inner_text().replace(",", ""))


def _run_cell(page, index: int) -> None:
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(index).locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")


def test_freeze_control_in_jupyterlab(jupyterlab):
    from playwright.sync_api import expect, sync_playwright

    base, token = jupyterlab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_executable(),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/freeze.ipynb?token={token}")
            kernel_status = page.locator('#jp-main-statusbar span.jp-StatusBar-TextItem[title^="Change kernel"]')
            expect(kernel_status).to_contain_text("Idle", timeout=90_000)

            _run_cell(page, 0)
            control = page.locator(".tlc-freeze-control")
            expect(control).to_be_visible(timeout=120_000)
            initial = _trainable_shown(page)

            handle = control.locator(".noUi-handle").first
            handle.focus()
            page.keyboard.press("ArrowLeft")  # 9 blocks frozen -> 8: the head block trains
            expect(control.locator(".widget-readout").first).to_have_text("8", timeout=10_000)
            expect(control.locator(".tlc-trainable")).not_to_have_text(f"{initial:,}", timeout=10_000)
            after_slider = _trainable_shown(page)
            assert after_slider > initial

            control.locator("button.widget-toggle-button", has_text="block7").click()  # unfreeze block7 too
            expect(control.locator(".tlc-trainable")).not_to_have_text(f"{after_slider:,}", timeout=10_000)
            after_toggle = _trainable_shown(page)
            assert after_toggle > after_slider

            _run_cell(page, 1)
            readback = page.locator(
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]', has_text="READBACK"
            )
            expect(readback).to_be_visible(timeout=30_000)
            state = json.loads(readback.inner_text().split("READBACK", 1)[1])
            assert state["trainable"] == after_toggle
            assert "head" not in state["frozen"] and "block7" not in state["frozen"]
            assert state["frozen"] == ["stem"] + [f"block{i}" for i in range(1, 7)]
            control.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "freeze_control.png"), full_page=True)
        finally:
            browser.close()
