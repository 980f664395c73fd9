"""The compiled optimization loop of one image (optax Adam or L-BFGS); batches are the same under ``vmap``.

The image x is (H, W, 3) RGB in [0, 1]: after every step x is projected onto [0, 1], and line-search
trial points are evaluated at clip(x, 0, 1), so every image the objective sees is valid. L-BFGS
reuses f and ∇f from its line search's last trial point (exact where no pixel was clipped; the
projection keeps pixels from getting stuck at zero gradient outside the box).

Every function takes the traced :class:`jax_nst.settings.Hyper` (loss weights, learning rate, EMA
decay): one compiled program per :class:`jax_nst.settings.Program` and image shape serves all weights.
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import objective, vgg
from ..objective import Targets, banded
from . import memory, spatial
from .linesearch import scale_by_wolfe_linesearch

if TYPE_CHECKING:
    from ..program import Hyper, Program

MEMORY_SCHEDULER = {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}
"""On CPU the memory-minimizing scheduler: half the peak memory, no slower."""


STOP_WINDOW = 10
"""k of the stopping rule: the loss's relative decrease is averaged over about k steps (an EMA of decay 1 − 1/k),
and no scale stops before its k-th step."""


class Watched(NamedTuple):
    """Optimizer state with what the stopping rule reads: the steps t taken at this scale, ln L(x_{t−1}) of the loss
    the last step saw, and the EMA of the loss's relative decrease per step, c_t = d·c_{t−1} + (1 − d)·(ln L(x_{t−2})
    − ln L(x_{t−1})) (d = 1 − 1/k, from the second step; a log, so that a loss that goes up and down by the same
    factor averages to no decrease)."""

    inner: Any
    change: jax.Array
    count: jax.Array
    log_loss: jax.Array

    def stopped(self, tolerance: Any, xp: Any = jnp) -> Any:
        """Whether the picture is done: t ≥ k and the bias-corrected c_t/(1 − dᵗ⁻¹) below ``tolerance`` > 0
        (``xp``: jax.numpy in the loop, numpy on the host)."""
        return (tolerance > 0) & (xp.asarray(self.count) >= STOP_WINDOW) & (self.mean_change(xp) < tolerance)

    def mean_change(self, xp: Any = jnp) -> Any:
        """The bias-corrected EMA c_t/(1 − dᵗ⁻¹) of the loss's relative decrease per step (∞ before the second)."""
        change, t = xp.asarray(self.change), xp.asarray(self.count)
        corrected = change / (1.0 - (1.0 - 1.0 / STOP_WINDOW) ** xp.maximum(t - 1, 1).astype(change.dtype))
        return xp.where(t > 1, corrected, xp.inf)


class Averaged(NamedTuple):
    """Optimizer state with the iterate average x̄ (``average`` > 0) and its step count t."""

    inner: optax.OptState
    mean: jax.Array
    count: jax.Array


class Loop(NamedTuple):
    """Compiled pieces of an optimization; batch versions take a leading batch axis on x, state, content and
    hyper (each image its own weights: :func:`per_image` repeats one set)."""

    init: Callable  # (params, x, targets, hyper) -> optimizer state (:class:`Watched`)
    run: Callable  # (params, x, state, targets, hyper, n) -> (x, state, function evaluations): n steps, fewer if stopped
    losses: Callable  # (params, x, targets, hyper) -> {"total", each term's name: its value}


def make_optimizer(program: Program, learning_rate: jax.Array) -> optax.GradientTransformationExtraArgs:
    """optax Adam, or optax L-BFGS with a strong-Wolfe line search (:mod:`.linesearch`) starting from step 1."""
    if program.optimizer == "adam":
        return optax.adam(learning_rate)
    return optax.lbfgs(learning_rate=learning_rate, memory_size=program.lbfgs_memory,
                       linesearch=scale_by_wolfe_linesearch(max_steps=20))


