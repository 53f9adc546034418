"""Launch links: nbgitpuller's link format, Colab and Binder for GitHub repositories, clear errors."""

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tlcourse.errors import CourseError
from tlcourse.links import lesson_links, links_markdown
from tlcourse.manifest import by_number

from conftest import run_offline, tlcourse_cmd

ROOT = Path(__file__).resolve().parents[1]
LESSON = by_number(4).name


def test_hub_link_pulls_the_repository_and_opens_the_lesson_in_lab():
    link = lesson_links(LESSON, "https://github.com/uni/tl-course.git", "https://hub.uni.example/", "spring")["hub"]
    url = urlparse(link)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://hub.uni.example/hub/user-redirect/git-pull"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query == {
        "repo": "https://github.com/uni/tl-course.git",
        "targetpath": "tl-course",  # named: nbgitpuller's default folder would be "tl-course.git"
        "urlpath": f"lab/tree/tl-course/lessons/{LESSON}.ipynb",
        "branch": "spring",
    }


def test_github_repositories_get_colab_and_binder_others_only_the_hub():
    links = lesson_links(LESSON, "https://github.com/uni/tl-course", None)
    assert links["colab"] == f"https://colab.research.google.com/github/uni/tl-course/blob/main/lessons/{LESSON}.ipynb"
    assert links["binder"].startswith("https://mybinder.org/v2/gh/uni/tl-course/main?urlpath=lab")
    assert "hub" not in links
    assert set(lesson_links(LESSON, "https://git.uni.example/tl/course.git", "https://hub.uni.example")) == {"hub"}


@pytest.mark.parametrize(
    "repo, hub, message", [("tl-course", None, "--repo"), ("https://github.com/uni/c", "hub.example", "--hub")]
)
def test_bad_urls_are_refused_naming_the_option(repo, hub, message):
    with pytest.raises(CourseError, match=message):
        lesson_links(LESSON, repo, hub)


def test_the_command_prints_one_row_per_lesson():
    result = run_offline(tlcourse_cmd("links", "--repo", "https://github.com/uni/c", "--hub", "https://hub.example"))
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 0")]
    assert len(rows) == 6 and all("git-pull?" in r and "colab" in r for r in rows)
    assert links_markdown([LESSON], "https://github.com/uni/c").count("\n") == 3


def _run_colab_cell(source: str, monkeypatch, on_colab: bool) -> list:
    """Execute a lesson's Colab cell as a kernel would; the commands it ran."""
    import subprocess
    import sys
    import types

    import tlcourse.datasets

    ran = []
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: ran.append(args))
    monkeypatch.setattr(tlcourse.datasets, "hymenoptera_path", lambda: ran.append("data"))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(source, "colab-cell", "exec"), {})
    return ran


def test_every_lesson_starts_with_the_colab_cell_which_does_nothing_off_colab(monkeypatch):
    import nbformat

    from tlcourse.links import colab_cell

    for folder in ("solutions", "lessons"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
            assert first.source == colab_cell(), f"{folder}/{path.name}: the first code cell is not colab_cell()"
    assert _run_colab_cell(colab_cell(), monkeypatch, on_colab=False) == []


def test_on_colab_the_cell_installs_the_course_from_its_repository_and_fetches_the_data(monkeypatch):
    from tlcourse.links import colab_cell

    ran = _run_colab_cell(colab_cell("https://github.com/uni/tl-course"), monkeypatch, on_colab=True)
    assert ran[0][-3:] == ["install", "-q", "tlcourse[colab] @ git+https://github.com/uni/tl-course"]
    assert ran[1] == "data"
    with pytest.raises(RuntimeError, match="set COURSE_REPO"):  # an edition released without --repo
        _run_colab_cell(colab_cell(), monkeypatch, on_colab=True)
