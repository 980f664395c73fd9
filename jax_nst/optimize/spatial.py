"""Spatial sharding: one image's rows split into D bands over the local devices, without seams.

The objective runs under ``jax.shard_map``: each device evaluates the VGG pass and the terms on its
band, the convolutions exchange one-row halos with the neighbouring bands, and Grams and sums are
summed over the bands (:mod:`jax_nst.vgg.row_bands`), so L_total and ∇L equal the one-device values.
The optimizer around it is ordinary ``jit`` code on the row-sharded image: its dot products become
all-reduces, its history of image-sized vectors stays split. Per device, activations and optimizer
state take ~1/D of the memory; the VGG params, prepared kernels and style Grams are replicated.

Each band must pool evenly down to the deepest layer, so the height is a multiple of D·2^pools
(:func:`jax_nst.vgg.row_bands.row_multiple`); ``stylize`` pads the content at the bottom by mirroring and crops the result.
The padded rows are outside the image to every convolution and sum (``Program.rows``,
:class:`jax_nst.vgg.row_bands.Devices`), so any height gives the one-device objective.

With ``program.bands`` = K > 1 too, the devices share the bands instead (:mod:`jax_nst.objective.banded`): each
gathers the image, evaluates bands d, d + D, … on windows, and the sums and gradients are added over the devices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from .. import objective, vgg
from ..errors import NSTError
from ..objective import Targets, banded, style_losses, terms

if TYPE_CHECKING:
    from ..program import Program
    from ..settings import Settings

ROWS = PartitionSpec(vgg.row_bands.AXIS)
SHARED = PartitionSpec()


def check(s: Settings, contents: int, inputs: Sequence[str] = ()) -> None:
    """NSTError unless ``s.spatial`` devices exist, one content image is given and every term given an input
    (``inputs``: term names) splits over devices (a video frame's temporal term does not)."""
    if any(not terms.CATALOGUE[n]["spatial"] for n in inputs):
        raise NSTError("video frames are not split over devices yet (the flow may reach across bands); "
                       "leave spatial at 1")
    if s.padding != "zero":
        raise NSTError(f"padding {s.padding!r} is not split over devices yet (a band's edge rows are its "
                       "neighbours'); use the zero padding with spatial")
    if not style_losses.CATALOGUE[s.style_loss]["spatial"]:
        splits = ", ".join(n for n in style_losses.NAMES if style_losses.CATALOGUE[n]["spatial"])
        raise NSTError(f"style_loss {s.style_loss!r} is not split over devices yet (it needs every position's "
                       f"features at once); use {splits} with spatial")
    vgg.row_bands.mesh(s.spatial)
    if contents != 1:
        raise NSTError(f"spatial sharding stylizes one image at a time over {s.spatial} devices; got {contents} "
                       "content images (give one, or leave spatial at 1 to spread a batch over the devices)")


def padded_height(h: int, program: Program) -> int:
    """``h`` rounded up to a multiple of D·2^pools of the deepest layer (:func:`jax_nst.vgg.row_bands.row_multiple`)."""
    q = vgg.row_bands.row_multiple(program.layers, program.spatial, program.model)
    return -(-h // q) * q


def pad_rows(batch: np.ndarray, height: int) -> np.ndarray:
    """(B, H, W, C) images grown to ``height`` rows by mirroring their bottom rows (no new edge)."""
    extra = height - batch.shape[1]
    return batch if extra <= 0 else np.pad(batch, ((0, 0), (0, extra), (0, 0), (0, 0)), mode="symmetric")


def target_specs(targets: Targets) -> Targets:
    """How each field of one image's targets is placed: per-position maps split by rows, Grams replicated."""
    split = lambda field: None if field is None else ROWS  # noqa: E731
    return Targets(content=ROWS, style=SHARED, guides=split(targets.guides), keep=split(targets.keep),
                   pixels=split(targets.pixels))


def evaluate(program: Program) -> Callable:
    """``objective.evaluate`` with the same signature, run band by band over ``program.spatial`` devices."""
    mesh = vgg.row_bands.mesh(program.spatial)

    def fn(params, prepared, x, targets, hyper, program_, remat=False):
        each = banded.evaluate if banded.bands_needed(program_) else objective.evaluate
        band = lambda *a: each(*a, program_, remat)  # noqa: E731
        mapped = jax.shard_map(band, mesh=mesh,
                               in_specs=(SHARED, SHARED, ROWS, target_specs(targets), SHARED), out_specs=SHARED)
        return mapped(params, prepared, x, targets, hyper)

    return fn


def place(params: Any, x: np.ndarray, targets: Targets, program: Program) -> tuple[Any, jax.Array, Targets]:
    """(params, x, targets) of one image on the row mesh: x and the per-position targets split, the rest replicated."""
    mesh = vgg.row_bands.mesh(program.spatial)
    put = lambda tree, spec: jax.device_put(tree, NamedSharding(mesh, spec))  # noqa: E731
    specs = target_specs(targets)
    fields = {f: put(getattr(targets, f), getattr(specs, f)) for f in Targets._fields if getattr(targets, f) is not None}
    return put(params, SHARED), put(x, ROWS), targets._replace(**fields)
