"""What trains and what stays frozen, by block, with BatchNormalization kept frozen.

A pretrained base is a stack of blocks: a stem, block groups (stages), a head. The four
fine-tuning strategies of the course (their table is in ``tlcourse.catalogue``) differ only
in how many of them train: ``full`` none frozen, ``most`` the first third frozen, ``some``
all but the last third frozen, ``head`` every block frozen.

BatchNormalization layers never train here: in Keras 3 ``fit`` overrides a nested
``base(x, training=False)``, and only ``layer.trainable = False`` keeps a BN layer on its
ImageNet statistics (see the fine-tuning lesson). After changing any of this, compile
the model again: ``compile`` fixes which weights the optimizer updates.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import keras

from tlcourse.catalogue import check_strategy
from tlcourse.errors import CourseError

# (pattern on a layer name, block name): first match wins; unmatched (auto-named) layers
# join the block of the next named layer, so Inception's branches join their "mixed" block.
_BLOCK_RULES = [
    (r"^(stem|head)_", r"\1"),
    (r"^top_(conv|bn|activation)$", "head"),  # Keras EfficientNetB0's head
    (r"^(rescaling|normalization)", "stem"),
    (r"^(block\d+)[a-z]?_", r"\1"),  # EfficientNet, VGG, Xception
    (r"^(Conv1|bn_Conv1|Conv1_relu)$", "stem"),  # MobileNetV2
    (r"^expanded_conv_", "block0"),
    (r"^block_(\d+)_", r"block\1"),
    (r"^(Conv_1|Conv_1_bn|out_relu)$", "head"),
    (r"^(conv1_|pool1_)", "stem"),  # ResNet
    (r"^(conv\d)_block", r"\1"),
    (r"^(mixed\d+)$", r"\1"),  # InceptionV3
    (r"^(avg_pool|top_dropout|logits|predictions|flatten|fc1|fc2)$", "top"),
]


def block_of(name: str) -> str | None:
    """The block a layer of a known base belongs to, from its name (None: an unnamed layer)."""
    for pattern, block in _BLOCK_RULES:
        match = re.match(pattern, name)
        if match:
            return match.expand(block)
    return None


def all_layers(model: keras.Model):
    """Every layer of ``model``, the layers of nested models included (depth first)."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def find_base(model: keras.Model) -> keras.Model:
    """The pretrained base inside a transfer model (the nested Model), or the model itself."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model) and layer.name != "head"]
    return nested[0] if nested else model


def blocks(model: keras.Model) -> dict[str, list[keras.layers.Layer]]:
    """The base's layers grouped by block, in order (stem, block1, ..., head); no classifier."""
    layers = [layer for layer in find_base(model).layers if not isinstance(layer, keras.layers.InputLayer)]
    names = [block_of(layer.name) for layer in layers]
    groups: dict[str, list] = {}
    pending: list = []
    for layer, block in zip(layers, names):
        pending.append(layer)
        if block is not None:
            groups.setdefault(block, []).extend(pending)
            pending = []
    if pending:  # trailing unnamed layers (e.g. a pooling layer) join the last block
        last = list(groups)[-1] if groups else "base"
        groups.setdefault(last, []).extend(pending)
    groups.pop("top", None)
    return groups


def is_batchnorm(layer) -> bool:
    """BatchNormalization layers stay frozen whatever the strategy."""
    return isinstance(layer, keras.layers.BatchNormalization)


def set_frozen_blocks(model: keras.Model, frozen: set[str] | list[str]) -> None:
    """Freeze exactly the named blocks of the base; everything else trains, BN never does.

    Remember to ``compile`` again afterwards.
    """
    groups = blocks(model)
    unknown = set(frozen) - set(groups)
    if unknown:
        raise CourseError(f"unknown block(s) {sorted(unknown)}: this model's blocks are {list(groups)}")
    base = find_base(model)
    model.trainable = True  # containers first: setting a container's flag resets its children
    base.trainable = set(frozen) != set(groups)
    if not base.trainable:
        return
    for block, layers in groups.items():
        for layer in layers:
            layer.trainable = block not in frozen and not is_batchnorm(layer)
    for layer in base.layers:
        if is_batchnorm(layer):
            layer.trainable = False


def freeze_up_to(model: keras.Model, n_frozen: int) -> None:
    """Freeze the first ``n_frozen`` blocks (0 = train the whole base)."""
    names = list(blocks(model))
    if not 0 <= n_frozen <= len(names):
        raise CourseError(f"n_frozen must be between 0 and {len(names)} (the number of blocks), got {n_frozen}")
    set_frozen_blocks(model, names[:n_frozen])


def strategy_frozen_count(strategy: str, n_blocks: int) -> int:
    """How many leading blocks a strategy freezes (see the table in this module's docstring)."""
    check_strategy(strategy)
    third = math.ceil(n_blocks / 3)
    return {"full": 0, "most": third, "some": n_blocks - third, "head": n_blocks}[strategy]


def apply_strategy(model: keras.Model, strategy: str) -> None:
    """Set what trains for ``full``, ``most``, ``some`` or ``head``; then compile again."""
    freeze_up_to(model, strategy_frozen_count(strategy, len(blocks(model))))


def frozen_blocks(model: keras.Model) -> list[str]:
    """Blocks whose weighted non-BN layers are all frozen."""
    out = []
    base_trainable = find_base(model).trainable and model.trainable
    for block, layers in blocks(model).items():
        weighted = [layer for layer in layers if layer.weights and not is_batchnorm(layer)]
        if not base_trainable or all(not layer.trainable for layer in weighted):
            out.append(block)
    return out


@dataclass
class BlockCount:
    block: str
    trainable: int
    frozen: int


@dataclass
class TrainableSummary:
    """Trainable vs frozen parameters, per block and in total."""

    rows: list[BlockCount]

    @property
    def trainable(self) -> int:
        return sum(r.trainable for r in self.rows)

    @property
    def frozen(self) -> int:
        return sum(r.frozen for r in self.rows)

    def __str__(self) -> str:
        lines = [f"{'block':<12}{'trainable':>12}{'frozen':>12}"]
        lines += [f"{r.block:<12}{r.trainable:>12,}{r.frozen:>12,}" for r in self.rows]
        lines.append(f"{'total':<12}{self.trainable:>12,}{self.frozen:>12,}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


def _count(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def trainable_summary(model: keras.Model) -> TrainableSummary:
    """Per block of the base, plus the rest of the model (head), trainable vs frozen parameters."""
    rows, seen = [], set()
    for block, layers in blocks(model).items():
        trainable = {id(w): w for layer in layers for w in layer.trainable_weights}
        every = {id(w): w for layer in layers for w in layer.weights}
        seen |= set(every)
        rows.append(BlockCount(block, _count(trainable.values()), _count(every.values()) - _count(trainable.values())))
    rest_all = [w for w in model.weights if id(w) not in seen]
    if rest_all:
        trainable_ids = {id(w) for w in model.trainable_weights}
        rest_trainable = [w for w in rest_all if id(w) in trainable_ids]
        rows.append(BlockCount("classifier", _count(rest_trainable), _count(rest_all) - _count(rest_trainable)))
    return TrainableSummary(rows)
