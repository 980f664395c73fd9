"""Histogram matching (Risser et al. 2017, exact): each channel's sorted values against the style's quantiles.

E_l = 1/(M N) Σ_n Σ_i (sort(F_n)_i − Q_s,n((i + ½)/M))², the sum of the channels' 1-D W2 distances.
Several styles blend as the weighted mean of their quantile functions (the 1-D Wasserstein barycenter).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ...vgg import row_bands
from . import StyleLoss
from .quantiles import matched, quantiles, sort_rows

SCALE = 2e4
"""Factor of E_l: the demo pair's L_style at the content image is then near the Gram loss's."""


def statistics(features: jax.Array) -> dict[str, jax.Array]:
    """Each channel's values sorted: (M_s, N)."""
    return {"sorted": sort_rows(features.reshape(-1, features.shape[-1]).T).T}


def blend(stats: Sequence[dict[str, jax.Array]], weights: Sequence[float]) -> dict[str, np.ndarray]:
    """Σ_k w_k Q_k on max M_s points: the barycenter of the styles' channel distributions."""
    q = max(s["sorted"].shape[0] for s in stats)
    return {"sorted": sum(np.float32(w) * np.asarray(quantiles(jnp.asarray(s["sorted"]), q))
                          for w, s in zip(weights, stats))}


def layer_loss(features: jax.Array, target: dict[str, jax.Array], part: row_bands.Part = row_bands.WHOLE) -> jax.Array:
    """E_l of the image's (H, W, N) features against the target's sorted channels."""
    return SCALE * matched(features.reshape(-1, features.shape[-1]), target["sorted"])


LOSS = StyleLoss(
    name="histogram", summary="each channel's sorted values, exact histogram matching", statistics=statistics,
    blend=blend, layer_loss=layer_loss,
)
