"""One image's rows in K bands computed one after another on one device, each on a window of its rows plus a halo.

The features of a band's own rows equal the whole image's when its window reaches :func:`halo` rows past them on each
side (the reach of a cut edge's zero border through the layers). Every window has the same shape, reaching past the
image's top and bottom rows where a band is near them; the rows outside the image are zeros at the input of every
convolution (:class:`jax_nst.vgg.row_bands.Bounded`: the network's zero padding, or the first layer's mirrored or
repeated border) and count in no sum (:class:`jax_nst.vgg.row_bands.Window`), so any height gives the one-pass maps.
Sums over positions are gathered window by window (:func:`gather`); :mod:`jax_nst.objective.banded` builds the
objective's value and gradient on them.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from . import row_bands
from .conv import DEFAULT_CONV, Conv
from .layers import PADDINGS, blocks, deepest, layer, min_side
from .module import Params, features as whole_features


def halo(layers: Sequence[str], model: str = "vgg19") -> int:
    """Rows of context a band needs on each side: how far a cut edge's zero border reaches into the maps through
    the convolutions (one row each) and poolings (halving) up to the deepest of ``layers``, in image rows, a
    multiple of 2^pools."""
    reach = 0
    for block in blocks(layers, model):
        reach = -(-reach // 2) if block[0].block > 1 else reach
        reach += len(block)
    return reach * 2 ** deepest(layers, model).pools


class Geometry(NamedTuple):
    """K = ``count`` bands of ``band`` rows (a multiple of 2^pools) of an image ``height`` rows high, band i computed
    on the window of rows [i·band − halo, (i + 1)·band + halo)."""

    height: int
    band: int
    count: int
    halo: int

    @property
    def size(self) -> int:
        """Rows of a window."""
        return self.band + 2 * self.halo

    def part(self, i: Any, totals: Sequence[Any] | None = None) -> row_bands.Window:
        """The :class:`~jax_nst.vgg.row_bands.Window` of band ``i``."""
        return row_bands.Window(i * self.band - self.halo, self.size, self.halo, self.height, totals)

    def rows(self, i: Any, scale: int = 1, mode: str | None = None) -> jax.Array:
        """The rows of a map at 1/``scale`` of the image (``height`` // scale rows) that band ``i``'s window holds,
        rows outside the map taken as ``mode`` pads (``jnp.pad``'s "reflect" or "edge"; None: any, they count as
        zeros)."""
        n = self.height // scale
        r = (i * self.band - self.halo) // scale + jnp.arange(self.size // scale)
        if mode == "reflect" and n > 1:
            period = 2 * (n - 1)
            r = jnp.abs(r) % period
            r = jnp.where(r >= n, period - r, r)
        return jnp.clip(r, 0, n - 1)

    def window(self, a: jax.Array, i: Any, scale: int = 1, mode: str | None = None) -> jax.Array:
        """Band ``i``'s window of a map at 1/``scale`` of the image (rows on axis 0): :meth:`rows` of it."""
        return jnp.take(a, self.rows(i, scale, mode), axis=0)


def chosen(bands: int | str) -> int:
    """The bands an option asks for: K, or 1 for "auto" before it is decided (one pass)."""
    return 1 if isinstance(bands, str) else bands


def geometry(height: int, bands: int, layers: Sequence[str], model: str = "vgg19") -> Geometry:
    """The bands of an image ``height`` rows high split in about ``bands`` bands (fewer when the rows run out)."""
    q = min_side(layers, model)
    band = -(-(-(-height // bands)) // q) * q
    return Geometry(height, band, -(-height // band), halo(layers, model))


def gather(fn: Callable[[jax.Array, Any, row_bands.Window], Any], image: jax.Array, g: Geometry, mode: str | None,
           totals: Sequence[Any] | None = None, own: tuple[Any, int] = (0, 1)) -> list[Any]:
    """T: the sums ``fn(window, i, part)`` of band i takes through ``part.total``, each summed over the bands (one
    pass; with ``totals`` from a previous pass, sums that depend on other sums are right one level deeper).
    ``own`` = (first, step): only bands first, first + step, … (a device's share; bands past the last add nothing)."""

    def mine(i):
        part = g.part(i, totals)
        fn(g.window(image, i, mode=mode), i, part)
        return part.seen

    first, step = own
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(mine, 0))
    zeros = zeros if step == 1 else row_bands.varying(zeros)  # each device's own sums
    return jax.lax.fori_loop(0, -(-g.count // step), lambda j, acc: jax.tree.map(jnp.add, acc, mine(first + j * step)),
                             zeros)


def window_features(params: Params, window: jax.Array, layers: Sequence[str], part: row_bands.Part,
                    conv: Conv = DEFAULT_CONV, padding: str = "zero", **options: Any) -> dict[str, jax.Array]:
    """F_l of ``layers`` for a (rows, W, 3) window of the image that ``part`` says it is (rows outside the image
    zeros to every convolution; rows that do not count zeros in the maps)."""
    conv = row_bands.Bounded(part, conv, input=padding == "zero")
    found = whole_features(params, window[None], layers, conv=conv, padding=padding, **options)
    return {l: part.mask(f[0]) for l, f in found.items()}


def features(params: Params, image: jax.Array, layers: Sequence[str], bands: int, padding: str = "zero",
             model: str = "vgg19", rows: int = 0, **options: Any) -> dict[str, jax.Array]:
    """F_l of ``layers`` for one (H, W, 3) image computed in ``bands`` bands: each band's own rows of each map.
    ``rows`` > 0: the image's own rows, the rest padding (for the devices), zeros in the maps."""
    g = geometry(rows or image.shape[0], bands, layers, model)
    scales = {l: 2 ** layer(l, model).pools for l in layers}

    def one(i, maps):
        window = g.window(image, i, mode=PADDINGS[padding])
        found = window_features(params, window, layers, g.part(i), padding=padding, model=model, **options)
        for l, f in found.items():
            s = scales[l]
            own = jax.lax.slice_in_dim(f, g.halo // s, (g.halo + g.band) // s, axis=0)
            maps[l] = jax.lax.dynamic_update_slice_in_dim(maps[l], own, i * g.band // s, axis=0)
        return maps

    width, height = image.shape[1], max(g.count * g.band, image.shape[0])
    maps = {l: jnp.zeros((height // scales[l], width // scales[l], layer(l, model).cout)) for l in layers}
    maps = jax.lax.fori_loop(0, g.count, one, maps)
    return {l: m[:image.shape[0] // scales[l]] for l, m in maps.items()}


def statistics(params: Params, image: jax.Array, layers: Sequence[str], bands: int,
               fn: Callable[[jax.Array, row_bands.Part], Any], padding: str = "zero", model: str = "vgg19",
               depth: int = 2, **options: Any) -> dict[str, Any]:
    """{layer: ``fn(F_l, part)``} of one (H, W, 3) image computed in ``bands`` bands: ``depth`` passes gather the
    sums (a sum taken about another, e.g. a covariance about the mean, is two deep), then ``fn`` of the totals."""
    g = geometry(image.shape[0], bands, layers, model)
    mode = PADDINGS[padding]

    def stats(window, i, part):
        found = window_features(params, window, layers, part, padding=padding, model=model, **options)
        return {l: fn(f, part) for l, f in found.items()}

    totals = None
    for _ in range(depth):
        totals = gather(stats, image, g, mode, totals)
    return stats(g.window(image, 0, mode=mode), 0, g.part(0, totals))
