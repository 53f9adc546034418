"""Launch links for each lesson: a JupyterHub (nbgitpuller), Colab and Binder.

An instructor hands out the student edition from a git repository (``tlcourse release``, then
push it). An nbgitpuller link makes a student's hub server pull that repository (or update
their copy, keeping their edits) and open the lesson: ``HUB/hub/user-redirect/git-pull?repo=…
&urlpath=lab/tree/<repo folder>/lessons/<lesson>.ipynb&branch=…`` (nbgitpuller's documented
link format). The link names the folder (``targetpath``): nbgitpuller's own default keeps a
``.git`` suffix in it, so ``…/course.git`` would land in ``course.git/``. For a repository on
GitHub, "Open in Colab" and Binder links are added.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlparse

from tlcourse.errors import CourseError

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def _repo_folder(repo: str) -> str:
    """The folder nbgitpuller clones into: the repository's last path part, without ``.git``."""
    name = urlparse(repo).path.rstrip("/").rsplit("/", 1)[-1]
    return name[:-4] if name.endswith(".git") else name


def _github(repo: str) -> tuple[str, str] | None:
    url = urlparse(repo)
    parts = url.path.strip("/").removesuffix(".git").split("/")
    if url.netloc.lower() in ("github.com", "www.github.com") and len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    return None


def lesson_links(lesson: str, repo: str, hub: str | None = None, branch: str = "main") -> dict[str, str]:
    """``{"hub": …, "colab": …, "binder": …}`` for one lesson (only the links that apply)."""
    if not urlparse(repo).scheme or not _repo_folder(repo):
        raise CourseError(f"--repo must be the URL of the course's git repository, got {repo!r}")
    path = f"lessons/{lesson}.ipynb"
    links = {}
    if hub:
        if urlparse(hub).scheme not in ("http", "https"):
            raise CourseError(f"--hub must be the hub's URL (https://…), got {hub!r}")
        folder = _repo_folder(repo)
        query = urlencode(
            {"repo": repo, "targetpath": folder, "urlpath": f"lab/tree/{folder}/{path}", "branch": branch}
        )
        links["hub"] = f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{query}"
    github = _github(repo)
    if github:
        owner, name = github
        links["colab"] = f"https://colab.research.google.com/github/{owner}/{name}/blob/{quote(branch)}/{path}"
        links["binder"] = f"https://mybinder.org/v2/gh/{owner}/{name}/{quote(branch)}?" + urlencode(
            {"urlpath": f"lab/tree/{path}"}
        )
    return links


def links_markdown(lessons: list[str], repo: str, hub: str | None = None, branch: str = "main") -> str:
    """A Markdown table, one row per lesson, for a course page or an announcement."""
    rows = ["| lesson | JupyterHub | Colab | Binder |", "|---|---|---|---|"]
    for lesson in lessons:
        links = lesson_links(lesson, repo, hub, branch)
        hub_cell = f"[open]({links['hub']})" if "hub" in links else ""
        colab = f"[![Open in Colab]({COLAB_BADGE})]({links['colab']})" if "colab" in links else ""
        binder = f"[launch]({links['binder']})" if "binder" in links else ""
        rows.append(f"| {lesson} | {hub_cell} | {colab} | {binder} |")
    return "\n".join(rows) + "\n"


COLAB_REPO_PLACEHOLDER = "COURSE_REPO = None  # the course's git URL: `tlcourse release --repo URL` writes it here"
COLAB_CELL = """\
# On Google Colab only: install the course (package, weights, data). Anywhere else this cell does nothing.
import importlib
import subprocess
import sys

{repo_line}
if "google.colab" in sys.modules:
    if not COURSE_REPO:
        raise RuntimeError("set COURSE_REPO above to the course's git URL (the repository this lesson came from)")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"tlcourse[colab] @ git+{{COURSE_REPO}}"], check=True)
    importlib.invalidate_caches()
    from tlcourse.datasets import hymenoptera_path

    hymenoptera_path()  # the ants/bees photos, downloaded once (45 MB)"""


def colab_cell(repo: str | None = None) -> str:
    """The first code cell of every lesson: on Colab it installs the course from ``repo``; elsewhere nothing.

    Colab opens a lesson from GitHub with none of the course installed, so the lesson itself must
    install it; a hub or ``make install`` has already done so, and there the cell must cost nothing.
    """
    line = COLAB_REPO_PLACEHOLDER if repo is None else f"COURSE_REPO = {repo!r}  # where this edition was released"
    return COLAB_CELL.format(repo_line=line)
