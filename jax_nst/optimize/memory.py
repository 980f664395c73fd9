"""How much memory one loss + gradient evaluation needs, and when to rematerialize instead.

The estimate is the float32 size of the VGG activations up to the deepest layer used (with bands of rows, one
band's window: :mod:`jax_nst.objective.banded`), times the
peak-to-activations ratio measured with ``compiled.memory_analysis()`` on XLA:CPU (memory-optimized
scheduler, as ``make_loop`` compiles on CPU; 512–2048 px; bfloat16 measured no smaller,
its convolutions return float32), plus the prepared params. On the host a whole run's peak resident memory is
larger (:data:`HOST_BASE`, :data:`HOST_PER_ESTIMATE`); refusals and suggested sizes use that (:func:`needed_bytes`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import jax

from .. import vgg
from ..objective import banded
from ..errors import NSTError, out_of_memory
from . import host_memory

if TYPE_CHECKING:
    from ..program import Program
    from ..settings import Settings

PEAK_PER_ACTIVATION = {False: 1.15, True: 1.40}
"""Peak temporary bytes / float32 activation bytes, without and with remat (measured 1.13 and 1.36)."""
HEADROOM = 0.8
"""Fraction of the available memory an evaluation may plan to use."""


HOST_BASE, HOST_PER_ESTIMATE = 3 << 28, 1.75
"""Peak resident memory of a whole run on CPU ≈ HOST_BASE + HOST_PER_ESTIMATE × :func:`evaluation_bytes` with remat:
the envelope of VmHWM measured for 2-step runs at 512, 1024 and 1536 px (1.88, 4.17 and 8.01 GiB with remat off;
4.23 and 8.29 GiB on at 1024 and 1536 px) against estimates of 0.66, 2.06 and 4.39 GiB (AMD EPYC, XLA:CPU). The
interpreter, JAX, the compiled programs and the allocator's free lists make the base; remat saves little on CPU."""
HOST_PER_BANDED_ESTIMATE = 1.15
"""The same for runs in bands of rows (:mod:`jax_nst.objective.banded`), where image-sized arrays, not activations,
make most of the estimate: VmHWM of an 8192 × 8192 Adam step in 24 bands was 17.6 GiB against an estimate of 15.8 GiB
(1.07×; 8192 × 5461 in 23 bands: 0.94×), ``scripts/band_memory.py`` (BENCHMARKS.md); 1.15 leaves a margin."""
SUGGESTION_SLACK = 0.9
"""A suggested size fits in this share of what is available now: the next run's own size varies (its address space
by ~0.1 GiB between runs under ``ulimit -v``), and a suggestion must work when followed."""
MIN_SUGGESTED = 64
"""The smallest size a refusal suggests: below it a picture shows no style (the network pools it away)."""
SHORT_HISTORY = 10
"""The L-BFGS history suggested when the default one is what keeps an image from fitting (2m image-sized arrays)."""


def evaluation_bytes(hw: Sequence[int], s: Settings | Program, remat: bool, batch: int = 1,
                     bands: int | None = None) -> int:
    """Estimated peak bytes per device of an optimization step (one evaluation and the optimizer's images) for
    ``batch`` images; with ``s.spatial`` = D > 1 activations and images are split in D bands of rows; with ``bands``
    = K > 1 (default: ``s.bands``, 1 for "auto") the activations are one band's window's, and the padded image, its
    gradient and the padded content features are added.

    ``s``: a Settings or Program (its layers, model, optimizer, L-BFGS memory and spatial bands).
    """
    bands = vgg.windows.chosen(s.bands) if bands is None else bands
    rows = int(hw[0]) if bands == 1 else vgg.windows.geometry(int(hw[0]), bands, s.layers, s.model).size
    shapes = vgg.shapes((rows, hw[1]), s.layers, s.model)
    activations = 4 * sum(math.prod(shape) for shape in shapes.values())
    kernels = 2 * 4 * sum(16 * c * c for _, _, c in shapes.values())  # prepared: ≤ 2 Winograd transforms per layer
    # L-BFGS: its pairs, x, ∇f, trial point, direction; Adam: x, ∇f, two moments, update; bands: padded x and ∇f
    count = (2 * s.lbfgs_memory + 4 if s.optimizer == "lbfgs" else 5) + (2 if bands > 1 else 0)
    image = 4 * 3 * int(hw[0]) * int(hw[1])
    whole = vgg.shapes(hw, s.layers, s.model)
    content = 0 if bands == 1 else 2 * 4 * sum(math.prod(whole[l]) for l in s.content_layers if l in whole)
    if bands == 1 or s.spatial == 1:
        return int(batch * (PEAK_PER_ACTIVATION[remat] * activations + count * image + content) / s.spatial + kernels)
    # bands over devices: the optimizer's images split, the gathered image and its gradient and the content maps
    # whole on each device, one window's activations at a time
    return int(PEAK_PER_ACTIVATION[remat] * activations + count * image / s.spatial + 2 * image + content + kernels)


