"""Exercise checks: specific feedback for students, the same verdicts for the grader.

Each exercise is a function registered with ``@exercise``; it receives a ``Marker`` and
the student's answers by name, and awards points criterion by criterion, saying what is
right, what is wrong, and giving a hint. A notebook calls ``check("4.2", frozen=frozen)``
and sees the feedback; the grader calls ``grade_namespace(lesson, namespace)`` on the
executed notebook's variables and gets the same ``Feedback`` objects: one implementation.
"""

from __future__ import annotations

import html
import importlib
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

MISSING = object()


@dataclass
class Feedback:
    """The verdict on one exercise."""

    exercise: str
    title: str
    points: float
    max_points: float
    status: str  # pass | partial | fail | missing | error
    right: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    hint: str = ""

    @property
    def message(self) -> str:
        """One line for a grades table."""
        if self.status == "pass":
            return "; ".join(self.right) or "correct"
        return "; ".join(self.wrong) or self.status

    def __str__(self) -> str:
        mark = {"pass": "✔", "partial": "◐"}.get(self.status, "✘")
        lines = [f"{mark} Exercise {self.exercise} — {self.title}: {self.points:g}/{self.max_points:g} points"]
        lines += [f"   ✔ {r}" for r in self.right] + [f"   ✘ {w}" for w in self.wrong]
        if self.hint and self.status != "pass":
            lines.append(f"   Hint: {self.hint}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # plain-text displays (papermill, terminals)
        printer.text(str(self))

    def _repr_html_(self) -> str:
        colour = {"pass": "#e6f4ea", "partial": "#fff4e5"}.get(self.status, "#fdecea")
        body = "<br>".join(html.escape(line) for line in str(self).splitlines())
        return f'<div style="background:{colour};padding:8px;border-radius:4px;font-family:monospace">{body}</div>'


class Marker:
    """Collects criteria: each adds points when it holds and says why either way."""

    def __init__(self, max_points: float):
        self.max_points = max_points
        self.points = 0.0
        self.right: list[str] = []
        self.wrong: list[str] = []

    def criterion(self, ok: bool, right: str, wrong: str, points: float = 1.0) -> bool:
        if ok:
            self.points += points
            self.right.append(right)
        else:
            self.wrong.append(wrong)
        return bool(ok)


@dataclass(frozen=True)
class Exercise:
    lesson: str
    id: str
    title: str
    names: tuple[str, ...]
    points: float
    hint: str
    func: Callable


REGISTRY: dict[str, Exercise] = {}
LESSON_MODULES = ("lesson01", "lesson02", "lesson03", "lesson04", "lesson05", "lesson06")


def exercise(lesson: str, id: str, title: str, names: tuple[str, ...], points: float = 2, hint: str = ""):
    """Register a check function ``func(marker, **answers)`` for exercise ``id`` of ``lesson``."""

    def register(func: Callable) -> Callable:
        REGISTRY[id] = Exercise(lesson, id, title, tuple(names), points, hint, func)
        return func

    return register


def _load_all() -> None:
    for name in LESSON_MODULES:
        try:
            importlib.import_module(f"tlcourse.checks.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"tlcourse.checks.{name}":
                raise


def exercises_of(lesson: str) -> list[Exercise]:
    """The registered exercises of a lesson (notebook stem), in id order."""
    _load_all()
    return sorted((e for e in REGISTRY.values() if e.lesson == lesson), key=lambda e: e.id)


def evaluate(exercise_id: str, answers: dict) -> Feedback:
    """Run one exercise's check on ``answers``; never raises."""
    _load_all()
    ex = REGISTRY[exercise_id]
    missing = [n for n in ex.names if answers.get(n, MISSING) is MISSING or answers.get(n) is None]
    if missing:
        names = ", ".join(f"`{n}`" for n in missing)
        return Feedback(
            ex.id, ex.title, 0, ex.points, "missing", wrong=[f"not answered yet: set {names}"], hint=ex.hint
        )
    marker = Marker(ex.points)
    try:
        ex.func(marker, **{n: answers[n] for n in ex.names})
    except Exception as err:  # the answer broke the check: that is feedback, not a crash
        where = traceback.format_exception_only(type(err), err)[-1].strip()
        return Feedback(
            ex.id, ex.title, 0, ex.points, "error", wrong=[f"checking your answer raised {where}"], hint=ex.hint
        )
    points = min(marker.points, ex.points)
    status = "pass" if points >= ex.points else "partial" if points > 0 else "fail"
    return Feedback(ex.id, ex.title, points, ex.points, status, marker.right, marker.wrong, ex.hint)


def check(exercise_id: str, **answers) -> None:
    """Check an exercise in a notebook and show the feedback (``evaluate`` returns it instead)."""
    feedback = evaluate(exercise_id, answers)
    try:
        from IPython.display import display

        display(feedback)
    except ImportError:
        print(feedback)


def grade_namespace(lesson: str, namespace: dict) -> list[Feedback]:
    """Every exercise of ``lesson`` checked against the variables of an executed notebook."""
    return [evaluate(ex.id, {n: namespace.get(n, MISSING) for n in ex.names}) for ex in exercises_of(lesson)]
