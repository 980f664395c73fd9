"""The paper's style loss: Gram matrices G_l = F_lᵀF_l, E_l = 1/(4 N_l² M_l²) Σ (G_l − A_l)².

Several styles blend at the Gram level, A_l = Σ_k w_k A_l^(k); region masks guide it
(:mod:`jax_nst.objective.guided`); over bands of rows the Gram is the sum of the bands' (:class:`jax_nst.vgg.row_bands.Part`).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ...vgg import row_bands
from .. import guided
from . import StyleLoss


def gram_matrix(features: jax.Array, normalize: bool = False, part: row_bands.Part = row_bands.WHOLE) -> jax.Array:
    """G_ij = Σ_k F_ik F_jk over the M positions (divided by M when ``normalize``): (..., N, N).

    ``part``: which rows of the map ``features`` are (their rows that do not count are zeros); the sum runs over all.
    """
    *batch, h, w, n = features.shape
    g = part.total(products(features.reshape(*batch, h * w, n)))
    return g / part.positions(features) if normalize else g


@jax.custom_vjp
def products(f: jax.Array) -> jax.Array:
    """FᵀF of (..., M, N) features; its gradient F(Ḡ + Ḡᵀ) is one matmul instead of autodiff's two."""
    return jnp.einsum("...ki,...kj->...ij", f, f)


def _gram_fwd(f: jax.Array):
    return products(f), f


def _gram_bwd(f: jax.Array, g: jax.Array):
    return (jnp.einsum("...ki,...ij->...kj", f, g + jnp.swapaxes(g, -1, -2)),)


products.defvjp(_gram_fwd, _gram_bwd)


def style_layer_loss(features: jax.Array, target_gram: jax.Array, part: row_bands.Part = row_bands.WHOLE) -> jax.Array:
    """E_l = 1/(4 N² M²) Σ (G − A)², with ``target_gram`` = A/M (a normalized Gram matrix).

    Computed as Σ (G/M − A/M)² / (4N²), which is equal and stays well inside float32 range.
    """
    n = features.shape[-1]
    diff = gram_matrix(features, normalize=True, part=part) - target_gram
    return jnp.sum(jnp.square(diff), axis=(-2, -1)) / (4.0 * n * n)


def statistics(features: jax.Array, part: row_bands.Part = row_bands.WHOLE) -> jax.Array:
    """A_l/M_l: the normalized Gram matrix of one style's (H, W, N) features."""
    return gram_matrix(features, normalize=True, part=part)


def blend(grams: Sequence[jax.Array], weights: Sequence[float]) -> np.ndarray:
    """A_l = Σ_k w_k A_l^(k): several styles mixed at the Gram level."""
    return sum(np.float32(w) * np.asarray(g) for w, g in zip(weights, grams))


LOSS = StyleLoss(
    name="gram", summary="the paper's Gram matrices", statistics=statistics, blend=blend,
    layer_loss=style_layer_loss, guided=guided.guided_style_layer_loss, spatial=True,
)
