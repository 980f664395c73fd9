"""Style losses that compare the distributions of feature vectors, beside the paper's Gram matrices.

A layer's features F_l are M positions of N channels; the style's are M_s positions (M_s may differ).
Each loss has three pieces: ``statistics`` of one style's features (compiled, per layer), ``blend``
of several styles' statistics on the host, and the layer loss E_l of the image's features against the
blended target (pure, jit/vmap/grad-safe):

- "mean_cov": squared 2-Wasserstein distance of the Gaussians N(μ, C) fitted to the features
  (crowsonkb's style loss): E_l = (‖μ − μ_s‖² + tr(C + C_s − 2 (√C_s C √C_s)^½)) / N.
- "sliced_wasserstein" (Heitz et al. 2021): project F on P random unit directions (redrawn each step
  from the seed) and match each projection's sorted values to the style's quantiles:
  E_l = 1/(M P) Σ_p Σ_i (sort(F d_p)_i − Q_s,p((i + ½)/M))².
- "histogram" (Risser et al. 2017, exact): the same matching along the N channel axes, i.e. each
  channel's histogram; E_l = 1/(M N) Σ_n Σ_i (sort(F_n)_i − Q_s,n((i + ½)/M))².

Several styles blend as mixtures: raw moments add for "mean_cov"; for the quantile losses the target
is the weighted mean of the quantile functions, the 1-D Wasserstein barycenter of the styles.
Each loss is scaled by :data:`SCALE` so that the default β means a similar balance for every loss.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

EPS = 1e-4
"""ε of "mean_cov": both covariances get ε·tr(C_s)/N added, so the square roots are well defined."""

SCALE = {"mean_cov": 1.5e4, "sliced_wasserstein": 3e4, "histogram": 2e4}
"""Factor of each loss's E_l: the demo pair's L_style at the content image is then near the Gram loss's."""


def _flat(features: jax.Array) -> jax.Array:
    """(H, W, N) → (M, N) feature vectors."""
    return features.reshape(-1, features.shape[-1])


def statistics(features: jax.Array, kind: str) -> dict[str, jax.Array]:
    """What ``blend`` needs of one style's layer (H, W, N): centred moments, sorted channels, or the features."""
    f = _flat(features)
    if kind == "mean_cov":
        mean = jnp.mean(f, axis=0)
        centred = f - mean
        return {"mean": mean, "cov": centred.T @ centred / f.shape[0]}
    if kind == "histogram":
        return {"sorted": sort_rows(f.T).T}
    return {"features": f}


def blend(stats: Sequence[dict[str, Any]], weights: Sequence[float], kind: str) -> dict[str, Any]:
    """The target of one layer from each style's :func:`statistics` and the blend weights w_k (Σ w_k = 1)."""
    w = np.asarray(weights, np.float64)
    if kind == "mean_cov":
        return _gaussian([np.asarray(s["mean"], np.float64) for s in stats],
                         [np.asarray(s["cov"], np.float64) for s in stats], w)
    if kind == "histogram":
        q = max(s["sorted"].shape[0] for s in stats)
        return {"sorted": sum(np.float32(wk) * np.asarray(quantiles(jnp.asarray(s["sorted"]), q))
                              for wk, s in zip(w, stats))}
    return {"features": tuple(s["features"] for s in stats), "weights": np.asarray(w, np.float32)}  # see draw


def _gaussian(means: list[np.ndarray], covs: list[np.ndarray], w: np.ndarray) -> dict[str, np.ndarray]:
    """μ_s, C_s + εI and √(C_s + εI) of the mixture Σ w_k N(μ_k, C_k), in float64 (eigendecomposition)."""
    mean = sum(wk * m for wk, m in zip(w, means))
    second = sum(wk * (c + np.outer(m, m)) for wk, c, m in zip(w, covs, means))
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


def mean_cov_loss(features: jax.Array, target: dict[str, jax.Array]) -> jax.Array:
    """E_l = W₂²(N(μ, C + εI), N(μ_s, C_s)) / N, C the centred covariance of the image's features."""
    f = _flat(features)
    n = f.shape[-1]
    mean = jnp.mean(f, axis=0)
    centred = f - mean
    cov = centred.T @ centred / f.shape[0] + target["eps"] * jnp.eye(n, dtype=f.dtype)
    root = target["root"]
    cross = trace_sqrt(root @ cov @ root)
    w2 = jnp.sum(jnp.square(mean - target["mean"])) + jnp.trace(cov) + jnp.trace(target["cov"]) - 2.0 * cross
    return SCALE["mean_cov"] * w2 / n


