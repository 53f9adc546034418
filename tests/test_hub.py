"""A class on a real JupyterHub: two students pull lesson 4 and work through it in Chromium at once.

What runs is what an instructor deploys (``deploy/README.md``), on localhost:

- the **student edition** (``tlcourse release``) committed to a local git repository, the one
  students pull; the hub's Python has that edition's package installed once (and the course's
  pinned libraries), so ``tlcourse_keys`` cannot be imported by a student's kernel;
- ``jupyterhub`` with ``configurable-http-proxy`` (npm, ``make hub``) on 127.0.0.1, the shared-password
  authenticator and local processes as spawner (no system users: each student's home is a folder);
- every student's server sees one data folder (``TLCOURSE_DATA``) and one instructor-filled cache
  (``TLCOURSE_CACHE_SHARED``), both only read — the test proves nothing under them changed (it runs
  as root, for whom permission bits mean nothing) — and writes to a cache in its own home;
- each student logs in, follows the lesson's nbgitpuller link from ``tlcourse.links``, runs every
  cell in quick mode (both at the same time), drives ``StrategyAdvisor`` (images per class,
  similarity, *Apply*) and ``FreezeControl`` (a block toggle, the strategy menu, the slider,
  *Recompile*), reads
  back from the kernel which blocks one training step changed, uploads a photo to
  ``PhotoClassifier`` (top-5 and Grad-CAM), and gets ``check()`` verdicts (one student answers
  exercise 4.1, the other does not). ``LiveHistory`` draws its curves during the run. Following the
  link again keeps the student's saved edits. The hub's settings include the TLJH recipe's own
  (``deploy/tljh/tlcourse.py``), pointed at this hub's folders.

Screenshots go to ``build/test-artifacts/hub-*.png``. Skipped only where node cannot be installed
(``make test`` installs Debian's nodejs and the proxy where apt and npm are available).
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
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from tlcourse.manifest import by_number

from conftest import CHROMIUM_ARGS, chromium_executable, tlcourse_cmd

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "build" / "test-artifacts"
PROXY = ROOT / "build" / "hub-node" / "node_modules" / ".bin" / "configurable-http-proxy"
TLJH_CONFIG = ROOT / "deploy" / "tljh" / "tlcourse.py"
LESSON = by_number(4).name
# Two students who must reach different advice, so each page shows its own kernel's state.
STUDENTS = {"ada": (30, "different from ImageNet"), "grace": (5000, "similar to ImageNet")}
TOGGLED = "block5"  # the FreezeControl toggle each student clicks after Apply

ANSWER_4_1 = """def choose_strategy(size, similarity):
    if size == "small":
        return "head" if similarity == "similar" else "some"
    return "most" if similarity == "similar" else "full"


check("4.1", choose_strategy=choose_strategy);"""

READBACK_CELL = """import importlib.util
import json

import numpy as np

import tlcourse
from tlcourse.cache import cache_dir
from tlcourse.freeze import blocks

x_step = np.random.default_rng(0).uniform(0, 255, (4, *demo.input_shape[1:])).astype("float32")
before = [w.numpy().copy() for w in demo.weights]
demo.fit(x_step, np.array([0, 1, 0, 1]), epochs=1, verbose=0)  # one step, compiled by the Recompile button
changed = {id(w) for w, b in zip(demo.weights, before) if not np.array_equal(w.numpy(), b)}
state = {
    "frozen": control.frozen_blocks,
    "trainable": int(sum(np.prod(w.shape) for w in demo.trainable_weights)),
    "trained": [b for b, layers in blocks(demo).items() if any(id(w) in changed for l in layers for w in l.weights)],
    "advice": advisor.recommendation[0],
    "needs_recompile": control.needs_recompile,
    "package": tlcourse.__file__,
    "keys_importable": importlib.util.find_spec("tlcourse_keys") is not None,
    "cache": str(cache_dir()),
}
print("READBACK" + json.dumps(state))"""

PHOTO_CELL = """from tlcourse.widgets import PhotoClassifier

