"""Pytest plugin (``-p xdist_groups``, pyproject.toml): how ``make test`` shares the suite between its workers.

``make test`` runs the suite on two pytest-xdist workers (``-n 2``). A group runs on one worker, in
collection order: each test module is a group (its module fixtures are built once), and the lessons
nbval runs share one with the website test, which builds the site from their executions
(``nbval_executed``). The longest groups start first (BENCHMARKS.md §7) so that neither worker is
left alone at the end. (The groups are this scheduler's, not ``--dist loadgroup``'s: with pytest 9.2
that mode ignores its marks, xdist#1386.)
"""

import os

import pytest

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
