"""Verdicts: a probe's plain report, validated field by field, judged into feedback; never raises.

What the box (or a notebook's probe) reports is data the student's code produced: it is parsed
with closed field lists, and the judge's points are clamped to what the registry says each part
is worth.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable

import numpy as np

from tlcourse.checks import plain
from tlcourse.checks.plain import PlainDataError
from tlcourse.checks.types import Exercise, Feedback, HiddenTest, Marker, Result

NO_HINT_YET = "write your answer and check again: a hint appears if it is not right yet"

SECRET = "secret"  # a case's part that only the judge sees (held-out data it predicts, their seed)


def public_part(case: dict) -> dict:
    """What the probe (beside the student's code) gets of a case: all of it but its ``secret`` part."""
    return {k: v for k, v in case.items() if k != SECRET}


def _result(raw) -> Result:
    if type(raw) is not dict or type(raw.get("ok")) is not bool:
        raise PlainDataError("a case's result is not an object with 'ok'")
    after = plain.decode(raw["after"]) if "after" in raw else None
    if raw["ok"]:
        if not set(raw) <= {"ok", "value", "after"}:
            raise PlainDataError("unexpected fields in a result")
        return Result(True, plain.decode(raw.get("value")), after=after)
    if not set(raw) <= {"ok", "kind", "error", "after"}:
        raise PlainDataError("unexpected fields in a failed result")
    kind, error = raw.get("kind", ""), raw.get("error", "")
    if kind not in ("raised", "timeout", "not_callable", "setup") or type(error) is not str:
        raise PlainDataError("bad failed result")
    return Result(False, error=error[:300], kind=kind, after=after)


def parse_report(raw, ex: Exercise, n_cases: int) -> tuple[list[str], list[str], list[Result]]:
    """``(missing, stubs, results)`` from a probe report, validated field by field."""
    if type(raw) is not dict or set(raw) != {"exercise", "missing", "stubs", "results"}:
        raise PlainDataError("the report does not have the expected fields")
    if raw["exercise"] != ex.id:
        raise PlainDataError("the report is for another exercise")
    names = []
    for key in ("missing", "stubs"):
        if type(raw[key]) is not list or not all(type(n) is str and n in ex.names for n in raw[key]):
            raise PlainDataError(f"bad '{key}' list")
        names.append(list(dict.fromkeys(raw[key])))
    results = raw["results"]
    if type(results) is not list:
        raise PlainDataError("bad results")
    if names[0] or names[1]:
        return names[0], names[1], []
    if len(results) != n_cases:
        raise PlainDataError(f"{len(results)} results for {n_cases} cases")
    return names[0], names[1], [_result(r) for r in results]


def _feedback(ex: Exercise, max_points: float, status: str, wrong: list[str]) -> Feedback:
    """No points; the hint only after an attempt (an unanswered exercise gets none: try first)."""
    if status == "missing":
        return Feedback(ex.id, ex.title, 0, max_points, status, wrong=wrong + [NO_HINT_YET])
    return Feedback(ex.id, ex.title, 0, max_points, status, wrong=wrong, hint=ex.hint)


def _run_judge(judge: Callable, marker: Marker, *args) -> str | None:
    """Run one judge; the error text if it raised (a bug, or data it did not expect)."""
    try:
        with np.errstate(all="ignore"):
            judge(marker, *args)
    except Exception as err:
        return traceback.format_exception_only(type(err), err)[-1].strip()[:300]
    return None


def verdict(
    ex: Exercise,
    cases: list[dict],
    report,
    expected: list[dict] | Callable[[], list[dict] | None] | None,
    hidden: list[tuple[HiddenTest, list[dict]]] = (),
) -> Feedback:
    """The feedback on one exercise from a probe's report (raw JSON data); never raises.

    ``report`` holds the outcomes of ``cases`` followed by those of each hidden test's cases.
    Points are clamped to what this registry says each part is worth. ``expected`` may be a
    function giving the right answers' outcomes: it is called only when there is an answer to
    judge (a key that builds Keras models costs the judge seconds of importing for a missing one).
    """
    max_points = ex.points + sum(t.points for t, _ in hidden)
    try:
        missing, stubs, results = parse_report(report, ex, len(cases) + sum(len(c) for _, c in hidden))
    except (PlainDataError, RecursionError) as err:
        return _feedback(ex, max_points, "error", [f"what your answer produced could not be read for grading ({err})"])
    if missing or stubs:
        wrong = [f"not answered yet: set {', '.join(f'`{n}`' for n in missing)}"] if missing else []
        wrong += [f"`{n}` still has the stub's empty body: write it" for n in stubs]
        return _feedback(ex, max_points, "missing", wrong)
    calls = [r for r, case in zip(results, cases + [c for _, cs in hidden for c in cs]) if "call" in case]
    if calls and not ex.returns_none and all(r.ok and r.value is None for r in calls):
        return _feedback(ex, max_points, "missing", [f"`{ex.names[0]}` returns None for every input: write its body"])
    if callable(expected):
        try:
            expected = expected()
        except (ValueError, RecursionError, TypeError) as err:
            why = f"what your answer produced could not be read for grading ({type(err).__name__})"
            return _feedback(ex, max_points, "error", [why])
    marker = Marker(ex.points)
    error = _run_judge(ex.judge, marker, cases, results[: len(cases)], expected)
    if error:
        return _feedback(ex, max_points, "error", [f"checking your answer raised {error}"])
    points = max(0.0, min(marker.points, ex.points))
    right, wrong = list(marker.right), list(marker.wrong)
    start = len(cases)
    for test, test_cases in hidden:
        hidden_marker = Marker(test.points)
        error = _run_judge(test.judge, hidden_marker, test_cases, results[start : start + len(test_cases)])
        start += len(test_cases)
        points += 0 if error else max(0.0, min(hidden_marker.points, test.points))
        right += [f"(hidden test) {r}" for r in hidden_marker.right]
        wrong += [f"(hidden test) {w}" for w in hidden_marker.wrong]
        wrong += [f"(hidden test) could not be judged: {error}"] if error else []
    points = min(points, max_points)
    status = "pass" if points >= max_points else "partial" if points > 0 else "fail"
    return Feedback(ex.id, ex.title, points, max_points, status, right, wrong, ex.hint)