photo = PhotoClassifier()
photo"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proxy_command() -> str:
    if PROXY.exists():
        return str(PROXY)
    if shutil.which("configurable-http-proxy"):
        return shutil.which("configurable-http-proxy")
    if not shutil.which("node"):
        pytest.skip(
            "node is not installed, so JupyterHub's proxy cannot run: install Node.js (Debian: "
            "`apt-get install nodejs npm`; `make test` does it where apt is available), then `make hub`"
        )
    pytest.fail("configurable-http-proxy is missing: run `make hub` (npm install into build/hub-node)")


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time: what "unchanged" is checked on."""
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Instructor", "-c", "user.email=instructor@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The student edition as a git repository (what students pull) and a hub Python with it installed."""
    tmp = tmp_path_factory.mktemp("hub-course")
    edition = tmp / "edition"
    subprocess.run(tlcourse_cmd("release", str(edition)), check=True, capture_output=True, timeout=300)
    assert not (edition / "solutions").exists() and not (edition / "tlcourse_keys").exists()
    _git("init", "-q", "-b", "main", cwd=edition)
    _git("add", "-A", cwd=edition)
    _git("commit", "-q", "-m", "student edition", cwd=edition)
    repo = tmp / "course.git"
    _git("clone", "-q", "--bare", str(edition), str(repo), cwd=tmp)
    # The hub's Python: a venv that sees the pinned libraries of this checkout's .venv, but not its
    # editable install of the instructor's package (and keys); the edition's package instead, once.
    installed = tmp / "installed"
    _git("clone", "-q", str(repo), str(installed), cwd=tmp)
    env = tmp / "hub-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = Path(
        subprocess.check_output(
            [env / "bin" / "python", "-c", "import site; print(site.getsitepackages()[0])"], text=True
        ).strip()
    )
    (site / "course-libraries.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n{installed}\n")
    return {"repo": f"file://{repo}", "python": str(env / "bin" / "python")}


@pytest.fixture(scope="module")
def hub(course, tmp_path_factory):
    """JupyterHub on localhost for the students; every process it started is stopped afterwards."""
    from tlcourse.cache import cache_dir
    from tlcourse.datasets import hymenoptera_path

    proxy = _proxy_command()
    tmp = tmp_path_factory.mktemp("hub")
    state, homes = tmp / "state", tmp / "homes"
    state.mkdir()
    password = secrets.token_urlsafe(12)
    # The instructor-filled cache: what this session has cached so far, hard-linked (the cache replaces
    # files, never writes into them), so that tests running beside this one do not change it.
    data, shared_cache = hymenoptera_path().parent, tmp / "instructor-cache"
    shutil.copytree(cache_dir(), shared_cache, copy_function=os.link, ignore=shutil.ignore_patterns(".*"))  # not temps
    for user in STUDENTS:  # a student's own JupyterLab preferences: all cells in the page, no news popup
        settings = homes / user / ".jupyter" / "lab" / "user-settings" / "@jupyterlab"
        (settings / "notebook-extension").mkdir(parents=True)
        (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
            json.dumps({"windowingMode": "none", "recordTiming": True})  # each cell's start and end, saved
        )
        (settings / "apputils-extension").mkdir(parents=True)
        (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
            json.dumps({"checkForUpdates": False, "fetchNews": "false"})
        )
    venv_share = Path(sysconfig.get_paths()["data"])
    port, hub_port, api_port = _free_port(), _free_port(), _free_port()
    config = {
        "bind": f"http://127.0.0.1:{port}",
        "hub_bind": f"http://127.0.0.1:{hub_port}",
        "api": f"http://127.0.0.1:{api_port}",
        "proxy": proxy,
        "password": password,
        "users": sorted(STUDENTS),
        "homes": f"{homes}/{{username}}",
        "cmd": [course["python"], "-m", "jupyterhub.singleuser"],
        "environment": {
            # the hub Python's JupyterLab, widgets and nbgitpuller come from the course's libraries
            "JUPYTER_PATH": str(venv_share / "share" / "jupyter"),
            "JUPYTER_CONFIG_PATH": str(venv_share / "etc" / "jupyter"),
            "JUPYTERLAB_DIR": str(venv_share / "share" / "jupyter" / "lab"),
            "TLCOURSE_DATA": str(data),
            "TLCOURSE_CACHE_SHARED": str(shared_cache),
            "TLCOURSE_QUICK": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        },
        "db": f"sqlite:///{state}/jupyterhub.sqlite",
        "state": str(state),
    }
    config_file = state / "jupyterhub_config.py"
    config_file.write_text(
        "import json\n"
        f"conf = json.loads({json.dumps(json.dumps(config))})\n"
        "c = get_config()  # noqa: F821\n"
        'c.JupyterHub.bind_url = conf["bind"]\n'
        'c.JupyterHub.hub_bind_url = conf["hub_bind"]\n'
        'c.ConfigurableHTTPProxy.api_url = conf["api"]\n'
        'c.ConfigurableHTTPProxy.command = [conf["proxy"]]\n'
        'c.ConfigurableHTTPProxy.pid_file = conf["state"] + "/proxy.pid"\n'
        'c.JupyterHub.authenticator_class = "shared-password"\n'
        'c.SharedPasswordAuthenticator.user_password = conf["password"]\n'
        'c.Authenticator.allowed_users = set(conf["users"])\n'
        'c.JupyterHub.spawner_class = "simple"\n'
        'c.SimpleLocalProcessSpawner.home_dir_template = conf["homes"]\n'
        'c.Spawner.cmd = conf["cmd"]\n'
        'c.Spawner.args = ["--allow-root", "--LabApp.expose_app_in_browser=True"]\n'
        'c.Spawner.default_url = "/lab"\n'
        "c.Spawner.environment = {}\n"
        f"exec(open({str(TLJH_CONFIG)!r}).read())  # the TLJH recipe's own settings\n"
        'assert set(conf["environment"]) >= set(c.Spawner.environment), "the recipe sets what the test sets"\n'
        'c.Spawner.environment.update(conf["environment"])  # this hub\'s folders instead of /srv\n'
        "c.Spawner.start_timeout = c.Spawner.http_timeout = 180\n"
        'c.JupyterHub.db_url = conf["db"]\n'
        'c.JupyterHub.cookie_secret_file = conf["state"] + "/cookie_secret"\n'
    )
    before = {"data": _listing(data), "shared cache": _listing(shared_cache)}
    log = open(tmp / "jupyterhub.log", "w")
    env = {k: v for k, v in os.environ.items() if k not in ("TLCOURSE_HEADLESS", "TLCOURSE_CACHE", "TLCOURSE_RESULTS")}
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("jupyterhub")), "-f", str(config_file)],
        cwd=state,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    import psutil

    url = f"http://127.0.0.1:{port}"
    started = []
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/hub/api", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterHub did not start:\n{(tmp / 'jupyterhub.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield {"url": url, "password": password, "homes": homes, "log": tmp / "jupyterhub.log", "before": before}
        started = psutil.Process(server.pid).children(recursive=True)  # proxy, servers, kernels
        after = {"data": _listing(data), "shared cache": _listing(shared_cache)}
        for name in before:
            assert after[name] == before[name], f"a student's server changed the {name} folder"
    finally:
        started = started or (psutil.Process(server.pid).children(recursive=True) if server.poll() is None else [])
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        for process in started:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        log.close()


