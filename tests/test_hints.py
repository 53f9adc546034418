"""Hints name the idea and where the lesson shows it; they never hand over the worked answer.

A student sees an exercise's hint after a failed attempt (never before a first one). A hint that
holds a line, a call or a formula of the worked answer turns "try again" into "copy this", so every
registered hint is compared, token by token, with the worked answer of its exercise: the solution
lines of the code cell(s) of ``solutions/<lesson>.ipynb`` that call ``check("<id>", ...)``.

Fast on purpose: the notebooks are only read (nbformat), nothing is executed, and the feedback tests
call ``evaluate`` on plain functions, so no Keras model is built and nothing is trained.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import nbformat
import pytest

from tlcourse.checks import REGISTRY, evaluate, load_all
from tlcourse.studentcopy import solution_blocks

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"

load_all()
EXERCISES = sorted(REGISTRY, key=lambda exercise_id: [int(part) for part in exercise_id.split(".")])

# Identifiers (any script), numbers (1e-3, 0.2, 1_281_167), or one character that is neither a word
# character nor a space. Quotes and backticks are dropped: a string's words count, its quoting style does not.
_TOKEN = re.compile(r"[^\W\d]\w*|\d[\d_]*(?:\.\d+)?(?:[eE][-+]?\d+)?|[^\s\w]")
_DROPPED = frozenset("'\"`")
CODE_PUNCTUATION = frozenset(".()[]=+-*/%<>&|~^,")
MIN_RUN = 3
_BACKTICKED = re.compile(r"`([^`]+)`")


def tokens(text: str) -> list[str]:
    """Python-like tokens of ``text``, lower-cased (``TP / (TP + FP)`` is the answer's ``tp / (tp + fp)``)."""
    return [t.lower() for t in _TOKEN.findall(text) if t not in _DROPPED]


def _is_identifier(token: str) -> bool:
    return token[0].isalpha() or token[0] == "_"


def _looks_like_code(run: list[str]) -> bool:
    """A run is code when it holds a name and an operator or punctuation mark: ``np.unique``, ``head_lr / 30``."""
    return any(_is_identifier(t) for t in run) and any(t in CODE_PUNCTUATION for t in run)


def code_part(line: str) -> str:
    """``line`` without its comment (a ``#`` outside a string): comments are prose, not the answer's code."""
    quote, escaped = "", False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif quote:
            if char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            return line[:i]
    return line


def shared_code(hint: str, answer_lines: list[str]) -> list[str]:
    """What ``hint`` repeats of the code in ``answer_lines`` (empty: nothing).

    Two rules:

    - every maximal run of at least ``MIN_RUN`` consecutive tokens found both in the hint and in one
      answer line (its comment left out) that contains an identifier and one of ``CODE_PUNCTUATION``:
      ``np.unique``, ``base.trainable``, ``head_lr / 30`` and ``keras.layers.Dense`` are code, while
      ordinary prose ("freeze the base before you compile") shares no such run with an answer;
    - any backticked part of the hint that contains a whole answer line (stripped, its comment left
      out; lines with fewer than two tokens or no identifier, such as a closing bracket, are skipped).
    """
    hint_tokens = tokens(hint)
    found: list[str] = []
    for line in answer_lines:
        code = tokens(code_part(line))
        # run[i][j]: length of the common run ending at hint_tokens[i - 1] and code[j - 1]
        run = [[0] * (len(code) + 1) for _ in range(len(hint_tokens) + 1)]
        for i, token in enumerate(hint_tokens, 1):
            for j, other in enumerate(code, 1):
                if token == other:
                    run[i][j] = run[i - 1][j - 1] + 1
        for i in range(1, len(hint_tokens) + 1):
            for j in range(1, len(code) + 1):
                length = run[i][j]
                extends = i < len(hint_tokens) and j < len(code) and run[i + 1][j + 1] > 0
                if length >= MIN_RUN and not extends and _looks_like_code(hint_tokens[i - length : i]):
                    found.append(" ".join(hint_tokens[i - length : i]))
    for span in _BACKTICKED.findall(hint):
        span_text = " ".join(span.split())
        for line in answer_lines:
            code = " ".join(code_part(line).split())
            code_tokens = tokens(code)
            if len(code_tokens) >= 2 and any(map(_is_identifier, code_tokens)) and code in span_text:
                found.append(f"`{span_text}` holds the answer line {code!r}")
    return list(dict.fromkeys(found))


@cache
def _code_cells(lesson: str) -> tuple[str, ...]:
    notebook = nbformat.read(SOLUTIONS / f"{lesson}.ipynb", as_version=4)
    return tuple(cell.source for cell in notebook.cells if cell.cell_type == "code")


def worked_answer(exercise_id: str) -> list[str]:
    """The non-blank solution lines (stubs excluded) of the master cells that call ``check("<id>", ...)``."""
    calls_check = re.compile(r"\bcheck\(\s*[\"']" + re.escape(exercise_id) + r"[\"']")
    return [
        line
        for source in _code_cells(REGISTRY[exercise_id].lesson)
        if calls_check.search(source)
        for block in solution_blocks(source)
        for line in block
        if line.strip()
    ]


def test_shared_code_finds_code_and_ignores_prose():
    answer = [
        "labels = np.unique(train_y)",
        "base.trainable = False",
        "model.compile(optimizer=keras.optimizers.Adam(head_lr / 30))",
        "precision = tp / (tp + fp) if tp + fp > 0 else 0.0",
        "outputs = keras.layers.Dense(2)(x)  # the new head, a softmax",
    ]
    for code in ("np.unique", "base.trainable", "head_lr / 30", "keras.layers.Dense", "TP / (TP + FP)"):
        assert shared_code(f"Try {code} here.", answer), code
    assert shared_code("Then `base.trainable = False`.", answer)
    prose = "Freeze the base before you compile, then add the new head, a softmax. Return 0.0 when nothing counts."
    assert shared_code(prose, answer) == []


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_every_exercise_has_a_worked_answer(exercise_id):
    lesson = REGISTRY[exercise_id].lesson
    assert worked_answer(exercise_id), (
        f"no solution lines in a cell of solutions/{lesson}.ipynb that calls check({exercise_id!r}, ...)"
    )


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_hint_shares_no_code_with_the_worked_answer(exercise_id):
    exercise = REGISTRY[exercise_id]
    assert exercise.hint.strip(), f"exercise {exercise_id} has no hint"
    answer = worked_answer(exercise_id)
    assert answer, f"no worked answer for {exercise_id} in solutions/{exercise.lesson}.ipynb"
    shared = shared_code(exercise.hint, answer)
    assert not shared, (
        f"the hint of {exercise_id} repeats code of the worked answer: {shared}. A hint names the idea and "
        "the lesson section that shows it, in plain words."
    )


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_a_line_of_the_answer_given_as_a_hint_is_caught(exercise_id):
    """The control: the check above can fail. Each answer line that is code, appended to the hint, is found."""
    answer = worked_answer(exercise_id)
    code_lines = [line.strip() for line in answer if _looks_like_code(tokens(code_part(line)))]
    assert code_lines, f"no line of {exercise_id}'s worked answer is code the check could recognise"
    for line in code_lines:
        assert shared_code(f"{REGISTRY[exercise_id].hint} {line}", answer), line
        assert shared_code(f"{REGISTRY[exercise_id].hint} Write `{line}`.", answer), line


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_no_hint_before_a_first_attempt(exercise_id):
    exercise = REGISTRY[exercise_id]
    feedback = evaluate(exercise_id, dict.fromkeys(exercise.names))
    assert feedback.status == "missing"
    assert feedback.hint == ""
    assert "Hint:" not in str(feedback)


WRONG_ANSWERS = {
    "5.3": {"compare_runs": lambda scores_a, scores_b: (0.0, 0.0, False)},
    "6.2": {"balanced_accuracy": lambda y_true, y_pred: 0.0},
}


@pytest.mark.parametrize("exercise_id", sorted(WRONG_ANSWERS))
def test_a_wrong_answer_shows_the_hint(exercise_id):
    feedback = evaluate(exercise_id, WRONG_ANSWERS[exercise_id])
    assert feedback.status in ("fail", "partial"), feedback.status
    assert feedback.hint == REGISTRY[exercise_id].hint != ""
    assert f"Hint: {feedback.hint}" in str(feedback)
