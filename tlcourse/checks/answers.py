"""Helpers the exercise checks share for handling a student's answer safely.

A check calls the student's code on inputs of its own; whatever that code does (raise, return
a string, a bool, NaN) must become feedback, never an error in the check itself.
"""

from __future__ import annotations

import math

import numpy as np


def call(func, *args, **kwargs):
    """Call the student's function: ``(result, None)``, or ``(None, "what went wrong")`` if it raised."""
    try:
        return func(*args, **kwargs), None
    except Exception as err:  # the student's code failed on our input: that is feedback
        text = str(err).splitlines()[0] if str(err) else ""
        return None, f"{type(err).__name__}: {text[:160]}"


def as_number(value) -> float | None:
    """``value`` as a finite float, or None when it is not a single real number (a bool is not)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def not_a_function(m, name: str, value, points: float = 1.0) -> bool:
    """True (and a failed criterion worth ``points``) when the answer ``name`` is not callable."""
    if callable(value):
        return False
    m.criterion(False, "", f"`{name}` should be a function (def {name}(...): ...), got {type(value).__name__}", points)
    return True
