"""Implementations of the VGG 3×3 convolution, passed to the Flax module as its ``conv``.

An implementation is a hashable callable ``conv(x, kernel, **prepared) -> y`` (3×3, stride 1, zero
padding 1, NHWC × HWIO) with ``prepare(kernel) -> prepared``: arrays derived from the kernel once
per compiled call (kept in the "prepared" collection, apart from the params), since XLA does not
hoist kernel transposes and transforms out of the optimization loop.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np

WINOGRAD_MIN_CHANNELS = 256
"""float32 convolutions with this many input or output channels use Winograd F(2×2, 3×3) on CPU.

It needs 2.25× fewer multiplications; measured on XLA:CPU 1.6× faster for VGG blocks 3–5 and
slower for blocks 1–2 (64–128 channels), where its transforms cost more than they save.
"""
_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)  # input transform Bᵀ
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)  # kernel transform G
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)  # output transform Aᵀ


class Conv(Protocol):
    """What the module calls for each convolution."""

    def prepare(self, kernel: jax.Array) -> dict[str, jax.Array]: ...

    def __call__(self, x: jax.Array, kernel: jax.Array, **prepared: jax.Array) -> jax.Array: ...


def lax_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """y = x ⋆ k, 3×3 "same"; bfloat16 inputs give a float32 (accumulated) result."""
    wide = jnp.float32 if x.dtype == jnp.bfloat16 else None
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"), preferred_element_type=wide
    )


@dataclasses.dataclass(frozen=True)
class Direct:
    """``lax.conv_general_dilated`` with autodiff's gradient: the reference implementation."""

    def prepare(self, kernel: jax.Array) -> dict[str, jax.Array]:
        return {}

    def __call__(self, x: jax.Array, kernel: jax.Array, **prepared: jax.Array) -> jax.Array:
        return lax_conv(x, kernel)


@dataclasses.dataclass(frozen=True)
class Fast:
    """The CPU-tuned convolution: input gradient as a plain convolution, Winograd for wide float32 layers.

    ∂L/∂x = ∂L/∂y ⋆ k̃ with k̃ = :func:`adjoint_kernel` (flipped, in/out swapped): written out because
    XLA:CPU runs the generic transposed convolution about 2.5× slower inside loops. Convolutions with
    ≥ ``winograd_min_channels`` channels run as Winograd F(2×2, 3×3) on CPU. Gradients equal autodiff's.
    """

    winograd_min_channels: int = WINOGRAD_MIN_CHANNELS

    def uses_winograd(self, kernel: jax.Array) -> bool:
        """Whether a convolution with ``kernel`` runs as Winograd F(2×2, 3×3)."""
        wide = max(kernel.shape[-2:]) >= self.winograd_min_channels
        return wide and kernel.dtype == jnp.float32 and jax.default_backend() == "cpu"

    def prepare(self, kernel: jax.Array) -> dict[str, jax.Array]:
        """{forward, adjoint}: the operators of the convolution and of its input gradient."""
        adjoint = adjoint_kernel(kernel)
        if self.uses_winograd(kernel):
            return {"forward": winograd_kernel(kernel), "adjoint": winograd_kernel(adjoint)}
        return {"forward": kernel, "adjoint": adjoint}

    def __call__(self, x: jax.Array, kernel: jax.Array, **prepared: jax.Array) -> jax.Array:
        ops = prepared or self.prepare(kernel)
        return _conv_with(x, kernel, ops["forward"], ops["adjoint"])


DEFAULT_CONV = Fast()


def adjoint_kernel(kernel: jax.Array) -> jax.Array:
    """The kernel of the convolution's input gradient: flipped in space, in/out swapped (HWIO)."""
    return jnp.transpose(kernel[::-1, ::-1], (0, 1, 3, 2))


def winograd_kernel(kernel: jax.Array) -> jax.Array:
    """U = G g Gᵀ of a (3, 3, in, out) kernel, as (16, in, out).

    Written as scaled sums of the kernel's taps (G holds 0, ±½, 1): XLA:CPU ran the equivalent einsum
    10× slower, and it runs for every wide layer at the start of every compiled loop call.
    """
    rows = [_combine([kernel[i] for i in range(3)], r) for r in _G]  # (G g)[a]: (3, in, out)
    return _stack([_combine([row[j] for j in range(3)], r) for row in rows for r in _G], 0)


def _combine(parts: list[jax.Array], row: np.ndarray) -> jax.Array:
    """Σ_k row[k]·parts[k] as lax adds and subtracts; coefficients other than ±1 (G's ½) scale their part.

    Plain ``lax`` calls keep tracing cheap: a VGG pass traces about 200 of these per convolution.
    """
    scaled = lambda p, c: p if c == 1 else p * np.asarray(c, p.dtype)  # noqa: E731
    plus = [scaled(p, c) for c, p in zip(row, parts) if c > 0]
    minus = [scaled(p, -c) for c, p in zip(row, parts) if c < 0]
    out = functools.reduce(jax.lax.add, plus)
    return functools.reduce(jax.lax.sub, minus, out)


