"""L_style = Σ_l w_l E_l: E_l of the style loss ``program.style_loss`` (:mod:`jax_nst.objective.style_losses`),
with region masks its guided form (guided Grams, guided moments: :mod:`jax_nst.objective.guided`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import jax

from ...vgg import row_bands
from .. import style_losses
from . import Summand, Term

if TYPE_CHECKING:
    from ...program import Program


def style_loss(features: Mapping[str, jax.Array], targets: Mapping[str, Any], layer_weights: Mapping[str, Any],
               loss: style_losses.StyleLoss, part: row_bands.Part = row_bands.WHOLE) -> jax.Array:
    """L_style = Σ_l w_l E_l over the layers of ``layer_weights``, E_l the ``loss``'s layer loss."""
    return sum(w * loss.layer_loss(features[l], targets[l], part) for l, w in layer_weights.items())


def summand(program: Program) -> Summand | None:
    """L_style over ``program.style_layers``; None when β = 0."""
    loss = style_losses.get(program.style_loss)

    def fn(features, image, targets, hyper, part):
        weights = {l: hyper.style_layers[l] for l in features}
        if program.masked:
            return sum(w * loss.guided(features[l], targets.style[l], targets.guides[l], part)
                       for l, w in weights.items())
        return style_loss(features, targets.style, weights, loss, part)

    return Summand("style", tuple(program.style_layers), fn) if program.style_layers else None


TERM = Term("style", "style_weight", "L_style", "beta", 1, summand, "style weight β")
