"""Answer keys of the tlcourse exercises: instructor material, not in the student edition.

``expected(exercise_id, cases)`` computes, for the cases a check draws, the results a right answer
gives (and those of the usual mistakes the feedback names); ``hidden_tests()`` returns the course's
hidden tests. The grader's judge reads this package; a grading box never sees it, and
``tlcourse release --edition student`` leaves it out. ``public.json`` in ``tlcourse.checks`` holds
the results for the public cases only, generated from here by ``tlcourse lessons``.
"""

from __future__ import annotations

import functools
import importlib

from tlcourse import manifest


def _table() -> dict:
    """Exercise id -> what a right answer gives on one case, for every lesson the manifest lists."""
    table = {}
    for lesson in manifest.LESSONS:
        table.update(importlib.import_module(lesson.keys_module).EXPECTED)
    return table


def has(exercise_id: str) -> bool:
    return exercise_id in _table()


def expected(exercise_id: str, cases: list[dict]) -> list[dict]:
    """What a right answer gives on each of ``cases`` (plain data, in case order)."""
    key = _table()[exercise_id]
    return [key(case) for case in cases]


@functools.cache
def hidden_tests() -> tuple:
    """The course's own hidden tests (``tlcourse.checks.HiddenTest`` values), in definition order.

    Collected once: the grader and the judge ask for an exercise's hidden tests for every notebook.
    """
    from tlcourse.checks import hidden_tests_in
    from tlcourse_keys import hidden

    return tuple(hidden_tests_in(vars(hidden)))
