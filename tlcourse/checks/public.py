"""``public.json``, owned here: the public cases of every exercise and what a right answer gives on them.

A notebook's ``check()`` runs the public cases; in the student edition (no answer keys) their
expected results come from this file. ``tlcourse lessons`` writes it from the keys
(``write_public_results``); it is read once per process.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from tlcourse.checks import plain
from tlcourse.checks.registry import REGISTRY, hidden_tests_of, keys, load_all
from tlcourse.errors import CourseError
from tlcourse.manifest import KEYS_PACKAGE

PUBLIC_FILE = Path(__file__).with_name("public.json")
SOURCES_KEY = "$sources"  # public.json's entry naming what it was computed from


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


@cache
def _stored() -> dict:
    """The file's entries as JSON (read once); decoded per use, so every check gets objects of its own."""
    if not PUBLIC_FILE.exists():
        return {}
    return {k: v for k, v in json.loads(PUBLIC_FILE.read_text()).items() if not k.startswith("$")}


def _entry(exercise_id: str) -> dict | None:
    stored = _stored().get(exercise_id)
    return None if stored is None else plain.decode(stored, builds=True)


def public_cases(exercise_id: str) -> list[dict]:
    """The fixed cases a notebook's ``check()`` runs (stored, so they are the same everywhere)."""
    stored = _entry(exercise_id)
    if stored is not None:
        return stored["cases"]
    return REGISTRY[exercise_id].cases(None)


def public_expected(exercise_id: str, cases: list[dict]) -> list[dict] | None:
    """Expected results for the public cases: stored ones, else from the keys, else None."""
    stored = _entry(exercise_id)
    if stored is not None and stored.get("expected") is not None:
        return stored["expected"]
    module = keys()
    if module is None:
        return None
    return module.expected(exercise_id, cases) if module.has(exercise_id) else [{} for _ in cases]


def hidden_points(exercise_id: str) -> float:
    """Points the course's hidden tests add to an exercise at grading (stored for the student edition)."""
    stored = _entry(exercise_id)
    if stored is not None:
        return stored.get("hidden_points", 0)
    return sum(t.points for t in hidden_tests_of(exercise_id))


def public_results() -> str:
    """``public.json``: every exercise's public cases with the results a right answer gives on them.

    Stored for the public inputs only (the student edition has no answer keys); for naming
    exercises, whose expected results are the answers themselves, nothing is stored.
    """
    module = keys()
    if module is None:
        raise CourseError("the answer keys (tlcourse_keys) are not installed: public results come from them")
    load_all()
    lines = [f"{json.dumps(SOURCES_KEY)}: {json.dumps(sources_digest())}"]
    for exercise_id in sorted(REGISTRY, key=lambda i: [int(p) for p in i.split(".")]):
        ex = REGISTRY[exercise_id]
        cases = ex.cases(None)
        entry = {
            "cases": cases,
            "expected": None if ex.key_is_answer else module.expected(exercise_id, cases),
            "hidden_points": sum(t.points for t in hidden_tests_of(exercise_id)),
        }
        lines.append(f"{json.dumps(exercise_id)}: {json.dumps(plain.encode(entry), sort_keys=True)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def write_public_results(check: bool = False) -> bool:
    """Write ``tlcourse/checks/public.json`` if stale; True when it was.

    With ``check``, only compare the digest of its sources (fast, no TensorFlow) and write nothing.
    """
    if check:
        try:
            stored = json.loads(PUBLIC_FILE.read_text()).get(SOURCES_KEY)
        except (OSError, ValueError, AttributeError):
            return True
        return stored != sources_digest()
    text = public_results()
    stale = not PUBLIC_FILE.exists() or public_results_difference(PUBLIC_FILE.read_text(), text) is not None
    if stale:
        PUBLIC_FILE.write_text(text)
        _stored.cache_clear()
    return stale


def public_results_difference(stored: str, fresh: str) -> str | None:
    """Where two ``public.json`` texts differ (``"6.5/expected[1]/features"``), or None when they agree.

    Float arrays need only agree to two units of their stored last digit (the keys round model outputs
    to 5 decimals): other CPUs compute them with other kernels, which can flip a rounded digit, and a
    file that differs only so is not stale (rewriting it would change it back and forth between machines).
    """
    import numpy as np

    def differ(a, b, where: str) -> str | None:
        if type(a) is not type(b):
            return where
        if isinstance(a, np.ndarray):
            if a.shape != b.shape or a.dtype != b.dtype:
                return where
            same = np.allclose(a, b, rtol=0, atol=2e-5) if a.dtype.kind == "f" else np.array_equal(a, b)
            return None if same else where
        if isinstance(a, dict):
            if a.keys() != b.keys():
                return where
            return next((d for k in a if (d := differ(a[k], b[k], f"{where}/{k}"))), None)
        if isinstance(a, (list, tuple)):
            if len(a) != len(b):
                return where
            return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := differ(x, y, f"{where}[{i}]"))), None)
        return None if a == b else where

    if stored == fresh:
        return None
    try:
        old, new = json.loads(stored), json.loads(fresh)
    except ValueError:
        return "the file is not JSON"
    if old.keys() != new.keys():
        return "the exercises"
    for exercise_id in old:
        if exercise_id == SOURCES_KEY:
            if old[exercise_id] != new[exercise_id]:
                return SOURCES_KEY
            continue
        found = differ(
            plain.decode(old[exercise_id], builds=True), plain.decode(new[exercise_id], builds=True), exercise_id
        )
        if found:
            return found
    return None
