"""The course's own hidden tests: more cases at grading, judged against the keys.

They are hidden from the lessons; an instructor who wants tests nobody has read keeps them in a
file of their own and passes it with ``tlcourse grade --hidden-tests FILE`` (same API).
"""

from __future__ import annotations

import numpy as np

from tlcourse.checks import hidden_test
from tlcourse.checks.answers import as_bool, as_number, close
from tlcourse_keys.lesson01 import reference_prf
from tlcourse_keys.lesson05 import reference_compare


def _numbers(value, n):
    if type(value) not in (tuple, list) or len(value) != n:
        return None
    numbers = [as_number(v) for v in value]
    return numbers if all(v is not None for v in numbers) else None


def _prf_cases(rng):
    y_true, y_pred = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    return [{"label": "500 random three-class predictions", "call": "precision_recall_f1", "args": [y_true, y_pred, 2]}]


@hidden_test("1.1", points=1, cases=_prf_cases)
def prf_on_many_random_predictions(m, cases, results):
    got = _numbers(results[0].value, 3) if results[0].ok else None
    want = reference_prf(*cases[0]["args"])
    m.criterion(
        got is not None and all(close(a, b) for a, b in zip(got, want)),
        "right on 500 random three-class predictions",
        "wrong on 500 random three-class predictions",
    )


def _compare_cases(rng):
    a, b = np.round(rng.normal(0.72, 0.02, 6), 3), np.round(rng.normal(0.80, 0.01, 2), 3)
    return [
        {
            "label": "six seeds against two",
            "call": "compare_runs",
            "args": [[float(v) for v in a], [float(v) for v in b]],
        }
    ]


@hidden_test("5.3", points=1, cases=_compare_cases)
def compare_on_unequal_seed_counts(m, cases, results):
    value = results[0].value if results[0].ok else None
    got = _numbers(value[:2], 2) if type(value) in (tuple, list) and len(value) == 3 else None
    want = reference_compare(*cases[0]["args"])
    ok = got is not None and close(got[0], want[0]) and close(got[1], want[1]) and as_bool(value[2]) == want[2]
    m.criterion(ok, "right with six seeds against two", "wrong with six seeds against two")
