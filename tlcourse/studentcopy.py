"""Generate the student copies in ``lessons/`` from the masters in ``solutions/``.

One source of truth: a master notebook holds the full text and the worked answers. In
code cells, an answer sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION``; lines
in it that start with ``#> `` are the stub the student sees instead (e.g.
``#> frozen = None  # the blocks to freeze``). In markdown cells, a written answer sits
between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->``. Cells tagged
``solution`` are dropped. Student copies carry no outputs. ``tlcourse lessons``
regenerates them; ``--check`` reports stale copies (a test runs it).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from tlcourse.errors import CourseError

BEGIN, END, STUB = "### BEGIN SOLUTION", "### END SOLUTION", "#> "
MD_BLOCK = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->", re.DOTALL)
MD_STUB = "*Write your answer here.*"
# A block with no "#> " stub: a body that always parses, and says what is missing when run (nbgrader's style).
DEFAULT_STUB = ("# YOUR CODE HERE", 'raise NotImplementedError("write your code here")')


def solution_blocks(source: str) -> list[list[str]]:
    """The solution lines (stubs excluded) of each block in a code cell."""
    blocks, current = [], None
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            current = []
        elif stripped == END:
            blocks.append(current or [])
            current = None
        elif current is not None and not stripped.startswith(STUB.strip()):
            current.append(line)
    return blocks


def strip_code(source: str, where: str = "") -> str:
    """Replace each solution block by its stub lines (or ``DEFAULT_STUB``: a line that raises)."""
    out, stub, inside = [], [], False
    for line in source.splitlines():
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if stripped == BEGIN:
            if inside:
                raise CourseError(f"{where}: nested {BEGIN}")
            inside, stub, block_indent = True, [], indent
        elif stripped == END:
            if not inside:
                raise CourseError(f"{where}: {END} without {BEGIN}")
            out.extend(stub or [block_indent + line for line in DEFAULT_STUB])
            inside = False
        elif inside:
            if stripped.startswith(STUB.strip()):
                stub.append(indent + stripped[len(STUB) :] if stripped.startswith(STUB) else indent)
        else:
            out.append(line)
    if inside:
        raise CourseError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out)


def clear_outputs(nb) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("papermill", None)


def student_copy(master) -> nbformat.NotebookNode:
    """The student version of a master notebook."""
    nb = copy.deepcopy(master)
    nb.cells = [c for c in nb.cells if "solution" not in c.metadata.get("tags", [])]
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source = strip_code(cell.source, f"cell {i}")
        elif cell.cell_type == "markdown":
            cell.source = MD_BLOCK.sub(MD_STUB, cell.source)
    clear_outputs(nb)
    return _normalised(nb)


def _dump(nb) -> str:
    return nbformat.writes(nb) + "\n"


def generate(solutions: Path, lessons: Path, check: bool = False) -> list[str]:
    """Write (or with ``check``, only compare) every student copy; returns the stale names."""
    masters = sorted(Path(solutions).glob("[0-9]*.ipynb"))
    if not masters:
        raise CourseError(f"no master notebooks in {solutions}")
    stale = []
    for master_path in masters:
        master = nbformat.read(master_path, as_version=4)
        text = _dump(student_copy(master))
        target = Path(lessons) / master_path.name
        if not target.exists() or target.read_text() != text:
            stale.append(target.name)
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    known = {m.name for m in masters}
    stale += [p.name + " (no master)" for p in Path(lessons).glob("[0-9]*.ipynb") if p.name not in known]
    return stale


def _normalised(nb):
    """Stable cell ids so regenerating an unchanged master gives identical bytes."""
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
    return nb


def strip_masters(solutions: Path) -> list[str]:
    """Remove outputs from the masters (they are committed clean); returns the files changed."""
    changed = []
    for path in sorted(Path(solutions).glob("[0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        clear_outputs(nb)
        text = _dump(nb)
        if path.read_text() != text:
            path.write_text(text)
            changed.append(path.name)
    return changed


SOURCES_KEY = "$sources"  # public.json's entry naming what it was computed from


def public_results() -> str:
    """``public.json``: every exercise's public cases with the results a right answer gives on them.

    Stored for the public inputs only (the student edition has no answer keys); for naming
    exercises, whose expected results are the answers themselves, nothing is stored.
    """
    import json

    from tlcourse.checks import HIDDEN, REGISTRY, keys, load_all, load_keys_hidden, plain, sources_digest

    module = keys()
    if module is None:
        raise CourseError("the answer keys (tlcourse_keys) are not installed: public results come from them")
    load_all()
    load_keys_hidden()
    lines = [f"{json.dumps(SOURCES_KEY)}: {json.dumps(sources_digest())}"]
    for exercise_id in sorted(REGISTRY, key=lambda i: [int(p) for p in i.split(".")]):
        ex = REGISTRY[exercise_id]
        cases = ex.cases(None)
        entry = {
            "cases": cases,
            "expected": None if ex.key_is_answer else module.expected(exercise_id, cases),
            "hidden_points": sum(t.points for t in HIDDEN.get(exercise_id, [])),
        }
        lines.append(f"{json.dumps(exercise_id)}: {json.dumps(plain.encode(entry), sort_keys=True)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def write_public_results(check: bool = False) -> bool:
    """Write ``tlcourse/checks/public.json`` if stale; True when it was.

    With ``check``, only compare the digest of its sources (fast, no TensorFlow) and write nothing.
    """
    import json

    from tlcourse.checks import PUBLIC_FILE, sources_digest

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
    return stale


def public_results_difference(stored: str, fresh: str) -> str | None:
    """Where two ``public.json`` texts differ (``"6.5/expected[1]/features"``), or None when they agree.

    Float arrays need only agree to two units of their stored last digit (the keys round model outputs
    to 5 decimals): other CPUs compute them with other kernels, which can flip a rounded digit, and a
    file that differs only so is not stale (rewriting it would change it back and forth between machines).
    """
    import json

    import numpy as np

    from tlcourse.checks import plain

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
