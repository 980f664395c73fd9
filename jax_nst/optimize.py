"""The objective of one image and its compiled optimization loop (optax Adam or L-BFGS).

The image x is (H, W, 3) RGB in [0, 1]: after every step x is projected onto [0, 1], and line-search
trial points are evaluated at clip(x, 0, 1), so every image the objective sees is valid. L-BFGS
reuses f and ∇f from its line search's last trial point (exact where no pixel was clipped; the
projection keeps pixels from getting stuck at zero gradient outside the box). Batches are the same
functions under ``jax.vmap``.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import losses, masks, memory, vgg
from .settings import Settings


class Targets(NamedTuple):
    """What the image is pulled towards: content features P_l and normalized style Grams A_l/M_l.

    With masks (``jax_nst.masks``): ``style[l]`` stacks one Gram per region (R, N, N), ``guides[l]``
    holds T_r^l (H_l, W_l, R), ``keep`` (H, W, 1) where the content ``pixels`` (batched) stay.
    """

    content: dict[str, jax.Array]
    style: dict[str, jax.Array]
    guides: dict[str, jax.Array] | None = None
    keep: jax.Array | None = None
    pixels: jax.Array | None = None


BATCHED = ("content", "pixels")
"""Targets fields with one entry per content image."""


class Averaged(NamedTuple):
    """Optimizer state with the iterate average x̄ (``Settings.average`` > 0) and its step count t."""

    inner: optax.OptState
    mean: jax.Array
    count: jax.Array


class Loop(NamedTuple):
    """Compiled pieces of an optimization; batch versions take a leading batch axis on x, state, content."""

    init: Callable  # (params, x, targets) -> optimizer state
    run: Callable  # (params, x, state, targets, n) -> (x, state, function evaluations)
    losses: Callable  # (params, x, targets) -> {"total", "content", "style", "tv"}


def content_targets(params: vgg.Params, content: jax.Array, s: Settings) -> dict[str, jax.Array]:
    """P_l: the content layers' features of a batch of content images (B, H, W, 3)."""
    return vgg.features(params, content, list(s.active_content_layers), s.pooling, s.model, s.precision)


def style_targets(params: vgg.Params, style: jax.Array, s: Settings) -> dict[str, jax.Array]:
    """A_l / M_l: the normalized Gram matrices of the style image (H, W, 3) at the style layers."""
    feats = vgg.features(params, style[None], list(s.active_style_layers), s.pooling, s.model, s.precision)
    return {l: losses.gram_matrix(f[0], normalize=True) for l, f in feats.items()}


def objective(s: Settings) -> Callable:
    """(params, x, targets) -> (L_total, parts), L_total = α Σ_l w_l L_content,l + β L_style + γ L_TV."""

    def fn(params: vgg.Params, x: jax.Array, targets: Targets) -> tuple[jax.Array, dict[str, jax.Array]]:
        x = jnp.clip(x, 0.0, 1.0)
        if targets.keep is not None:
            x = masks.composite(x, targets.pixels, targets.keep)
        remat = memory.use_remat(s, x.shape)  # decided when tracing, from the image size
        parts = layer_losses(s, targets)
        content, style = vgg.feature_losses(params, x[None], s.layers, parts, s.pooling, s.model, s.precision, remat)
        tv = losses.tv_loss(x)
        total = losses.total_loss(content, style, tv, s.content_weight, s.style_weight, s.tv_weight)
        return total, {"total": total, "content": content, "style": style, "tv": tv}

    return fn


def layer_losses(s: Settings, targets: Targets) -> Callable:
    """(layer l, F_l (1, H, W, N)) -> (w_l L_content,l, w_l E_l): one layer's share of the content and style losses."""
    c_layers, s_layers = s.active_content_layers, s.active_style_layers

    def fn(l: str, f: jax.Array) -> tuple[jax.Array, jax.Array]:
        feats, content, style = {l: f[0]}, jnp.zeros(()), jnp.zeros(())
        if l in c_layers:
            content = c_layers[l] * losses.content_loss(f[0], targets.content[l])
        if l in s_layers and targets.guides is None:
            style = losses.style_loss(feats, targets.style, {l: s_layers[l]})
        elif l in s_layers:
            style = masks.guided_style_loss(feats, targets.style, targets.guides, {l: s_layers[l]})
        return content, style

    return fn


def make_optimizer(s: Settings) -> optax.GradientTransformationExtraArgs:
    """optax Adam, or L-BFGS with a zoom (strong Wolfe) line search starting from step 1."""
    if s.optimizer == "adam":
        return optax.adam(s.learning_rate)
    linesearch = optax.scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy="one")
    return optax.lbfgs(learning_rate=s.learning_rate, memory_size=s.lbfgs_memory, linesearch=linesearch)


