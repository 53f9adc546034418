"""The course as a website: Jupyter Book 1.x over the executed lessons, built offline.

``tlcourse site`` (``make site``) assembles a Jupyter Book project from the notebooks a course
run executed (``build/executed/``): a home page with the course map, the run's headline results
(``tlcourse.headlines``) and launch links (``tlcourse.links``), then one page per lesson with its
figures, tables and outputs. Jupyter Book does the rest (pages, search, navigation) without
executing anything again; 2.x is not used because it downloads its theme at build time.

Widgets are shown by their text summary (``tlcourse.widgets``: the ``text/plain`` part of their
display): their saved state would need the widget JavaScript from a CDN to render, which an
offline reader does not have. The student copies (``lessons/``) have no worked answers; a
self-study build with them is a run of ``solutions/`` (``--solutions`` says so on the pages).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from tlcourse import manifest
from tlcourse.errors import CourseError
from tlcourse.headlines import headline
from tlcourse.links import lesson_links

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _title(nb) -> str:
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    line = next((s for s in first.splitlines() if s.startswith("# ")), "")
    return line[2:].strip() or "untitled"


def _goals(nb) -> str:
    """The first learning goal (its continuation lines joined): the map's one-line summary of a lesson."""
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    lines = first.splitlines()
    start = next((i for i, s in enumerate(lines) if s.startswith("**Learning goals**")), None)
    if start is None:
        return ""
    goal: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith("- "):
            if goal:
                break
            goal.append(line[2:].strip())
        elif goal and line.startswith("  "):
            goal.append(line.strip())
        elif goal:
            break
    text = " ".join(goal).rstrip(";.")
    return (text[:1].lower() + text[1:]).replace("|", "\\|")


def _links_line(stem: str, repo: str | None, hub: str | None, branch: str) -> str:
    if not repo:
        return ""
    links = lesson_links(stem, repo, hub, branch)
    names = {"hub": "Open on the class JupyterHub", "colab": "Open in Colab", "binder": "Launch on Binder"}
    return " · ".join(f"[{names[k]}]({url})" for k, url in links.items())


def page_notebook(nb, links: str, solutions: bool):
    """One lesson page: widget views replaced by their text summary, papermill's injected cell gone."""
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data")
            if isinstance(data, dict) and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                data.setdefault("text/plain", "(an interactive control: run the notebook to use it)")
    nb.metadata.pop("widgets", None)
    notes = []
    if links:
        notes.append(links)
    if solutions:
        notes.append("*Self-study edition: the exercises are shown with worked answers.*")
    if notes:
        nb.cells.insert(1, nbformat.v4.new_markdown_cell("\n\n".join(notes)))
    return nb


def home_page(lessons: list[tuple[str, str, str]], results: dict, quick: bool, repo: str | None) -> str:
    """index.md: what the course is, its map, the run's headline results."""
    rows = "\n".join(
        f"| {i} | {{doc}}`{title} <{stem}>` | {goal} |" for i, (stem, title, goal) in enumerate(lessons, 1)
    )
    lines = [
        "# Transfer learning for image classification",
        "",
        "A course in six Jupyter notebooks: real pretrained models (EfficientNet-Lite with ImageNet",
        "weights), real photos and real measurements, on an ordinary laptop CPU. Each lesson ends with",
        "exercises that a `check()` marks as you go.",
        "",
        "## The course",
        "",
        "| # | lesson | after it you can |",
        "|---|---|---|",
        rows,
    ]
    measured = [(stem, title, headline(stem, results.get(stem, {}))) for stem, title, _ in lessons]
    if any(h for _, _, h in measured):
        lines += ["", "## What the lessons measured", ""]
        if quick:
            lines += [
                "*This site was built from a quick run (the short version CI runs): small data and few",
                "epochs, so the numbers below are not the lessons' results. `make course` runs the full",
                "version.*",
                "",
            ]
        lines += ["| lesson | what it measured |", "|---|---|"]
        for stem, _, claim in measured:
            lines.append(f"| {{doc}}`{stem}` | {(claim or '(not recorded)').replace('|', '/')} |")
    lines += [
        "",
        "## Run it",
        "",
        "Locally: `make course` (creates a virtual environment, installs the pinned packages, runs every",
        "lesson); `make lab` opens them in JupyterLab.",
    ]
    if not repo:
        lines += [
            "",
            "(Launch links for a JupyterHub, Colab and Binder appear here when the site is built with `--repo`.)",
        ]
    return "\n".join(lines) + "\n"


def _config(title: str) -> str:
    return "\n".join(
        [
            f"title: {json.dumps(title)}",
            "author: tlcourse",
            "only_build_toc_files: true",
            "execute:",
            "  execute_notebooks: 'off'  # the site shows what a course run executed",
            "html:",
            "  use_repository_button: false",
            "  use_issues_button: false",
            "  use_edit_page_button: false",
            "  use_download_button: false",
            "  use_multitoc_numbering: false",
            "launch_buttons:",
            "  notebook_interface: jupyterlab",
            "sphinx:",
            "  config:",
            "    html_show_copyright: false",
            "    nb_render_markdown_format: myst",
            "",
        ]
    )


def build_site(
    executed: Path,
    out: Path,
    results: Path | None = None,
    repo: str | None = None,
    hub: str | None = None,
    branch: str = "main",
    solutions: bool = False,
    quick: bool | None = None,
) -> Path:
    """Build the site from the executed notebooks in ``executed``; returns the home page's path.

    ``quick``: whether they ran in quick mode (None: read from papermill's record in the notebooks).
    """
    notebooks = manifest.notebooks_in(executed)
    if not notebooks:
        raise CourseError(f"no executed lessons in {executed}/: run `tlcourse run` (or `make course`) first")
    results_path = Path(results) if results else Path(executed).parent / "results.json"
    summary = json.loads(results_path.read_text()) if results_path.exists() else {}
    quick = _ran_quick(notebooks[0]) if quick is None else quick
    out = Path(out)
    src = out / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    lessons = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        lessons.append((path.stem, _title(nb), _goals(nb)))
        page = page_notebook(nb, _links_line(path.stem, repo, hub, branch), solutions)
        nbformat.write(page, src / path.name)
    title = "Transfer learning for image classification" + (" (self-study edition)" if solutions else "")
    (src / "index.md").write_text(home_page(lessons, summary, quick, repo))
    (src / "_config.yml").write_text(_config(title))
    toc = ["format: jb-book", "root: index", "chapters:"] + [f"- file: {stem}" for stem, _, _ in lessons]
    (src / "_toc.yml").write_text("\n".join(toc) + "\n")
    html = out / "html"
    shutil.rmtree(html, ignore_errors=True)
    _jupyter_book(src, out)
    built = src / "_build" / "html"
    shutil.move(str(built), str(html))
    shutil.rmtree(src / "_build", ignore_errors=True)
    return html / "index.html"


def _ran_quick(notebook: Path) -> bool:
    """Whether ``tlcourse run`` executed the notebook in quick mode (papermill keeps its parameters)."""
    nb = nbformat.read(notebook, as_version=4)
    return bool(nb.metadata.get("papermill", {}).get("parameters", {}).get("QUICK", False))


def _jupyter_book(src: Path, out: Path) -> None:
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(src), "--builder", "html"]
    if not Path(command[0]).exists():
        command[0] = shutil.which("jupyter-book") or command[0]
    log = out / "jupyter-book.log"
    with open(log, "w") as f:
        proc = subprocess.run(command + ["--warningiserror", "--keep-going"], stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-15:]
        raise CourseError("Jupyter Book could not build the site (log: " + str(log) + "):\n" + "\n".join(tail))