def make_loop(program: Program, batched: bool = False, *, scheduler: dict | None = None, prepare: bool = True,
              one_by_one: bool | None = None) -> Loop:
    """Jitted init / n-step run / loss report, one compilation per image shape.

    ``run`` performs n optimizer steps in a ``lax.fori_loop`` on the device, so the host is involved
    only between calls (progress reports). A batch runs under ``vmap`` (L-BFGS too: its line search
    evaluates f once per iteration, batched or not); with ``program.spatial`` > 1 one image's rows are
    split over the devices (:mod:`.spatial`). ``scheduler``: XLA options (default: the
    memory-optimized scheduler on CPU); ``prepare``: derive the kernels' transforms once per call,
    not per evaluation; ``one_by_one``: run a batch's images one after the other (``lax.map``);
    default: for L-BFGS on CPU (:func:`one_by_one_default`).
    """
    lbfgs = program.optimizer == "lbfgs"
    evaluate = objective.evaluate if program.spatial == 1 else spatial.evaluate(program)
    if banded.bands_needed(program) and program.spatial == 1:  # under spatial, each device takes its share of bands
        evaluate = banded.evaluate

    def value_fn(params, prepared, targets, hyper):
        def f(y):
            remat = memory.use_remat(program, y.shape)  # decided when tracing, from the image size
            return evaluate(params, prepared, y, targets, hyper, program, remat)

        return f

    def step(params, prepared, carry, targets, hyper):
        x, state, evals = carry
        if program.stochastic:  # this step's random directions: the key folded with the step count
            targets = objective.targets.for_step(targets, optax.tree_utils.tree_get(state, "count"), program)
        f = lambda y: value_fn(params, prepared, targets, hyper)(y)[0]  # noqa: E731
        opt = make_optimizer(program, hyper.learning_rate)
        if lbfgs and not program.stochastic:  # the line search's last evaluation left f(x) and ∇f(x) in the state
            v, g = optax.tree_utils.tree_get(state, "value"), optax.tree_utils.tree_get(state, "grad")
        else:  # (a stochastic objective changed since: L-BFGS evaluates f(x) and ∇f(x) again, one more evaluation)
            v, g = jax.value_and_grad(f)(x)
        updates, state = opt.update(g, state, x, value=v, grad=g, value_fn=f)
        x = jnp.clip(optax.apply_updates(x, updates), 0.0, 1.0)
        evals = evals + (optax.tree_utils.tree_get(state, "num_linesearch_steps") + program.stochastic if lbfgs else 1)
        return x, state, evals, v

    if program.average:
        step = averaged_step(step)
    step = watched_step(step)

    def run(params, x, state, targets, hyper, n):
        prepared = _prepare(params, program, prepare)
        end = state.count + n
        going = lambda carry: (carry[1].count < end) & ~carry[1].stopped(hyper.stop)  # noqa: E731
        body = lambda carry: step(params, prepared, carry, targets, hyper)  # noqa: E731
        return jax.lax.while_loop(going, body, (x, state, jnp.zeros((), jnp.int32)))

    def init(params, x, targets, hyper):
        state = make_optimizer(program, hyper.learning_rate).init(x)
        targets = objective.targets.for_step(targets, 0, program)
        if lbfgs:
            f = value_fn(params, _prepare(params, program, prepare), targets, hyper)
            v, g = jax.value_and_grad(lambda y: f(y)[0])(x)
            state = optax.tree_utils.tree_set(state, value=v, grad=g)
        state = jax.tree.map(lambda a: jnp.asarray(a, a.dtype), state)  # strong types: `run` compiles once
        if program.average:
            state = Averaged(state, x, jnp.zeros((), jnp.int32))
        return Watched(state, jnp.zeros((), x.dtype), jnp.zeros((), jnp.int32), jnp.zeros((), x.dtype))

    def report(params, x, targets, hyper):  # a stochastic loss is reported with step 0's draw, so reports compare
        targets = objective.targets.for_step(targets, 0, program)
        return value_fn(params, _prepare(params, program, prepare), targets, hyper)(x)[1]

    if batched:
        axes = Targets(content=0, style=None, pixels=0)
        init = jax.vmap(init, in_axes=(None, 0, axes, 0))
        one_by_one = one_by_one_default(program) if one_by_one is None else one_by_one
        run = _each_image(run) if one_by_one else jax.vmap(run, in_axes=(None, 0, 0, axes, 0, None))
        report = jax.vmap(report, in_axes=(None, 0, axes, 0))
    options = compiler_options() if scheduler is None else scheduler
    jit = functools.partial(jax.jit, compiler_options=options or None)
    return Loop(init=jit(init), run=jit(run), losses=jit(report))


def _prepare(params: vgg.Params, program: Program, prepare: bool) -> dict | None:
    """The "prepared" collection of ``program``'s convolution (None: each evaluation derives its own)."""
    return vgg.prepare(params, program.conv, program.precision) if prepare else None


