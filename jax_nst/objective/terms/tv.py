"""L_TV = Σ (x_{i+1,j} − x_{i,j})² + (x_{i,j+1} − x_{i,j})²: total variation of the image, against noise."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from ...vgg import row_bands
from . import Summand, Term, size_factor

if TYPE_CHECKING:
    from ...program import Program


def tv_loss(image: jax.Array, bands: int = 1, part: row_bands.Part = row_bands.WHOLE) -> jax.Array:
    """L_TV of an (H, W, C) image, summed over channels; differences with a row outside the image
    (:meth:`jax_nst.vgg.row_bands.Part.inside`) do not count.

    ``bands`` > 1: ``image`` is one band of rows on one of the devices; the differences across the seams count too.
    """
    inside = part.inside(image.shape[-3])
    inside = jnp.ones(image.shape[-3]) if inside is None else inside
    dy = jnp.square(jnp.diff(image, axis=-3)) * (inside[:-1] * inside[1:])[:, None, None]
    dx = jnp.square(jnp.diff(image, axis=-2)) * inside[:, None, None]
    value = jnp.sum(dy, axis=(-3, -2, -1)) + jnp.sum(dx, axis=(-3, -2, -1))
    if bands == 1:
        return value
    below = row_bands.row_below(image, bands, axis=-3)  # the next band's first row; zeros under the last band
    counts = row_bands.row_below(inside[:, None, None], bands, axis=-3) * inside[-1]  # 0 under the last band too
    seam = jnp.sum(counts * jnp.square(below - image[..., -1:, :, :]), axis=(-3, -2, -1))
    return row_bands.total(value + seam, bands)


def summand(program: Program) -> Summand:
    """L_TV of the image, normalized by :func:`size_factor`."""

    def fn(features, image, targets, hyper, part):
        return size_factor(part.positions(image), 0, program.normalization) * tv_loss(image, program.spatial, part)

    return Summand("tv", (), fn)


TERM = Term("tv", "tv_weight", "L_TV", "gamma", 2, summand, "total-variation weight γ")
