"""The terms of the objective: pure functions of (features, image, targets, weights) → scalar.

Shapes: a feature map F_l is (H_l, W_l, N_l) with N_l filters and M_l = H_l·W_l positions; an image
is (H, W, 3). A term reads the layers it names; a feature term is a sum over its layers, so the
objective may evaluate it block by block (inside per-block remat). Its weight in L_total is the
:class:`jax_nst.settings.Hyper` field of the term's name: L_total = α L_content + β L_style + γ L_TV
(+ λ L_temporal for a video frame).

Under spatial sharding (``program.spatial`` = D > 1) each device evaluates the terms on its band
of rows (:mod:`jax_nst.vgg.bands`): sums over positions are summed over the bands, so every device
gets the value of the whole image.

Normalization "size" scales the terms that grow with the pixel count (L_content, L_TV) to their
value for a 512² image, so the same α, β, γ give the same balance at every size; "paper" keeps the
paper's plain sums (equal to "size" for a 512 × 512 image).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp

from .. import vgg
from ..vgg import bands as rows
from . import distributions, guided
from .temporal import temporal_loss

REFERENCE_SIDE = 512
"""Normalization "size" gives L_content and L_TV their value at REFERENCE_SIDE² pixels."""


class Term(NamedTuple):
    """A summand of the objective: ``fn(features, image, targets, hyper)`` → scalar, on ``layers``."""

    name: str
    layers: tuple[str, ...]
    fn: Callable[[Mapping[str, jax.Array], jax.Array, Any, Any], jax.Array]


def gram_matrix(features: jax.Array, normalize: bool = False, bands: int = 1) -> jax.Array:
    """G_ij = Σ_k F_ik F_jk over the M positions (divided by M when ``normalize``): (..., N, N).

    ``bands`` > 1: ``features`` is one band of rows of the map; the sum runs over all bands.
    """
    *batch, h, w, n = features.shape
    g = rows.total(_gram(features.reshape(*batch, h * w, n)), bands)
    return g / (h * w * bands) if normalize else g


@jax.custom_vjp
def _gram(f: jax.Array) -> jax.Array:
    """FᵀF of (..., M, N) features; its gradient F(Ḡ + Ḡᵀ) is one matmul instead of autodiff's two."""
    return jnp.einsum("...ki,...kj->...ij", f, f)


def _gram_fwd(f: jax.Array):
    return _gram(f), f


def _gram_bwd(f: jax.Array, g: jax.Array):
    return (jnp.einsum("...ki,...ij->...kj", f, g + jnp.swapaxes(g, -1, -2)),)


_gram.defvjp(_gram_fwd, _gram_bwd)


def content_loss(features: jax.Array, target: jax.Array) -> jax.Array:
    """L_content = ½ Σ (F − P)², F the image's features, P the content's."""
    return 0.5 * jnp.sum(jnp.square(features - target), axis=(-3, -2, -1))


def style_layer_loss(features: jax.Array, target_gram: jax.Array, bands: int = 1) -> jax.Array:
    """E_l = 1/(4 N² M²) Σ (G − A)², with ``target_gram`` = A/M (a normalized Gram matrix).

    Computed as Σ (G/M − A/M)² / (4N²), which is equal and stays well inside float32 range.
    """
    n = features.shape[-1]
    diff = gram_matrix(features, normalize=True, bands=bands) - target_gram
    return jnp.sum(jnp.square(diff), axis=(-2, -1)) / (4.0 * n * n)


def style_loss(
    features: Mapping[str, jax.Array], target_grams: Mapping[str, jax.Array], layer_weights: Mapping[str, Any],
    bands: int = 1,
) -> jax.Array:
    """L_style = Σ_l w_l E_l over the style layers l."""
    return sum(w * style_layer_loss(features[l], target_grams[l], bands) for l, w in layer_weights.items())


def tv_loss(image: jax.Array, bands: int = 1) -> jax.Array:
    """L_TV = Σ (x_{i+1,j} − x_{i,j})² + (x_{i,j+1} − x_{i,j})², summed over channels.

    ``bands`` > 1: ``image`` (H, W, C) is one band of rows; the differences across the seams count too.
    """
    dy = jnp.diff(image, axis=-3)
    dx = jnp.diff(image, axis=-2)
    value = jnp.sum(jnp.square(dy), axis=(-3, -2, -1)) + jnp.sum(jnp.square(dx), axis=(-3, -2, -1))
    if bands == 1:
        return value
    below = rows.row_below(image, bands, axis=-3)  # the next band's first row; none under the last band
    seam = jnp.sum(jnp.square(below - image[..., -1:, :, :]), axis=(-3, -2, -1))
    return rows.total(value + jnp.where(rows.index(bands) < bands - 1, seam, 0.0), bands)


def size_factor(hw: tuple[int, int], pools: int, normalization: str) -> float:
    """"size": (R/2^pools)² / (H·W), the factor that gives a sum over H × W positions its value at R² pixels."""
    if normalization == "paper":
        return 1.0
    side = REFERENCE_SIDE / 2**pools
    return side * side / (hw[0] * hw[1])


def content_term(program: Any) -> Term:
    """L_content = Σ_l w_l ½ Σ (F_l − P_l)², each layer normalized by :func:`size_factor`."""

    def fn(features, image, targets, hyper):
        total = jnp.zeros(())
        for l, f in features.items():
            hw = (f.shape[0] * program.spatial, f.shape[1])
            scale = size_factor(hw, vgg.layer(l, program.model).pools, program.normalization)
            total = total + hyper.content_layers[l] * scale * content_loss(f, targets.content[l])
        return rows.total(total, program.spatial)

    return Term("content", tuple(program.content_layers), fn)


def style_term(program: Any) -> Term:
    """L_style = Σ_l w_l E_l: Gram matrices, with masks guided Grams (:mod:`jax_nst.objective.guided`), or the
    distribution distance ``program.style_loss`` (:mod:`jax_nst.objective.distributions`)."""

    def fn(features, image, targets, hyper):
        weights = {l: hyper.style_layers[l] for l in features}
        if program.masked:
            return guided.guided_style_loss(features, targets.style, targets.guides, weights, program.spatial)
        if program.style_loss != "gram":
            return sum(w * distributions.layer_loss(program.style_loss, features[l], targets.style[l])
                       for l, w in weights.items())
        return style_loss(features, targets.style, weights, program.spatial)

    return Term("style", tuple(program.style_layers), fn)


def tv_term(program: Any) -> Term:
    """L_TV of the image, normalized by :func:`size_factor`."""

    def fn(features, image, targets, hyper):
        hw = (image.shape[-3] * program.spatial, image.shape[-2])
        return size_factor(hw, 0, program.normalization) * tv_loss(image, program.spatial)

    return Term("tv", (), fn)


def temporal_term(program: Any) -> Term:
    """L_temporal (:mod:`jax_nst.objective.temporal`) of the image against ``targets.temporal`` (a video frame)."""
    return Term("temporal", (), lambda features, image, targets, hyper: temporal_loss(image, targets.temporal))


def terms_of(program: Any) -> list[Term]:
    """The terms of ``program``'s objective; a term with no layers left (α or β = 0) is dropped."""
    found = [content_term(program), style_term(program)]
    return [t for t in found if t.layers] + [tv_term(program)] + ([temporal_term(program)] if program.temporal else [])
