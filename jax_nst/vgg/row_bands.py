"""One image split into bands of rows: over devices (spatial sharding, as seen from inside ``shard_map``), or one
window after another on one device (:mod:`jax_nst.objective.banded`).

Device i of D holds rows [i·H/D, (i+1)·H/D) of the image and of every activation. A 3×3 convolution
needs one row of each neighbouring band (its halo, zeros at the image's top and bottom, as the
network's zero padding); a sum over positions k is the ``psum`` over :data:`AXIS` of each band's sum.
With D = 1 every function here is the plain, unsharded operation.

A :class:`Part` says which rows of each map the features in hand are, and turns a sum over them into the
sum over the whole map (:meth:`Part.total`): :data:`WHOLE` (one pass), :class:`Devices` (``psum``), :class:`Window`
(one band on one device, its sums gathered in a first pass). Rows that are not the image's (padding below a
height that does not split evenly, a window's overlap) are left out of every sum (:meth:`Part.rows`) and are zeros
at the input of every convolution (:class:`Bounded`), as the one-pass network's zero padding: any height gives the
one-pass objective.
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


def varying(tree: Any) -> Any:
    """``tree`` typed as varying over the devices' rows (a loop carry that each device fills with its own share)."""
    cast = lambda a: a if AXIS in jax.typeof(a).manual_axis_type.varying else jax.lax.pcast(a, (AXIS,), to="varying")  # noqa: E731,E501
    return jax.tree.map(cast, tree)


class Part:
    """The whole map in hand (one pass): sums are themselves, every row is the image's."""

    def total(self, x: Any) -> Any:
        """Σ over the whole map of a sum ``x`` over the positions in hand."""
        return x

    def rows(self, n: int) -> jax.Array | None:
        """(n,) 1/0 weights: which rows of a map of ``n`` rows in hand count in the sums (None: all)."""
        return None

    def inside(self, n: int) -> jax.Array | None:
        """(n,) 1/0: which rows of a map of ``n`` rows in hand lie inside the image (None: all)."""
        return None

    def mask(self, a: jax.Array) -> jax.Array:
        """(H, W, C) ``a`` with the rows that do not count (:meth:`rows`) set to 0."""
        r = self.rows(a.shape[-3])
        return a if r is None else a * r[:, None, None].astype(a.dtype)

    def weights(self, a: jax.Array) -> jax.Array:
        """(H·W,) 1/0 weight of each position of an (H, W, C) map in the sums."""
        h, w = a.shape[-3:-1]
        r = self.rows(h)
        return jnp.ones(h * w, a.dtype) if r is None else jnp.repeat(r.astype(a.dtype), w)

    def positions(self, a: jax.Array) -> Any:
        """M: the number of positions of the whole map whose part in hand is the (H, W, C) ``a``."""
        h, w = a.shape[-3:-1]
        r = self.rows(h)
        return self.total(h * w if r is None else jnp.sum(r) * w)


WHOLE = Part()
"""The whole image in one pass."""


def _in_image(first: Any, n: int, scale: int, height: int) -> jax.Array:
    """1/0 for rows first, …, first + n − 1 of a map at 1/``scale`` of an image ``height`` px high: whether the map
    of the whole image has that row (it has height // scale: VALID pooling drops an odd last row)."""
    g = first + jnp.arange(n)
    return ((g >= 0) & (g < height // scale)).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class Devices(Part):
    """This device's band of ``band`` px rows of an image ``height`` px high (padded below to ``bands``·``band``);
    sums are ``psum``-med over the devices."""

    bands: int
    band: int
    height: int

    def total(self, x: Any) -> Any:
        return total(x, self.bands)

    def inside(self, n: int) -> jax.Array | None:
        if self.band * self.bands == self.height:
            return None
        scale = self.band // n
        return _in_image(index(self.bands) * n, n, scale, self.height)

    rows = inside


@dataclasses.dataclass(frozen=True)
class Window(Part):
    """Rows [start, start + size) of an image ``height`` px high (``start`` < 0 or the end past ``height``: padding),
    of which [start + halo, start + size − halo) are this window's own; the rest is context for the convolutions.

    ``totals``: the whole image's sums in the order :meth:`total` is called, from a first pass; a sum then has that
    value and the gradient of the window's own sum (x + sg(T − x)), so the gradient of a function of the totals
    sums over the windows to the whole image's. None: the first pass, each sum is the window's own. ``seen``
    collects the window's own sums in order (one list per traced call).
    """

    start: Any
    size: int
    halo: int
    height: int
    totals: Sequence[Any] | None = None
    seen: list = dataclasses.field(default_factory=list, compare=False)

    def total(self, x: Any) -> Any:
        i = len(self.seen)
        self.seen.append(x)
        if self.totals is None:
            return x
        return jax.tree.map(lambda a, t: a + jax.lax.stop_gradient(t - a), x, self.totals[i])

    def inside(self, n: int) -> jax.Array:
        scale = self.size // n
        return _in_image(self.start // scale, n, scale, self.height)

    def rows(self, n: int) -> jax.Array:
        scale = self.size // n
        local = jnp.arange(n)
        own = (local >= self.halo // scale) & (local < (self.size - self.halo) // scale)
        return self.inside(n) * own


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


@dataclasses.dataclass(frozen=True)
class Bounded:
    """The convolution ``inner`` of a part of the image whose rows outside the image (:meth:`Part.inside`) are set to
    zeros first, as the network's zero padding beyond the image's border.

    ``input``: also at the network's input (the RGB map, 3 channels); False when the first layer pads by mirroring
    or repeating and the rows outside already hold that padding.
    """

    part: Part
    inner: Any = DEFAULT_CONV
    input: bool = True

    def prepare(self, kernel: jax.Array) -> dict[str, jax.Array]:
        return self.inner.prepare(kernel)

    def __call__(self, x: jax.Array, kernel: jax.Array, **prepared: jax.Array) -> jax.Array:
        inside = self.part.inside(x.shape[1]) if self.input or x.shape[-1] != 3 else None
        if inside is not None:
            x = x * inside[None, :, None, None].astype(x.dtype)
        return self.inner(x, kernel, **prepared)


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
                    rows: int = 0, **options: Any) -> dict[str, jax.Array]:
    """:func:`jax_nst.vgg.features` of NHWC ``images`` computed band by band on ``bands`` devices; the maps come
    back split by rows. The height must be a multiple of bands·2^pools of the deepest layer; ``rows`` > 0: only the
    first ``rows`` are the image's, the rest padding that the convolutions see as zeros (the maps there are not the
    image's)."""
    if bands == 1 or not layers:
        return features(params, images, layers, conv=conv, **options)
    check_height(images.shape[1], layers, bands, options.get("model", "vgg19"))
    split = PartitionSpec(None, AXIS)
    band = images.shape[1] // bands
    part = Devices(bands, band, rows or images.shape[1])
    bounded = Bounded(part, Halo(bands, conv), input=options.get("padding", "zero") == "zero")
    fn = jax.shard_map(lambda p, x: features(p, x, layers, conv=bounded, **options), mesh=mesh(bands),
                       in_specs=(PartitionSpec(), split), out_specs=split)
    return fn(params, images)
