"""Launch links: nbgitpuller's link format, Colab and Binder for GitHub repositories, clear errors."""

from urllib.parse import parse_qs, urlparse

import pytest

from tlcourse.errors import CourseError
from tlcourse.links import lesson_links, links_markdown

from conftest import run_offline, tlcourse_cmd

LESSON = "04_fine_tuning_strategies"


def test_hub_link_pulls_the_repository_and_opens_the_lesson_in_lab():
    link = lesson_links(LESSON, "https://github.com/uni/tl-course.git", "https://hub.uni.example/", "spring")["hub"]
    url = urlparse(link)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://hub.uni.example/hub/user-redirect/git-pull"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query == {
        "repo": "https://github.com/uni/tl-course.git",
        "urlpath": f"lab/tree/tl-course/lessons/{LESSON}.ipynb",  # nbgitpuller clones into the repo's name
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
