"""The strong-Wolfe line search: Wolfe points, one evaluation per iteration, batches equal to one-by-one."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jax_nst.optimize.linesearch import C1, C2, cubic_step, scale_by_wolfe_linesearch

import tiny


def rosenbrock(x: jax.Array) -> jax.Array:
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def lbfgs_run(x0: jax.Array, steps: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``steps`` L-BFGS steps on the Rosenbrock function: (x, f(x), evaluations per step)."""
    opt = optax.lbfgs(memory_size=10, linesearch=scale_by_wolfe_linesearch())

    def step(carry, _):
        x, state = carry
        v, g = jax.value_and_grad(rosenbrock)(x)
        updates, state = opt.update(g, state, x, value=v, grad=g, value_fn=rosenbrock)
        return (optax.apply_updates(x, updates), state), optax.tree_utils.tree_get(state, "num_linesearch_steps")

    (x, _), evals = jax.lax.scan(step, (x0, opt.init(x0)), None, length=steps)
    return x, rosenbrock(x), evals


STARTS = jnp.array([[-1.2, 1.0, -0.5, 0.7], [0.0, 0.0, 0.0, 0.0], [2.0, -1.0, 1.5, 0.3], [-0.3, 0.9, 1.1, 1.4]])


def test_lbfgs_with_it_solves_rosenbrock() -> None:
    x, f, evals = jax.jit(lbfgs_run, static_argnums=1)(STARTS[0], 60)
    assert float(f) < 1e-8
    np.testing.assert_allclose(x, 1.0, atol=1e-4)
    assert 1 <= int(evals.max()) <= 20


@pytest.mark.parametrize("scale", [1e-3, 1.0, 30.0])
def test_the_step_it_takes_is_a_strong_wolfe_point(scale: float) -> None:
    """From a point along -∇f (scaled so that step 1 is too short, fine or far too long)."""
    x = STARTS[0]
    f0, g0 = jax.value_and_grad(rosenbrock)(x)
    d = -scale * g0 / jnp.linalg.norm(g0)
    ls = scale_by_wolfe_linesearch()
    update, state = ls.update(d, ls.init(x), x, value=f0, grad=g0, value_fn=rosenbrock)
    t = float(state.learning_rate)
    f, g = jax.value_and_grad(rosenbrock)(x + update)
    slope0, slope = float(jnp.vdot(d, g0)), float(jnp.vdot(d, g))
    assert float(f) <= float(f0) + C1 * t * slope0
    assert abs(slope) <= C2 * abs(slope0) + 1e-6
    np.testing.assert_allclose(state.value, f, rtol=1e-5)  # f and ∇f at the new point, for the next step
    np.testing.assert_allclose(state.grad, g, rtol=1e-4, atol=1e-4)


def test_cubic_step_finds_a_cubic_minimum_and_falls_back_to_bisection() -> None:
    f = lambda t: (t - 0.3) ** 2 * (t + 1.0)  # noqa: E731  local minimum at t = 0.3
    df = jax.grad(f)
    t = cubic_step(0.0, f(0.0), df(0.0), 1.0, f(1.0), df(1.0))
    assert abs(float(t) - 0.3) < 1e-5
    assert float(cubic_step(0.0, 0.0, 3.0, 1.0, 2.0, 3.0)) == 0.5  # no real critical point: bisection


def count_evaluations(linesearch: optax.GradientTransformationExtraArgs) -> int:
    """How many times f is written into the traced program of one batched line search."""
    calls = []

    def f(x):
        calls.append(1)
        return rosenbrock(x)

    def one(x):
        v, g = jax.value_and_grad(rosenbrock)(x)
        return linesearch.update(-g, linesearch.init(x), x, value=v, grad=g, value_fn=f)[0]

    jax.make_jaxpr(jax.vmap(one))(STARTS)
    return len(calls)


def test_one_evaluation_per_iteration_under_vmap() -> None:
    """optax's zoom search writes f into both branches of a cond (under vmap both run); this one writes it once."""
    assert count_evaluations(scale_by_wolfe_linesearch()) == 1
    zoom = optax.scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy="one")
    assert count_evaluations(zoom) >= 2


def test_a_batch_equals_one_by_one_with_the_same_evaluations() -> None:
    run = jax.jit(lbfgs_run, static_argnums=1)
    xs, fs, evals = jax.jit(jax.vmap(lbfgs_run, in_axes=(0, None)), static_argnums=1)(STARTS, 12)
    for i, start in enumerate(STARTS):
        x, f, ev = run(start, 12)
        np.testing.assert_allclose(xs[i], x, rtol=1e-3, atol=1e-4)  # float32 order of operations differs
        np.testing.assert_array_equal(evals[i], ev)  # each image's own evaluation count, step by step
    assert len({tuple(np.asarray(e)) for e in evals}) > 1  # the images did differ in their searches


def test_a_vmapped_lbfgs_batch_of_the_real_objective_equals_one_by_one(params, content_small, style_small) -> None:
    """The loop batched by vmap (the default on accelerators) gives each image its own result and evaluations,
    under its own weights (each image here has another β)."""
    from jax_nst import objective, optimize
    from jax_nst.settings import Settings

    # the Gram loss: W2's float32 rounding moves the line search (its own bounds: test_batch's DRIFT)
    s = Settings(size=48, optimizer="lbfgs", remat="off", style_loss="gram", **tiny.LAYERS)
    batch = np.stack([content_small, content_small[::-1].copy(), 1.0 - content_small])
    program, hypers = s.program(), [s.replace(style_weight=w).hyper() for w in (1e2, 1e3, 1e4)]
    targets = objective.targets.build(params, batch, [style_small], program)
    loop, hyper = optimize.make_loop(program, True, one_by_one=False), optimize.stack(hypers)
    x, _, evals = loop.run(params, batch, loop.init(params, batch, targets, hyper), targets, hyper, 4)
    alone = optimize.make_loop(program, False)
    for i in range(len(batch)):
        t = targets._replace(**{f: jax.tree.map(lambda a: a[i], getattr(targets, f)) for f in objective.BATCHED})
        xi, _, ev = alone.run(params, batch[i], alone.init(params, batch[i], t, hypers[i]), t, hypers[i], 4)
        np.testing.assert_allclose(x[i], xi, atol=2e-3)
        assert int(evals[i]) == int(ev)
