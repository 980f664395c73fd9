"""Benchmark jax_nst on the default JAX device with the shipped VGG-19 weights and sample images.

For each size and optimizer: compile time, seconds per step and per loss+gradient evaluation,
achieved convolution GFLOP/s against a measured matmul peak, and peak memory. ``--full`` also
times complete ``jax_nst.stylize`` calls. Example:

    python scripts/benchmark.py --sizes 256 512 --steps 20 --repeats 3 --markdown
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shlex
import statistics
import sys
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

import jax_nst
from jax_nst import images, optimize, samples, vgg
from jax_nst.settings import Settings

OPTIMIZERS = ("adam", "lbfgs")
EVAL = "grad"  # label of the single value_and_grad evaluation
COLUMNS = ("size", "optimizer", "compile s", "s/step", "evals/step", "s/eval", "noise s/eval (min–max)",
           "conv GFLOP/s", "% matmul peak", "peak MiB")
FULL_COLUMNS = ("size", "optimizer", "steps", "first call s (incl. weights, compile)", "second call s")


class Row(NamedTuple):
    """One raw measurement (n: how many timings it summarizes)."""

    size: int
    optimizer: str
    metric: str
    value: float
    n: int


def describe_device() -> str:
    """Platform, kind and count of the default device (CPU model and core count on CPU)."""
    d = jax.devices()[0]
    text = f"{d.platform}: {d.device_kind} ×{jax.device_count()}"
    if d.platform == "cpu":
        cpuinfo = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
        model = next((l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.startswith("model name")), "?")
        text += f" ({model}, os.cpu_count()={os.cpu_count()})"
    return f"{text}, jax {jax.__version__}"


def timed(fn: Callable, *args: Any) -> tuple[float, Any]:
    """Wall seconds of ``fn(*args)`` until its results are ready, and the results."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return time.perf_counter() - start, out


def compiled(jitted: Any, *args: Any) -> tuple[float, Callable]:
    """Seconds to lower and compile ``jitted`` for ``args``, and the executable."""
    start = time.perf_counter()
    exe = jitted.lower(*args).compile()
    return time.perf_counter() - start, exe