# --------------------------------------------------------------------------- driving JupyterLab


def _login(browser, hub_url: str, user: str, password: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{hub_url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_load_state()
    return page


def _open(page, link: str) -> None:
    """Follow an nbgitpuller link until the lesson is open with an idle kernel."""
    from playwright.sync_api import expect

    page.goto(link)
    page.wait_for_url(f"**/lab/tree/*/lessons/{LESSON}.ipynb", timeout=180_000)
    status = page.locator('#jp-main-statusbar span.jp-StatusBar-TextItem[title^="Change kernel"]')
    expect(status).to_contain_text("Idle", timeout=180_000)


def _command(page, command: str, wait: bool = True) -> None:
    """Run a JupyterLab command; ``wait=False`` returns at once (run-all resolves only when all ran)."""
    call = "window.jupyterapp.commands.execute(c)"
    page.evaluate(f"(c) => {call}" if wait else f"(c) => {{ {call}; }}", command)


def _prompts(page) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
                 .map(e => e.textContent.trim())"""
    )


def _wait_until_run(page, timeout: float) -> None:
    """Wait until no cell is running or queued and the kernel is idle; fail on a cell that was not run."""
    deadline = time.monotonic() + timeout
    status = page.locator('#jp-main-statusbar span.jp-StatusBar-TextItem[title^="Change kernel"]')
    while time.monotonic() < deadline:
        prompts = _prompts(page)
        if prompts and "[*]:" not in prompts and "Idle" in status.inner_text():
            time.sleep(1)
            if "[*]:" not in _prompts(page) and "Idle" in status.inner_text():
                break
        time.sleep(2)
    else:
        pytest.fail(f"the lesson was still running after {timeout:.0f} s: {_prompts(page)}")
    not_run = [i for i, p in enumerate(_prompts(page)) if p in ("[ ]:", "")]
    if not_run:
        errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        shown = "\n".join(errors.all_inner_texts())[-3000:]
        pytest.fail(f"code cells {not_run} did not run (a cell before them failed?):\n{shown}")


def _run_span(home: Path) -> tuple[str, str]:
    """When the saved lesson's first cell started and its last cell ended (JupyterLab's recorded timing)."""
    nb = json.loads((home / "course" / "lessons" / f"{LESSON}.ipynb").read_text())
    timing = [c["metadata"].get("execution", {}) for c in nb["cells"] if c["cell_type"] == "code"]
    assert all("iopub.execute_input" in t and "shell.execute_reply" in t for t in timing), "every cell ran"
    return min(t["iopub.execute_input"] for t in timing), max(t["shell.execute_reply"] for t in timing)


def _cell(page, containing: str):
    return page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell", has_text=containing).last


def _type_into(page, cell, source: str) -> None:
    """Replace a cell's source as a student would (select all, type) and run it."""
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(source)
    page.keyboard.press("Shift+Enter")


def _new_cell(page, source: str) -> None:
    """Add a cell at the end of the notebook, type ``source`` and run it."""
    last = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").last
    last.locator(".jp-Cell-inputArea").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # insert a cell below, in command mode
    page.keyboard.press("Enter")  # edit it
    page.keyboard.insert_text(source)
    page.keyboard.press("Shift+Enter")


def _stdout(page, marker: str):
    return page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]', has_text=marker).last


