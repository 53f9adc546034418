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
cases and criteria at grading; the keys return the course's own, an instructor's file adds more.

The package is split by job, behind these names: ``types`` (the data), ``registry`` (exercises,
hidden tests, the keys), ``public`` (``public.json``), ``verdict`` (a report judged into feedback),
``notebook`` (``check`` and ``evaluate``); each lesson's cases and judges are in ``lessonNN``
(``tlcourse.manifest`` lists them).
"""

from __future__ import annotations

from tlcourse.checks import plain
from tlcourse.checks.notebook import check, evaluate, grade_namespace
from tlcourse.checks.public import (
    PUBLIC_FILE,
    hidden_points,
    public_cases,
    public_expected,
    public_results,
    public_results_difference,
    sources_digest,
    write_public_results,
)
from tlcourse.checks.registry import (
    REGISTRY,
    exercise,
    exercises_of,
    hidden_test,
    hidden_tests_in,
    hidden_tests_of,
    keys,
    lessons,
    load_all,
    load_hidden_tests,
)
from tlcourse.checks.types import Exercise, Feedback, HiddenTest, Marker, Result
from tlcourse.checks.verdict import NO_HINT_YET, SECRET, parse_report, public_part, verdict

__all__ = [
    "NO_HINT_YET",
    "PUBLIC_FILE",
    "REGISTRY",
    "SECRET",
    "Exercise",
    "Feedback",
    "HiddenTest",
    "Marker",
    "Result",
    "check",
    "evaluate",
    "exercise",
    "exercises_of",
    "grade_namespace",
    "hidden_points",
    "hidden_test",
    "hidden_tests_in",
    "hidden_tests_of",
    "keys",
    "lessons",
    "load_all",
    "load_hidden_tests",
    "parse_report",
    "plain",
    "public_cases",
    "public_expected",
    "public_part",
    "public_results",
    "public_results_difference",
    "sources_digest",
    "verdict",
    "write_public_results",
]
