"""One image split into bands of rows over devices (spatial sharding), as seen from inside ``shard_map``.

Device i of D holds rows [i·H/D, (i+1)·H/D) of the image and of every activation. A 3×3 convolution
needs one row of each neighbouring band (its halo, zeros at the image's top and bottom, as the
network's zero padding); a sum over positions k is the ``psum`` over :data:`AXIS` of each band's sum.
With D = 1 every function here is the plain, unsharded operation.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from ..errors import NSTError
from .conv import DEFAULT_CONV, Conv
from .layers import deepest
from .module import Params, features

AXIS = "rows"
"""The mesh axis the image's rows are split over."""


def total(x: jax.Array, bands: int) -> jax.Array:
    """Σ over the bands of each band's value (the sum over all positions when x is a band's sum)."""
    return jax.lax.psum(x, AXIS) if bands > 1 else x


def index(bands: int) -> jax.Array:
    """This device's band i (0 at the top)."""
    return jax.lax.axis_index(AXIS) if bands > 1 else jnp.zeros((), jnp.int32)


def row_above(x: jax.Array, bands: int, axis: int, n: int = 1) -> jax.Array:
    """The ``n`` rows just above this band (the previous band's last rows); zeros for the top band."""
    edge = jax.lax.slice_in_dim(x, x.shape[axis] - n, x.shape[axis], axis=axis)
    if bands == 1:
        return jnp.zeros_like(edge)
    return jax.lax.ppermute(edge, AXIS, [(i, i + 1) for i in range(bands - 1)])


def row_below(x: jax.Array, bands: int, axis: int, n: int = 1) -> jax.Array:
    """The ``n`` rows just below this band (the next band's first rows); zeros for the bottom band."""
    edge = jax.lax.slice_in_dim(x, 0, n, axis=axis)
    if bands == 1:
        return jnp.zeros_like(edge)
    return jax.lax.ppermute(edge, AXIS, [(i + 1, i) for i in range(bands - 1)])


@dataclasses.dataclass(frozen=True)
class Halo:
    """The 3×3 "same" convolution of a band of an NHWC activation: ``inner`` applied to the band with one
    row of each neighbour added (its halo), and those two rows' outputs dropped.

    Every output row then sees exactly the inputs it sees in the unsplit image, so the bands join
    without seams; the halo exchange costs two rows per convolution (gradients go back the same way).
    """

    bands: int
    inner: Conv = DEFAULT_CONV

    def prepare(self, kernel: jax.Array) -> dict[str, jax.Array]:
        return self.inner.prepare(kernel)

    def __call__(self, x: jax.Array, kernel: jax.Array, **prepared: jax.Array) -> jax.Array:
        if self.bands == 1:
            return self.inner(x, kernel, **prepared)
        wide = jnp.concatenate([row_above(x, self.bands, 1), x, row_below(x, self.bands, 1)], axis=1)
        y = self.inner(wide, kernel, **prepared)
        return jax.lax.slice_in_dim(y, 1, y.shape[1] - 1, axis=1)


def mesh(bands: int) -> Mesh:
    """A mesh with the one axis :data:`AXIS` over the first ``bands`` local devices (NSTError if there are fewer)."""
    have = jax.local_device_count()
    if bands > have:
        raise NSTError(f"spatial sharding over {bands} devices needs {bands} local devices; this process has {have} "
                       f"({jax.devices()[0].platform})")
    return Mesh(np.array(jax.local_devices()[:bands]), (AXIS,))


def row_multiple(layers: Sequence[str], bands: int, model: str = "vgg19") -> int:
    """What the height of a banded image must be a multiple of: every band pools evenly down to the deepest layer."""
    return bands * 2 ** deepest(layers, model).pools if bands > 1 else 1


def check_height(height: int, layers: Sequence[str], bands: int, model: str = "vgg19") -> None:
    """NSTError unless ``height`` splits into ``bands`` bands that pool evenly (:func:`row_multiple`)."""
    q = row_multiple(layers, bands, model)
    if height % q:
        raise NSTError(f"an image {height} px high does not split into {bands} bands of rows that pool evenly down "
                       f"to {deepest(layers, model).name}: the height must be a multiple of {q}")


def banded_features(params: Params, images: jax.Array, layers: Sequence[str], bands: int, conv: Conv = DEFAULT_CONV,
                    **options: Any) -> dict[str, jax.Array]:
    """:func:`jax_nst.vgg.features` of NHWC ``images`` computed band by band on ``bands`` devices; the maps come
    back split by rows. The height must be a multiple of bands·2^pools of the deepest layer."""
    if bands == 1 or not layers:
        return features(params, images, layers, conv=conv, **options)
    check_height(images.shape[1], layers, bands, options.get("model", "vgg19"))
    split = PartitionSpec(None, AXIS)
    fn = jax.shard_map(lambda p, x: features(p, x, layers, conv=Halo(bands, conv), **options), mesh=mesh(bands),
                       in_specs=(PartitionSpec(), split), out_specs=split)
    return fn(params, images)
