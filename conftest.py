"""Root pytest configuration: notebooks (collected by nbval) run in their quick mode.

The lessons nbval runs are kept as executed notebooks (``build/test-artifacts/nbval/executed/``,
their recorded numbers beside them in ``results/``): the website test builds the site from
them, so each lesson is executed once in the suite for both checks.
"""

import os
from pathlib import Path

import nbformat
import pytest

NBVAL_RUN = Path(__file__).parent / "build" / "test-artifacts" / "nbval"

# The quick cell of every lesson reads TLCOURSE_QUICK; the kernels nbval starts inherit it.
os.environ.setdefault("TLCOURSE_QUICK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TLCOURSE_HEADLESS", "1")  # LiveHistory prints its lines (no one watches a widget)
os.environ.setdefault("TLCOURSE_RESULTS", str(NBVAL_RUN / "results"))

_pending: dict[str, tuple] = {}  # notebook path -> (its nbval file node, whether a cell failed)


def write_executed() -> dict[str, bool]:
    """Write every notebook nbval has run so far, with its outputs; ``{stem: all cells passed}``."""
    folder = NBVAL_RUN / "executed"
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for path, (node, failed) in list(_pending.items()):
        nbformat.write(node.nb, folder / Path(path).name)
        written[Path(path).stem] = not failed
    return written


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call" and type(item).__name__ == "IPyNbCell":  # an nbval cell of a lesson
        item.cell.outputs = list(item.test_outputs or [])
        path = str(item.parent.fspath)
        failed = _pending.get(path, (None, False))[1] or report.failed
        _pending[path] = (item.parent, failed)
    return report


# ``make test`` runs the suite on two pytest-xdist workers (``-n 2``). A group runs on one worker, in
# collection order: each test module is a group (its module fixtures are built once), and the lessons
# nbval runs share one with the website test, which builds the site from their executions. The longest
# groups start first (BENCHMARKS.md §7) so that neither worker is left alone at the end. (The groups are
# this scheduler's, not ``--dist loadgroup``'s: with pytest 9.2 that mode ignores its marks, xdist#1386.)
LESSONS_GROUP = "lessons"
LONGEST_FIRST = [
    LESSONS_GROUP,
    "tests/test_grade.py",
    "tests/test_hub.py",
    "tests/test_redteam.py",
    "tests/test_editions.py",
    "tests/test_resume.py",
    "tests/test_cli.py",
    "tests/test_experiments.py",
    "tests/test_judge.py",
    "tests/test_cut.py",
]


def group_of(nodeid: str) -> str:
    module = nodeid.split("::")[0]
    return LESSONS_GROUP if module.startswith("lessons/") or module == "tests/test_site.py" else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        """xdist's scope scheduler, with our groups as the scopes, in collection order."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False  # keep the order below, not "most tests first"
    return ByGroup(config, log)


def pytest_collection_modifyitems(config, items):
    if "PYTEST_XDIST_WORKER" in os.environ:  # every worker collects everything, in this same order
        rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(rank)))  # stable inside a group


def pytest_sessionstart(session):
    import shutil

    if "PYTEST_XDIST_WORKER" not in os.environ:  # the controller, before any worker starts
        shutil.rmtree(NBVAL_RUN, ignore_errors=True)  # executed copies of an earlier session never mix in


def pytest_sessionfinish(session):
    if _pending:
        write_executed()
