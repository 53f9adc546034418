"""Plain data across the trust boundary: what a probe may report, and nothing else.

Whatever a student's code returns is turned into JSON here (``encode``) *beside* that code,
and turned back (``decode``) where verdicts are made. Only exact built-in types and numeric
NumPy arrays survive: a ``str`` subclass, an object array, a class with a lying ``__eq__`` all
become ``Unsupported`` with their type's name, so nothing a student defined ever runs where
marks are decided. ``decode`` validates the shape of everything (tags, types, sizes) and raises
``PlainDataError`` for anything else: the judge turns that into zero points with the reason.

Encoding (JSON values; a JSON object is always one of these tags):
``null``, ``true``/``false``, integers, finite floats, strings and lists as themselves;
``{"$float": "nan"|"inf"|"-inf"}``, ``{"$tuple": [...]}``, ``{"$dict": [[key, value], ...]}``,
``{"$array": {"dtype", "shape", "b64"}}`` (little-endian bytes), ``{"$scalar": {"dtype", "value"}}``,
``{"$model": {"config", "weights"[, "optimizer"]}}`` (a Keras model as its config, which holds
its compile settings, and weight arrays, only where a check asks for one; with ``optimizer``,
its optimizer's variables as ``[[path, array], ...]``: the step counter, the rate, one slot per
weight it was built for) and ``{"$unsupported": "TypeName"}``.

These are a model's *artefacts*: its own config and numbers, which the judge rebuilds and measures
itself (``tlcourse.checks.rebuild``), never a description of the model written by code that runs
beside the student's.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field

import numpy as np

MAX_DEPTH = 24
MAX_ITEMS = 2_000_000  # values in one payload
MAX_STRING = 20_000  # characters of one string
MAX_ARRAY_BYTES = 64 * 2**20  # bytes of all arrays in one payload
ARRAY_DTYPES = {
    np.dtype(t).str.lstrip("<>|=")
    for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
} | {"f2", "f4", "f8"}
SCALAR_TYPES = {
    np.bool_: "b1",
    np.int8: "i1",
    np.int16: "i2",
    np.int32: "i4",
    np.int64: "i8",
    np.uint8: "u1",
    np.uint16: "u2",
    np.uint32: "u4",
    np.uint64: "u8",
    np.float16: "f2",
    np.float32: "f4",
    np.float64: "f8",
}
_SCALAR_BY_CODE = {code: t for t, code in SCALAR_TYPES.items()}


class PlainDataError(ValueError):
    """The data does not follow the schema (it did not come from ``encode``, or was cut)."""


@dataclass(frozen=True)
class Unsupported:
    """Stands for a value of a type the checks do not accept (only its type's name travels)."""

    type_name: str

    def __repr__(self) -> str:
        return f"<a {self.type_name} object>"


@dataclass(frozen=True)
class Build:
    """A case's input that the probe builds beside the student's code (a Keras model, say):
    the builder's registered name and its plain parameters. Only cases carry these."""

    name: str
    params: dict = field(default_factory=dict)


@dataclass
class ModelData:
    """A Keras model as plain data: its serialized config (JSON) and its weights in order.

    ``optimizer``: its optimizer's variables as ``(path, array)`` pairs, where a check asked for them.
    """

    config: dict
    weights: list[np.ndarray] = field(default_factory=list)
    optimizer: list[tuple[str, np.ndarray]] | None = None

    def __repr__(self) -> str:
        return f"<a Keras model with {len(self.weights)} weight tensors>"


def _type_name(value) -> str:
    name = type(value).__name__
    return "".join(c for c in str(name) if c.isalnum() or c in "_.")[:60] or "object"


def _array_dtype_code(array: np.ndarray) -> str | None:
    code = array.dtype.str.lstrip("<>|=")
    return code if code in ARRAY_DTYPES and array.dtype.kind in "biuf" else None


def encode(value, models: bool = False, _depth: int = 0, optimizer: bool = False):
    """``value`` as JSON-ready plain data. Never calls a method a student could have defined.

    ``models``: Keras models become their artefacts (``encode_model``), with their optimizer's
    variables when ``optimizer``; anything else of an unknown type becomes ``$unsupported``.
    """
    if _depth > MAX_DEPTH:
        return {"$unsupported": "too deeply nested value"}
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value if kind is not str else value[:MAX_STRING]
    if kind is int:
        return value if -(2**63) <= value < 2**64 else {"$unsupported": "integer too large"}
    if kind is float:
        return (
            value if math.isfinite(value) else {"$float": "nan" if value != value else ("inf" if value > 0 else "-inf")}
        )
    if kind is list:
        return [encode(v, models, _depth + 1, optimizer) for v in value]
    if kind is tuple:
        return {"$tuple": [encode(v, models, _depth + 1, optimizer) for v in value]}
    if kind is dict:
        return {
            "$dict": [
                [encode(k, models, _depth + 1, optimizer), encode(v, models, _depth + 1, optimizer)]
                for k, v in dict.items(value)
            ]
        }
    if kind is np.ndarray:
        code = _array_dtype_code(value)
        if code is None:
            return {"$unsupported": f"numpy array of dtype {str(value.dtype)[:20]}"}
        data = np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<"), copy=False)
        return {"$array": {"dtype": code, "shape": list(value.shape), "b64": base64.b64encode(data.tobytes()).decode()}}
    if kind in SCALAR_TYPES:
        return {"$scalar": {"dtype": SCALAR_TYPES[kind], "value": encode(value.item(), models, _depth + 1)}}
    if kind is Build:
        return {"$build": {"name": value.name, "params": encode(value.params, _depth=_depth + 1)}}
    if models and _is_keras_model(value):
        return encode_model(value, optimizer)
    return {"$unsupported": _type_name(value)}


def _is_keras_model(value) -> bool:
    try:
        import keras
    except ImportError:  # pragma: no cover - keras is a dependency
        return False
    return isinstance(value, keras.Model)


def encode_model(model, optimizer: bool = False) -> dict:
    """A Keras model's config (``serialize_keras_object``, compile settings included) and weights, as plain
    data; with ``optimizer``, its optimizer's variables too."""
    import keras

    try:
        config = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
        weights = [encode(np.asarray(keras.ops.convert_to_numpy(w))) for w in model.weights]
        body = {"config": config, "weights": weights}
        if optimizer:
            variables = getattr(model.optimizer, "variables", None) or []
            body["optimizer"] = [
                [str(v.path)[:200], encode(np.asarray(keras.ops.convert_to_numpy(v)))] for v in variables
            ]
    except Exception as err:  # a model Keras cannot serialize (custom layers, lambdas)
        return {"$unsupported": f"Keras model that cannot be saved ({type(err).__name__})"}
    return {"$model": body}


# --------------------------------------------------------------------------- decoding (trusted side)


class _Budget:
    def __init__(self):
        self.items = 0
        self.array_bytes = 0

    def count(self) -> None:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise PlainDataError("too many values")


def decode(data, _budget: _Budget | None = None, _depth: int = 0, builds: bool = False):
    """The Python value that ``encode`` described; ``PlainDataError`` for anything off-schema.

    ``builds`` admits ``$build`` tags: only in cases, which the trusted side wrote itself.
    """
    budget = _budget or _Budget()
    budget.count()
    if _depth > MAX_DEPTH + 2:
        raise PlainDataError("nested too deeply")
    kind = type(data)
    if data is None or kind in (bool, int):
        return data
    if kind is float:
        if not math.isfinite(data):
            raise PlainDataError("non-finite float outside a $float tag")
        return data
    if kind is str:
        if len(data) > MAX_STRING:
            raise PlainDataError("string too long")
        return data
    if kind is list:
        return [decode(v, budget, _depth + 1, builds) for v in data]
    if kind is not dict or len(data) != 1:
        raise PlainDataError(f"unexpected {kind.__name__} in the data")
    ((tag, body),) = data.items()
    if tag == "$float":
        if body not in ("nan", "inf", "-inf"):
            raise PlainDataError("bad $float")
        return float(body)
    if tag == "$tuple":
        if type(body) is not list:
            raise PlainDataError("bad $tuple")
        return tuple(decode(v, budget, _depth + 1, builds) for v in body)
    if tag == "$dict":
        if type(body) is not list:
            raise PlainDataError("bad $dict")
        out = {}
        for pair in body:
            if type(pair) is not list or len(pair) != 2:
                raise PlainDataError("bad $dict entry")
            key = decode(pair[0], budget, _depth + 1, builds)
            try:
                hash(key)
            except TypeError:
                raise PlainDataError("unhashable dict key") from None
            out[key] = decode(pair[1], budget, _depth + 1, builds)
        return out
    if tag == "$array":
        return _decode_array(body, budget)
    if tag == "$scalar":
        if type(body) is not dict or set(body) != {"dtype", "value"} or body["dtype"] not in _SCALAR_BY_CODE:
            raise PlainDataError("bad $scalar")
        value = decode(body["value"], budget, _depth + 1)
        if type(value) not in (bool, int, float):
            raise PlainDataError("bad $scalar value")
        try:
            return _SCALAR_BY_CODE[body["dtype"]](value)
        except (OverflowError, ValueError):
            raise PlainDataError("$scalar out of range") from None
    if tag == "$model":
        if type(body) is not dict or not {"config", "weights"} <= set(body) <= {"config", "weights", "optimizer"}:
            raise PlainDataError("bad $model")
        if type(body["config"]) is not dict or type(body["weights"]) is not list:
            raise PlainDataError("bad $model config or weights")
        weights = [_decode_array(w.get("$array") if type(w) is dict else None, budget) for w in body["weights"]]
        _count_json(body["config"], budget, _depth + 1)
        variables = None
        if "optimizer" in body:
            if type(body["optimizer"]) is not list or len(body["optimizer"]) > 10_000:
                raise PlainDataError("bad $model optimizer")
            variables = []
            for pair in body["optimizer"]:
                if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str or type(pair[1]) is not dict:
                    raise PlainDataError("bad $model optimizer variable")
                variables.append((pair[0][:200], _decode_array(pair[1].get("$array"), budget)))
        return ModelData(body["config"], weights, variables)
    if tag == "$build" and builds:
        if type(body) is not dict or set(body) != {"name", "params"} or type(body["name"]) is not str:
            raise PlainDataError("bad $build")
        params = decode(body["params"], budget, _depth + 1, builds)
        if type(params) is not dict:
            raise PlainDataError("bad $build params")
        return Build(body["name"], params)
    if tag == "$unsupported":
        if type(body) is not str:
            raise PlainDataError("bad $unsupported")
        return Unsupported(body[:80])
    raise PlainDataError(f"unknown tag {str(tag)[:20]!r}")


def _count_json(value, budget: _Budget, depth: int) -> None:
    """Walk raw JSON (a model config) only to bound its size and depth."""
    budget.count()
    if depth > 64:
        raise PlainDataError("model config nested too deeply")
    if type(value) is dict:
        for k, v in value.items():
            if type(k) is not str:
                raise PlainDataError("bad config key")
            _count_json(v, budget, depth + 1)
    elif type(value) is list:
        for v in value:
            _count_json(v, budget, depth + 1)
    elif type(value) is str and len(value) > MAX_STRING:
        raise PlainDataError("config string too long")


def _decode_array(body, budget: _Budget) -> np.ndarray:
    if type(body) is not dict or set(body) != {"dtype", "shape", "b64"}:
        raise PlainDataError("bad $array")
    code, shape, b64 = body["dtype"], body["shape"], body["b64"]
    if code not in ARRAY_DTYPES or type(shape) is not list or type(b64) is not str or len(shape) > 8:
        raise PlainDataError("bad $array fields")
    if not all(type(n) is int and 0 <= n <= 2**31 for n in shape):
        raise PlainDataError("bad $array shape")
    dtype = np.dtype("<" + code) if code != "b1" else np.dtype(bool)
    size = math.prod(shape) * dtype.itemsize
    budget.array_bytes += size
    if budget.array_bytes > MAX_ARRAY_BYTES:
        raise PlainDataError("arrays too large")
    try:
        raw = base64.b64decode(b64, validate=True)
    except ValueError:
        raise PlainDataError("bad $array bytes") from None
    if len(raw) != size:
        raise PlainDataError("$array bytes do not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def loads(text: str | bytes, max_bytes: int = 96 * 2**20, builds: bool = False):
    """Parse JSON text (size-capped) and decode it."""
    if len(text) > max_bytes:
        raise PlainDataError(f"more than {max_bytes // 2**20} MB of data")
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise PlainDataError(f"not JSON ({type(err).__name__})") from None
    try:
        return decode(raw, builds=builds)
    except RecursionError:
        raise PlainDataError("nested too deeply") from None


def round_trip(value, models: bool = False):
    """``decode(encode(value))`` through JSON text: exactly what the grader would see."""
    return loads(json.dumps(encode(value, models)))
