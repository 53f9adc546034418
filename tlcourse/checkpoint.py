"""Checkpoints after every epoch, so a killed run resumes where it stopped.

Laptops sleep and kernels die mid-training. After each epoch the run's state goes to
``<out>/checkpoint/``: the model (with its optimizer state) as a new ``.keras`` file,
then ``state.json`` (phase, epochs done, history so far, which model file) — each
written atomically (temp file, then rename), the state last. A kill at any moment
leaves the previous consistent pair; resuming loads it and continues with the next epoch.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras

from tlcourse.cache import atomic_write_bytes, save_model

PHASES = ("scratch", "head", "finetune")


class Checkpointer:
    """Reads and writes the checkpoint of one run folder."""

    def __init__(self, out: Path):
        self.dir = Path(out) / "checkpoint"

    def save(self, model: keras.Model, phase: str, epochs_done: int, history: dict[str, list[float]]) -> None:
        name = f"{phase}-epoch{epochs_done:04d}.keras"
        save_model(model, self.dir / name)
        state = {"phase": phase, "epochs_done": epochs_done, "history": history, "model": name, "time": time.time()}
        atomic_write_bytes(self.dir / "state.json", json.dumps(state).encode())
        for old in self.dir.glob("*.keras"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def load(self) -> dict | None:
        """The last consistent state, with its model loaded under ``"loaded"``; None if there is none."""
        path = self.dir / "state.json"
        if not path.exists():
            return None
        state = json.loads(path.read_text())
        state["loaded"] = keras.models.load_model(self.dir / state["model"])
        return state

    def callback(self, phase: str, model: keras.Model, history: dict | None = None):
        """A Keras callback saving ``model`` after each epoch; ``history`` is everything before this epoch."""
        return _EpochCheckpoint(self, phase, model, history or {})


class _EpochCheckpoint(keras.callbacks.Callback):
    def __init__(self, checkpointer: Checkpointer, phase: str, target: keras.Model, history: dict):
        super().__init__()
        self.checkpointer, self.phase, self.target = checkpointer, phase, target
        self.history = {k: list(v) for k, v in history.items()}

    def on_epoch_end(self, epoch, logs=None):  # Keras counts epochs from initial_epoch: epoch + 1 are done
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.checkpointer.save(self.target, self.phase, epoch + 1, self.history)
