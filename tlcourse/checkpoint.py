"""Checkpoints after every epoch, so a killed run resumes where it stopped.

Laptops sleep and kernels die mid-training. The training engine (``tlcourse.experiments``) saves
each of its runs (a seed's head, a fine-tuning run, a scratch CNN) under a key after every epoch:
the arrays — the trained weights, the optimizer's state, and the weights of the best validation
epoch so far — as a new ``.npz`` file, then ``state.json`` (per key: epochs done, the history so
far, the best score and its epoch, which arrays file; and the settings the run was made with).
Each is written atomically (temp file, then rename), the state last, so a kill at any moment
leaves the previous consistent pair; resuming loads it and continues with the next epoch. A
finished run is saved too, so a resumed experiment skips it.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import numpy as np

from tlcourse.cache import atomic_write_bytes
from tlcourse.errors import CourseError

STATE = "state.json"


def has_checkpoint(out: Path) -> bool:
    """Whether ``out`` holds a checkpoint to resume (``tlcourse fit --resume``)."""
    return (Path(out) / "checkpoint" / STATE).exists()


class Checkpointer:
    """The checkpoint of one run folder (``<out>/checkpoint``), made with the settings ``fingerprint``.

    ``resume=False`` starts over: an earlier checkpoint there is removed. ``resume=True`` continues
    one, and refuses a checkpoint made with other settings (its runs would not be this experiment's).
    """

    def __init__(self, out: Path, fingerprint: dict, resume: bool = False):
        self.dir = Path(out) / "checkpoint"
        self.fingerprint = json.loads(json.dumps(fingerprint))  # as it reads back from JSON
        self.runs: dict[str, dict] = {}
        if resume:
            path = self.dir / STATE
            if not path.exists():
                raise CourseError(f"nothing to resume in {out}: no checkpoint there (run without --resume)")
            state = json.loads(path.read_text())
            if state.get("fingerprint") != self.fingerprint:
                changed = sorted(
                    k
                    for k in set(self.fingerprint) | set(state.get("fingerprint", {}))
                    if state.get("fingerprint", {}).get(k) != self.fingerprint.get(k)
                )
                raise CourseError(
                    f"the checkpoint in {out} was made with other settings ({', '.join(changed)}): "
                    "resume with the same ones, or start over without --resume"
                )
            self.runs = state["runs"]
        elif self.dir.exists():
            shutil.rmtree(self.dir)

    def saved(self, key: str) -> tuple[dict, dict[str, list[np.ndarray]]] | None:
        """The last saved state of run ``key`` and its arrays by group; None if it never saved one."""
        state = self.runs.get(key)
        if state is None:
            return None
        with np.load(self.dir / state["arrays"]) as stored:
            groups: dict[str, list[np.ndarray]] = {}
            for name in sorted(stored.files, key=lambda n: (n.rsplit("-", 1)[0], int(n.rsplit("-", 1)[1]))):
                groups.setdefault(name.rsplit("-", 1)[0], []).append(stored[name])
        return state, groups

    def save(self, key: str, state: dict, arrays: dict[str, list[np.ndarray]]) -> None:
        """Save run ``key``: its arrays (by group: ``{"model": [...], "optimizer": [...]}``), then its state."""
        name = f"{key}-e{state['epochs_done']:04d}{'-done' if state.get('complete') else ''}.npz"
        buffer = io.BytesIO()
        flat = {f"{group}-{i}": np.asarray(a) for group, values in arrays.items() for i, a in enumerate(values)}
        np.savez(buffer, **flat)
        atomic_write_bytes(self.dir / name, buffer.getvalue())
        self.runs[key] = {**state, "arrays": name}
        document = {"fingerprint": self.fingerprint, "runs": self.runs, "last": key, "time": time.time()}
        atomic_write_bytes(self.dir / STATE, json.dumps(document).encode())
        for old in self.dir.glob(f"{key}-e*.npz"):
            if old.name != name:
                old.unlink(missing_ok=True)
