"""Headline numbers of a lesson, written where the course run collects them.

A lesson calls ``record("<its notebook name>", scratch_accuracy=0.74, ...)``; the
numbers go to ``$TLCOURSE_RESULTS/<lesson>.json`` (default ``build/results/``), merged
with what the lesson recorded before. ``tlcourse run`` gathers them into one table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tlcourse.cache import atomic_write_bytes


def results_dir() -> Path:
    return Path(os.environ.get("TLCOURSE_RESULTS", "build/results"))


def _plain(value):
    """Round floats (4 decimals, or 4 significant digits below 0.01) and turn numpy scalars into JSON numbers.

    Four decimals suit accuracies and seconds; a learning rate of 1e-5 would round to 0.0.
    """
    if hasattr(value, "item"):
        value = value.item()
    if not isinstance(value, float):
        return value
    return float(f"{value:.4g}") if 0 < abs(value) < 0.01 else round(value, 4)


def record(lesson: str, **metrics) -> dict:
    """Add ``metrics`` to the lesson's results file and return everything recorded for it."""
    path = results_dir() / f"{lesson}.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    current.update({k: _plain(v) for k, v in metrics.items()})
    atomic_write_bytes(path, json.dumps(current, indent=1, sort_keys=True).encode())
    return current


def collect(folder: Path | None = None) -> dict[str, dict]:
    """``{lesson: {metric: value}}`` for every results file in ``folder``."""
    folder = Path(folder or results_dir())
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
