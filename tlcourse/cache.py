"""Where the course keeps data and derived files, and how it writes them safely.

Two roots, both overridable by environment variables:
- the data root (``TLCOURSE_DATA``): downloaded or shared image sets; may be read-only;
- the cache (``TLCOURSE_CACHE``): decoded images, features; always writable. A read-only
  cache that others filled (``TLCOURSE_CACHE_SHARED``, e.g. the instructor's, seen from a
  grading box) is read when the writable one lacks a file; new files go to the writable one.

Cached arrays are written atomically (temp file, then rename), so a killed process or a
second process on a classroom server never leaves a half-written file under the final
name, and they carry a checksum that is verified on load: a corrupt file is reported,
removed and rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import platformdirs

CHECKSUM_KEY = "__sha256__"


def cache_dir() -> Path:
    """The writable cache root (``TLCOURSE_CACHE`` or the user cache dir)."""
    root = os.environ.get("TLCOURSE_CACHE") or platformdirs.user_cache_dir("tlcourse")
    path = Path(root).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home, say: caching still works in a private temporary folder
        path = Path(tempfile.gettempdir()) / f"tlcourse-cache-{os.getuid()}"
        path.mkdir(parents=True, exist_ok=True)
    return path


def _shared_copy(path: Path) -> Path | None:
    """The same cache file in a read-only shared cache (``TLCOURSE_CACHE_SHARED``), if one has it."""
    shared = os.environ.get("TLCOURSE_CACHE_SHARED")
    if not shared:
        return None
    try:
        relative = path.relative_to(cache_dir())
    except ValueError:
        return None
    for root in shared.split(os.pathsep):
        candidate = Path(root) / relative
        if root and candidate.is_file():
            return candidate
    return None


def data_root() -> Path:
    """Where data sets are looked for first (``TLCOURSE_DATA`` or ``<cache>/data``)."""
    root = os.environ.get("TLCOURSE_DATA")
    return Path(root).expanduser() if root else cache_dir() / "data"


def digest_arrays(arrays: dict[str, np.ndarray]) -> str:
    """A sha256 over names, dtypes, shapes and bytes of the arrays, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(model, path: Path) -> None:
    """Save a Keras model as a ``.keras`` file atomically: a killed process never leaves half a model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Save arrays as one ``.npz`` with an embedded checksum, atomically.

    The cache only saves time: if it cannot be written (read-only, disk full), say so and go on.
    """
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **{CHECKSUM_KEY: np.array(digest_arrays(arrays))})
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as err:
        warnings.warn(f"could not write cache file {path} ({err.strerror or err}); continuing without it", stacklevel=2)


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """Load and verify arrays saved by ``save_arrays``; None (and a warning) if absent or corrupt.

    A corrupt file in the writable cache is deleted so the caller rebuilds it; one in the shared
    cache is left alone (it is someone else's, read by a whole class: the rebuilt copy goes to ours).
    """
    shared = False
    if not path.exists():
        path, shared = _shared_copy(path), True
        if path is None:
            return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files if k != CHECKSUM_KEY}
            stored = str(npz[CHECKSUM_KEY])
        if stored != digest_arrays(arrays):
            raise ValueError("checksum mismatch")
    except Exception as err:  # truncated zip, bad header, missing key: all mean "rebuild"
        warnings.warn(f"cache file {path} is corrupt ({err}); rebuilding it", stacklevel=2)
        if not shared:
            try:
                path.unlink(missing_ok=True)
            except OSError:  # cannot delete it: the rebuilt file replaces it atomically
                pass
        return None
    return arrays
