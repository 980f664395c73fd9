"""What the quantile losses share: quantile functions of sorted samples, a fast float sort, and the
sorted-matching distance 1/(P M) Σ_p Σ_i (sort(p_p)_i − goal_p,i)² with its gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp


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


def matched(projected: jax.Array, sorted_goal: jax.Array) -> jax.Array:
    """1/(M P) Σ_p Σ_i (sort(projected_p)_i − Q_p((i + ½)/M))² of (M, P) projections against sorted (M_s, P)."""
    goal = quantiles(sorted_goal, projected.shape[0])
    return sorted_distance(projected.T, goal.T)
