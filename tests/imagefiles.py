"""Build small class-folder data sets on disk for tests (never committed binaries)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, seed: int, size=(40, 30), fmt: str | None = None, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(array).convert(mode).save(path, format=fmt)
    return path


def make_folder(root: Path, classes=("cats", "dogs"), per_class: int = 6, split: bool = False) -> Path:
    """``root/<class>/i.jpg`` (or ``root/{train,val}/<class>/...`` when ``split``)."""
    parts = ("train", "val") if split else ("",)
    seed = 0
    for part in parts:
        for cls in classes:
            for i in range(per_class):
                seed += 1
                write_image(root / part / cls / f"{i}.png", seed)
    return root
