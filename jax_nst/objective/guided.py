"""Guided Gram matrices (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer").

Mask r (values in [0, 1]) says where style r applies. At layer l it becomes the guidance channel
T_r^l (the mask average-pooled like the network), the guided Gram matrix is
G_r = Σ_k (T_r,k)² F_k F_kᵀ / Σ_k (T_r,k)², and E_l = Σ_r a_r Σ (G_r − A_r)² / (4 N²) with
a_r = Σ_k (T_r,k)² / M the region's share. Other style losses weigh their statistics the same way (the W2 loss:
guided moments, μ_r and C_r weighted by T_r,k², :mod:`jax_nst.objective.style_losses.mean_cov`). Where no mask applies (keep = 1 − Σ_r mask_r > 0) the
image is the content: x̂ = keep·c + (1 − keep)·x.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .. import vgg
from ..vgg import row_bands

EPS = 1e-8


def _pool2(t: np.ndarray) -> np.ndarray:
    """2×2 average pooling, stride 2, odd rows/columns dropped (as the network's VALID pooling)."""
    h, w = t.shape[0] // 2 * 2, t.shape[1] // 2 * 2
    return t[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3))


def layer_guides(masks: np.ndarray, layers: Sequence[str], model: str = "vgg19") -> dict[str, np.ndarray]:
    """T_r^l for each layer: the (H, W, R) masks pooled as often as the network pools before l, (H_l, W_l, R)."""
    pooled = [np.asarray(masks, np.float32)]
    out = {}
    for name in layers:
        pools = vgg.layer(name, model).pools
        while len(pooled) <= pools:
            pooled.append(_pool2(pooled[-1]))
        out[name] = pooled[pools]
    return out


def keep_map(masks: np.ndarray) -> np.ndarray:
    """keep = clip(1 − Σ_r mask_r, 0, 1), shape (H, W, 1): where the content stays untouched."""
    return np.clip(1.0 - masks.sum(axis=-1, keepdims=True), 0.0, 1.0).astype(np.float32)


def composite(x: Any, content: Any, keep: Any) -> Any:
    """x̂ = keep·c + (1 − keep)·x: the content where no style applies."""
    return keep * content + (1.0 - keep) * x


def guided_gram(features: jax.Array, guide: jax.Array, part: row_bands.Part = row_bands.WHOLE) -> jax.Array:
    """G_r = Σ_k T_r,k² F_k F_kᵀ / Σ_k T_r,k²: one normalized Gram matrix per region, (R, N, N).

    ``part``: which rows of the maps features and guide are; the sums run over the whole map.
    """
    f = features.reshape(-1, features.shape[-1])
    t2, mass = region_mass(guide, part)
    g = part.total(jnp.einsum("kr,ki,kj->rij", t2, f, f))
    return g / jnp.maximum(mass, EPS)[:, None, None]


def guided_style_layer_loss(features: jax.Array, target_grams: jax.Array, guide: jax.Array,
                            part: row_bands.Part = row_bands.WHOLE) -> jax.Array:
    """E_l = Σ_r a_r Σ (G_r − A_r)² / (4 N²), a_r = Σ_k T_r,k² / M; equals E_l for one all-ones mask."""
    n = features.shape[-1]
    share = region_mass(guide, part)[1] / part.positions(guide)
    diff = guided_gram(features, guide, part) - target_grams
    return jnp.sum(share * jnp.sum(jnp.square(diff), axis=(-2, -1))) / (4.0 * n * n)


def region_mass(guide: jax.Array, part: row_bands.Part = row_bands.WHOLE) -> tuple[jax.Array, jax.Array]:
    """(T_r,k² as (M, R) weights of the positions in hand, 0 where they do not count; Σ_k T_r,k² over the whole
    map (R,))."""
    t2 = jnp.square(part.mask(guide)).reshape(-1, guide.shape[-1])
    return t2, part.total(t2.sum(axis=0))
