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


@dataclass(frozen=True)
class HiddenTest:
    """Extra criteria the grader applies to an exercise; students see only how many points they carry."""

    exercise: str
    points: float
    func: Callable


REGISTRY: dict[str, Exercise] = {}
HIDDEN: dict[str, list[HiddenTest]] = {}
LESSON_MODULES = ("lesson01", "lesson02", "lesson03", "lesson04", "lesson05", "lesson06", "hidden")


def exercise(lesson: str, id: str, title: str, names: tuple[str, ...], points: float = 2, hint: str = ""):
    """Register a check function ``func(marker, **answers)`` for exercise ``id`` of ``lesson``."""

    def register(func: Callable) -> Callable:
        REGISTRY[id] = Exercise(lesson, id, title, tuple(names), points, hint, func)
        return func

    return register


def hidden_test(exercise_id: str, points: float = 1):
    """Register ``func(marker, **answers)`` as a hidden test of ``exercise_id`` (graded, not shown)."""

    def register(func: Callable) -> Callable:
        HIDDEN.setdefault(exercise_id, []).append(HiddenTest(exercise_id, points, func))
        return func

    return register


def load_hidden_tests(path) -> None:
    """Register the hidden tests in a Python file (an instructor's own, kept away from students)."""
    import runpy

    runpy.run_path(str(path), run_name="tlcourse_hidden_tests")


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


def _run_criteria(func: Callable, marker: Marker, answers: dict) -> str | None:
    """Run one check function; the error text if the answer made it raise."""
    try:
        func(marker, **answers)
    except Exception as err:  # the answer broke the check: that is feedback, not a crash
        return traceback.format_exception_only(type(err), err)[-1].strip()
    return None


def _is_stub(answer) -> bool:
    """A function whose body is still the student copy's `return None` / `pass`.

    Such a function is not an answer yet; without this, criteria that a do-nothing function
    happens to meet ("returns None when the target is never reached") would earn it points.
    """
    import dis

    code = getattr(answer, "__code__", None)
    if code is None:
        return False
    ops = [(i.opname, i.argval) for i in dis.get_instructions(code) if i.opname not in ("RESUME", "NOP", "CACHE")]
    return ops in ([("LOAD_CONST", None), ("RETURN_VALUE", None)], [("RETURN_CONST", None)])


def evaluate(exercise_id: str, answers: dict, hidden: bool = False) -> Feedback:
    """Run one exercise's check on ``answers`` (plus its hidden tests when ``hidden``); never raises."""
    _load_all()
    ex = REGISTRY[exercise_id]
    extra = HIDDEN.get(exercise_id, []) if hidden else []
    max_points = ex.points + sum(t.points for t in extra)
    missing = [n for n in ex.names if answers.get(n, MISSING) is MISSING or answers.get(n) is None]
    stubs = [n for n in ex.names if n not in missing and _is_stub(answers[n])]
    if missing or stubs:
        wrong = [f"not answered yet: set {', '.join(f'`{n}`' for n in missing)}"] if missing else []
        wrong += [f"`{n}` still has the stub's empty body: write it" for n in stubs]
        return Feedback(ex.id, ex.title, 0, max_points, "missing", wrong=wrong, hint=ex.hint)
    given = {n: answers[n] for n in ex.names}
    marker = Marker(ex.points)
    error = _run_criteria(ex.func, marker, given)
    if error:
        wrong = [f"checking your answer raised {error}"]
        return Feedback(ex.id, ex.title, 0, max_points, "error", wrong=wrong, hint=ex.hint)
    points = min(marker.points, ex.points)
    right, wrong = list(marker.right), list(marker.wrong)
    for test in extra:
        hidden_marker = Marker(test.points)
        error = _run_criteria(test.func, hidden_marker, given)
        points += 0 if error else min(hidden_marker.points, test.points)
        right += [f"(hidden test) {r}" for r in hidden_marker.right]
        wrong += [f"(hidden test) {w}" for w in hidden_marker.wrong]
        wrong += [f"(hidden test) raised {error}"] if error else []
    if not hidden and HIDDEN.get(exercise_id):
        right.append(f"{sum(t.points for t in HIDDEN[exercise_id]):g} more point(s) come from hidden tests at grading")
    status = "pass" if points >= max_points else "partial" if points > 0 else "fail"
    return Feedback(ex.id, ex.title, points, max_points, status, right, wrong, ex.hint)


def check(exercise_id: str, **answers) -> None:
    """Check an exercise in a notebook and show the feedback (``evaluate`` returns it instead)."""
    feedback = evaluate(exercise_id, answers)
    try:
        from IPython.display import display

        display(feedback)
    except ImportError:
        print(feedback)


def grade_namespace(lesson: str, namespace: dict, hidden: bool = True) -> list[Feedback]:
    """Every exercise of ``lesson`` checked against the variables of an executed notebook."""
    return [
        evaluate(ex.id, {n: namespace.get(n, MISSING) for n in ex.names}, hidden=hidden) for ex in exercises_of(lesson)
    ]


def lessons() -> list[str]:
    """Every lesson (notebook stem) that has registered exercises."""
    _load_all()
    return sorted({e.lesson for e in REGISTRY.values()})