def conv_flops(h: int, w: int, last: str) -> float:
    """Forward FLOPs of VGG-19's convolutions up to ``last``: Σ 2·H·W·9·Cin·Cout."""
    total, cin = 0.0, 3
    for b, (n, cout) in enumerate(zip(vgg.MODELS["vgg19"], vgg.WIDTHS), 1):
        h, w = (h // 2, w // 2) if b > 1 else (h, w)
        for i in range(1, n + 1):
            total, cin = total + 2.0 * h * w * 9 * cin * cout, cout
            if f"conv{b}_{i}" == last:
                return total
    return total


def matmul_peak(runs: int = 5) -> float:
    """Achieved float32 matmul FLOP/s, 4096² (2048² on CPU), median of ``runs``."""
    n = 2048 if jax.devices()[0].platform == "cpu" else 4096
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    mm = jax.jit(jnp.matmul)
    jax.block_until_ready(mm(a, a))
    return 2.0 * n**3 / statistics.median(timed(mm, a, a)[0] for _ in range(runs))


def peak_memory() -> tuple[float, str]:
    """Peak memory so far in MiB, and what it measures (device allocator or process RSS)."""
    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # noqa: BLE001 - backends without memory stats
        stats = {}
    if "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**20, "device peak_bytes_in_use"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process max RSS"


def problem(params: Any, size: int, s: Settings) -> tuple[jax.Array, optimize.Targets]:
    """Start image (H, W, 3) and unbatched targets for the sample pair, as ``api`` builds them for one image."""
    content = jnp.asarray(images.load_image(samples.CONTENT, size))
    style = jnp.asarray(images.load_image(samples.STYLE, size))
    feats = optimize.content_targets(params, content[None], s)
    targets = optimize.Targets({l: f[0] for l, f in feats.items()}, optimize.style_targets(params, style, s))
    return content, jax.block_until_ready(targets)


def spread(name: str, values: list[float]) -> dict[str, float]:
    """Median, min and max of repeated timings, as ``name``, ``name_min``, ``name_max``."""
    return {name: statistics.median(values), f"{name}_min": min(values), f"{name}_max": max(values)}


def bench_eval(params: Any, x: jax.Array, targets: optimize.Targets, s: Settings, repeats: int) -> dict[str, float]:
    """One jitted loss+gradient evaluation: compile time and seconds per call."""
    fn = jax.jit(jax.value_and_grad(optimize.objective(s), argnums=1, has_aux=True))
    compile_s, exe = compiled(fn, params, x, targets)
    times = [timed(exe, params, x, targets)[0] for _ in range(repeats)]
    return {"compile_s": compile_s, "evals_per_step": 1.0, **spread("s_per_eval", times)}


def bench_loop(params: Any, x: jax.Array, targets: optimize.Targets, s: Settings, steps: int, repeats: int) -> dict:
    """The library's unbatched loop: compile ``run``, then time ``repeats`` runs of ``steps`` from the same start."""
    loop = optimize.make_loop(s, batched=False)
    state = jax.block_until_ready(loop.init(params, x, targets))
    compile_s, run = compiled(loop.run, params, x, state, targets, steps)
    times, evals = [], []
    for _ in range(repeats):
        t, (_, _, ev) = timed(run, params, x, state, targets, steps)
        times.append(t)
        evals.append(max(int(ev), 1))
    return {"compile_s": compile_s, "evals_per_step": statistics.mean(evals) / steps,
            **spread("s_per_step", [t / steps for t in times]),
            **spread("s_per_eval", [t / e for t, e in zip(times, evals)])}


def bench_size(params: Any, size: int, args: argparse.Namespace, peak: float) -> list[Row]:
    """Every measurement at one size: one evaluation, then the Adam and L-BFGS loops."""
    s = Settings(size=size)
    x, targets = problem(params, size, s)
    flops = 2 * conv_flops(x.shape[0], x.shape[1], s.layers[-1])  # forward + input gradient
    rows: list[Row] = []
    for opt in (EVAL, *OPTIMIZERS):
        if opt == EVAL:
            m = bench_eval(params, x, targets, s, args.repeats)
        else:
            m = bench_loop(params, x, targets, s.replace(optimizer=opt), args.steps, args.repeats)
        m.update(conv_gflops=flops / m["s_per_eval"] / 1e9, peak_fraction=flops / m["s_per_eval"] / peak)
        m["peak_mib"] = peak_memory()[0]
        rows += [Row(size, opt, k, v, args.repeats if k.startswith(("s_per", "evals")) else 1) for k, v in m.items()]
        print(f"  done: {size} px {opt}", file=sys.stderr, flush=True)
    return rows


def bench_full(size: int, steps: int | None) -> list[Row]:
    """Wall time of a complete default ``stylize`` (weights, targets, compile, steps), then of a second call."""
    options = {"size": size} if steps is None else {"size": size, "steps": steps}
    cold, _ = timed(lambda: jax_nst.stylize(samples.CONTENT, samples.STYLE, **options))
    warm, _ = timed(lambda: jax_nst.stylize(samples.CONTENT, samples.STYLE, **options))
    s = Settings(**options)
    metrics = {"full_steps": s.steps, "full_s": cold, "full_warm_s": warm}
    return [Row(size, s.optimizer, k, v, 1) for k, v in metrics.items()]


def fmt(v: float | None) -> str:
    """Three significant digits, blank when missing."""
    return "" if v is None else f"{v:.3g}"


def loop_table(rows: list[Row]) -> list[list[str]]:
    """One line per (size, optimizer), in COLUMNS order."""
    table: dict[tuple[int, str], dict[str, float]] = {}
    for r in rows:
        table.setdefault((r.size, r.optimizer), {})[r.metric] = r.value
    return [[str(size), opt, fmt(m["compile_s"]), fmt(m.get("s_per_step")), fmt(m["evals_per_step"]),
             fmt(m["s_per_eval"]), f"{fmt(m['s_per_eval_min'])}–{fmt(m['s_per_eval_max'])}", fmt(m["conv_gflops"]),
             f"{100 * m['peak_fraction']:.1f}", f"{m['peak_mib']:.0f}"]
            for (size, opt), m in table.items() if "s_per_eval" in m]


def full_table(rows: list[Row]) -> list[list[str]]:
    """One line per size of the ``--full`` runs."""
    m = {(r.size, r.metric): r for r in rows}
    return [[str(z), opt, f"{m[z, 'full_steps'].value:.0f}", fmt(m[z, "full_s"].value), fmt(m[z, "full_warm_s"].value)]
            for z, opt in dict.fromkeys((r.size, r.optimizer) for r in rows if r.metric == "full_s")]


def render(header: tuple[str, ...], body: list[list[str]], markdown: bool) -> str:
    """An aligned text table, or a markdown one."""
    if markdown:
        return "\n".join("| " + " | ".join(line) + " |" for line in [header, ["---"] * len(header), *body])
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in [header, *body])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="long sides in px")
    p.add_argument("--steps", type=int, default=20, help="optimizer steps per timed run")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per measurement")
    p.add_argument("--full", action="store_true", help="also time complete default stylize calls")
    p.add_argument("--full-steps", type=int, help="steps of the --full runs (default: Settings().steps)")
    p.add_argument("--csv", help="write raw rows (device, size, optimizer, metric, value, n) here")
    p.add_argument("--markdown", action="store_true", help="print markdown tables for BENCHMARKS.md")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its tables."""
    args = parse_args(argv)
    device = describe_device()
    print(f"device: {device}", flush=True)
    peak = matmul_peak()
    rows = [Row(0, "matmul", "gflops", peak / 1e9, 5)]
    params = jax.device_put(vgg.load_params())
    for size in sorted(args.sizes):
        rows += bench_size(params, size, args, peak)
    for size in sorted(args.sizes) if args.full else []:
        rows += bench_full(size, args.full_steps)
    command = "python scripts/benchmark.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    notes = (f"matmul peak {peak / 1e9:.1f} GFLOP/s (float32); {args.steps} steps × {args.repeats} repeats, medians; "
             f"conv GFLOP/s = 2 × forward conv FLOPs up to {Settings().layers[-1]} / s/eval; "
             f"peak MiB = {peak_memory()[1]} so far (sizes ascending)")
    if args.markdown:
        print(f"\n**{device}**\n\n`{command}`\n")
    print(render(COLUMNS, loop_table(rows), args.markdown), notes, sep="\n\n" if args.markdown else "\n")
    if args.full:
        print("\n" if args.markdown else "", render(FULL_COLUMNS, full_table(rows), args.markdown), sep="")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["device", *Row._fields])
            out.writerows([device, *r] for r in rows)


if __name__ == "__main__":
    main()
