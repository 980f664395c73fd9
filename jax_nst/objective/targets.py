"""What the image is pulled towards: content features P_l and the style loss's targets (Grams A_l, …), computed once.

Each is one compiled program per image shape (the Program is static), so a first call compiles a
handful of programs rather than one per eager operation.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .. import vgg
from . import guided, style_losses

if TYPE_CHECKING:
    from ..program import Program


class Targets(NamedTuple):
    """Content features P_l and the style targets: normalized Grams A_l/M_l, or another style loss's.

    With masks: ``style[l]`` stacks one Gram per region (R, N, N), ``guides[l]`` holds T_r^l
    (H_l, W_l, R), ``keep`` (H, W, 1) where the content ``pixels`` (batched) stay. ``inputs`` holds the
    input of each term that takes one, by term name (a video frame's ``"temporal"``: :mod:`.terms.temporal`).
    ``style[l]`` is the target of the style loss (:mod:`.style_losses`); a random loss's is drawn for each
    step from ``key`` by :func:`for_step`.
    """

    content: dict[str, jax.Array]
    style: dict[str, jax.Array]
    guides: dict[str, jax.Array] | None = None
    keep: jax.Array | None = None
    pixels: jax.Array | None = None
    inputs: dict[str, Any] | None = None
    key: jax.Array | None = None


BATCHED = ("content", "pixels")
"""Targets fields with one entry per content image."""


def _features(params: vgg.Params, batch: jax.Array, layers: Sequence[str], program: Program, rows: int = 0,
              ) -> dict[str, jax.Array]:
    """F_l of ``layers`` for a batch (B, H, W, 3); with ``program.spatial`` > 1 band by band over the devices
    when the height splits into bands (:func:`jax_nst.vgg.row_bands.row_multiple`; a style image may not), else on one;
    with ``program.bands`` > 1 in bands one after another (:mod:`jax_nst.vgg.windows`). ``rows`` > 0: the batch's own
rows, the rest padding for the devices (:func:`jax_nst.vgg.row_bands.banded_features`)."""
    options = dict(pooling=program.pooling, model=program.model, precision=program.precision, padding=program.padding)
    if vgg.windows.chosen(program.bands) > 1 and layers:
        one = lambda image: vgg.windows.features(params, image, layers, program.bands, rows=rows,  # noqa: E731
                                                 conv=program.conv, **options)
        return jax.lax.map(one, batch)
    q = vgg.row_bands.row_multiple(layers, program.spatial, program.model) if layers else 1
    bands = program.spatial if batch.shape[1] % q == 0 else 1
    return vgg.row_bands.banded_features(params, batch, layers, bands, program.conv, rows, **options)


@functools.partial(jax.jit, static_argnums=2)
def content_features(params: vgg.Params, batch: jax.Array, program: Program) -> dict[str, jax.Array]:
    """P_l: the content layers' features of a batch of content images (B, H, W, 3)."""
    return _features(params, batch, program.content_layers, program, program.rows)


@functools.partial(jax.jit, static_argnums=2)
def style_statistics(params: vgg.Params, style: jax.Array, program: Program) -> dict[str, Any]:
    """The style loss's statistics of one style image (H, W, 3) at the style layers (Gram: A_l/M_l); with
    ``program.bands`` > 1 gathered band by band (:func:`jax_nst.vgg.windows.statistics`)."""
    loss = style_losses.get(program.style_loss)
    if vgg.windows.chosen(program.bands) > 1 and program.style_layers:
        return vgg.windows.statistics(params, style, program.style_layers, program.bands, loss.statistics,
                                      program.padding, program.model, conv=program.conv, pooling=program.pooling,
                                      precision=program.precision)
    feats = _features(params, style[None], program.style_layers, program)
    return {l: loss.statistics(f[0]) for l, f in feats.items()}


def first_image(targets: Targets) -> Targets:
    """The targets of the first image of the batch, without the batch axis (the :data:`BATCHED` fields)."""
    return targets._replace(**{f: jax.tree.map(lambda a: a[0], getattr(targets, f)) for f in BATCHED})


def blend_styles(stats: Sequence[Mapping[str, Any]], weights: Sequence[float], program: Program) -> dict[str, Any]:
    """The style targets of several styles: each layer's statistics blended by the weights w_k (Σ w_k = 1)."""
    blend = style_losses.get(program.style_loss).blend
    return {l: blend([s[l] for s in stats], weights) for l in stats[0]}


def for_step(targets: Targets, step: jax.Array, program: Program) -> Targets:
    """The targets of optimizer step ``step``: a random style loss's draw for it (the key folded with the step
    and the layer); other targets as they are."""
    draw = style_losses.get(program.style_loss).draw
    if not program.stochastic:
        return targets
    key = jax.random.fold_in(jax.random.wrap_key_data(targets.key), step)
    order = vgg.layer_names(program.model)
    return targets._replace(style={l: draw(t, jax.random.fold_in(key, order.index(l)))
                                   for l, t in targets.style.items()})


def build(
    params: vgg.Params, batch: np.ndarray, styles: Sequence[np.ndarray], program: Program,
    blend: Sequence[float] | None = None, masks: np.ndarray | None = None, seed: int = 0,
) -> Targets:
    """P_l of each content, and the style targets blended over the styles by ``blend`` (Gram: A_l = Σ_k w_k A_l^(k)),
    or with ``masks`` (H, W, R) one target per region (stacked) plus the guides T_r^l and the keep map. ``seed`` makes
    the key of a stochastic style loss."""
    content = content_features(params, jnp.asarray(batch), program)
    grams = [style_statistics(params, jnp.asarray(img), program) for img in styles]
    if masks is None:
        weights = np.ones(len(grams)) / len(grams) if blend is None else blend
        key = jax.random.key_data(jax.random.key(seed)) if program.stochastic else None
        return Targets(content, blend_styles(grams, weights, program), key=key)
    blend_one = style_losses.get(program.style_loss).blend  # each region's target: its style alone
    stacked = {l: jax.tree.map(lambda *r: np.stack(r), *[blend_one([g[l]], [1.0]) for g in grams]) for l in grams[0]}
    guides = guided.layer_guides(masks, program.style_layers, program.model)
    return Targets(content, stacked, guides, guided.keep_map(masks), np.asarray(batch))
