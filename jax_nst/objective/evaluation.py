"""The objective of one image: L_total = Σ_terms weight · term, all terms from one VGG forward pass."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import jax
import jax.numpy as jnp

from .. import vgg
from ..vgg import row_bands
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
    x = seen(x, targets)
    part = in_hand(x.shape[0], program)
    parts = dict.fromkeys(NAMES, jnp.zeros(()))  # every term is reported, 0 where it is off
    parts.update(feature_terms(params, prepared, x, targets, hyper, program, part, remat))
    parts.update(image_terms(x, targets, hyper, program, part))
    return weighted(parts, hyper)


def seen(x: jax.Array, targets: Targets) -> jax.Array:
    """The image the terms see: clip(x, 0, 1), and with masks the content where they keep it."""
    x = jnp.clip(x, 0.0, 1.0)
    return x if targets.keep is None else composite(x, targets.pixels, targets.keep)


def in_hand(rows: int, program: Program) -> row_bands.Part:
    """Which part of the image ``rows`` rows of it on this device are: the whole, or a band of ``program.spatial``."""
    if program.spatial == 1:
        return row_bands.WHOLE
    return row_bands.Devices(program.spatial, rows, program.rows or rows * program.spatial)


def weighted(parts: dict[str, jax.Array], hyper: Hyper) -> tuple[jax.Array, dict[str, jax.Array]]:
    """(L_total = Σ_t w_t L_t, {"total", each term: L_t})."""
    total = sum(hyper.weights[name] * value for name, value in parts.items())
    return total, {"total": total, **parts}


def feature_terms(
    params: vgg.Params, prepared: Mapping | None, x: jax.Array, targets: Targets, hyper: Hyper, program: Program,
    part: row_bands.Part, remat: bool = False,
) -> dict[str, jax.Array]:
    """{term: value} of the terms that read VGG features, for the rows of the image ``part`` says x is (its rows
    that are not the image's are zeros to every convolution and count in no sum)."""
    on_features = [t for t in terms_of(program) if t.layers]
    if not on_features:
        return {}
    conv = program.conv if program.spatial == 1 else row_bands.Halo(program.spatial, program.conv)
    if part is not row_bands.WHOLE:
        conv = row_bands.Bounded(part, conv, input=program.padding == "zero")
    guides = targets.guides and {l: part.mask(g) for l, g in targets.guides.items()}
    targets = targets._replace(guides=guides)

    def tap(layer: str, f: jax.Array) -> dict[str, Any]:
        f = part.mask(f[0])
        return {t.name: t.fn({layer: f}, x, targets, hyper, part) if layer in t.layers else jnp.zeros(())
                for t in on_features}

    return vgg.apply(params, x[None], program.layers, pooling=program.pooling, model=program.model,
                     precision=program.precision, conv=conv, remat=remat, tap=tap, prepared=prepared,
                     padding=program.padding)


def image_terms(x: jax.Array, targets: Targets, hyper: Hyper, program: Program,
                part: row_bands.Part = row_bands.WHOLE) -> dict[str, jax.Array]:
    """{term: value} of the terms that read the image itself (L_TV, L_temporal)."""
    return {t.name: t.fn({}, x, targets, hyper, part) for t in terms_of(program) if not t.layers}
