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

from tlcourse import manifest
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


def _numbered(folder: Path) -> list[Path]:
    """Notebooks in ``folder`` named like a lesson (``NN_...``), listed in the manifest or not."""
    return sorted(Path(folder).glob("[0-9]*.ipynb"))


def generate(solutions: Path, lessons: Path, check: bool = False) -> list[str]:
    """Write (or with ``check``, only compare) every student copy; returns the stale names."""
    masters = manifest.notebooks_in(solutions)
    if not masters:
        raise CourseError(f"no master notebooks of the lessons in tlcourse/manifest.py in {solutions}")
    listed = {m.name for m in masters}
    stale = [
        p.name + " (not a lesson: add it to tlcourse/manifest.py)" for p in _numbered(solutions) if p.name not in listed
    ]
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
    stale += [p.name + " (no master)" for p in _numbered(lessons) if p.name not in known]
    return stale


def _normalised(nb):
    """Stable cell ids so regenerating an unchanged master gives identical bytes."""
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
    return nb


def strip_masters(solutions: Path) -> list[str]:
    """Remove outputs from the masters (they are committed clean); returns the files changed."""
    changed = []
    for path in manifest.notebooks_in(solutions):
        nb = nbformat.read(path, as_version=4)
        clear_outputs(nb)
        text = _dump(nb)
        if path.read_text() != text:
            path.write_text(text)
            changed.append(path.name)
    return changed
