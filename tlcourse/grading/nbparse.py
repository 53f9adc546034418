"""Read an untrusted notebook's bytes into the few fields grading needs, in a process of its own.

Run as a script (``python -I -S nbparse.py`` with the bytes on stdin; ``intake.parse_notebook``
starts it), never imported by the grader for parsing: a notebook is JSON that a student wrote,
and JSON of a few megabytes can hold millions of objects (gigabytes once parsed) or nest deep
enough to exhaust the recursion limit. Here that costs only this process, which the grader starts
with a memory limit (``RLIMIT_AS``), a CPU-time limit and a deadline.

What comes out (stdout, one JSON object) is all the grader keeps: the cells' types, sources and
tags, nothing else (no outputs, attachments, notebook or cell metadata other than tags). Counts
and sizes are capped here; anything else is an ``{"error": reason}`` in a few words, never
quoting the notebook. Only the standard library is imported (``-S``: not even site-packages).
"""

from __future__ import annotations

import json
import sys

MAX_OBJECTS = 500_000  # JSON objects in one notebook (a lesson with its outputs has a few thousand)
MAX_VALUES = 4_000_000  # JSON values of any kind (lists of numbers count too)
MAX_DEPTH = 64  # nesting (a notebook's own structure is about 8 deep; widget state a little more)
MAX_CELLS = 5_000
MAX_SOURCE_CHARS = 4 * 2**20  # all cells' sources together (a lesson master holds about 100 k)
MAX_TAGS = 32
MAX_TAG_CHARS = 100
CELL_TYPES = ("code", "markdown", "raw")


class NotANotebook(ValueError):
    """Why these bytes are not a notebook the grader reads, in a few words."""


def _counting_hook():
    count = [0]

    def hook(pairs):
        count[0] += 1
        if count[0] > MAX_OBJECTS:
            raise NotANotebook(f"too complex to read (more than {MAX_OBJECTS:,} JSON objects)")
        return dict(pairs)

    return hook


def _check_shape(raw) -> None:
    """Walk the parsed JSON without recursion: too deep or too many values is refused here, before any
    code that walks it recursively (``nbformat``, ``json.dumps``) could meet it."""
    stack, seen = [(raw, 0)], 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise NotANotebook(f"too complex to read (more than {MAX_VALUES:,} JSON values)")
        if depth > MAX_DEPTH:
            raise NotANotebook(f"nested too deeply (more than {MAX_DEPTH} levels)")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    if isinstance(source, str):
        return source
    raise NotANotebook("a cell is malformed")


def strip(data: bytes) -> dict:
    """The notebook in ``data`` as ``{"cells": [{"cell_type", "source", "tags"}]}``; ``NotANotebook`` else."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotANotebook("not UTF-8 text") from None
    try:
        raw = json.loads(text, object_pairs_hook=_counting_hook())
    except json.JSONDecodeError as err:
        raise NotANotebook(f"not valid JSON, line {err.lineno}") from None
    except RecursionError:
        raise NotANotebook("nested too deeply") from None
    _check_shape(raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list) or raw.get("nbformat") != 4:
        raise NotANotebook("not a Jupyter notebook in nbformat 4")
    if len(raw["cells"]) > MAX_CELLS:
        raise NotANotebook(f"more than {MAX_CELLS:,} cells")
    cells, chars = [], 0
    for cell in raw["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") not in CELL_TYPES:
            raise NotANotebook("a cell is malformed")
        source = _source(cell)
        chars += len(source)
        if chars > MAX_SOURCE_CHARS:
            raise NotANotebook(f"more than {MAX_SOURCE_CHARS // 2**20} M characters of cell text")
        metadata = cell.get("metadata")
        tags = metadata.get("tags") if isinstance(metadata, dict) else None
        tags = [t[:MAX_TAG_CHARS] for t in tags if isinstance(t, str)][:MAX_TAGS] if isinstance(tags, list) else []
        cells.append({"cell_type": cell["cell_type"], "source": source, "tags": tags})
    return {"cells": cells}


def main() -> int:
    data = sys.stdin.buffer.read()
    try:
        out = strip(data)
    except NotANotebook as err:
        out = {"error": str(err)}
    except MemoryError:
        out = {"error": "too large to read once parsed"}
    sys.stdout.write(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
