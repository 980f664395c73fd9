"""Sliced Wasserstein (Heitz et al. 2021): projections on random directions, sorted, against the style's quantiles.

E_l = 1/(M P) Σ_p Σ_i (sort(F d_p)_i − Q_s,p((i + ½)/M))², P = N unit directions d_p redrawn each step
from the seed. Several styles blend as the weighted mean of their projections' quantile functions.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ...vgg import row_bands
from . import StyleLoss
from .quantiles import matched, quantiles, sort_rows

SCALE = 3e4
"""Factor of E_l: the demo pair's L_style at the content image is then near the Gram loss's."""


def statistics(features: jax.Array) -> dict[str, jax.Array]:
    """The style's feature vectors (M_s, N): projected anew on each step's directions."""
    return {"features": features.reshape(-1, features.shape[-1])}


def blend(stats: Sequence[dict[str, jax.Array]], weights: Sequence[float]) -> dict[str, Any]:
    """Every style's features and its weight; :func:`draw` blends their projections."""
    return {"features": tuple(s["features"] for s in stats), "weights": np.asarray(weights, np.float32)}


def directions(key: jax.Array, n: int, count: int | None = None) -> jax.Array:
    """``count`` (default N) random unit vectors of R^N as the columns of an (N, count) matrix."""
    d = jax.random.normal(key, (n, count or n))
    return d / jnp.linalg.norm(d, axis=0, keepdims=True)


def draw(target: dict[str, Any], key: jax.Array) -> dict[str, jax.Array]:
    """The target of one step: N directions from ``key`` and the styles' sorted projections on them, blended as
    quantile functions on max M_s points (once per step, not per evaluation)."""
    d = directions(key, target["features"][0].shape[-1])
    q = max(s.shape[0] for s in target["features"])
    goal = sum(w * quantiles(sort_rows((s @ d).T).T, q) for w, s in zip(target["weights"], target["features"]))
    return {"directions": d, "sorted": goal}


def layer_loss(features: jax.Array, target: dict[str, jax.Array], part: row_bands.Part = row_bands.WHOLE) -> jax.Array:
    """E_l of the image's (H, W, N) features against one step's drawn target."""
    return SCALE * matched(features.reshape(-1, features.shape[-1]) @ target["directions"], target["sorted"])


LOSS = StyleLoss(
    name="sliced_wasserstein", summary="sorted projections on random directions, redrawn each step",
    statistics=statistics, blend=blend, layer_loss=layer_loss, draw=draw,
)
