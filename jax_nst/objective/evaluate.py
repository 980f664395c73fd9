"""The objective of one image: L_total = Σ_terms weight · term, all terms from one VGG forward pass."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import jax
import jax.numpy as jnp

from .. import vgg
from .guided import composite
from .targets import Targets
from .terms import NAMES, terms_of

if TYPE_CHECKING:
    from ..program import Hyper, Program


def evaluate(
    params: vgg.Params, prepared: Mapping | None, x: jax.Array, targets: Targets, hyper: Hyper, program: Program,
    remat: bool = False,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """(L_total, {"total", term name: unweighted value}) for one image x (H, W, 3).

    x is evaluated at clip(x, 0, 1) (and with masks, the content where they keep it). Feature terms
    are computed inside the VGG pass, block by block (``remat``: per-block rematerialization).
    With ``program.spatial`` = D > 1, x is this device's band of rows and the convolutions exchange
    halos with the neighbouring bands (call it inside ``shard_map``: :mod:`jax_nst.optimize.spatial`).
    ``hyper.weights`` holds each term's weight under the term's name (α ``content``, β ``style``, γ ``tv``, …).
    """
    x = jnp.clip(x, 0.0, 1.0)
    if targets.keep is not None:
        x = composite(x, targets.pixels, targets.keep)
    active = terms_of(program)
    conv = program.conv if program.spatial == 1 else vgg.row_bands.Halo(program.spatial, program.conv)
    on_features = [t for t in active if t.layers]

    def tap(layer: str, f: jax.Array) -> dict[str, jax.Array]:
        return {t.name: t.fn({layer: f[0]}, x, targets, hyper) if layer in t.layers else jnp.zeros(()) for t in on_features}

    parts = dict.fromkeys(NAMES, jnp.zeros(()))  # every term is reported, 0 where it is off
    if on_features:
        parts.update(vgg.apply(params, x[None], program.layers, pooling=program.pooling, model=program.model,
                               precision=program.precision, conv=conv, remat=remat, tap=tap, prepared=prepared,
                               padding=program.padding))
    parts.update({t.name: t.fn({}, x, targets, hyper) for t in active if not t.layers})
    total = sum(hyper.weights[name] * value for name, value in parts.items())
    return total, {"total": total, **parts}