def quantiles(sorted_values: jax.Array, m: int) -> jax.Array:
    """Q((i + ½)/m), i < m, of sorted samples (M_s, P) along axis 0, interpolated linearly: (m, P)."""
    count = sorted_values.shape[0]
    if count == m:
        return sorted_values
    pos = jnp.clip((jnp.arange(m, dtype=jnp.float32) + 0.5) * (count / m) - 0.5, 0.0, count - 1)
    lo = jnp.floor(pos).astype(jnp.int32)
    hi = jnp.minimum(lo + 1, count - 1)
    frac = (pos - lo)[:, None]
    return sorted_values[lo] * (1.0 - frac) + sorted_values[hi] * frac


def sort_rows(x: jax.Array) -> jax.Array:
    """Each row of x sorted ascending: float32 as order-preserving int32 keys, which XLA sorts ~5× faster."""
    flip = lambda i: jnp.where(i < 0, i ^ 0x7FFFFFFF, i)  # noqa: E731 (negative floats' bits run backwards)
    keys = flip(jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.int32))
    return jax.lax.bitcast_convert_type(flip(jnp.sort(keys, axis=-1)), jnp.float32)


@jax.custom_vjp
def sorted_distance(p: jax.Array, goal: jax.Array) -> jax.Array:
    """1/(P M) Σ_p Σ_i (sort(p_p)_i − goal_p,i)² of rows p (P, M) and sorted goal rows (P, M)."""
    return _sorted_distance_fwd(p, goal)[0]


def _sorted_distance_fwd(p, goal):
    s = sort_rows(p)
    return jnp.mean(jnp.square(s - goal)), (p, s, goal)


def _sorted_distance_bwd(res, g):
    """∂/∂p_j = 2 (p_j − t_j)/(P M), t_j = goal at p_j's rank; tied values share the mean goal of their ranks
    (a subgradient blind to the order of equal values, as ReLU's zeros are)."""
    p, s, goal = res
    lo = jax.vmap(lambda r, v: jnp.searchsorted(r, v, side="left"))(s, p)
    hi = jax.vmap(lambda r, v: jnp.searchsorted(r, v, side="right"))(s, p)
    total = jnp.concatenate([jnp.zeros_like(goal[:, :1]), jnp.cumsum(goal, axis=-1)], axis=-1)
    t = (jnp.take_along_axis(total, hi, -1) - jnp.take_along_axis(total, lo, -1)) / jnp.maximum(hi - lo, 1)
    return g * 2.0 * (p - t) / p.size, jnp.zeros_like(goal)


sorted_distance.defvjp(_sorted_distance_fwd, _sorted_distance_bwd)


def quantile_loss(features: jax.Array, target: dict[str, jax.Array]) -> jax.Array:
    """E_l of the quantile losses: 1/(M P) Σ (sort(F d_p)_i − Q_p((i + ½)/M))², d_p the ``directions`` (P columns;
    absent: the N channel axes, "histogram") and Q_p the target's ``sorted`` projections (M_s, P)."""
    f = _flat(features)
    projected = f @ target["directions"] if "directions" in target else f
    goal = quantiles(target["sorted"], f.shape[0])
    kind = "sliced_wasserstein" if "directions" in target else "histogram"
    return SCALE[kind] * sorted_distance(projected.T, goal.T)


def directions(key: jax.Array, n: int, count: int | None = None) -> jax.Array:
    """``count`` (default N) random unit vectors of R^N as the columns of an (N, count) matrix."""
    d = jax.random.normal(key, (n, count or n))
    return d / jnp.linalg.norm(d, axis=0, keepdims=True)


def draw(target: dict[str, Any], key: jax.Array) -> dict[str, jax.Array]:
    """A "sliced_wasserstein" target for one step: N directions from ``key`` and the styles' sorted projections
    on them, blended as quantile functions on max M_s points (done once per step, not per evaluation)."""
    d = directions(key, target["features"][0].shape[-1])
    q = max(s.shape[0] for s in target["features"])
    goal = sum(w * quantiles(sort_rows((s @ d).T).T, q) for w, s in zip(target["weights"], target["features"]))
    return {"directions": d, "sorted": goal}


def layer_loss(kind: str, features: jax.Array, target: dict[str, Any]) -> jax.Array:
    """E_l of loss ``kind`` for one layer (a "sliced_wasserstein" target as :func:`draw` makes it)."""
    return mean_cov_loss(features, target) if kind == "mean_cov" else quantile_loss(features, target)
