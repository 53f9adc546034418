"""Answer keys of the tlcourse exercises: instructor material, not in the student edition.

``expected(exercise_id, cases)`` computes, for the cases a check draws, the results a right answer
gives (and those of the usual mistakes the feedback names); ``load_hidden()`` registers the course's
hidden tests. The grader's judge reads this package; a grading box never sees it, and
``tlcourse release --edition student`` leaves it out. ``public.json`` in ``tlcourse.checks`` holds
the results for the public cases only, generated from here by ``tlcourse lessons``.
"""

from __future__ import annotations

from tlcourse_keys import lesson01, lesson02, lesson03, lesson04, lesson05, lesson06

EXPECTED = {
    **lesson01.EXPECTED,
    **lesson02.EXPECTED,
    **lesson03.EXPECTED,
    **lesson04.EXPECTED,
    **lesson05.EXPECTED,
    **lesson06.EXPECTED,
}


def has(exercise_id: str) -> bool:
    return exercise_id in EXPECTED


def expected(exercise_id: str, cases: list[dict]) -> list[dict]:
    """What a right answer gives on each of ``cases`` (plain data, in case order)."""
    return [EXPECTED[exercise_id](case) for case in cases]


_LOADED: list[bool] = []


def load_hidden() -> None:
    """Register the course's hidden tests (once)."""
    if not _LOADED:
        from tlcourse_keys import hidden  # noqa: F401 - registers on import

        _LOADED.append(True)
