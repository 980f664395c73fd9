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
from typing import Any, Sequence

import jax


from .. import vgg

PEAK_PER_ACTIVATION = {False: 1.15, True: 1.40}
"""Peak temporary bytes / float32 activation bytes, without and with remat (measured 1.13 and 1.36)."""
HEADROOM = 0.8
"""Fraction of the available memory an evaluation may plan to use."""


def evaluation_bytes(hw: Sequence[int], s: Any, remat: bool, batch: int = 1) -> int:
    """Estimated peak bytes of an optimization step (one evaluation and the optimizer's images) for ``batch`` images.

    ``s``: a Settings or Program (its layers, model and L-BFGS memory).
    """
    shapes = vgg.shapes(hw, s.layers, s.model)
    activations = 4 * sum(math.prod(shape) for shape in shapes.values())
    kernels = 2 * 4 * sum(16 * c * c for _, _, c in shapes.values())  # prepared: ≤ 2 Winograd transforms per layer
    images = (2 * s.lbfgs_memory + 4) * 4 * 3 * int(hw[0]) * int(hw[1])  # L-BFGS pairs, x, ∇f, trial point, direction
    return int(batch * (PEAK_PER_ACTIVATION[remat] * activations + images) + kernels)


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


def use_remat(s: Any, shape: Sequence[int]) -> bool:
    """Whether to rematerialize for images of ``shape`` (…, H, W, 3): "on", "off", or "auto" by the estimate."""
    if s.remat != "auto":
        return s.remat == "on"
    batch = math.prod(shape[:-3]) if len(shape) > 3 else 1
    return evaluation_bytes(shape[-3:-1], s, remat=False, batch=batch) > HEADROOM * available_bytes()


def resolve(s: Any, shape: Sequence[int]) -> Any:
    """``s`` with remat "auto" decided ("on"/"off") for images of ``shape``."""
    return s if s.remat != "auto" else dataclasses.replace(s, remat="on" if use_remat(s, shape) else "off")
