"""The layer table of VGG-19 and VGG-16: every other part reads the network's layout from here.

Layer ``conv{b}_{i}`` is the rectified response (after ReLU) of the i-th 3×3 convolution of block b,
as in Gatys et al. Blocks are joined by 2×2 pooling, so a layer of block b sees the image at 1/2^(b−1).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from ..errors import NSTError

WIDTHS = (64, 128, 256, 512, 512)
"""Filters N_l of the convolutions in each block."""
MODELS: dict[str, tuple[int, ...]] = {"vgg19": (2, 2, 4, 4, 4), "vgg16": (2, 2, 3, 3, 3)}
"""Convolutions per block."""
POOLINGS = ("avg", "max")
PADDINGS = {"zero": None, "replicate": "edge", "reflect": "reflect"}
"""Border of the first convolution → ``jnp.pad`` mode: zero (VGG's own: the image's mean colour beyond the
edge, after preprocessing), the edge pixels repeated, or mirrored; the deeper layers keep zero padding."""


class Layer(NamedTuple):
    """One row of the table: ``name`` conv{block}_{index}, its input and output channels."""

    name: str
    block: int
    index: int
    cin: int
    cout: int

    @property
    def pools(self) -> int:
        """2×2 poolings before this layer: it sees the image at 1/2^pools."""
        return self.block - 1


def table(model: str = "vgg19") -> tuple[Layer, ...]:
    """Every conv layer of ``model`` in network order."""
    rows, cin = [], 3
    for b, (n, width) in enumerate(zip(MODELS[model], WIDTHS), 1):
        for i in range(1, n + 1):
            rows.append(Layer(f"conv{b}_{i}", b, i, cin, width))
            cin = width
    return tuple(rows)


TABLES = {model: table(model) for model in MODELS}


def layer_names(model: str = "vgg19") -> tuple[str, ...]:
    """conv1_1 … conv5_4 (VGG-19) or … conv5_3 (VGG-16), in network order."""
    return tuple(row.name for row in TABLES[model])


LAYERS = layer_names("vgg19")


def layer(name: str, model: str = "vgg19") -> Layer:
    """The table row of ``name`` (NSTError naming the model's layers when it has none)."""
    check_layers([name], model)
    return TABLES[model][layer_names(model).index(name)]


def check_layers(layers: Sequence[str], model: str = "vgg19") -> None:
    """Raise NSTError naming any layer that ``model`` does not have."""
    names = layer_names(model)
    unknown = [name for name in layers if name not in names]
    if unknown:
        raise NSTError(f"unknown layer {unknown[0]!r}; {model} layers are {', '.join(names)}")


def deepest(layers: Sequence[str], model: str = "vgg19") -> Layer:
    """The row of the deepest of ``layers``."""
    names = layer_names(model)
    return TABLES[model][max(names.index(n) for n in layers)]


def blocks(layers: Sequence[str], model: str = "vgg19") -> list[list[Layer]]:
    """The rows of each block, up to the deepest of ``layers`` (the part of the network they need)."""
    last = deepest(layers, model)
    rows = TABLES[model][: TABLES[model].index(last) + 1]
    return [[r for r in rows if r.block == b] for b in range(1, last.block + 1)]


def min_side(layers: Sequence[str], model: str = "vgg19") -> int:
    """Smallest image side giving every layer in ``layers`` at least one pixel: 2^(pools before it)."""
    return 2 ** deepest(layers, model).pools


def shapes(hw: Sequence[int], layers: Sequence[str], model: str = "vgg19") -> dict[str, tuple[int, int, int]]:
    """(H_l, W_l, N_l) of every conv layer up to the deepest of ``layers`` for an (H, W) image."""
    h, w = int(hw[0]), int(hw[1])
    return {r.name: (h >> r.pools, w >> r.pools, r.cout) for block in blocks(layers, model) for r in block}