def one_by_one_default(program: Program) -> bool:
    """Whether a batch runs image after image by default: on CPU.

    Under ``vmap`` every L-BFGS image runs as many line-search iterations as the batch's longest search
    (the others' results are masked). An accelerator has the parallel width to spare; a CPU does
    not: at 256 px on 2 cores, L-BFGS batches of 2/4/8 ran at 0.84/0.79/0.74× the speed of ``lax.map``, and
    Adam batches of 2/4 at 0.91/1.07× (``scripts/benchmark_batch.py --part vmap``, BENCHMARKS.md). A vmapped Adam
    batch with the W2 loss also hung in XLA:CPU at one small size (32 px, 16 px margin) once the loop carried the
    loss for the stopping rule.
    """
    return jax.default_backend() == "cpu"


def _each_image(run: Callable) -> Callable:
    """``run`` over a batch with ``lax.map``, one image after the other inside the compiled call."""

    def fn(params, x, state, targets, hyper, n):
        def one(args):
            xi, si, fields, hi = args
            return run(params, xi, si, targets._replace(**fields), hi, n)

        return jax.lax.map(one, (x, state, {f: getattr(targets, f) for f in objective.BATCHED}, hyper))

    return fn


def per_image(hyper: Hyper, batch: int) -> Hyper:
    """``hyper`` repeated for each image of a batch (a leading axis of ``batch`` on every value)."""
    return jax.tree.map(lambda a: np.broadcast_to(np.asarray(a), (batch, *np.shape(a))), hyper)


def stack(hypers: Sequence[Hyper]) -> Hyper:
    """Per-image hypers (one :class:`jax_nst.settings.Hyper` per image) as one batched Hyper."""
    return jax.tree.map(lambda *a: np.stack(a), *hypers)


def compiler_options() -> dict[str, str]:
    """XLA options of the compiled loop: :data:`MEMORY_SCHEDULER` on CPU, none elsewhere."""
    return MEMORY_SCHEDULER if jax.default_backend() == "cpu" else {}


def host_blas() -> contextlib.AbstractContextManager:
    """On CPU, one BLAS thread while the loop runs: XLA calls LAPACK for the W2 loss's ``eigh``, and OpenBLAS's own
    threads beside XLA's pool oversubscribe the cores (2 cores, 256 px: the W2 evaluation 1.39× the Gram's with
    them, 1.11× without; BENCHMARKS.md). Restored on exit; elsewhere nothing."""
    if jax.default_backend() != "cpu":
        return contextlib.nullcontext()
    import scipy.linalg.cython_lapack  # noqa: F401  the LAPACK that XLA:CPU calls, loaded so that the limit reaches it
    from threadpoolctl import threadpool_limits
    return threadpool_limits(1, user_api="blas")


def averaged_step(step: Callable) -> Callable:
    """``step`` that also updates the bias-corrected EMA of x: x̄_t = x̄_{t−1} + (1−d)/(1−dᵗ)·(x_t − x̄_{t−1})."""

    def fn(params, prepared, carry, targets, hyper):
        x, state, evals = carry
        x, inner, evals, v = step(params, prepared, (x, state.inner, evals), targets, hyper)
        t = state.count + 1
        d = hyper.average.astype(x.dtype)
        w = (1.0 - d) / (1.0 - jnp.power(d, t.astype(x.dtype)))
        return x, Averaged(inner, state.mean + w * (x - state.mean), t), evals, v

    return fn


def watched_step(step: Callable) -> Callable:
    """``step`` that also counts the steps and updates the EMA of the loss's relative decrease (:class:`Watched`)."""

    def fn(params, prepared, carry, targets, hyper):
        x, state, evals = carry
        new, inner, evals, v = step(params, prepared, (x, state.inner, evals), targets, hyper)
        log = jnp.log(jnp.maximum(v, jnp.finfo(state.log_loss.dtype).tiny)).astype(state.log_loss.dtype)
        d = 1.0 - 1.0 / STOP_WINDOW
        change = jnp.where(state.count > 0, d * state.change + (1.0 - d) * (state.log_loss - log), state.change)
        return new, Watched(inner, change.astype(state.change.dtype), state.count + 1, log), evals

    return fn


def output_image(x: Any, state: Any, average: bool) -> np.ndarray:
    """The image to show and return, clipped to [0, 1]: the iterate average x̄ when averaging, else x."""
    return np.clip(np.asarray(state.inner.mean if average else x), 0.0, 1.0)
