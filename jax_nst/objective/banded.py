"""The exact objective of an image too large for one VGG pass, evaluated over K bands of rows one after another.

Every feature term is a function of sums over positions, L = L(T), T = Σ_b t_b(x) (Grams, moments, content sums):
:class:`jax_nst.vgg.row_bands.Part` routes each through ``part.total``. Band b is computed on a window of its rows
plus a halo (:mod:`jax_nst.vgg.windows`), whose features on the band's own rows equal the whole image's. A first
pass gathers T window by window (two passes for sums taken about other sums: W2's covariance about the mean); a
second differentiates L(T) in each window, each sum standing in as t_b + sg(T − t_b), and adds the windows' gradients: that is ∇L, since
∂L/∂x = Σ_i ∂L/∂T_i Σ_b ∂t_b,i/∂x. Peak memory is one window's activations plus image-sized arrays.

Terms on the image itself (L_TV, L_temporal) are computed on the whole image.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any, Mapping

import jax
import jax.numpy as jnp

from .. import vgg
from ..vgg import windows
from .evaluation import feature_terms, image_terms, in_hand, seen, weighted
from . import style_losses
from .targets import Targets
from .terms import NAMES

if TYPE_CHECKING:
    from ..program import Hyper, Program
    from ..settings import Settings


def band_targets(targets: Targets, i: Any, g: windows.Geometry, program: Program) -> Targets:
    """The targets of band ``i``: the windows of the content features P_l and guides T^l."""
    cut = lambda maps: {l: g.window(a, i, 2 ** vgg.layer(l, program.model).pools) for l, a in maps.items()}  # noqa: E731
    return targets._replace(content=cut(targets.content), guides=targets.guides and cut(targets.guides))


def _features_value_and_grad(params: vgg.Params, prepared: Mapping | None, x: jax.Array, targets: Targets,
                             hyper: Hyper, program: Program, remat: bool, grad: bool) -> tuple[dict, jax.Array | None]:
    """({feature term: value}, ∇ of Σ_t w_t L_t with respect to ``x`` (None unless ``grad``)) over the bands. Under
    ``program.spatial`` = D > 1 (inside ``shard_map``, ``x`` the whole image on every device) device d takes bands
    d, d + D, …: the sums are added over the devices, and the gradient holds this device's bands' share."""
    g = windows.geometry(program.rows or x.shape[0], int(program.bands), program.layers, program.model)
    mode = vgg.PADDINGS[program.padding]
    devices = program.spatial > 1
    own = (jax.lax.axis_index(vgg.row_bands.AXIS), program.spatial) if devices else (0, 1)
    one = dataclasses.replace(program, spatial=1)  # a window is computed on one device

    def terms(window, i, part):
        return feature_terms(params, prepared, window, band_targets(targets, i, g, program), hyper, one, part, remat)

    totals = None
    for _ in range(depth(program)):  # a covariance about the mean needs the mean's total first
        totals = windows.gather(terms, x, g, mode, totals, own)
        totals = jax.lax.psum(totals, vgg.row_bands.AXIS) if devices else totals

    def weighted_terms(window, i):
        values = terms(window, i, g.part(i, totals))
        return sum(hyper.weights[n] * v for n, v in values.items()), values

    same = (lambda v: jax.lax.pmean(v, vgg.row_bands.AXIS)) if devices else (lambda v: v)  # noqa: E731
    if not grad:  # the values on every device alike, to the last bits
        return same(weighted_terms(g.window(x, 0, mode=mode), 0)[1]), None

    def body(j, carry):  # the window's gradient added into its rows (a border row gets its mirror's share too)
        acc, _ = carry
        i = own[0] + j * own[1]
        (_, values), d = jax.value_and_grad(weighted_terms, has_aux=True)(g.window(x, i, mode=mode), i)
        return acc.at[g.rows(i, mode=mode)].add(d), values

    start = (jnp.zeros_like(x), jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
             jax.eval_shape(lambda w: weighted_terms(w, 0)[1], g.window(x, 0, mode=mode))))
    if not devices:
        return jax.lax.fori_loop(0, g.count, body, start)[::-1]
    d, values = jax.lax.fori_loop(0, -(-g.count // own[1]), body, vgg.row_bands.varying(start))
    return same(values), d


def _value_and_grad(params, prepared, x, targets, hyper, program, remat, grad):
    """(L_total, {"total", term: L_t}) of x and ∇L_total (None unless ``grad``). Under ``program.spatial`` > 1, x is
    this device's rows: the feature terms run on the whole image gathered on every device, the image terms on the
    device's rows (:func:`jax_nst.objective.evaluation.in_hand`), and the gradient comes back as this device's rows."""
    shown, back = jax.vjp(lambda y: seen(y, targets), x)
    whole, whole_targets = shown, targets
    if program.spatial > 1:
        gathered = lambda maps: maps and {l: _all_rows(a) for l, a in maps.items()}  # noqa: E731
        whole, whole_targets = _all_rows(shown), targets._replace(content=gathered(targets.content),
                                                                  guides=gathered(targets.guides))
    features, d_features = _features_value_and_grad(params, prepared, whole, whole_targets, hyper, program, remat, grad)
    if grad and program.spatial > 1:
        d_features = jax.lax.psum_scatter(d_features, vgg.row_bands.AXIS, scatter_dimension=0, tiled=True)
    part = in_hand(shown.shape[0], program)

    def on_image(y):
        values = image_terms(y, targets, hyper, program, part)
        return sum((hyper.weights[n] * v for n, v in values.items()), jnp.zeros(())), values

    if grad:
        (_, values), d_image = jax.value_and_grad(on_image, has_aux=True)(shown)
        d = back(d_features + d_image)[0]
    else:
        values, d = on_image(shown)[1], None
    parts = dict.fromkeys(NAMES, jnp.zeros(()))
    parts.update(features)
    parts.update(values)
    return weighted(parts, hyper), d


def _all_rows(a: jax.Array) -> jax.Array:
    """The whole of a map whose rows are split over the devices, on every device."""
    return jax.lax.all_gather(a, vgg.row_bands.AXIS, axis=0, tiled=True)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def evaluate(params: vgg.Params, prepared: Mapping | None, x: jax.Array, targets: Targets, hyper: Hyper,
             program: Program, remat: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
    """:func:`jax_nst.objective.evaluate` over ``program.bands`` bands of rows, one after another: the same value
    and gradient, with one band's activations in memory at a time."""
    return _value_and_grad(params, prepared, x, targets, hyper, program, remat, grad=False)[0]


def _evaluate_fwd(params, prepared, x, targets, hyper, program, remat):
    return _value_and_grad(params, prepared, x, targets, hyper, program, remat, grad=True)


def _evaluate_bwd(program, remat, d, cotangent):
    return None, None, cotangent[0] * d, None, None


evaluate.defvjp(_evaluate_fwd, _evaluate_bwd)


def depth(program: Program) -> int:
    """How many gathering passes the sums of ``program``'s terms need (:attr:`StyleLoss.depth`)."""
    return style_losses.get(program.style_loss).depth if program.style_layers else 1


def splits(s: Settings | Program) -> bool:
    """Whether the objective of ``s`` can be evaluated over bands of rows: its style loss sums over positions."""
    return style_losses.CATALOGUE[s.style_loss]["spatial"]


def bands_needed(program: Program) -> bool:
    """Whether ``program`` evaluates its objective over bands of rows on one device."""
    return windows.chosen(program.bands) > 1


def count(height: int, program: Program) -> int:
    """How many bands an image ``height`` rows high is split in under ``program``."""
    if not bands_needed(program):
        return 1
    return windows.geometry(height, int(program.bands), program.layers, program.model).count