def _drive_widgets(page, user: str) -> dict:
    """StrategyAdvisor and FreezeControl as a student clicks them; returns the kernel's read-back."""
    from playwright.sync_api import expect

    from tlcourse.catalogue import STRATEGIES, recommend_strategy
    from tlcourse.freeze import strategy_frozen_count

    images, similarity = STUDENTS[user]
    advice = recommend_strategy(images, similarity.startswith("similar"))[0]
    advisor, control = page.locator(".tlc-strategy-advisor"), page.locator(".tlc-freeze-control")
    advisor.scroll_into_view_if_needed()
    field = advisor.locator("input[type=number]")
    field.fill(str(images))
    field.press("Enter")
    advisor.locator("button", has_text=similarity).click()
    expect(advisor.locator(".tlc-advice")).to_have_text(advice, timeout=15_000)
    advisor.locator("button", has_text="Apply to the model").click()
    expect(control.locator("select")).to_have_value(advice, timeout=15_000)
    expect(control.locator(".tlc-reminder")).to_contain_text("compile the model again", timeout=15_000)
    blocks = [b.strip() for b in control.locator("button.widget-toggle-button").all_inner_texts()]
    frozen = set(blocks[: strategy_frozen_count(advice, len(blocks))])
    control.locator("button.widget-toggle-button", has_text=TOGGLED).click()  # flip one block by hand
    frozen ^= {TOGGLED}
    expect(control.locator("select")).to_have_value("(custom)", timeout=15_000)
    # the strategy menu, then back to the student's own mix with the toggle
    other = next(s for s in STRATEGIES if s != advice)
    control.locator("select").select_option(other)
    frozen_other = strategy_frozen_count(other, len(blocks))
    expect(control.locator("button.widget-toggle-button.mod-active")).to_have_count(frozen_other, timeout=15_000)
    control.locator(".noUi-handle").first.focus()  # the "freeze up to" slider: one more block frozen
    page.keyboard.press("ArrowRight")
    expect(control.locator(".widget-readout").first).to_have_text(str(frozen_other + 1), timeout=15_000)
    expect(control.locator("button.widget-toggle-button.mod-active")).to_have_count(frozen_other + 1, timeout=15_000)
    advisor.locator("button", has_text="Apply to the model").click()
    expect(control.locator("select")).to_have_value(advice, timeout=15_000)
    control.locator("button.widget-toggle-button", has_text=TOGGLED).click()
    control.locator("button", has_text="Recompile").click()
    expect(control.locator(".tlc-reminder")).to_contain_text("compiled state matches", timeout=30_000)
    shown_trainable = control.locator(".tlc-trainable").inner_text()
    advisor.screenshot(path=str(ARTIFACTS / f"hub-{user}-advisor.png"))
    control.screenshot(path=str(ARTIFACTS / f"hub-{user}-freeze-control.png"))

    _new_cell(page, READBACK_CELL)
    readback = _stdout(page, "READBACK")
    expect(readback).to_be_visible(timeout=120_000)
    state = json.loads(readback.inner_text().split("READBACK", 1)[1])
    assert set(state["frozen"]) == frozen, (state["frozen"], frozen)
    assert state["trained"] == [b for b in blocks if b not in frozen], "the blocks that trained are the unfrozen ones"
    assert state["advice"] == advice and state["needs_recompile"] is False
    assert f"{state['trainable']:,}" == shown_trainable, "the page shows what the model trains"
    return state


