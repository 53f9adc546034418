"""Exercise checks: specific feedback for students, verdicts a class cannot forge for the grader.

Each exercise is split in two, so that the same check serves ``check()`` in a notebook and the
grader without ever deciding marks where student code ran:

- **cases** (``cases(rng)``): the inputs, as plain data: the arguments to call the student's
  function with, or the answer to report as it is. With ``rng=None`` the fixed public cases a
  notebook shows; at grading, fresh ones drawn from a seed students never see.
- the **probe** (``tlcourse.checks.probe``): runs beside the student's code, calls it on the
  cases and reports each outcome as plain data (``tlcourse.checks.plain``): nothing else leaves.
- the **judge** (the function registered with ``@exercise``): gets the cases, the decoded
  report and the expected results, and awards points criterion by criterion through a
  ``Marker``, saying what is right and wrong. It trusts nothing in the report.

Expected results come from the answer keys (``tlcourse_keys``, instructor material that is not in
the student edition) or, for the public cases, from ``public.json`` (results stored for those
inputs only: never a function that solves an exercise). Hidden tests (``@hidden_test``) add
cases and criteria at grading; they live with the keys or in an instructor's own file.
"""

from __future__ import annotations

import html
import importlib
import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from tlcourse.checks import plain
from tlcourse.checks.plain import PlainDataError

PUBLIC_FILE = Path(__file__).with_name("public.json")
KEYS_PACKAGE = "tlcourse_keys"


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


NO_HINT_YET = "write your answer and check again: a hint appears if it is not right yet"
REGISTRY: dict[str, Exercise] = {}
HIDDEN: dict[str, list[HiddenTest]] = {}
LESSON_MODULES = ("lesson01", "lesson02", "lesson03", "lesson04", "lesson05", "lesson06")


def exercise(
    lesson: str,
    id: str,
    title: str,
    names: tuple[str, ...],
    points: float = 2,
    hint: str = "",
    cases: Callable | None = None,
    returns_none: bool = False,
    key_is_answer: bool = False,
):
    """Register ``judge(marker, cases, results, expected)`` for exercise ``id`` of ``lesson``."""

    def register(judge: Callable) -> Callable:
        REGISTRY[id] = Exercise(
            lesson, id, title, tuple(names), points, hint, cases, judge, returns_none, key_is_answer
        )
        return judge

    return register


def hidden_test(exercise_id: str, points: float = 1, cases: Callable | None = None):
    """Register ``judge(marker, cases, results)`` as a hidden test of ``exercise_id`` on ``cases(rng)``."""

    def register(judge: Callable) -> Callable:
        HIDDEN.setdefault(exercise_id, []).append(
            HiddenTest(exercise_id, points, cases, judge, getattr(judge, "__name__", ""))
        )
        return judge

    return register


def load_hidden_tests(path) -> int:
    """Register the hidden tests in an instructor's Python file; how many it registered."""
    import runpy

    load_all()
    before = sum(len(v) for v in HIDDEN.values())
    runpy.run_path(str(path), run_name="tlcourse_hidden_tests")
    unknown = sorted(set(HIDDEN) - set(REGISTRY))
    if unknown:
        raise ValueError(f"hidden tests for exercises that do not exist: {', '.join(unknown)}")
    return sum(len(v) for v in HIDDEN.values()) - before


def load_all() -> None:
    for name in LESSON_MODULES:
        importlib.import_module(f"tlcourse.checks.{name}")


def exercises_of(lesson: str) -> list[Exercise]:
    """The registered exercises of a lesson (notebook stem), in id order."""
    load_all()
    return sorted((e for e in REGISTRY.values() if e.lesson == lesson), key=lambda e: [int(p) for p in e.id.split(".")])


def lessons() -> list[str]:
    """Every lesson (notebook stem) that has registered exercises."""
    load_all()
    return sorted({e.lesson for e in REGISTRY.values()})


# --------------------------------------------------------------------------- answer keys and public results


def keys():
    """The answer keys (instructor material), or None in the student edition."""
    try:
        module = importlib.import_module(KEYS_PACKAGE)
    except Exception:  # absent (student edition), or hidden from a grading box
        return None
    return module if hasattr(module, "expected") and hasattr(module, "has") else None


