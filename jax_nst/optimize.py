"""The objective of one image and its compiled optimization loop (optax Adam or L-BFGS).

The image x is (H, W, 3) RGB in [0, 1]: after every step x is projected onto [0, 1], and line-search
trial points are evaluated at clip(x, 0, 1), so every image the objective sees is valid. L-BFGS
reuses f and ∇f from its line search's last trial point (exact where no pixel was clipped; the
projection keeps pixels from getting stuck at zero gradient outside the box). Batches are the same
functions under ``jax.vmap``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import losses, vgg
from .settings import Settings


class Targets(NamedTuple):
    """What the image is pulled towards: content features P_l and normalized style Grams A_l/M_l."""

    content: dict[str, jax.Array]
    style: dict[str, jax.Array]


class Loop(NamedTuple):
    """Compiled pieces of an optimization; batch versions take a leading batch axis on x, state, content."""

    init: Callable  # (params, x, targets) -> optimizer state
    run: Callable  # (params, x, state, targets, n) -> (x, state, function evaluations)
    losses: Callable  # (params, x, targets) -> {"total", "content", "style", "tv"}


def content_targets(params: vgg.Params, content: jax.Array, s: Settings) -> dict[str, jax.Array]:
    """P_l: the content layers' features of a batch of content images (B, H, W, 3)."""
    return vgg.features(params, content, list(s.active_content_layers), s.pooling, s.model)


def style_targets(params: vgg.Params, style: jax.Array, s: Settings) -> dict[str, jax.Array]:
    """A_l / M_l: the normalized Gram matrices of the style image (H, W, 3) at the style layers."""
    feats = vgg.features(params, style[None], list(s.active_style_layers), s.pooling, s.model)
    return {l: losses.gram_matrix(f[0], normalize=True) for l, f in feats.items()}


def objective(s: Settings) -> Callable:
    """(params, x, targets) -> (L_total, parts), L_total = α Σ_l w_l L_content,l + β L_style + γ L_TV."""

    def fn(params: vgg.Params, x: jax.Array, targets: Targets) -> tuple[jax.Array, dict[str, jax.Array]]:
        x = jnp.clip(x, 0.0, 1.0)
        feats = {l: f[0] for l, f in vgg.features(params, x[None], s.layers, s.pooling, s.model).items()}
        c_layers, s_layers = s.active_content_layers.items(), s.active_style_layers
        content = sum((w * losses.content_loss(feats[l], targets.content[l]) for l, w in c_layers), jnp.zeros(()))
        style = losses.style_loss(feats, targets.style, s_layers) if s_layers else jnp.zeros(())
        tv = losses.tv_loss(x)
        total = losses.total_loss(content, style, tv, s.content_weight, s.style_weight, s.tv_weight)
        return total, {"total": total, "content": content, "style": style, "tv": tv}

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

    def run(params, x, state, targets, n):
        body = lambda _, carry: step(params, carry, targets)  # noqa: E731
        return jax.lax.fori_loop(0, n, body, (x, state, jnp.zeros((), jnp.int32)))

    def init(params, x, targets):
        state = opt.init(x)
        if lbfgs:
            v, g = jax.value_and_grad(value, argnums=1)(params, x, targets)
            state = optax.tree_utils.tree_set(state, value=v, grad=g)
        return jax.tree.map(lambda a: jnp.asarray(a, a.dtype), state)  # strong types: `run` compiles once

    report = lambda p, x, t: fn(p, x, t)[1]  # noqa: E731
    if batched:
        axes = Targets(content=0, style=None)
        init = jax.vmap(init, in_axes=(None, 0, axes))
        run = jax.vmap(run, in_axes=(None, 0, 0, axes, None))
        report = jax.vmap(report, in_axes=(None, 0, axes))
    return Loop(init=jax.jit(init), run=jax.jit(run), losses=jax.jit(report))
