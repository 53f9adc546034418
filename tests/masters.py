"""The masters' own answers (``solutions/``), for the tests that need a right answer: never typed again.

Each exercise cell of a master is run statement by statement beside the lesson's imports and its
helper functions, skipping what needs the lesson's data (a demonstration call, a printout), so the
names the check reads are the worked answer as the notebook writes it. ``test_checks_contract.py``
checks that every one earns every point; the per-lesson tests (``test_checks_lessonNN.py``) start
from one to build a mistake ("the right function, with its arguments swapped").

Beside them, what the checks' tests share: the student copy's stub bodies (``STUBS``), and the feedback
on a mistake (``mistake_feedback``).
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from functools import cache
from pathlib import Path

import nbformat

from tlcourse import manifest
from tlcourse.checks import REGISTRY, load_all

ROOT = Path(__file__).resolve().parents[1]
load_all()


def _run(statements: list[ast.stmt], namespace: dict) -> None:
    """Run statements one by one; one that needs what the lesson computed (a NameError, ...) is skipped."""
    for statement in statements:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(ast.Module(body=[statement], type_ignores=[]), "<master>", "exec"), namespace)
        except Exception:  # a demonstration on the lesson's data: not part of the answer
            pass


@cache
def master_cells(lesson: str) -> tuple[dict, dict[str, list[ast.stmt]]]:
    """The master's imports and helper functions run once; each exercise cell's statements, by exercise."""
    nb = nbformat.read(ROOT / "solutions" / manifest.lesson(lesson).notebook, as_version=4)
    shared, cells = {}, {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            body = ast.parse(cell.source).body
        except SyntaxError:  # IPython magics
            continue
        found = re.findall(r'check\("(\d+\.\d+)"', cell.source)
        if found:
            cells[found[0]] = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Call))]
        else:
            _run([s for s in body if isinstance(s, (ast.Import, ast.ImportFrom, ast.FunctionDef))], shared)
    return shared, cells


def master_answers(exercise_id: str) -> dict:
    """The names exercise ``exercise_id`` checks, as its master's exercise cell defines them."""
    ex = REGISTRY[exercise_id]
    shared, cells = master_cells(ex.lesson)
    namespace = dict(shared)
    _run(cells[exercise_id], namespace)
    return {name: namespace.get(name) for name in ex.names}


def _stub(*args, **kwargs):
    return None  # the student copy's body


def _pass_stub(model, train_blocks, head_lr):
    pass


def _raise_stub(*args):
    raise NotImplementedError("write this function")


STUBS = {"return None": _stub, "pass": _pass_stub, "raise": _raise_stub}  # what an untouched copy hands in


def mistake_feedback(exercise_id: str, **answers) -> str:
    """The feedback on a wrong answer, as text; it must be a failure or partial credit, never a pass."""
    from tlcourse.checks import evaluate

    feedback = evaluate(exercise_id, answers)
    assert feedback.status in ("partial", "fail"), str(feedback)
    return str(feedback)