@cache
def sources_digest(*extra: Path) -> str:
    """sha256 of the checks (cases, judges), the answer keys and ``extra`` folders' Python files.

    ``public.json`` records it (``tlcourse lessons --check`` compares it without TensorFlow), and
    the grader keys stored results by it (with the grading package): change a check, regrade.
    """
    import hashlib
    import importlib.util

    folders = [PUBLIC_FILE.parent]
    spec = importlib.util.find_spec(KEYS_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(p) for p in spec.submodule_search_locations]
    h = hashlib.sha256()
    for folder in [*folders, *extra]:
        for path in sorted(Path(folder).glob("*.py")):
            h.update(f"{Path(folder).name}/{path.name}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _public() -> dict:
    if not PUBLIC_FILE.exists():
        return {}
    stored = json.loads(PUBLIC_FILE.read_text())
    return {k: plain.decode(v, builds=True) for k, v in stored.items() if not k.startswith("$")}


SECRET = "secret"  # a case's part that only the judge sees (held-out data it predicts, their seed)


def public_part(case: dict) -> dict:
    """What the probe (beside the student's code) gets of a case: all of it but its ``secret`` part."""
    return {k: v for k, v in case.items() if k != SECRET}


def public_cases(exercise_id: str) -> list[dict]:
    """The fixed cases a notebook's ``check()`` runs (stored, so they are the same everywhere)."""
    stored = _public().get(exercise_id)
    if stored is not None:
        return stored["cases"]
    return REGISTRY[exercise_id].cases(None)


def public_expected(exercise_id: str, cases: list[dict]) -> list[dict] | None:
    """Expected results for the public cases: stored ones, else from the keys, else None."""
    stored = _public().get(exercise_id)
    if stored is not None and stored.get("expected") is not None:
        return stored["expected"]
    module = keys()
    if module is None:
        return None
    return module.expected(exercise_id, cases) if module.has(exercise_id) else [{} for _ in cases]


# --------------------------------------------------------------------------- judging a report


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


# --------------------------------------------------------------------------- in a notebook


def evaluate(exercise_id: str, answers: dict, hidden: bool = False, seed: int = 0) -> Feedback:
    """Check ``answers`` the way ``check()`` does, and return the feedback; never raises.

    The student's code runs here (it is their notebook); the verdict is still made only from the
    probe's plain report, exactly as the grader makes it. ``hidden=True`` (instructor edition)
    adds the hidden tests on cases drawn from ``seed``.
    """
    from tlcourse.checks.probe import probe

    load_all()
    ex = REGISTRY[exercise_id]
    cases = public_cases(exercise_id)
    extra = []
    if hidden:
        load_keys_hidden()
        rng = np.random.default_rng(seed)
        extra = [(t, t.cases(rng)) for t in HIDDEN.get(exercise_id, [])]
    all_cases = cases + [c for _, cs in extra for c in cs]
    # The probe gets its own copy of the cases, as in the grading box: an answer that changes its
    # arguments in place changes that copy, never the cases the verdict compares with.
    own = plain.loads(json.dumps(plain.encode([public_part(c) for c in all_cases])), builds=True)
    report = probe(exercise_id, ex.names, own, answers)
    report = json.loads(json.dumps(report))  # exactly the plain data the grader would receive
    expected = public_expected(exercise_id, cases)
    feedback = verdict(ex, cases, report, expected, extra)
    more = 0 if hidden else hidden_points(exercise_id)
    if more:
        feedback.right.append(f"{more:g} more point(s) come from hidden tests at grading")
    if expected is None and feedback.status not in ("missing", "error"):  # no key in this edition
        feedback.points = 0
        feedback.status = "fail" if feedback.wrong else "recorded"
        feedback.right.append("checked for form only here: the answers are marked when your work is graded")
    return feedback


def hidden_points(exercise_id: str) -> float:
    """Points the course's hidden tests add to an exercise at grading (stored for the student edition)."""
    stored = _public().get(exercise_id)
    if stored is not None:
        return stored.get("hidden_points", 0)
    load_keys_hidden()
    return sum(t.points for t in HIDDEN.get(exercise_id, []))


def load_keys_hidden() -> None:
    """Register the course's own hidden tests (instructor edition only; a no-op in the student edition)."""
    module = keys()
    if module is not None:
        module.load_hidden()


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
    return [evaluate(ex.id, {n: namespace.get(n) for n in ex.names}) for ex in exercises_of(lesson)]
