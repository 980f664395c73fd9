"""How much memory one loss + gradient evaluation needs, and when to rematerialize instead.

The estimate is the float32 size of the VGG activations up to the deepest layer used, times the
peak-to-activations ratio measured with ``compiled.memory_analysis()`` on XLA:CPU (memory-optimized
scheduler, as ``make_loop`` compiles on CPU; 512–2048 px; bfloat16 measured no smaller,
its convolutions return float32), plus the prepared params.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import TYPE_CHECKING, Sequence

import jax


from .. import vgg
from ..errors import NSTError

if TYPE_CHECKING:
    from ..program import Program
    from ..settings import Settings

PEAK_PER_ACTIVATION = {False: 1.15, True: 1.40}
"""Peak temporary bytes / float32 activation bytes, without and with remat (measured 1.13 and 1.36)."""
HEADROOM = 0.8
"""Fraction of the available memory an evaluation may plan to use."""


SHORT_HISTORY = 10
"""The L-BFGS history suggested when the default one is what keeps an image from fitting (2m image-sized arrays)."""


def evaluation_bytes(hw: Sequence[int], s: Settings | Program, remat: bool, batch: int = 1) -> int:
    """Estimated peak bytes per device of an optimization step (one evaluation and the optimizer's images) for
    ``batch`` images; with ``s.spatial`` = D > 1 activations and images are split in D bands of rows.

    ``s``: a Settings or Program (its layers, model, optimizer, L-BFGS memory and spatial bands).
    """
    shapes = vgg.shapes(hw, s.layers, s.model)
    activations = 4 * sum(math.prod(shape) for shape in shapes.values())
    kernels = 2 * 4 * sum(16 * c * c for _, _, c in shapes.values())  # prepared: ≤ 2 Winograd transforms per layer
    # L-BFGS: its pairs, x, ∇f, trial point, direction; Adam: x, ∇f, two moments, update
    count = 2 * s.lbfgs_memory + 4 if s.optimizer == "lbfgs" else 5
    images = count * 4 * 3 * int(hw[0]) * int(hw[1])
    return int(batch * (PEAK_PER_ACTIVATION[remat] * activations + images) / s.spatial + kernels)


def available_bytes(device: jax.Device | None = None) -> int:
    """Memory the computation may use: the accelerator's limit, or the host's available RAM on CPU."""
    device = device or jax.devices()[0]
    if device.platform != "cpu":
        try:
            stats = device.memory_stats() or {}
        except Exception:  # noqa: BLE001 - backends without memory stats
            stats = {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        import psutil
    except ImportError:  # psutil is optional: fall back to the kernel's own figure
        return _meminfo_available()
    return int(psutil.virtual_memory().available)


def _meminfo_available() -> int:
    """MemAvailable from /proc/meminfo, or free physical pages where there is none."""
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def use_remat(s: Settings | Program, shape: Sequence[int]) -> bool:
    """Whether to rematerialize for images of ``shape`` (…, H, W, 3): "on", "off", or "auto" by the estimate."""
    if s.remat != "auto":
        return s.remat == "on"
    batch = math.prod(shape[:-3]) if len(shape) > 3 else 1
    return evaluation_bytes(shape[-3:-1], s, remat=False, batch=batch) > HEADROOM * available_bytes()


def resolve(s: Program, shape: Sequence[int]) -> Program:
    """``s`` with remat "auto" decided ("on"/"off") for images of ``shape``."""
    return s if s.remat != "auto" else dataclasses.replace(s, remat="on" if use_remat(s, shape) else "off")


def fits(hw: Sequence[int], s: Settings | Program, batch: int = 1, available: int | None = None) -> bool:
    """Whether ``batch`` images of ``hw`` fit in the planned share of ``available`` bytes, with remat."""
    available = available_bytes() if available is None else available
    return evaluation_bytes(hw, s, remat=True, batch=batch) <= HEADROOM * available


def largest_side(hw: Sequence[int], s: Settings | Program, batch: int = 1, available: int | None = None) -> int:
    """The largest long side (pixels) at which images shaped like ``hw`` fit (:func:`fits`); 0 if none does."""
    available = available_bytes() if available is None else available
    long = max(int(hw[0]), int(hw[1]))
    shape = lambda side: (max(1, round(hw[0] * side / long)), max(1, round(hw[1] * side / long)))  # noqa: E731
    low, high = 0, 1
    while fits(shape(high), s, batch, available):
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(shape(mid), s, batch, available) else (low, mid)
    return low


def check_fits(hw: Sequence[int], s: Settings | Program, batch: int = 1, device: jax.Device | None = None) -> None:
    """Refuse, before any computation, images that cannot fit in memory even with remat (NSTError naming a size that fits)."""
    available = available_bytes(device)
    if fits(hw, s, batch, available):
        return
    need = evaluation_bytes(hw, s, remat=True, batch=batch)
    side = largest_side(hw, s, batch, available)
    short = dataclasses.replace(s, lbfgs_memory=SHORT_HISTORY)
    history = (f"they fit with --lbfgs-memory {SHORT_HISTORY}, or "
               if s.optimizer == "lbfgs" and s.lbfgs_memory > SHORT_HISTORY and fits(hw, short, batch, available) else "")
    raise NSTError(
        f"{batch} image(s) of {hw[1]}×{hw[0]} px need about {need / 2**30:.1f} GiB even with remat; "
        f"{available / 2**30:.1f} GiB is available on {(device or jax.devices()[0]).platform}; "
        f"{history}a size of {side} px fits (--size {side})"
    )


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is XLA running out of device memory."""
    return "RESOURCE_EXHAUSTED" in str(error) or isinstance(error, MemoryError)


def out_of_memory_error(hw: Sequence[int], s: Settings | Program, batch: int = 1) -> NSTError:
    """The one-line error for an evaluation that ran out of memory: the size the estimate says fits."""
    side = max(1, min(largest_side(hw, s, batch), max(hw) * 3 // 4))
    return NSTError(f"out of memory stylizing {batch} image(s) of {hw[1]}×{hw[0]} px on "
                    f"{jax.devices()[0].platform}; try --size {side}, --remat on or --precision bfloat16")
