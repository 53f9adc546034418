"""How much computation a model costs: parameters and floating-point operations.

FLOPs are counted analytically from the layers (a multiply-add = 2 FLOPs) for the layers
that dominate CNN cost: convolutions, depthwise convolutions and dense layers. Pooling,
activations, BatchNormalization and additions are a few percent at most and are ignored.
"""

from __future__ import annotations

import math

import keras


def _layer_flops(layer, output_shape) -> int:
    if isinstance(layer, keras.layers.SeparableConv2D):  # depthwise k x k, then pointwise 1 x 1
        kh, kw = layer.kernel_size
        _, h, w, c_out = output_shape
        c_in = layer.depthwise_kernel.shape[2]
        return 2 * h * w * (kh * kw * c_in * layer.depth_multiplier + c_in * layer.depth_multiplier * c_out)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        _, h, w, c = output_shape
        return 2 * h * w * kh * kw * c * layer.depth_multiplier
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        _, h, w, c_out = output_shape
        c_in = layer.kernel.shape[2]
        return 2 * h * w * kh * kw * c_in * c_out // max(1, getattr(layer, "groups", 1))
    if isinstance(layer, keras.layers.Dense):
        return 2 * math.prod(output_shape[1:-1] or [1]) * layer.kernel.shape[0] * layer.units
    return 0


def count_flops(model: keras.Model) -> int:
    """Forward-pass FLOPs for one image (nested models included)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_flops(layer)
        elif layer.weights:
            total += _layer_flops(layer, layer.output.shape)
    return int(total)


def count_params(model: keras.Model) -> dict[str, int]:
    """Trainable and non-trainable parameter counts."""
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return {
        "trainable": int(trainable),
        "total": int(model.count_params()),
        "frozen": int(model.count_params() - trainable),
    }
