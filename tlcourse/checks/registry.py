"""The registry of exercises, and the hidden tests that add to them at grading.

Each lesson's checks module registers its exercises on import (``@exercise``); which modules those
are comes from ``tlcourse.manifest``, and each exercise is filed under the lesson whose module
registers it. Hidden tests are values, not registrations: ``@hidden_test`` turns a judge into a
``HiddenTest``; the answer keys return the course's own (``tlcourse_keys.hidden_tests()``) and an
instructor's file is read for the ones it defines (``load_hidden_tests``). The keys depend on the
checks, never the other way round at import time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from tlcourse import manifest
from tlcourse.checks.types import Exercise, HiddenTest
from tlcourse.manifest import KEYS_PACKAGE, lesson_of_checks

REGISTRY: dict[str, Exercise] = {}
_INSTRUCTOR_TESTS: dict[str, list[HiddenTest]] = {}  # an instructor's file -> its hidden tests (read once)


def exercise(
    id: str,
    title: str,
    names: tuple[str, ...],
    points: float = 2,
    hint: str = "",
    cases: Callable | None = None,
    returns_none: bool = False,
    key_is_answer: bool = False,
    lesson: str | None = None,
):
    """Register ``judge(marker, cases, results, expected)`` for exercise ``id``.

    The lesson is the one whose checks module registers it (``tlcourse.manifest``), so a checks
    module never names its lesson; ``lesson`` names it for a judge defined elsewhere (a test's).
    """

    def register(judge: Callable) -> Callable:
        owner = lesson or lesson_of_checks(judge.__module__).name
        REGISTRY[id] = Exercise(owner, id, title, tuple(names), points, hint, cases, judge, returns_none, key_is_answer)
        return judge

    return register


def hidden_test(exercise_id: str, points: float = 1, cases: Callable | None = None):
    """Make ``judge(marker, cases, results)`` a hidden test of ``exercise_id`` on ``cases(rng)`` (a ``HiddenTest``)."""

    def make(judge: Callable) -> HiddenTest:
        return HiddenTest(exercise_id, points, cases, judge, getattr(judge, "__name__", ""))

    return make


def hidden_tests_in(namespace: dict) -> list[HiddenTest]:
    """The hidden tests a module defines (its ``@hidden_test`` functions), in definition order."""
    return [value for value in namespace.values() if isinstance(value, HiddenTest)]


def load_hidden_tests(path) -> int:
    """Read the hidden tests of an instructor's Python file (once per process); how many it defines."""
    import runpy

    where = str(Path(path).resolve())
    if where not in _INSTRUCTOR_TESTS:
        load_all()
        tests = hidden_tests_in(runpy.run_path(where, run_name="tlcourse_hidden_tests"))
        unknown = sorted({t.exercise for t in tests} - set(REGISTRY))
        if unknown:
            raise ValueError(f"hidden tests for exercises that do not exist: {', '.join(unknown)}")
        _INSTRUCTOR_TESTS[where] = tests
    return len(_INSTRUCTOR_TESTS[where])


def keys():
    """The answer keys (instructor material), or None in the student edition."""
    try:
        module = importlib.import_module(KEYS_PACKAGE)
    except Exception:  # absent (student edition), or hidden from a grading box
        return None
    return module if hasattr(module, "expected") and hasattr(module, "has") else None


def hidden_tests_of(exercise_id: str) -> list[HiddenTest]:
    """The hidden tests of an exercise: the course's own (with the keys only), then the instructor's files'."""
    module = keys()
    course = module.hidden_tests() if module is not None else []
    return [t for t in [*course, *(t for ts in _INSTRUCTOR_TESTS.values() for t in ts)] if t.exercise == exercise_id]


def load_all() -> None:
    """Import every lesson's checks module (each registers its exercises), as the manifest lists them,
    and the toys module (the ``@builder`` functions that cases name)."""
    importlib.import_module("tlcourse.checks.toys")
    for entry in manifest.LESSONS:
        importlib.import_module(entry.checks_module)


def exercises_of(lesson: str) -> list[Exercise]:
    """The registered exercises of a lesson (notebook stem), in id order."""
    load_all()
    return sorted((e for e in REGISTRY.values() if e.lesson == lesson), key=lambda e: [int(p) for p in e.id.split(".")])


def lessons() -> list[str]:
    """Every lesson (notebook stem) that has registered exercises, in course order."""
    load_all()
    registered = {e.lesson for e in REGISTRY.values()}
    return [name for name in manifest.lesson_names() if name in registered]