def make_loop(s: Settings, batched: bool = False) -> Loop:
    """Jitted init / n-step run / loss report, one compilation per image shape.

    ``run`` performs n optimizer steps in a ``lax.fori_loop`` on the device, so the host is
    involved only between calls (progress reports).
    """
    fn = objective(s)
    value = lambda p, x, t: fn(p, x, t)[0]  # noqa: E731
    opt = make_optimizer(s)
    lbfgs = s.optimizer == "lbfgs"

    def step(params, carry, targets):
        x, state, evals = carry
        f = lambda y: value(params, y, targets)  # noqa: E731
        if lbfgs:  # the line search's last evaluation left f(x) and ∇f(x) in the state
            v, g = optax.tree_utils.tree_get(state, "value"), optax.tree_utils.tree_get(state, "grad")
        else:
            v, g = jax.value_and_grad(f)(x)
        updates, state = opt.update(g, state, x, value=v, grad=g, value_fn=f)
        x = jnp.clip(optax.apply_updates(x, updates), 0.0, 1.0)
        if lbfgs:
            evals = evals + optax.tree_utils.tree_get(state, "num_linesearch_steps")
        else:
            evals = evals + 1
        return x, state, evals

    if s.average:
        step = averaged_step(step, s.average)

    def run(params, x, state, targets, n):
        body = lambda _, carry: step(params, carry, targets)  # noqa: E731
        return jax.lax.fori_loop(0, n, body, (x, state, jnp.zeros((), jnp.int32)))

    def init(params, x, targets):
        state = opt.init(x)
        if lbfgs:
            v, g = jax.value_and_grad(value, argnums=1)(params, x, targets)
            state = optax.tree_utils.tree_set(state, value=v, grad=g)
        return jax.tree.map(lambda a: jnp.asarray(a, a.dtype), state)  # strong types: `run` compiles once

    if s.average:
        init = averaged_init(init)
    report = lambda p, x, t: fn(p, x, t)[1]  # noqa: E731
    if batched:
        axes = Targets(content=0, style=None, pixels=0)
        init = jax.vmap(init, in_axes=(None, 0, axes))
        run = _each_image(run) if lbfgs else jax.vmap(run, in_axes=(None, 0, 0, axes, None))
        report = jax.vmap(report, in_axes=(None, 0, axes))
    jit = functools.partial(jax.jit, compiler_options=compiler_options())
    return Loop(init=jit(prepared(init, s)), run=jit(prepared(run, s)), losses=jit(prepared(report, s)))


def _each_image(run: Callable) -> Callable:
    """``run`` over a batch with ``lax.map``, one image after the other inside the compiled call.

    For L-BFGS instead of ``vmap``: optax's zoom line search picks its branch with ``lax.cond``
    and both branches evaluate f; under ``vmap`` the cond becomes a select, so every line-search
    iteration cost two evaluations per image (measured: a batch of 2 took 3.8× one image's time).
    """

    def fn(params, x, state, targets, n):
        def one(args):
            xi, si, fields = args
            return run(params, xi, si, targets._replace(**fields), n)

        return jax.lax.map(one, (x, state, {f: getattr(targets, f) for f in BATCHED}))

    return fn


def compiler_options() -> dict[str, str] | None:
    """XLA options of the compiled loop: on CPU the memory-minimizing scheduler (half the peak memory, no slower)."""
    return {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"} if jax.default_backend() == "cpu" else None


def prepared(fn: Callable, s: Settings) -> Callable:
    """``fn(params, ...)`` on ``vgg.prepare``-d params: kernel casts, transposes, transforms once per call."""
    return lambda params, *args: fn(vgg.prepare(params, s.precision), *args)


def averaged_step(step: Callable, decay: float) -> Callable:
    """``step`` that also updates the bias-corrected EMA of x: x̄_t = x̄_{t−1} + (1−d)/(1−dᵗ)·(x_t − x̄_{t−1})."""

    def fn(params, carry, targets):
        x, state, evals = carry
        x, inner, evals = step(params, (x, state.inner, evals), targets)
        t = state.count + 1
        w = (1.0 - decay) / (1.0 - jnp.power(decay, t.astype(x.dtype)))
        return x, Averaged(inner, state.mean + w * (x - state.mean), t), evals

    return fn


def averaged_init(init: Callable) -> Callable:
    """``init`` whose state also carries x̄_0 = x_0 and t = 0."""

    def fn(params, x, targets):
        return Averaged(init(params, x, targets), x, jnp.zeros((), jnp.int32))

    return fn


def output_image(x: jax.Array, state: optax.OptState, s: Settings) -> jax.Array:
    """The image to show and return: the iterate average x̄ when averaging, else x."""
    return state.mean if s.average else x
