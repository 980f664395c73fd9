"""L_TV = Σ (x_{i+1,j} − x_{i,j})² + (x_{i,j+1} − x_{i,j})²: total variation of the image, against noise."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from ...vgg import row_bands
from . import Summand, Term, size_factor

if TYPE_CHECKING:
    from ...program import Program


def tv_loss(image: jax.Array, bands: int = 1) -> jax.Array:
    """L_TV of an (H, W, C) image, summed over channels.

    ``bands`` > 1: ``image`` is one band of rows; the differences across the seams count too.
    """
    dy = jnp.diff(image, axis=-3)
    dx = jnp.diff(image, axis=-2)
    value = jnp.sum(jnp.square(dy), axis=(-3, -2, -1)) + jnp.sum(jnp.square(dx), axis=(-3, -2, -1))
    if bands == 1:
        return value
    below = row_bands.row_below(image, bands, axis=-3)  # the next band's first row; none under the last band
    seam = jnp.sum(jnp.square(below - image[..., -1:, :, :]), axis=(-3, -2, -1))
    return row_bands.total(value + jnp.where(row_bands.index(bands) < bands - 1, seam, 0.0), bands)


def summand(program: Program) -> Summand:
    """L_TV of the image, normalized by :func:`size_factor`."""

    def fn(features, image, targets, hyper):
        hw = (image.shape[-3] * program.spatial, image.shape[-2])
        return size_factor(hw, 0, program.normalization) * tv_loss(image, program.spatial)

    return Summand("tv", (), fn)


TERM = Term("tv", "tv_weight", "L_TV", "gamma", 2, summand, "total-variation weight γ")
