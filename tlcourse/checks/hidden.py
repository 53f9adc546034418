"""Hidden tests: extra cases the grader runs and students do not see in their notebooks.

Each one calls the student's function on inputs drawn at grading time and compares it
with the reference used by the public check. They are "hidden" from the lessons, not
secret: an instructor who wants tests students cannot read keeps them in a file of their
own and passes it with ``tlcourse grade --hidden-tests FILE`` (same ``@hidden_test`` API).
"""

from __future__ import annotations

import numpy as np

from tlcourse.checks import hidden_test
from tlcourse.checks.answers import call
from tlcourse.checks.lesson01 import reference_prf
from tlcourse.checks.lesson05 import reference_compare


def _close(got, expected, tol=1e-6) -> bool:
    try:
        return bool(np.allclose(np.asarray(got, dtype=float), np.asarray(expected, dtype=float), atol=tol))
    except (TypeError, ValueError):
        return False


@hidden_test("1.1", points=1)
def _prf_on_large_random_predictions(m, precision_recall_f1):
    rng = np.random.default_rng(2024)
    y_true, y_pred = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    got, error = call(precision_recall_f1, y_true, y_pred, 2) if callable(precision_recall_f1) else (None, "")
    m.criterion(
        error is None and got is not None and _close(list(got), reference_prf(y_true, y_pred, 2)),
        "right on 500 random three-class predictions",
        f"wrong on 500 random three-class predictions ({error or repr(got)[:80]})",
    )


@hidden_test("5.3", points=1)
def _compare_on_unequal_seed_counts(m, compare_runs):
    a, b = [0.71, 0.74, 0.69, 0.73, 0.72, 0.70], [0.80, 0.79]
    got, error = call(compare_runs, a, b) if callable(compare_runs) else (None, "")
    expected = reference_compare(a, b)
    ok = error is None and got is not None and _close(list(got)[:2], expected[:2]) and bool(list(got)[2]) == expected[2]
    m.criterion(ok, "right with six seeds against two", f"wrong with six seeds against two ({error or repr(got)[:80]})")
