"""Pytest plugin (``-p xdist_groups``, pyproject.toml): how ``make test`` shares the suite between its workers.

``make test`` runs the suite on two pytest-xdist workers (``-n 2``). A group runs on one worker, in
collection order: each test module is a group (its module fixtures are built once), and the lessons
nbval runs share one with the tests that read their executions (``nbval_executed``): the website
test and lesson 5's fairness test. The longest groups start first (BENCHMARKS.md §7) so that neither worker is
left alone at the end. (The groups are this scheduler's, not ``--dist loadgroup``'s: with pytest 9.2
that mode ignores its marks, xdist#1386.)
"""

import os

import pytest

LESSONS_GROUP = "lessons"
# Longest first (seconds in the fresh clone of 2026-12-07), but the grader's and the hub's tests after the red team:
# nbval runs lessons 4 and 6 first in its group (LESSONS_FIRST), so that the hub test (after the red team, ~170 s in)
# copies lesson 4's quick-mode features into its instructor cache (both students computed them, at once, before:
# 2026-12-07) and the course test (~340 s in), which runs lesson 6's master whole in a box, finds lesson 6's (it
# computed them itself before: 42-51 s of box time against 25 s warm, §7).
LONGEST_FIRST = [
    LESSONS_GROUP,  # 325 s
    "tests/test_redteam.py",  # 172
    "tests/test_hub.py",  # 164
    "tests/test_grade.py",  # 161
    "tests/test_engine.py",  # 103
    "tests/test_editions.py",  # 75
    "tests/test_resume.py",  # 60
    "tests/test_checks_contract.py",  # 56
    "tests/test_experiments.py",  # 53
    "tests/test_cli.py",  # 33
    "tests/test_judge.py",  # 26
    "tests/test_cut.py",  # 26
]
LESSONS_FIRST = (4, 6)


# Tests that read what the lessons' nbval runs left (plugin nbval_executed): in the lessons' group, after them.
AFTER_THE_LESSONS = ("tests/test_site.py", "tests/test_lesson05_fairness.py")


def group_of(nodeid: str) -> str:
    module = nodeid.split("::")[0]
    return LESSONS_GROUP if module.startswith("lessons/") or module in AFTER_THE_LESSONS else module


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
        from tlcourse.manifest import by_number

        rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
        first = [f"lessons/{by_number(n).notebook}" for n in LESSONS_FIRST]

        def key(item):
            lesson = next((i for i, f in enumerate(first) if item.nodeid.startswith(f)), len(first))
            return rank.get(group_of(item.nodeid), len(rank)), lesson

        items.sort(key=key)  # stable inside a group: the lessons' cells and the tests keep their order
