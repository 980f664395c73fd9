"""L_content = Σ_l w_l ½ Σ (F_l − P_l)²: the image's features F_l against the content's P_l (default conv4_2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from ... import vgg
from . import Summand, Term, size_factor

if TYPE_CHECKING:
    from ...program import Program


def content_loss(features: jax.Array, target: jax.Array) -> jax.Array:
    """½ Σ (F − P)², F the image's features, P the content's."""
    return 0.5 * jnp.sum(jnp.square(features - target), axis=(-3, -2, -1))


def summand(program: Program) -> Summand | None:
    """L_content over ``program.content_layers``, each layer normalized by :func:`size_factor`; None when α = 0."""

    def fn(features, image, targets, hyper, part):
        total = jnp.zeros(())
        for l, f in features.items():
            scale = size_factor(part.positions(f), vgg.layer(l, program.model).pools, program.normalization)
            total = total + hyper.content_layers[l] * scale * part.total(content_loss(f, part.mask(targets.content[l])))
        return total

    return Summand("content", tuple(program.content_layers), fn) if program.content_layers else None


TERM = Term("content", "content_weight", "L_content", "alpha", 0, summand, "content weight α")