def _photo(page, user: str, photo: Path) -> str:
    """Upload a photo to PhotoClassifier; the line it shows with the top-5 classes."""
    from playwright.sync_api import expect

    _new_cell(page, PHOTO_CELL)
    widget = page.locator(".tlc-photo-classifier")
    expect(widget).to_be_visible(timeout=120_000)
    with page.expect_file_chooser() as chooser:  # the upload button opens the browser's file dialog
        widget.locator("button", has_text="Upload").click()
    chooser.value.set_files(str(photo))
    shown = widget.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]')
    expect(shown).to_contain_text("PhotoClassifier: ", timeout=120_000)
    expect(widget.locator("img")).to_have_count(1, timeout=30_000)  # the Grad-CAM map beside the bars
    widget.scroll_into_view_if_needed()
    widget.screenshot(path=str(ARTIFACTS / f"hub-{user}-photo.png"))
    return shown.inner_text().split("PhotoClassifier: ", 1)[1]


def test_two_students_work_through_lesson_4_on_the_hub(course, hub):
    from playwright.sync_api import expect, sync_playwright

    from tlcourse.datasets import hymenoptera_path
    from tlcourse.imagenet import classify, load_classifier, prepare
    from tlcourse.links import lesson_links

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    link = lesson_links(LESSON, course["repo"], hub["url"])["hub"]
    photo = sorted((hymenoptera_path() / "val" / "ants").glob("*.jpg"))[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS)
        try:
            pages = {user: _login(browser, hub["url"], user, hub["password"]) for user in STUDENTS}
            for page in pages.values():
                _open(page, link)
            for page in pages.values():  # both lessons run at the same time, in two kernels
                _command(page, "notebook:run-all-cells", wait=False)
            for page in pages.values():
                _wait_until_run(page, timeout=900)
                _command(page, "docmanager:save")
            spans = {user: _run_span(hub["homes"] / user) for user in STUDENTS}
            assert spans["ada"][0] < spans["grace"][1] and spans["grace"][0] < spans["ada"][1], spans
            for user, page in pages.items():
                live = _cell(page, "LiveHistory(EPOCHS)")  # the curves drawn while phase 1 trained
                expect(live.locator(".widget-hprogress")).to_have_count(1)
                expect(live.locator(".widget-output img")).to_have_count(1)
                page.screenshot(path=str(ARTIFACTS / f"hub-{user}-lesson4.png"))

            states = {user: _drive_widgets(page, user) for user, page in pages.items()}
            for user, state in states.items():
                assert "/installed/tlcourse/" in state["package"], "the hub runs the student edition's package"
                assert state["keys_importable"] is False, "a student's kernel must not reach the answer keys"
                assert state["cache"].startswith(str(hub["homes"] / user)), "each student writes to their own cache"
            assert states["ada"]["frozen"] != states["grace"]["frozen"], "each page drives its own kernel"

            _type_into(pages["ada"], _cell(pages["ada"], 'check("4.1"'), ANSWER_4_1)
            expect(_cell(pages["ada"], 'check("4.1"')).to_contain_text("✔ Exercise 4.1", timeout=60_000)
            expect(_cell(pages["grace"], 'check("4.1"')).to_contain_text("✘ Exercise 4.1")
            _cell(pages["ada"], 'check("4.1"').screenshot(path=str(ARTIFACTS / "hub-ada-check.png"))

            classifier = load_classifier("efficientnet_lite0")
            expected = classify(classifier, [prepare(photo, classifier.model.input_shape[1])], 5)[0]
            for user, page in pages.items():  # the upload decodes as `tlcourse predict` reads the file
                shown, position = _photo(page, user, photo), 0
                for name, _ in expected:
                    assert name in shown[position:], f"{name!r} missing or out of order in {shown!r}"
                    position = shown.index(name, position) + len(name)
            for page in pages.values():
                _command(page, "docmanager:save")
            _open(pages["ada"], link)  # the link again (a lesson updated, say): nbgitpuller keeps her edits
            expect(_cell(pages["ada"], 'check("4.1"')).to_contain_text('return "most" if similarity')
        finally:
            browser.close()

    saved = json.loads((hub["homes"] / "ada" / "course" / "lessons" / f"{LESSON}.ipynb").read_text())
    sources = ["".join(c["source"]) for c in saved["cells"] if c["cell_type"] == "code"]
    assert ANSWER_4_1 in sources and READBACK_CELL in sources, "the student's work is saved in their copy"
    errors = [
        o
        for c in saved["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        if o["output_type"] == "error"
    ]
    assert not errors, errors
