"""``jax-nst doctor``: what this machine's devices do with jax_nst, as one Markdown table to paste in an issue.

At SIZE px (square, the shipped VGG-19, the paper's objective): milliseconds per evaluation (L_total
and ∇L: an Adam step) and per L-BFGS step, in float32 and bfloat16; the convolutions' rate
2·Σ_l 2·H_l·W_l·9·C_in·C_out per evaluation (forward and input gradient, counted as direct
convolutions also where Winograd runs fewer multiplications) as FLOP/s and as a share of
the matmul rate measured here in the same dtype and of the data-sheet peak where the device is known;
images/s of batches spread over the local devices; the largest square image that fits per the memory
model, on one device and split over all of them (``spatial``).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np

from . import objective, optimize, vgg
from .optimize import memory, sharding
from .settings import OPTIMIZERS, Settings

PEAK_TFLOPS = {  # dense matmul peak per JAX device from the data sheets: (float32, bfloat16); None: not native
    "TPU v2": (None, 22.5), "TPU v3": (None, 61.5), "TPU v4": (None, 275.0), "TPU v5 lite": (None, 197.0),
    "TPU v5": (None, 459.0), "TPU v6 lite": (None, 918.0),
    "H100": (67.0, 989.0), "A100": (19.5, 312.0), "L4": (30.3, 121.0), "V100": (15.7, 125.0), "T4": (8.1, 65.0),
}
"""TPU v2/v3 devices are cores (half a chip); TPU float32 matmuls run as bfloat16 passes. H100: SXM figures."""


def data_sheet_peak(kind: str, precision: str) -> float | None:
    """The device's data-sheet FLOP/s for ``precision`` ("float32"/"bfloat16"), None where unknown."""
    for name in sorted(PEAK_TFLOPS, key=len, reverse=True):  # "TPU v5 lite" before "TPU v5"
        if name in kind:
            value = PEAK_TFLOPS[name][precision == "bfloat16"]
            return None if value is None else value * 1e12
    return None


def describe() -> str:
    """Platform, device kind and count, jax version; on CPU the CPU model and core count."""
    d = jax.devices()[0]
    text = f"{jax.device_count()} × {d.device_kind} ({d.platform}), jax {jax.__version__}"
    if d.platform == "cpu" and os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
        text += f", {model}, {os.cpu_count()} cores"
    return text


def evaluation_flops(size: int, s: Settings) -> float:
    """Convolution FLOPs of one evaluation at size × size: forward and input gradient, 2·Σ_l 2·H_l·W_l·9·C_in·C_out."""
    cin = {r.name: r.cin for r in vgg.table(s.model)}
    shapes = vgg.shapes((size, size), s.layers, s.model)
    return 2 * sum(2.0 * h * w * 9 * cin[name] * cout for name, (h, w, cout) in shapes.items())


def best_seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The fastest of ``repeats`` timed calls of ``fn`` (after one untimed call that compiles), and its result."""
    out, best = jax.block_until_ready(fn()), float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best, out


def matmul_rate(precision: str, repeats: int = 3) -> float:
    """Measured FLOP/s of n × n matmuls in ``precision``, the best of n = 1024, 2048 (CPU) or 4096, 8192."""
    best = 0.0
    for n in (1024, 2048) if jax.default_backend() == "cpu" else (4096, 8192):
        a = jax.random.normal(jax.random.PRNGKey(0), (n, n), vgg.PRECISIONS[precision])
        mm = jax.jit(lambda a: jnp.matmul(a, a, preferred_element_type=jnp.float32))
        best = max(best, 2.0 * n**3 / best_seconds(lambda: mm(a), repeats)[0])
    return best


def problem(params: vgg.Params, size: int, s: Settings, batch: int = 1) -> tuple[np.ndarray, objective.Targets]:
    """A random content batch (B, size, size, 3) and its targets with a random style image."""
    rng = np.random.default_rng(0)
    content = rng.random((batch, size, size, 3), np.float32)
    return content, objective.targets.build(params, content, [rng.random((size, size, 3), np.float32)], s.program())


def seconds_per_step(params: vgg.Params, size: int, s: Settings, steps: int, repeats: int,
                     batch: int | None = None) -> tuple[float, float]:
    """(seconds per optimizer step, evaluations per step) of ``s``'s loop; ``batch``: that many images, sharded."""
    content, targets = problem(params, size, s, batch or 1)
    loop, hyper, p = optimize.make_loop(s.program(), batch is not None), s.hyper(), params
    x = content if batch is not None else content[0]
    if batch is None:
        targets = objective.first_image(targets)
    else:
        loop, p, x, targets, hyper = sharding.data_parallel(loop, params, x, targets, optimize.per_image(hyper, batch),
                                                            objective.BATCHED)
    state = loop.init(p, x, targets, hyper)
    seconds, (_, _, evals) = best_seconds(lambda: loop.run(p, x, state, targets, hyper, steps), repeats)
    return seconds / steps, float(np.max(evals)) / steps


