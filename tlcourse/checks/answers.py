"""What every judge needs to read a probe's report: numbers, texts, arrays, first problems.

Judges see only decoded plain data (``tlcourse.checks.plain``), so these helpers accept exact
built-in types and numeric arrays and nothing else: a ``bool`` is not a number, an
``Unsupported`` value is never equal to anything. The ones that take a ``Marker`` score the
failures every judge scores alike (an answer that is not a function, a call that failed, a canned
answer), so that each judge is left with what is particular to its exercise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from tlcourse.checks.plain import ModelData, Unsupported

if TYPE_CHECKING:
    from tlcourse.checks.types import Marker, Result

NUMBER_TYPES = (int, float, np.integer, np.floating)


def as_number(value) -> float | None:
    """``value`` as a finite float, or None when it is not one real number (a bool is not)."""
    if type(value) in (bool, np.bool_):
        return None
    if isinstance(value, np.ndarray):
        if value.ndim != 0 or value.dtype.kind not in "iuf":
            return None
        value = value.item()
    if not isinstance(value, NUMBER_TYPES):
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def as_bool(value) -> bool | None:
    """``value`` when it is True or False (Python or NumPy), else None."""
    return bool(value) if type(value) in (bool, np.bool_) else None


def as_array(value, ndim: int | None = None) -> np.ndarray | None:
    """A numeric array from an array, a list/tuple of numbers, or a number; None for anything else."""
    if isinstance(value, np.ndarray):
        array = value
    elif type(value) in (list, tuple) or isinstance(value, NUMBER_TYPES) or type(value) is np.bool_:
        if type(value) is bool:
            return None
        try:
            array = np.asarray(value)
        except ValueError:  # ragged
            return None
    else:
        return None
    if array.dtype.kind not in "biuf" or (ndim is not None and array.ndim != ndim):
        return None
    return array


def close(a: float | None, b: float | None, tol: float = 1e-6) -> bool:
    """Equal within ``tol`` relative to ``max(1, |b|)``; False when either is missing."""
    return a is not None and b is not None and abs(a - b) <= tol * max(1.0, abs(b))


def show(value) -> str:
    """A short text for feedback: numbers as decimals (not ``np.float64(...)``), the rest as a repr."""
    number = as_number(value)
    if number is not None:
        return f"{number:.4g}"
    if isinstance(value, np.ndarray):
        return f"an array shaped {value.shape} of {value.dtype}"
    if type(value) in (list, tuple):
        inner = ", ".join(show(v) for v in value[:6]) + (", ..." if len(value) > 6 else "")
        return f"[{inner}]" if type(value) is list else f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, (Unsupported, ModelData)):
        return repr(value)
    if type(value) is np.bool_:
        return repr(bool(value))
    return repr(value)[:80]


def returned(result) -> str:
    """What a call gave, for a sentence: "raised TypeError: ...", "returned 'x'"."""
    return result.why() if not result.ok else f"returned {show(result.value)}"


def not_callable(m, name: str, results, points: float = 1.0) -> bool:
    """True (and a failed criterion worth ``points``) when the answer ``name`` was not a function."""
    bad = next((r for r in results if not r.ok and r.kind == "not_callable"), None)
    if bad is None:
        return False
    m.criterion(
        False,
        "",
        f"`{name}` should be a function (def {name}(...): ...), got {bad.error[len('not a function ') :]}",
        points,
    )
    return True


def each_case(
    m: Marker,
    cases: Sequence[dict],
    results: Sequence[Result],
    expected: Sequence[dict],
    points: float | Callable[[dict], float] = 1.0,
    wrong: str = "{label}: your function {why}",
) -> Iterator[tuple[dict, Result, dict]]:
    """``(case, result, expected)`` of every case whose call returned, in the cases' order.

    A judge can judge a case only by what the call returned, and every judge scores a call that
    failed (raised, timed out, could not be set up) the same way, so that is done here: a failed
    criterion worth ``points`` (a number, or ``points(case)`` where cases weigh differently), saying
    ``wrong`` formatted with ``label`` (the case's), ``args`` (its arguments) and ``why``
    (``Result.why()``). It is scored when the loop reaches that case, so the feedback keeps the
    cases' order; a judge that leaves the loop early scores no failure after the case it left on.
    """
    for case, result, exp in zip(cases, results, expected):
        if result.ok:
            yield case, result, exp
            continue
        worth = points(case) if callable(points) else points
        m.criterion(False, "", wrong.format(label=case["label"], args=case.get("args"), why=result.why()), worth)


class FirstProblems:
    """Run many cases, keep the first problem per label, then one criterion per label."""

    def __init__(self, labels):
        self.labels = list(labels)
        self.problems: dict[str, str] = {}

    def note(self, label: str, problem: str) -> None:
        self.problems.setdefault(label, problem)

    def note_all(self, problem: str) -> None:
        for label in self.labels:
            self.note(label, problem)

    def award(self, m, right: str, points: dict | float = 1.0) -> None:
        """One criterion per label: ``right`` formatted with ``{label}``; its first problem otherwise."""
        for label in self.labels:
            worth = points[label] if isinstance(points, dict) else points
            m.criterion(label not in self.problems, right.format(label=label), self.problems.get(label, ""), worth)


def same_for_every_input(m, name: str, results, expected, points: float) -> bool:
    """True (and a failed criterion worth ``points``) when ``name`` gave one and the same value on every
    case although the right answers differ: a canned answer, not a computation, earns nothing."""
    from tlcourse.checks import plain

    values = [json.dumps(plain.encode(r.value), sort_keys=True) for r in results if r.ok]
    answers = {json.dumps(plain.encode(e), sort_keys=True, default=str) for e in expected or []}
    if len(values) != len(results) or len(set(values)) != 1 or len(answers) < 2:
        return False
    m.criterion(
        False,
        "",
        f"`{name}` gives {show(results[0].value)} whatever its input: compute the answer from the arguments",
        points,
    )
    return True
