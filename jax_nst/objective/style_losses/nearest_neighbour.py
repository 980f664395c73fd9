"""Nearest-neighbour feature matching (NNST, Kolkin et al. 2022; NNFM, Zhang et al. 2022): every feature vector of
the image is pulled towards the style's feature vector most similar to it by cosine.

E_l = (1/M) Σ_i (1 − f_i·ŝ_nn(i) / ‖f_i‖), ŝ_j = s_j/‖s_j‖ the style's unit vectors and nn(i) = argmax_j f_i·ŝ_j
(taken as constant in the gradient, as both papers do). Unlike the Gram and distribution losses it keeps the
style's local structures (brush strokes) rather than its statistics. The style side is at most :data:`VECTORS`
vectors (a fixed random subset), so an evaluation costs M·VECTORS·N multiply-adds per layer; several styles
pool their vectors in proportion to the blend weights. Each position's term depends only on its own features,
so rows split over devices sum exactly.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ...vgg import row_bands
from . import StyleLoss

VECTORS = 4096
"""The most style feature vectors kept per layer (a random subset, fixed by seed 0, when the style has more)."""

CHUNK = 1024
"""Image positions compared with the style's vectors at once (memory CHUNK · VECTORS floats)."""

SOFTNESS = 1e-6
"""‖f‖ is taken as √(‖f‖² + δ), δ = SOFTNESS · the style's mean ‖s‖², so a zero feature vector has a finite gradient."""

SCALE = 3e8
"""Factor of E_l. At the demo pair's content image (256 px) and 1e9, L_style and its gradient are near the Gram
loss's (3.5e8 and ‖∇‖ 1.4e7 against 2.2e8 and 1.6e7), but the picture at the default β loses the content: a
cosine's pull does not fade as the statistics match. 3e8 keeps the content's shapes under the style's strokes."""


def statistics(features: jax.Array) -> dict[str, jax.Array]:
    """The style's unit feature vectors (at most :data:`VECTORS`, in a fixed random order) and their mean ‖s‖²."""
    s = features.reshape(-1, features.shape[-1])
    order = jax.random.permutation(jax.random.key(0), s.shape[0])[:VECTORS]
    s = s[order]
    squared = jnp.sum(jnp.square(s), axis=-1, keepdims=True)
    return {"unit": s / jnp.sqrt(jnp.maximum(squared, 1e-30)), "power": jnp.mean(squared)}


def blend(stats: Sequence[dict[str, jax.Array]], weights: Sequence[float]) -> dict[str, np.ndarray]:
    """The styles' vectors pooled, style k giving a w_k share of :data:`VECTORS` (at least one)."""
    total = min(VECTORS, sum(int(s["unit"].shape[0]) for s in stats))
    parts = [np.asarray(s["unit"])[:max(1, round(w * total))] for w, s in zip(weights, stats)]
    power = sum(float(w) * float(s["power"]) for w, s in zip(weights, stats))
    return {"unit": np.concatenate(parts).astype(np.float32), "delta": np.float32(SOFTNESS * power)}


def nearest(f: jax.Array, unit: jax.Array) -> jax.Array:
    """nn(i) = argmax_j f_i·ŝ_j for each row f_i of (M, N) features, :data:`CHUNK` rows at a time."""
    return jax.lax.map(lambda row: jnp.argmax(unit @ row), f, batch_size=CHUNK)


def layer_loss(features: jax.Array, target: dict[str, jax.Array], part: row_bands.Part = row_bands.WHOLE) -> jax.Array:
    """E_l of the image's (H, W, N) features; ``part``: which rows of the map they are (the mean runs over all)."""
    f = features.reshape(-1, features.shape[-1])
    unit = jnp.asarray(target["unit"], f.dtype)
    match = unit[jax.lax.stop_gradient(nearest(f, unit))]
    cos = jnp.sum(f * match, axis=-1) / jnp.sqrt(jnp.sum(jnp.square(f), axis=-1) + target["delta"])
    return SCALE * part.total(jnp.sum(part.weights(features) * (1.0 - cos))) / part.positions(features)


LOSS = StyleLoss(
    name="nearest_neighbour", summary="each feature pulled to its most similar style feature by cosine",
    statistics=statistics, blend=blend, layer_loss=layer_loss, spatial=True,
)
