"""W2 of Gaussians (crowsonkb's style loss): the squared 2-Wasserstein distance of N(μ, C) fitted to the features.

E_l = (‖μ − μ_s‖² + tr(C + C_s − 2 (√C_s C √C_s)^½)) / N, C the centred covariance of the image's M
feature vectors, C_s the style's. Several styles blend as a mixture: their raw moments add. μ and C are sums over
positions, so over bands of rows they are the sums of the bands' (exact, :class:`jax_nst.vgg.row_bands.Part`); region
masks weigh them by T_r,k²
(guided moments, as guided Grams weigh the Gram: :mod:`jax_nst.objective.guided`).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ...vgg import row_bands
from .. import guided
from . import StyleLoss
from .gram import products

EPS = 1e-4
"""ε: both covariances get ε·tr(C_s)/N added, so the square roots are well defined."""

SCALE = 1.5e4
"""Factor of E_l: the demo pair's L_style at the content image is then near the Gram loss's."""


def statistics(features: jax.Array, part: row_bands.Part = row_bands.WHOLE) -> dict[str, jax.Array]:
    """μ and the centred covariance C of one style's (H, W, N) features (centred on μ: two sums deep)."""
    f = features.reshape(-1, features.shape[-1])
    w = part.weights(features)
    count = part.positions(features)
    mean = part.total(w @ f) / count
    centred = (f - mean) * w[:, None]
    return {"mean": mean, "cov": part.total(centred.T @ centred) / count}


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


def w2(mean: jax.Array, cov: jax.Array, target: dict[str, jax.Array]) -> jax.Array:
    """SCALE · W₂²(N(μ, C + εI), N(μ_s, C_s)) / N of the image's moments against a target."""
    n = mean.shape[-1]
    cov = cov + target["eps"] * jnp.eye(n, dtype=cov.dtype)
    root = target["root"]
    cross = trace_sqrt(root @ cov @ root)
    distance = jnp.sum(jnp.square(mean - target["mean"])) + jnp.trace(cov) + jnp.trace(target["cov"]) - 2.0 * cross
    return SCALE * distance / n


def moments(f: jax.Array, weights: jax.Array, mass: jax.Array,
            part: row_bands.Part = row_bands.WHOLE) -> tuple[jax.Array, jax.Array]:
    """μ = Σ_k w_k f_k / Σ w and C = Σ_k w_k (f_k − μ)(f_k − μ)ᵀ / Σ w of (M, N) features with (M,) weights, the sums
    over the whole map (``mass`` = Σ w over it), as C = Σ w d dᵀ / Σ w − (μ − s)(μ − s)ᵀ with d = f − s and s = sg(μ):
    centred (the float32 rounding of the whole-image form) with the exact gradient, since ∂C/∂μ = 0 at μ. The
    second sums are taken about the first: bands gathered one after another need two passes (``depth`` 2). The
    second moment is the Gram product of √w·d (:func:`.gram.products`: its gradient is one matmul)."""
    shift = jax.lax.stop_gradient(part.total(weights @ f) / mass)
    d = f - shift
    offset = part.total(weights @ d) / mass
    second = part.total(products(jnp.sqrt(weights)[:, None] * d)) / mass
    return shift + offset, second - jnp.outer(offset, offset)


def layer_loss(features: jax.Array, target: dict[str, jax.Array], part: row_bands.Part = row_bands.WHOLE) -> jax.Array:
    """E_l = W₂²(N(μ, C + εI), N(μ_s, C_s)) / N; ``part``: which rows of the map ``features`` are."""
    f = features.reshape(-1, features.shape[-1])
    mass = jnp.asarray(part.positions(features), f.dtype)
    return w2(*moments(f, part.weights(features), mass, part), target)


def guided_layer_loss(features: jax.Array, targets: dict[str, jax.Array], guide: jax.Array,
                      part: row_bands.Part = row_bands.WHOLE) -> jax.Array:
    """E_l = Σ_r a_r W₂²(N(μ_r, C_r + εI), N(μ_s,r, C_s,r)) / N: the moments weighted by T_r,k² (guided moments),
    a_r = Σ_k T_r,k² / M the region's share; equals E_l for one all-ones mask."""
    f = features.reshape(-1, features.shape[-1])
    t2, mass = guided.region_mass(guide, part)
    safe = jnp.maximum(mass, guided.EPS)
    regions = [jax.tree.map(lambda a: a[r], targets) for r in range(t2.shape[1])]  # a loop: each sum passes `part`
    per_region = jnp.stack([w2(*moments(f, t2[:, r], safe[r], part), t) for r, t in enumerate(regions)])
    return jnp.sum(mass / part.positions(guide) * per_region)


LOSS = StyleLoss(
    name="mean_cov", summary="W2 of Gaussians fitted to the features", statistics=statistics, blend=blend,
    layer_loss=layer_loss, guided=guided_layer_loss, spatial=True, depth=2,
)
