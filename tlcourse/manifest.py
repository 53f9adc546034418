"""The course's lessons, listed once: everything that needs the list of lessons reads it here.

A lesson is a master notebook (``solutions/<name>.ipynb``, whose student copy
``lessons/<name>.ipynb`` is generated), the module of its exercises' checks
(``tlcourse.checks.<checks>``), the module of its answer keys (``tlcourse_keys.<keys>``: instructor
material, left out of the student edition) and the function that states its headline claim from
the numbers it recorded (``tlcourse.headlines.<headline>``). A lesson's name appears in this file,
in its own modules' registrations (through this file) and in its notebook, nowhere else.

Adding an exercise to a lesson touches its checks module, its keys module and its master notebook;
adding a lesson adds one line here as well (CONTRIBUTING.md walks through both). This module
imports nothing heavy: the command line and ``tlcourse lessons --check`` read it without Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tlcourse.errors import CourseError

CHECKS_PACKAGE = "tlcourse.checks"
KEYS_PACKAGE = "tlcourse_keys"


@dataclass(frozen=True)
class Lesson:
    """One lesson: its notebook and the modules that belong to it."""

    number: int
    name: str  # the notebook's file name without ``.ipynb``: the lesson's id in results, grades and links
    checks: str  # module in tlcourse.checks: the exercises' cases and judges
    keys: str  # module in tlcourse_keys: what a right answer gives on each case
    headline: str = ""  # function in tlcourse.headlines: the claim stated from the recorded numbers
    quick: dict = field(default_factory=dict)  # papermill parameters a quick run adds (QUICK=True always)

    @property
    def notebook(self) -> str:
        return f"{self.name}.ipynb"

    @property
    def checks_module(self) -> str:
        return f"{CHECKS_PACKAGE}.{self.checks}"

    @property
    def keys_module(self) -> str:
        return f"{KEYS_PACKAGE}.{self.keys}"


LESSONS: tuple[Lesson, ...] = (
    Lesson(1, "01_why_scratch_is_hard", "lesson01", "lesson01", "why_scratch_is_hard"),
    Lesson(2, "02_what_is_transfer_learning", "lesson02", "lesson02", "what_is_transfer_learning"),
    Lesson(3, "03_imagenet_and_pretrained_models", "lesson03", "lesson03", "imagenet_and_pretrained_models"),
    Lesson(4, "04_fine_tuning_strategies", "lesson04", "lesson04", "fine_tuning_strategies"),
    Lesson(5, "05_scratch_vs_pretrained", "lesson05", "lesson05", "scratch_vs_pretrained"),
    Lesson(6, "06_when_to_transfer", "lesson06", "lesson06", "when_to_transfer"),
)


def lesson_names() -> list[str]:
    """Every lesson's name, in course order."""
    return [lesson.name for lesson in LESSONS]


def lesson(name: str) -> Lesson:
    """The lesson called ``name`` (a notebook's stem, with or without ``.ipynb``)."""
    stem = name.removesuffix(".ipynb")
    for entry in LESSONS:
        if entry.name == stem:
            return entry
    raise CourseError(f"no lesson called {stem!r}: the lessons are {', '.join(lesson_names())}")


def by_number(number: int) -> Lesson:
    """Lesson ``number`` (1 for the first)."""
    for entry in LESSONS:
        if entry.number == number:
            return entry
    raise CourseError(f"no lesson {number}: the lessons are numbered {', '.join(str(e.number) for e in LESSONS)}")


def lesson_of_checks(module: str) -> Lesson:
    """The lesson whose checks live in ``module`` (a dotted module name, as ``__name__`` gives it)."""
    for entry in LESSONS:
        if entry.checks_module == module:
            return entry
    raise CourseError(f"{module} is not the checks module of any lesson in tlcourse/manifest.py: add the lesson there")


def notebooks_in(folder) -> list:
    """The lessons' notebooks present in ``folder``, in course order (a ``pathlib.Path`` each)."""
    from pathlib import Path

    return [Path(folder) / entry.notebook for entry in LESSONS if (Path(folder) / entry.notebook).is_file()]
