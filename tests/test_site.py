"""The course website: built with the network cut, then every page opened in Chromium.

The site is built from the lessons nbval ran earlier in this session (the plugin
``tests/plugins/nbval_executed.py`` keeps them as executed notebooks, so each lesson runs once for
both checks); run alone, this test runs them itself with ``tlcourse run --quick``. In the browser,
every request that leaves the local server is refused (a reader offline): every image must load,
every local link and anchor must resolve, widgets must show their text summary (never a widget's
repr), search must find a word. Screenshots of the home page and lesson 4 go to
``build/test-artifacts/``.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import nbformat
import pytest

from tlcourse.course import lesson_notebooks
from tlcourse.manifest import by_number
from tlcourse.results import collect

import nbval_executed
from conftest import CHROMIUM_ARGS, chromium_executable, offline_page, run_offline, tlcourse_cmd

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "build" / "test-artifacts"
LESSONS = [p.stem for p in lesson_notebooks(ROOT / "lessons")]
WIDGETS = ("FreezeControl", "StrategyAdvisor", "PhotoClassifier")
REPR = re.compile(r"\b(VBox|HBox|IntProgress|ToggleButton|IntSlider|FreezeControl|StrategyAdvisor|PhotoClassifier)\(")


def _executed(tmp: Path) -> tuple[Path, Path]:
    """Executed lessons and their results.json: nbval's of this session, else a quick run now."""
    passed = nbval_executed.write_executed()  # the plugin pytest loaded (-p nbval_executed): what nbval ran
    if all(passed.get(stem) for stem in LESSONS):
        results = tmp / "results.json"
        results.write_text(json.dumps(collect(nbval_executed.NBVAL_RUN / "results")))
        return nbval_executed.NBVAL_RUN / "executed", results
    run = run_offline(
        tlcourse_cmd("run", "--quick", "--lessons", str(ROOT / "lessons"), "--out", str(tmp)), timeout=900
    )
    assert run.returncode == 0, run.stdout[-3000:]
    return tmp / "executed", tmp / "results.json"


@pytest.fixture(scope="module")
def site(tmp_path_factory, pytestconfig):
    loaded = pytestconfig.pluginmanager.get_plugin("nbval_executed")
    assert loaded is nbval_executed, "the plugin nbval_executed is not loaded (-p nbval_executed, pyproject.toml)"
    tmp = tmp_path_factory.mktemp("site")
    executed, results = _executed(tmp)
    args = ["site", "--executed", str(executed), "--results", str(results), "--out", str(tmp / "site"), "--quick"]
    args += ["--repo", "https://github.com/example/tlcourse-student", "--hub", "https://hub.example.edu"]
    built = run_offline(tlcourse_cmd(*args), timeout=600)  # no network: Jupyter Book 1.x needs none
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return {"html": tmp / "site" / "html", "executed": executed}


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site["html"]))
    handler.log_message = lambda *a: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _widget_summaries(executed: Path, stem: str) -> list[str]:
    """The first line of every widget summary the executed lesson displayed."""
    nb = nbformat.read(executed / f"{stem}.ipynb", as_version=4)
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/plain", "")
            if any(text.startswith(f"{w}:") for w in WIDGETS):
                found.append(text.splitlines()[0])
    return found


def _local_target(html: Path, page_url: str, href: str, base: str) -> tuple[Path, str] | None:
    url = urljoin(page_url, href)
    if not url.startswith(base):
        return None  # external: launch links, the theme's credits
    parsed = urlparse(url)
    path = html / unquote(parsed.path[len(urlparse(base).path) :] or "index.html")
    return (path / "index.html" if path.is_dir() else path), parsed.fragment


def test_the_home_page_maps_the_course_and_its_results(site, server, browser):
    page, _ = offline_page(browser, server)
    page.goto(server + "index.html", wait_until="load")
    text = page.inner_text("main")
    for stem in LESSONS:
        assert page.locator(f"main a[href^='{stem}.html']").count() >= 1, stem  # the map links every lesson
    assert "What the lessons measured" in text and "frozen pretrained" in text  # lesson 5's headline
    assert "quick run" in text  # it says these are not the lessons' results
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "site-home.png"), full_page=True)
    page.close()


def test_every_page_loads_its_images_links_and_widget_summaries(site, server, browser):
    html = site["html"]
    pages = ["index.html", "search.html"] + [f"{stem}.html" for stem in LESSONS]
    problems = []
    for name in pages:
        page, _ = offline_page(browser, server)
        page.goto(server + name, wait_until="load")
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.src, e.complete && e.naturalWidth > 0])")
        problems += [f"{name}: image did not load: {src}" for src, ok in images if not ok]
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            target = _local_target(html, server + name, href, server)
            if target is None:
                continue
            path, fragment = target
            if not path.is_file():
                problems.append(f"{name}: broken link {href}")
            elif fragment and f'id="{fragment}"' not in path.read_text(errors="replace"):
                problems.append(f"{name}: no anchor #{fragment} in {path.name}")
        stem = name.removesuffix(".html")
        if stem in LESSONS:
            outputs = " ".join(page.locator(".cell_output").all_inner_texts())
            problems += [f"{name}: a widget shown as its repr: {m.group(0)}" for m in REPR.finditer(outputs)]
            for summary in _widget_summaries(site["executed"], stem):
                if summary not in outputs:
                    problems.append(f"{name}: widget summary missing: {summary}")
            if stem.startswith("04"):
                page.screenshot(path=str(ARTIFACTS / "site-lesson4.png"), full_page=False)
        page.close()
    assert not problems, "\n".join(problems)
    assert len(list(html.glob("_images/*.png"))) >= 10  # the lessons' figures are on the site


def test_the_widgets_of_lesson_4_are_on_its_page_as_text(site):
    summaries = _widget_summaries(site["executed"], by_number(4).name)
    assert any(s.startswith("FreezeControl:") for s in summaries)
    assert any(s.startswith("StrategyAdvisor:") for s in summaries)


def test_search_finds_a_word_of_the_lessons(site, server, browser):
    page, _ = offline_page(browser, server)
    page.goto(server + "search.html?q=BatchNormalization", wait_until="load")
    page.wait_for_selector("#search-results li", timeout=30_000)
    assert page.locator("#search-results li").count() >= 1
    page.close()
