"""W2 of Gaussians (crowsonkb's style loss): the squared 2-Wasserstein distance of N(μ, C) fitted to the features.

E_l = (‖μ − μ_s‖² + tr(C + C_s − 2 (√C_s C √C_s)^½)) / N, C the centred covariance of the image's M
feature vectors, C_s the style's. Several styles blend as a mixture: their raw moments add.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import StyleLoss

EPS = 1e-4
"""ε: both covariances get ε·tr(C_s)/N added, so the square roots are well defined."""

SCALE = 1.5e4
"""Factor of E_l: the demo pair's L_style at the content image is then near the Gram loss's."""


def statistics(features: jax.Array) -> dict[str, jax.Array]:
    """μ and the centred covariance C of one style's (H, W, N) features."""
    f = features.reshape(-1, features.shape[-1])
    mean = jnp.mean(f, axis=0)
    centred = f - mean
    return {"mean": mean, "cov": centred.T @ centred / f.shape[0]}


def blend(stats: Sequence[dict[str, jax.Array]], weights: Sequence[float]) -> dict[str, np.ndarray]:
    """μ_s, C_s + εI and √(C_s + εI) of the mixture Σ w_k N(μ_k, C_k), in float64 (eigendecomposition)."""
    w = np.asarray(weights, np.float64)
    means = [np.asarray(s["mean"], np.float64) for s in stats]
    mean = sum(wk * m for wk, m in zip(w, means))
    second = sum(wk * (np.asarray(s["cov"], np.float64) + np.outer(m, m)) for wk, s, m in zip(w, stats, means))
    cov = second - np.outer(mean, mean)
    n = mean.shape[0]
    eps = EPS * max(np.trace(cov) / n, 1e-12)
    cov = cov + eps * np.eye(n)
    lam, u = np.linalg.eigh(cov)
    root = (u * np.sqrt(np.clip(lam, 0.0, None))) @ u.T
    return {"mean": mean.astype(np.float32), "cov": cov.astype(np.float32), "root": root.astype(np.float32),
            "eps": np.float32(eps)}


@jax.custom_vjp
def trace_sqrt(m: jax.Array) -> jax.Array:
    """tr(M^½) = Σ √λ_i of a symmetric positive semi-definite M (eigenvalues below 0 count as 0)."""
    return _trace_sqrt_fwd(m)[0]


def _trace_sqrt_fwd(m: jax.Array):
    lam, u = jnp.linalg.eigh(m)
    return jnp.sum(jnp.sqrt(jnp.clip(lam, 0.0, None))), (lam, u)


def _trace_sqrt_bwd(res, g):
    """∂ tr(M^½)/∂M = ½ M^(−½) = U diag(1/(2√λ)) Uᵀ, with λ floored at 1e-6·λ_max (no 1/0 at a rank deficit)."""
    lam, u = res
    floor = 1e-6 * jnp.max(jnp.abs(lam))
    d = 0.5 / jnp.sqrt(jnp.maximum(lam, floor))
    return (g * (u * d) @ u.T,)


trace_sqrt.defvjp(_trace_sqrt_fwd, _trace_sqrt_bwd)


def layer_loss(features: jax.Array, target: dict[str, jax.Array], bands: int = 1) -> jax.Array:
    """E_l = W₂²(N(μ, C + εI), N(μ_s, C_s)) / N (``bands``: one device holds the whole map)."""
    f = features.reshape(-1, features.shape[-1])
    n = f.shape[-1]
    mean = jnp.mean(f, axis=0)
    centred = f - mean
    cov = centred.T @ centred / f.shape[0] + target["eps"] * jnp.eye(n, dtype=f.dtype)
    root = target["root"]
    cross = trace_sqrt(root @ cov @ root)
    w2 = jnp.sum(jnp.square(mean - target["mean"])) + jnp.trace(cov) + jnp.trace(target["cov"]) - 2.0 * cross
    return SCALE * w2 / n


LOSS = StyleLoss(
    name="mean_cov", summary="W2 of Gaussians fitted to the features", statistics=statistics, blend=blend,
    layer_loss=layer_loss,
)
