"""A strong-Wolfe line search that evaluates f once per iteration, also under ``vmap``.

φ(t) = f(x + t·d). The search brackets a step (Nocedal & Wright, Algorithm 3.5: t ← 2t until
φ rises or its slope turns) and then zooms into the bracket with a safeguarded cubic (Algorithm
3.6), until t satisfies the strong Wolfe conditions
φ(t) ≤ φ(0) + c₁ t φ'(0) and |φ'(t)| ≤ c₂ |φ'(0)|.

optax's zoom search picks its phase with ``lax.cond`` whose two branches both evaluate f; under
``vmap`` a cond becomes a select, so each iteration then costs two evaluations. Here each
iteration first chooses the trial step (scalars, by ``jnp.where``), evaluates f and ∇f once at it,
and then updates the bracket by scalar selects: one evaluation per iteration in every case, so a
batch of L-BFGS images is one vmapped program.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

C1, C2 = 1e-4, 0.9
"""Sufficient-decrease and curvature constants of the strong Wolfe conditions (the usual L-BFGS choice)."""


class WolfeState(NamedTuple):
    """What the search leaves for the next L-BFGS step: f and ∇f at the accepted point, and its work."""

    learning_rate: jax.Array
    value: jax.Array
    grad: Any
    num_linesearch_steps: jax.Array


class _Search(NamedTuple):
    """The loop carry: the last trial, the bracket [lo, hi] (values, slopes), the best point, the status."""

    count: jax.Array
    t: jax.Array
    f: jax.Array
    s: jax.Array
    g: Any
    lo: jax.Array
    f_lo: jax.Array
    s_lo: jax.Array
    hi: jax.Array
    f_hi: jax.Array
    s_hi: jax.Array
    bracketed: jax.Array
    done: jax.Array
    best_t: jax.Array
    best_f: jax.Array
    best_g: Any


def cubic_step(lo, f_lo, s_lo, hi, f_hi, s_hi) -> jax.Array:
    """Minimizer of the cubic through (lo, f_lo, s_lo) and (hi, f_hi, s_hi), kept in the middle 80 % of
    the bracket; the midpoint when the cubic has no usable minimum (N&W eq. 3.59)."""
    d1 = s_lo + s_hi - 3.0 * (f_lo - f_hi) / (lo - hi)
    radicand = d1 * d1 - s_lo * s_hi
    d2 = jnp.sign(hi - lo) * jnp.sqrt(jnp.maximum(radicand, 0.0))
    t = hi - (hi - lo) * (s_hi + d2 - d1) / (s_hi - s_lo + 2.0 * d2)
    left, right = jnp.minimum(lo, hi), jnp.maximum(lo, hi)
    margin = 0.1 * (right - left)
    ok = (radicand >= 0.0) & jnp.isfinite(t) & (t > left + margin) & (t < right - margin)
    return jnp.where(ok, t, 0.5 * (lo + hi))


def scale_by_wolfe_linesearch(max_steps: int = 20, grow: float = 2.0) -> optax.GradientTransformationExtraArgs:
    """The update direction d scaled by a step t that satisfies the strong Wolfe conditions.

    ``update(d, state, x, value=f(x), grad=∇f(x), value_fn=f)``; the state keeps f and ∇f at the new
    point (``value``, ``grad``) and the number of evaluations (``num_linesearch_steps``). After
    ``max_steps`` evaluations without a Wolfe point the lowest point with sufficient decrease is
    taken (else the last point tried, as optax's zoom search does).
    """

    def init(params: Any) -> WolfeState:
        zero = jnp.zeros((), jnp.float32)
        return WolfeState(zero, jnp.asarray(jnp.inf, jnp.float32), optax.tree.zeros_like(params), jnp.zeros((), jnp.int32))

    def update(updates, state, params, *, value, grad, value_fn: Callable, **extra):
        value_and_grad = jax.value_and_grad(value_fn)
        f0 = jnp.asarray(value, jnp.float32)
        s0 = optax.tree.vdot(updates, grad).real.astype(jnp.float32)

        def trial(c: _Search) -> jax.Array:
            growing = jnp.where(c.count == 0, 1.0, grow * c.t)
            return jnp.where(c.bracketed, cubic_step(c.lo, c.f_lo, c.s_lo, c.hi, c.f_hi, c.s_hi), growing)

        def body(c: _Search) -> _Search:
            t = trial(c)
            f, g = value_and_grad(optax.tree.add_scale(params, t, updates), **extra)
            f = jnp.where(jnp.isfinite(f), f, jnp.inf).astype(jnp.float32)
            s = optax.tree.vdot(updates, g).real.astype(jnp.float32)
            armijo = f <= f0 + C1 * t * s0
            wolfe = armijo & (jnp.abs(s) <= C2 * jnp.abs(s0))
            # bracketing phase (Algorithm 3.5): the previous trial is the lower end
            rose = ~armijo | ((c.count > 0) & (f >= c.f))
            turned = ~rose & ~wolfe & (s >= 0.0)
            b_lo = jnp.where(turned, t, c.t)
            b_f_lo, b_s_lo = jnp.where(turned, f, c.f), jnp.where(turned, s, c.s)
            b_hi = jnp.where(turned, c.t, t)
            b_f_hi, b_s_hi = jnp.where(turned, c.f, f), jnp.where(turned, c.s, s)
            # zoom phase (Algorithm 3.6): t replaces hi, or becomes lo (and hi the old lo if it lies beyond)
            worse = ~armijo | (f >= c.f_lo)
            flip = ~worse & (s * (c.hi - c.lo) >= 0.0)
            z_lo, z_f_lo, z_s_lo = (jnp.where(worse, c.lo, t), jnp.where(worse, c.f_lo, f), jnp.where(worse, c.s_lo, s))
            z_hi = jnp.where(worse, t, jnp.where(flip, c.lo, c.hi))
            z_f_hi = jnp.where(worse, f, jnp.where(flip, c.f_lo, c.f_hi))
            z_s_hi = jnp.where(worse, s, jnp.where(flip, c.s_lo, c.s_hi))
            z = c.bracketed
            better = armijo & (f < c.best_f)  # the lowest point with sufficient decrease so far
            return _Search(
                count=c.count + 1, t=t, f=f, s=s, g=g,
                lo=jnp.where(z, z_lo, b_lo), f_lo=jnp.where(z, z_f_lo, b_f_lo), s_lo=jnp.where(z, z_s_lo, b_s_lo),
                hi=jnp.where(z, z_hi, b_hi), f_hi=jnp.where(z, z_f_hi, b_f_hi), s_hi=jnp.where(z, z_s_hi, b_s_hi),
                bracketed=z | rose | turned, done=wolfe,
                best_t=jnp.where(better, t, c.best_t), best_f=jnp.where(better, f, c.best_f),
                best_g=optax.tree.where(better, g, c.best_g),
            )

        zero, inf = jnp.zeros((), jnp.float32), jnp.asarray(jnp.inf, jnp.float32)
        start = _Search(
            count=jnp.zeros((), jnp.int32), t=zero, f=f0, s=s0, g=grad, lo=zero, f_lo=f0, s_lo=s0,
            hi=zero, f_hi=f0, s_hi=s0, bracketed=jnp.asarray(False), done=jnp.asarray(False),
            best_t=zero, best_f=inf, best_g=grad,
        )
        end = jax.lax.while_loop(lambda c: ~c.done & (c.count < max_steps), body, start)
        last = end.done | ~jnp.isfinite(end.best_f)
        t = jnp.where(last, end.t, end.best_t)
        f = jnp.where(last, end.f, end.best_f)
        g = optax.tree.where(last, end.g, end.best_g)
        new = WolfeState(t, f, g, end.count)
        return optax.tree.scale(t, updates), optax.tree.cast_like(new, other_tree=state)

    return optax.GradientTransformationExtraArgs(init, update)
