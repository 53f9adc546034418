"""Pytest plugin (``-p nbval_executed``, pyproject.toml): the lessons nbval runs, in quick mode, kept executed.

The lessons nbval runs (``--nbval-lax`` on ``lessons/``) are kept as executed notebooks
(``build/test-artifacts/nbval/executed/``, their recorded numbers beside them in ``results/``): the
website test (``tests/test_site.py``, ``import nbval_executed``) builds the site from them, so each
lesson is executed once in the suite for both checks. A plugin rather than a root ``conftest.py``:
it applies to ``lessons/`` and ``tests/`` alike, and it is one module with a name the website test
imports (the very module pytest loaded, with what nbval ran), not a second ``conftest``.
"""

import os
from pathlib import Path

import nbformat
import pytest

NBVAL_RUN = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "nbval"

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


def pytest_sessionstart(session):
    import shutil

    if "PYTEST_XDIST_WORKER" not in os.environ:  # the controller, before any worker starts
        shutil.rmtree(NBVAL_RUN, ignore_errors=True)  # executed copies of an earlier session never mix in


def pytest_sessionfinish(session):
    if _pending:
        write_executed()