def _every_other(x: jax.Array, start: int, count: int, axis: int) -> jax.Array:
    """x[start : start + 2·count : 2] along ``axis``."""
    return jax.lax.slice_in_dim(x, start, start + 2 * count - 1, 2, axis)


def _stack(parts: list[jax.Array], axis: int) -> jax.Array:
    """``jnp.stack`` in ``lax``."""
    return jax.lax.concatenate([jax.lax.expand_dims(p, (axis,)) for p in parts], axis)


@jax.jit
def winograd(x: jax.Array, u: jax.Array) -> jax.Array:
    """The 3×3 "same" convolution of NHWC ``x`` with U = ``winograd_kernel(g)``: 2×2 output tiles.

    Y = Aᵀ [(Bᵀ d B) ⊙ U] A per tile d (4×4 input, 2×2 output); the ⊙ summed over input channels is
    one batched matmul over the 16 tile positions. Jitted so that its trace is reused by every
    convolution of the same shape (a VGG pass traces it dozens of times; XLA inlines the call).
    """
    b, h, w, c = x.shape
    th, tw = -(-h // 2), -(-w // 2)
    zero = np.zeros((), x.dtype)
    xp = jax.lax.pad(x, zero, ((0, 0, 0), (1, 2 * th + 1 - h, 0), (1, 2 * tw + 1 - w, 0), (0, 0, 0)))
    rows = [_combine([_every_other(xp, k, th, 1) for k in range(4)], r) for r in _BT]
    v = [_combine([_every_other(row, k, tw, 2) for k in range(4)], r) for row in rows for r in _BT]
    v = jax.lax.reshape(_stack(v, 0), (16, b * th * tw, c))
    m = jax.lax.dot_general(v, u, (((2,), (1,)), ((0,), (0,))))  # (16, tiles, out)
    m = jax.lax.reshape(m, (4, 4, b, th, tw, m.shape[-1]))
    half = [_combine([m[a] for a in range(4)], r) for r in _AT]  # (4, b, th, tw, out) per output row
    y = _stack([_stack([_combine([hi[j] for j in range(4)], r) for r in _AT], 3) for hi in half], 2)
    y = jax.lax.reshape(y, (b, 2 * th, 2 * tw, y.shape[-1]))
    return jax.lax.slice(y, (0, 0, 0, 0), (b, h, w, y.shape[-1]))


def _apply(x: jax.Array, op: jax.Array) -> jax.Array:
    """The convolution given by ``op``: a (3, 3, in, out) kernel, or a (16, in, out) Winograd transform."""
    return winograd(x, op) if op.ndim == 3 else lax_conv(x, op)


@jax.custom_vjp
def _conv_with(x: jax.Array, kernel: jax.Array, forward: jax.Array, adjoint: jax.Array) -> jax.Array:
    return _apply(x, forward)


def _conv_fwd(x: jax.Array, kernel: jax.Array, forward: jax.Array, adjoint: jax.Array):
    return _apply(x, forward), (x, kernel, forward, adjoint)


def kernel_grad(x: jax.Array, g: jax.Array) -> jax.Array:
    """∂L/∂k[dy, dx, i, o] = Σ_{n,h,w} x_pad[n, h+dy, w+dx, i] · g[n, h, w, o]: one convolution of x with g."""
    dk = jax.lax.conv_general_dilated(
        x, g.astype(x.dtype), (1, 1), ((1, 1), (1, 1)), dimension_numbers=("CHWN", "IHWO", "NHWC"),
        preferred_element_type=jnp.float32,
    )
    return jnp.transpose(dk, (1, 2, 0, 3))


def _conv_bwd(res, g: jax.Array):
    x, kernel, forward, adjoint = res
    dx = _apply(g.astype(adjoint.dtype), adjoint).astype(x.dtype)
    dk = _summed_like(kernel_grad(x, g).astype(kernel.dtype), kernel)  # dead code unless params need gradients
    return dx, dk, jnp.zeros_like(forward), jnp.zeros_like(adjoint)  # only `kernel` defines the output


def _summed_like(ct: jax.Array, primal: jax.Array) -> jax.Array:
    """``ct`` summed over the ``shard_map`` axes along which it varies and ``primal`` does not (a kernel
    shared by all bands of an image gets the sum of the bands' gradients); ``ct`` outside ``shard_map``."""
    extra = tuple(_varying(ct) - _varying(primal))
    return jax.lax.psum(ct, extra) if extra else ct


def _varying(a: jax.Array) -> frozenset:
    """The ``shard_map`` axes along which ``a`` varies (jax ≥ 0.8 types; older: ``vma``)."""
    t = jax.typeof(a)
    manual = getattr(t, "manual_axis_type", None)
    return frozenset(manual.varying if manual is not None else getattr(t, "vma", ()))


_conv_with.defvjp(_conv_fwd, _conv_bwd)
