"""The Flax VGG module: the one forward pass of jax_nst, from RGB pixels to named activations.

Params are {"input": {kernel (3, 3), bias (3,)}, conv1_1: {kernel (3, 3, in, out), bias (out,)}, …}.
params["input"] is the weights' own preprocessing, the affine map RGB [0, 1] → network input
x ↦ x·K + b (Caffe: BGR, 0–255, minus the mean; torchvision: (x − mean)/std). The convolution is
an argument (:mod:`jax_nst.vgg.conv`), its prepared kernels a variable collection apart from the params.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from .conv import DEFAULT_CONV, Conv
from .layers import PADDINGS, TABLES, blocks, layer_names

Params = Mapping[str, Mapping[str, jax.Array]]
Tap = Callable[[str, jax.Array], Any]
"""(layer name, float32 activation F_l) → a pytree; the module returns the taps' sum (dicts join)."""
PREPARED = "prepared"
"""Variable collection of the kernels' derived arrays (``Conv.prepare``), one entry per layer."""
PRECISIONS = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
"""Compute dtypes of the VGG pass; bfloat16 convolutions accumulate in float32."""


class Input(nn.Module):
    """The weights' preprocessing, RGB in [0, 1] ↦ RGB·K + b."""

    @nn.compact
    def __call__(self, rgb: jax.Array) -> jax.Array:
        kernel = self.param("kernel", lambda *_: jnp.eye(3), (3, 3))
        bias = self.param("bias", nn.initializers.zeros, (3,))
        return rgb @ jnp.asarray(kernel, rgb.dtype) + jnp.asarray(bias, rgb.dtype)


class Conv3x3(nn.Module):
    """F = ReLU(x ⋆ k + b) with the injected ``conv``; uses the layer's prepared arrays when given."""

    features: int
    conv: Conv = DEFAULT_CONV
    padding: str = "zero"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        mode = PADDINGS[self.padding]
        if mode is not None:  # pad by one pixel ourselves; the convolution's own zeros then fall outside the crop
            x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode=mode)
        y = self.conv(x, jnp.asarray(kernel, x.dtype), **self.variables.get(PREPARED, {}))
        if mode is not None:
            y = y[:, 1:-1, 1:-1]
        return nn.relu(y + jnp.asarray(bias, y.dtype)).astype(x.dtype)


class VGG(nn.Module):
    """VGG-19/16 trunk up to the deepest of ``outputs`` (default: all); returns {layer: float32 F_l} of ``outputs``.

    ``padding`` is the border of conv1_1 (:data:`PADDINGS`).

    With ``tap`` it returns Σ_l tap(l, F_l) over ``outputs`` instead (dicts with distinct keys join),
    computed inside each block, so that with ``remat`` (per-block ``nn.remat``) only the block
    inputs are stored and each block's activations are recomputed in the backward pass.
    """

    model: str = "vgg19"
    pooling: str = "avg"
    outputs: Sequence[str] = ()
    conv: Conv = DEFAULT_CONV
    dtype: Any = jnp.float32
    remat: bool = False
    tap: Tap | None = None
    padding: str = "zero"

    def setup(self) -> None:
        setattr(self, "input", Input())
        for row in TABLES[self.model]:
            first = row.block == 1 and row.index == 1
            setattr(self, row.name, Conv3x3(row.cout, self.conv, self.padding if first else "zero"))

    def __call__(self, rgb: jax.Array) -> Any:
        """rgb: NHWC batch in [0, 1]."""
        x, total = self.input(rgb).astype(self.dtype), None
        for rows in blocks(self.outputs or layer_names(self.model), self.model):
            names, pool = tuple(r.name for r in rows), rows[0].block > 1

            def block(vgg: VGG, x: jax.Array, names=names, pool=pool) -> tuple[jax.Array, Any]:
                return _block(vgg, x, names, pool)

            x, part = (nn.remat(block) if self.remat else block)(self, x)
            total = merge(total, part)
        return total


def _block(vgg: VGG, x: jax.Array, names: tuple[str, ...], pool: bool) -> tuple[jax.Array, Any]:
    """One block: optional 2×2 pooling, its convolutions; (output, merged taps of its ``outputs``)."""
    if pool:
        x = (nn.avg_pool if vgg.pooling == "avg" else nn.max_pool)(x, (2, 2), strides=(2, 2))
    part = None
    for name in names:
        x = getattr(vgg, name)(x)
        if name in (vgg.outputs or names):
            f = x.astype(jnp.float32)
            part = merge(part, {name: f} if vgg.tap is None else vgg.tap(name, f))
    return x, part


def merge(a: Any, b: Any) -> Any:
    """Join dicts with distinct keys, add other pytrees leaf by leaf (None is empty)."""
    if a is None or b is None:
        return b if a is None else a
    if isinstance(a, dict) and not set(a) & set(b):
        return {**a, **b}
    return jax.tree.map(jnp.add, a, b)


def prepare(params: Params, conv: Conv = DEFAULT_CONV, precision: str = "float32") -> dict[str, dict[str, jax.Array]]:
    """The "prepared" collection: ``conv.prepare`` of every kernel in the compute dtype.

    Call it once per compiled call, outside the optimization loop (XLA does not hoist it).
    """
    dtype = PRECISIONS[precision]
    return {name: conv.prepare(jnp.asarray(p["kernel"], dtype)) for name, p in params.items() if name != "input"}


def apply(
    params: Params, images: jax.Array, layers: Sequence[str], *, pooling: str = "avg", model: str = "vgg19",
    precision: str = "float32", conv: Conv = DEFAULT_CONV, remat: bool = False, tap: Tap | None = None,
    prepared: Mapping | None = None, padding: str = "zero",
) -> Any:
    """``VGG(...).apply``: activations (or taps) of ``layers`` for NHWC RGB ``images`` in [0, 1]."""
    module = VGG(model, pooling, tuple(layers), conv, PRECISIONS[precision], remat, tap, padding)
    variables = {"params": params} if prepared is None else {"params": params, PREPARED: prepared}
    return module.apply(variables, images)


def features(
    params: Params, images: jax.Array, layers: Sequence[str], pooling: str = "avg", model: str = "vgg19",
    precision: str = "float32", conv: Conv = DEFAULT_CONV, padding: str = "zero",
) -> dict[str, jax.Array]:
    """float32 activations F_l of ``layers`` for NHWC RGB ``images`` in [0, 1]; computes nothing past the deepest."""
    if not layers:
        return {}
    return apply(params, images, layers, pooling=pooling, model=model, precision=precision, conv=conv,
                 padding=padding)


def preprocess(params: Params, rgb: jax.Array) -> jax.Array:
    """RGB in [0, 1] → the network's input, by the weights' own affine map params["input"]."""
    return Input().apply({"params": params["input"]}, rgb)


def init_params(key: jax.Array, model: str = "vgg19") -> dict:
    """Randomly initialized params of ``model`` (for tests and converters; real weights: ``load_params``)."""
    return VGG(model).init(key, jnp.zeros((1, 16, 16, 3)))["params"]
