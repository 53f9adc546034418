"""The data of the checks: an exercise, its hidden tests, a case's decoded result, a verdict.

Plain dataclasses with no behaviour beyond formatting, shared by the registry, the verdict and the
notebook API; nothing here imports Keras or the answer keys.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Feedback:
    """The verdict on one exercise."""

    exercise: str
    title: str
    points: float
    max_points: float
    status: str  # pass | partial | fail | missing | error | recorded (form only) | a run's status (timeout, ...)
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
        mark = {"pass": "✔", "partial": "◐", "recorded": "●"}.get(self.status, "✘")
        lines = [f"{mark} Exercise {self.exercise} — {self.title}: {self.points:g}/{self.max_points:g} points"]
        lines += [f"   ✔ {r}" for r in self.right] + [f"   ✘ {w}" for w in self.wrong]
        if self.hint and self.status not in ("pass", "recorded"):
            lines.append(f"   Hint: {self.hint}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # plain-text displays (papermill, terminals)
        printer.text(str(self))

    def _repr_html_(self) -> str:
        colour = {"pass": "#e6f4ea", "partial": "#fff4e5", "recorded": "#e8f0fe"}.get(self.status, "#fdecea")
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
        ok = bool(ok)
        if ok:
            self.points += points
            self.right.append(right)
        else:
            self.wrong.append(wrong)
        return ok


@dataclass(frozen=True)
class Result:
    """What the probe reported for one case, decoded: a value, or why there is none."""

    ok: bool
    value: object = None
    error: str = ""  # "TypeError: ...", "took longer than ...", "not a function (...)"
    kind: str = ""  # raised | timeout | not_callable | setup | "" when ok
    after: object = None  # the case's arguments as the call left them (artefacts), where the case asked

    def why(self) -> str:
        """Why there is no value, as the end of a sentence ("your function raised ...")."""
        return {"raised": f"raised {self.error}", "timeout": self.error}.get(self.kind, self.error)


@dataclass(frozen=True)
class Exercise:
    lesson: str
    id: str
    title: str
    names: tuple[str, ...]
    points: float
    hint: str
    cases: Callable  # cases(rng | None) -> list[dict]
    judge: Callable  # judge(marker, cases, results, expected | None)
    returns_none: bool = False  # a function whose job is a side effect (not judged by its return value)
    key_is_answer: bool = False  # naming exercises: the expected results ARE the answers, never published


@dataclass(frozen=True)
class HiddenTest:
    """More cases and criteria for an exercise, applied at grading; students see how many points they carry."""

    exercise: str
    points: float
    cases: Callable  # cases(rng) -> list[dict]
    judge: Callable  # judge(marker, cases, results): hidden tests bring their own references
    name: str = ""