def needed_bytes(hw: Sequence[int], s: Settings | Program, batch: int = 1, platform: str | None = None,
                 bands: int | None = None) -> int:
    """Peak bytes of a run on ``platform`` (default: the first device's) with remat: :func:`evaluation_bytes` on an
    accelerator, the measured whole-run peak on CPU (:data:`HOST_PER_ESTIMATE`)."""
    estimate = evaluation_bytes(hw, s, remat=True, batch=batch, bands=bands)
    if (platform or jax.devices()[0].platform) != "cpu":
        return estimate
    whole = vgg.windows.chosen(s.bands) if bands is None else bands
    return int(HOST_BASE + (HOST_PER_ESTIMATE if whole == 1 else HOST_PER_BANDED_ESTIMATE) * estimate)


def available_bytes(device: jax.Device | None = None) -> int:
    """Memory the computation may use: the accelerator's limit, or on CPU what this process may still take
    (available RAM, ``ulimit``, the control group's limit: :func:`jax_nst.optimize.host_memory.available_bytes`)."""
    device = device or jax.devices()[0]
    if device.platform != "cpu":
        try:
            stats = device.memory_stats() or {}
        except Exception:  # noqa: BLE001 - backends without memory stats
            stats = {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    return host_memory.available_bytes()


def use_remat(s: Settings | Program, shape: Sequence[int]) -> bool:
    """Whether to rematerialize for images of ``shape`` (…, H, W, 3): "on", "off", or "auto" by the estimate."""
    if s.remat != "auto":
        return s.remat == "on"
    batch = math.prod(shape[:-3]) if len(shape) > 3 else 1
    return evaluation_bytes(shape[-3:-1], s, remat=False, batch=batch) > HEADROOM * available_bytes()


def resolve(s: Program, shape: Sequence[int]) -> Program:
    """``s`` with bands "auto" decided (the fewest that fit, :func:`bands_that_fit`) and then remat "auto" ("on"/"off")
    for images of ``shape`` (…, H, W, 3)."""
    if s.bands == "auto":
        batch = math.prod(shape[:-3]) if len(shape) > 3 else 1
        s = dataclasses.replace(s, bands=bands_that_fit(shape[-3:-1], s, batch) or 1)
    return s if s.remat != "auto" else dataclasses.replace(s, remat="on" if use_remat(s, shape) else "off")


def bands_that_fit(hw: Sequence[int], s: Settings | Program, batch: int = 1, available: int | None = None,
                   platform: str | None = None) -> int | None:
    """The fewest bands of rows (1: the whole image) with which ``batch`` images of ``hw`` fit, with remat; None if
    none does (the image-sized arrays alone are too many). More than one only for one image (on one device, or
    split over ``spatial`` devices, each taking its share of the bands)."""
    available = available_bytes() if available is None else available
    budget = HEADROOM * available
    if needed_bytes(hw, s, batch, platform, bands=1) <= budget:
        return 1
    if batch > 1 or not banded.splits(s):
        return None
    q = vgg.min_side(s.layers, s.model)
    if needed_bytes(hw, s, batch, platform, bands=-(-int(hw[0]) // q)) > budget:  # not even with the thinnest bands
        return None
    for rows in range(-(-int(hw[0]) // q) * q - q, 0, -q):  # each band height, tallest first
        k = -(-int(hw[0]) // rows)
        if needed_bytes(hw, s, batch, platform, bands=k) <= budget:
            return k
    return None


def fits(hw: Sequence[int], s: Settings | Program, batch: int = 1, available: int | None = None,
         platform: str | None = None) -> bool:
    """Whether ``batch`` images of ``hw`` fit in the planned share of ``available`` bytes on ``platform`` (default:
    this process's), with remat (and with as many bands as they need when ``s.bands`` is "auto")."""
    available = available_bytes() if available is None else available
    if s.bands == "auto":
        return bands_that_fit(hw, s, batch, available, platform) is not None
    return needed_bytes(hw, s, batch, platform) <= HEADROOM * available


def largest_side(hw: Sequence[int], s: Settings | Program, batch: int = 1, available: int | None = None,
                 platform: str | None = None) -> int:
    """The largest long side (pixels) at which images shaped like ``hw`` fit (:func:`fits`); 0 if none does."""
    available = available_bytes() if available is None else available
    long = max(int(hw[0]), int(hw[1]))
    shape = lambda side: (max(1, round(hw[0] * side / long)), max(1, round(hw[1] * side / long)))  # noqa: E731
    low, high = 0, 1
    while fits(shape(high), s, batch, available, platform):
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(shape(mid), s, batch, available, platform) else (low, mid)
    return low


def check_fits(hw: Sequence[int], s: Settings | Program, batch: int = 1, device: jax.Device | None = None) -> None:
    """Refuse, before any computation, images that cannot fit in memory even with remat (NSTError naming a size that fits)."""
    available = available_bytes(device)
    if fits(hw, s, batch, available):
        return
    need = needed_bytes(hw, s, batch)
    side = largest_side(hw, s, batch, int(SUGGESTION_SLACK * available))
    fix = f"a size of {side} px fits (--size {side})" if side >= MIN_SUGGESTED else "no size fits"
    other = [f"--{flag.replace('_', '-')} {value}" for flag, value in _fixes(s) if fits(hw, dataclasses.replace(s, **{flag: value}), batch, available)]
    fix = f"they fit with {other[0]}, or {fix}" if other else fix
    raise NSTError(
        f"{batch} image(s) of {hw[1]}×{hw[0]} px need about {need / 2**30:.1f} GiB even with remat; "
        f"{available / 2**30:.1f} GiB is available to this process on {(device or jax.devices()[0]).platform}; {fix}"
    )


def _fixes(s: Settings | Program) -> list[tuple[str, Any]]:
    """The changes a refusal may suggest, in order: bands of rows, then a shorter L-BFGS history, then Adam (its
    state is 5 image-sized arrays where L-BFGS keeps 2m + 4)."""
    found = [] if s.bands == "auto" else [("bands", "auto")]
    if s.optimizer == "lbfgs" and s.lbfgs_memory > SHORT_HISTORY:
        found.append(("lbfgs_memory", SHORT_HISTORY))
    return found + ([("optimizer", "adam")] if s.optimizer == "lbfgs" else [])




def check_style_side(side: int, s: Settings) -> None:
    """Refuse a style side (``style_size``, ``style_scale``) larger than the output whose square would not fit in
    memory as an output: before any image is resized to it."""
    if side > s.size and not fits((side, side), s):
        largest = largest_side((1, 1), s)
        raise NSTError(f"a style image of long side {side} px (style_size {s.style_size}, style_scale {s.style_scale:g}) "
                       f"does not fit in memory; give a style side of at most {largest} px")


def out_of_memory_error(hw: Sequence[int], s: Settings | Program, batch: int = 1) -> NSTError:
    """The one-line error for a run that ran out of memory: the size the estimate says fits (smaller than this one)."""
    side = min(largest_side(hw, s, batch, int(SUGGESTION_SLACK * available_bytes())), max(hw) * 3 // 4)
    fix = f"try --size {side}, --remat on or --precision bfloat16" if side >= MIN_SUGGESTED else \
        "no smaller size is worth suggesting; free memory or raise the process's limit"
    return NSTError(f"out of memory stylizing {batch} image(s) of {hw[1]}×{hw[0]} px on "
                    f"{jax.devices()[0].platform}; {fix}")


@contextlib.contextmanager
def guard(hw: Sequence[int], s: Settings | Program, batch: int = 1) -> Iterator[None]:
    """Turn running out of memory inside the block (computing targets, optimizing) into :func:`out_of_memory_error`."""
    try:
        yield
    except Exception as e:  # noqa: BLE001
        if out_of_memory(e) and not isinstance(e, NSTError):
            raise out_of_memory_error(hw, s, batch) from None
        raise