def rows(size: int, steps: int, repeats: int, batches: Iterable[int]) -> list[tuple[str, str]]:
    """(what, value) rows of the doctor's table."""
    params, kind = jax.device_put(vgg.load_params()), jax.devices()[0].device_kind
    out = [("devices", describe()), ("image", f"{size} × {size} px, VGG-19, conv1_1…conv5_1 + conv4_2")]
    for precision in ("float32", "bfloat16"):
        s = Settings(size=size, precision=precision, optimizer="adam", remat="off")
        t, _ = seconds_per_step(params, size, s, steps, repeats)
        rate, mm, sheet = evaluation_flops(size, s) / t, matmul_rate(precision), data_sheet_peak(kind, precision)
        share = f", {100 * rate / sheet:.0f} % of the data sheet's {sheet / 1e12:g} TFLOP/s" if sheet else ""
        out.append((f"evaluation, {precision}", f"{1e3 * t:.0f} ms; {rate / 1e9:.0f} GFLOP/s = "
                                                f"{100 * rate / mm:.0f} % of measured matmul ({mm / 1e9:.0f} GFLOP/s){share}"))
        t, evals = seconds_per_step(params, size, s.replace(optimizer="lbfgs"), steps, repeats)
        out.append((f"L-BFGS step, {precision}", f"{1e3 * t:.0f} ms ({evals:.2f} evaluations per step)"))
    for b in batches:
        t, _ = seconds_per_step(params, size, Settings(size=size, optimizer="adam", remat="off"), steps, repeats, b)
        out.append((f"batch {b} (Adam, {sharding.batch_devices(b)} device(s))", f"{b / t:.2f} images/s (evaluations)"))
    s, n, free = Settings(bands=1), jax.local_device_count(), memory.available_bytes()
    one = memory.largest_side((1, 1), s, available=free)
    lbfgs, adam = (memory.largest_side((1, 1), s.replace(bands="auto", optimizer=o), available=free) for o in OPTIMIZERS)
    out.append(("largest square that fits (remat)", f"{one} px on one device in one pass; in bands of rows "
                f"(--bands auto) {lbfgs} px with L-BFGS, {adam} px with Adam" + (over_devices(s, n, free) if n > 1 else "")))
    return out


def over_devices(s: Settings, n: int, free: int) -> str:
    """The largest squares over ``n`` devices: split in one pass, and with the devices sharing bands (Adam)."""
    split = memory.largest_side((1, 1), s.replace(spatial=n), available=free)
    shared = memory.largest_side((1, 1), s.replace(spatial=n, bands="auto", optimizer="adam"), available=free)
    return (f"; {split} px split over {n} devices (--spatial {n}), {shared} px with the devices sharing bands "
            f"(--spatial {n} --bands auto, Adam)")


def table(size: int = 512, steps: int = 2, repeats: int = 2, batches: Iterable[int] = (1, 2, 4, 8)) -> str:
    """The doctor's report as a Markdown table."""
    lines = ["| jax-nst doctor | |", "|---|---|"]
    lines += [f"| {what} | {value} |" for what, value in rows(size, steps, repeats, batches)]
    return "\n".join(lines)
