"""Gatys et al. losses as pure functions of arrays.

Shapes: a feature map F is (..., H, W, N) with N filters and M = H·W positions; an image is
(..., H, W, 3). Leading dims are batch dims.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp


def gram_matrix(features: jax.Array, normalize: bool = False) -> jax.Array:
    """G_ij = Σ_k F_ik F_jk over the M positions (divided by M when ``normalize``): (..., N, N)."""
    *batch, h, w, n = features.shape
    g = _gram(features.reshape(*batch, h * w, n))
    return g / (h * w) if normalize else g


@jax.custom_vjp
def _gram(f: jax.Array) -> jax.Array:
    """FᵀF of (..., M, N) features; its gradient F(Ḡ + Ḡᵀ) is one matmul instead of autodiff's two."""
    return jnp.einsum("...ki,...kj->...ij", f, f)


def _gram_fwd(f: jax.Array):
    return _gram(f), f


def _gram_bwd(f: jax.Array, g: jax.Array):
    return (jnp.einsum("...ki,...ij->...kj", f, g + jnp.swapaxes(g, -1, -2)),)


_gram.defvjp(_gram_fwd, _gram_bwd)


def content_loss(features: jax.Array, target: jax.Array) -> jax.Array:
    """L_content = ½ Σ (F − P)², F the image's features, P the content's."""
    return 0.5 * jnp.sum(jnp.square(features - target), axis=(-3, -2, -1))


def style_layer_loss(features: jax.Array, target_gram: jax.Array) -> jax.Array:
    """E_l = 1/(4 N² M²) Σ (G − A)², with ``target_gram`` = A/M (a normalized Gram matrix).

    Computed as Σ (G/M − A/M)² / (4N²), which is equal and stays well inside float32 range.
    """
    n = features.shape[-1]
    diff = gram_matrix(features, normalize=True) - target_gram
    return jnp.sum(jnp.square(diff), axis=(-2, -1)) / (4.0 * n * n)


def style_loss(
    features: Mapping[str, jax.Array],
    target_grams: Mapping[str, jax.Array],
    layer_weights: Mapping[str, float],
) -> jax.Array:
    """L_style = Σ_l w_l E_l over the style layers l."""
    return sum(w * style_layer_loss(features[l], target_grams[l]) for l, w in layer_weights.items())


def tv_loss(image: jax.Array) -> jax.Array:
    """L_TV = Σ (x_{i+1,j} − x_{i,j})² + (x_{i,j+1} − x_{i,j})², summed over channels."""
    dy = jnp.diff(image, axis=-3)
    dx = jnp.diff(image, axis=-2)
    return jnp.sum(jnp.square(dy), axis=(-3, -2, -1)) + jnp.sum(jnp.square(dx), axis=(-3, -2, -1))


def total_loss(
    content: jax.Array, style: jax.Array, tv: jax.Array, alpha: float, beta: float, gamma: float
) -> jax.Array:
    """L_total = α L_content + β L_style + γ L_TV."""
    return alpha * content + beta * style + gamma * tv
