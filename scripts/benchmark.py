"""Benchmark jax_nst on the default JAX device with the shipped VGG-19 weights and sample images.

Every measurement runs in its own subprocess (clean peak memory, no thread pools of the other
framework around), on the sample pair at each size:

* per-step cost: compile time, seconds per step and per loss+gradient evaluation (median of
  ``--repeats``, min–max as noise), conv GFLOP/s against the matmul peak measured in the same run,
  peak memory; for jax_nst's Adam and L-BFGS loops and, when torch is installed, for PyTorch;
* time to quality: PyTorch's L-BFGS (``scripts/torch_baseline.py``) runs ``--evals`` function
  evaluations; the loss it reaches is the target; the wall time each side needs to reach it, their
  ratio, and the loss-vs-time curves (CSV and PNG);
* levers (at the smallest size): the library default against each of its speed choices undone
  (XLA's default scheduler, kernel transposes and Winograd transforms in every evaluation,
  direct convolutions only, lax convolution with autodiff's gradient), bfloat16, remat, and one convolution in
  NCHW against NHWC;
* precision: the final loss of float32 and bfloat16 runs under the float32 objective, and speed;
* large images (``--large``): a few L-BFGS steps with remat off and on: seconds per step, peak RSS.

The full measurement (about an hour on 2 CPU cores) writes ``results.md``, ``rows.csv``,
``curves.csv`` and ``time_to_quality.png`` into ``--out-dir``:

    python scripts/benchmark.py --sizes 256 512 --repeats 3 --evals 300 --large 2048 --out-dir benchmarks

A quick check of the whole pipeline: ``python scripts/benchmark.py --sizes 64 --evals 20 --steps 3
--repeats 2 --precision-size 64 --precision-steps 5 --out-dir /tmp/bench``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jax_nst
from jax_nst import doctor, images, objective, optimize, samples, vgg
from jax_nst.controls import coarse_to_fine, styles
from jax_nst.optimize import memory
from jax_nst.settings import Settings
from jax_nst.controls.presets import PAPER  # the paper's loss and step counts: the figures' meaning

OPTIMIZERS = ("adam", "lbfgs")
EVAL = "grad"  # label of the single value_and_grad evaluation
COLUMNS = ("size", "optimizer", "compile s", "s/step", "evals/step", "s/eval", "noise s/eval (min–max)",
           "× PyTorch s/eval", "conv GFLOP/s", "% matmul peak", "executed % peak", "peak MiB")
FULL_COLUMNS = ("size", "optimizer", "steps", "first call s (incl. weights, compile)", "second call s")
TTQ_COLUMNS = ("size", "target L_total", "PyTorch s", "PyTorch evals", "PyTorch s/eval", "side", "s to target",
               "evals to target", "s/eval", "time ratio", "first-scale steps")
LEVER_COLUMNS = ("size", "variant", "s/eval", "noise (min–max)", "× default")
PRECISION_COLUMNS = ("size", "precision", "steps", "s/eval", "final L_total (float32 objective)", "vs float32")
LARGE_COLUMNS = ("size", "remat", "status", "s/step", "evals", "peak RSS MiB", "XLA temp MiB", "estimate MiB",
                 "largest side that fits, px")
HERE = Path(__file__).resolve().parent


class Row(NamedTuple):
    """One raw measurement (n: how many timings it summarizes)."""

    size: int
    optimizer: str
    metric: str
    value: float
    n: int


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


def conv_flops(h: int, w: int, last: str, executed: bool = False) -> float:
    """Forward FLOPs of VGG-19's convolutions up to ``last``: Σ 2·H·W·9·Cin·Cout.

    ``executed``: the multiplications actually run, 2.25× fewer in the layers that use Winograd.
    """
    total, cin = 0.0, 3
    for b, (n, cout) in enumerate(zip(vgg.MODELS["vgg19"], vgg.WIDTHS), 1):
        h, w = (h // 2, w // 2) if b > 1 else (h, w)
        for i in range(1, n + 1):
            flops = 2.0 * h * w * 9 * cin * cout
            if executed and vgg.DEFAULT_CONV.uses_winograd(jnp.zeros((1, 1, cin, cout))):
                flops /= 2.25
            total, cin = total + flops, cout
            if f"conv{b}_{i}" == last:
                return total
    return total


def matmul_peak(runs: int = 5) -> float:
    """Achieved float32 matmul FLOP/s: the best of n² × n² products, n = 1024, 2048, 4096, fastest of ``runs``."""
    best = 0.0
    for n in (1024, 2048, 4096):
        a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
        mm = jax.jit(jnp.matmul)
        jax.block_until_ready(mm(a, a))
        best = max(best, 2.0 * n**3 / min(timed(mm, a, a)[0] for _ in range(runs)))
    return best


def peak_memory() -> tuple[float, str]:
    """Peak memory so far in MiB, and what it measures (device allocator or process RSS)."""
    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # noqa: BLE001 - backends without memory stats
        stats = {}
    if "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**20, "device peak_bytes_in_use"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process max RSS"


def resident_mib() -> float:
    """The process's resident memory now, MiB (its peak so far without psutil)."""
    try:
        import psutil
    except ImportError:
        return peak_memory()[0]
    return psutil.Process().memory_info().rss / 2**20


def pair(size: int, s: Settings) -> tuple[np.ndarray, np.ndarray]:
    """The sample content at long side ``size`` and the style at its side for ``s``, float32 RGB."""
    return images.load_image(samples.CONTENT, size), images.load_image(samples.STYLE, styles.style_side(s, size))


def problem(params: Any, size: int, s: Settings) -> tuple[jax.Array, objective.Targets]:
    """Start image (H, W, 3) and unbatched targets for the sample pair, as ``api`` builds them for one image."""
    content, style = (jnp.asarray(a) for a in pair(size, s))
    return content, targets_for(params, content, style, s)


def targets_for(params: Any, content: jax.Array, style: jax.Array, s: Settings) -> objective.Targets:
    """Unbatched targets of one (H, W, 3) content and style."""
    targets = objective.targets.build(params, np.asarray(content)[None], [np.asarray(style)], s.program())
    return jax.block_until_ready(objective.first_image(targets))


def spread(name: str, values: list[float]) -> dict[str, float]:
    """Median, min and max of repeated timings, as ``name``, ``name_min``, ``name_max``."""
    return {name: statistics.median(values), f"{name}_min": min(values), f"{name}_max": max(values)}


def bench_eval(params: Any, x: jax.Array, targets: objective.Targets, s: Settings, repeats: int) -> dict[str, float]:
    """One jitted loss+gradient evaluation (kernels prepared once, as the loop does): compile time and s/call."""
    program, hyper = s.program(), s.hyper()
    prepared = jax.block_until_ready(jax.jit(vgg.prepare, static_argnums=(1, 2))(params, program.conv, s.precision))
    value = lambda p, pr, y, t, h: objective.evaluate(p, pr, y, t, h, program, memory.use_remat(program, y.shape))  # noqa: E731
    fn = jax.jit(jax.value_and_grad(value, argnums=2, has_aux=True),
                 compiler_options=optimize.compiler_options() or None)
    compile_s, exe = compiled(fn, params, prepared, x, targets, hyper)
    times = [timed(exe, params, prepared, x, targets, hyper)[0] for _ in range(repeats)]
    return {"compile_s": compile_s, "evals_per_step": 1.0, **spread("s_per_eval", times)}


def bench_loop(params: Any, x: jax.Array, targets: objective.Targets, s: Settings, steps: int, repeats: int,
               program: Any = None, **loop_options: Any) -> dict:
    """The library's unbatched loop: compile ``run``, then time ``repeats`` runs of ``steps`` from the same start.

    ``program`` (default ``s.program()``) and ``loop_options`` (of ``make_loop``) choose the implementation.
    """
    loop, hyper = optimize.make_loop(program or s.program(), batched=False, **loop_options), s.hyper()
    state = jax.block_until_ready(loop.init(params, x, targets, hyper))
    compile_s, run = compiled(loop.run, params, x, state, targets, hyper, steps)
    times, evals = [], []
    for _ in range(repeats):
        t, (_, _, ev) = timed(run, params, x, state, targets, hyper, steps)
        times.append(t)
        evals.append(max(int(ev), 1))
    return {"compile_s": compile_s, "evals_per_step": statistics.mean(evals) / steps,
            **spread("s_per_step", [t / steps for t in times]),
            **spread("s_per_eval", [t / e for t, e in zip(times, evals)])}


def flop_rates(m: dict, flops: tuple[float, float], peak: float) -> dict:
    """``m`` with conv GFLOP/s, the fractions of the matmul peak (effective, executed) and the peak memory."""
    rate, executed = (f / m["s_per_eval"] for f in flops)
    return {**m, "conv_gflops": rate / 1e9, "peak_fraction": rate / peak, "executed_fraction": executed / peak,
            "peak_mib": peak_memory()[0]}


def eval_flops(hw: tuple[int, int], s: Settings, torch: bool = False) -> tuple[float, float]:
    """Conv FLOPs of one evaluation, forward + input gradient (2 × forward): as direct convs, and as executed."""
    direct = 2 * conv_flops(hw[0], hw[1], s.layers[-1])
    return direct, direct if torch else 2 * conv_flops(hw[0], hw[1], s.layers[-1], executed=True)


def rows_of(size: int, label: str, m: dict, repeats: int) -> list[Row]:
    """Raw rows of one measurement dict."""
    return [Row(size, label, k, float(v), repeats if k.startswith(("s_per", "evals")) else 1) for k, v in m.items()]


def bench_size(params: Any, size: int, args: argparse.Namespace, peak: float) -> list[Row]:
    """Every jax_nst measurement at one size: one evaluation, then the Adam and L-BFGS loops."""
    s = Settings(**PAPER, size=size)
    x, targets = problem(params, size, s)
    rows: list[Row] = []
    for opt in (EVAL, *OPTIMIZERS):
        if opt == EVAL:
            m = bench_eval(params, x, targets, s, args.repeats)
        else:
            m = bench_loop(params, x, targets, s.replace(optimizer=opt), args.steps, args.repeats)
        rows += rows_of(size, opt, flop_rates(m, eval_flops(x.shape[:2], s), peak), args.repeats)
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


# --- PyTorch ------------------------------------------------------------------------------------


def torch_baseline() -> Any | None:
    """scripts/torch_baseline.py, or None without torch."""
    try:
        sys.path.insert(0, str(HERE))
        import torch_baseline

        return torch_baseline
    except ImportError:
        return None


def bench_torch(size: int, args: argparse.Namespace, peak: float) -> list[Row]:
    """PyTorch's loss + input-gradient evaluation on the same objective: s/eval, GFLOP/s, memory."""
    tb = torch_baseline()
    threads = tb.setup_threads()
    s = Settings(**PAPER, size=size)
    content, style = pair(size, s)
    times = tb.time_eval(tb.torch_params(vgg.load_params()), content, style, s, args.repeats)
    m = {"threads": threads, "evals_per_step": 1.0, **spread("s_per_eval", times)}
    return rows_of(size, "torch grad", flop_rates(m, eval_flops(content.shape[:2], s, torch=True), peak), args.repeats)


def ttq_torch(size: int, args: argparse.Namespace) -> tuple[list[Row], list[list]]:
    """PyTorch L-BFGS, one ``step`` of ``--evals`` evaluations: its lowest loss (the target), when it got
    there, and the curve; then the tutorial's variant (clamping in the closure) to the same target."""
    tb = torch_baseline()
    tb.setup_threads()
    s, tp = Settings(**PAPER, size=size), tb.torch_params(vgg.load_params())
    trace = tb.run_lbfgs(tp, *pair(size, s), s, args.evals)
    best = int(np.argmin(trace.loss))
    target = trace.loss[best]
    rows = [Row(size, "torch lbfgs", k, v, 1) for k, v in
            {"target": target, "ttq_s": trace.seconds[best], "ttq_evals": trace.evals[best]}.items()]
    curve = [[size, "torch lbfgs", e, t, v] for t, e, v in zip(trace.seconds, trace.evals, trace.loss)]
    tutorial = tb.run_lbfgs(tp, *pair(size, s), s, args.evals, tutorial=True)
    reached = next((i for i, v in enumerate(tutorial.loss) if v <= target), None)
    metrics = {"best": min(tutorial.loss), "coarse_steps": 0}
    if reached is not None:
        metrics.update(ttq_s=tutorial.seconds[reached], ttq_evals=tutorial.evals[reached])
    rows += [Row(size, "torch lbfgs tutorial", k, v, 1) for k, v in metrics.items()]
    curve += [[size, "torch lbfgs tutorial", e, t, v] for t, e, v in zip(tutorial.seconds, tutorial.evals, tutorial.loss)]
    return rows, curve


# --- time to quality (jax_nst) -------------------------------------------------------------------


def ttq_jax(size: int, target: float | None, max_evals: int, coarse_steps: int,
            lbfgs_memory: int | None = None) -> tuple[list[Row], list[list]]:
    """The library's L-BFGS (coarse-to-fine when ``coarse_steps``; another history length when
    ``lbfgs_memory``) until the loss at ``size`` ≤ target.

    Two passes from the same start (the run is deterministic). The first steps one step per call to
    see every iterate's loss and count the steps K and evaluations to the target; the second is
    timed and runs as ``stylize`` does: K steps in compiled calls of ``report_every`` steps, so the
    host round trips a step-by-step run would add are not counted. Compilation happens before the
    clock starts; the coarse scale's time counts, its losses (another objective) are not in the
    curve, whose times are evaluations × the timed run's seconds per evaluation.
    """
    full = Settings(**PAPER, size=size) if lbfgs_memory is None else Settings(**PAPER, size=size, lbfgs_memory=lbfgs_memory)
    if coarse_steps:
        full = full.replace(scales=(size // 2,), scale_steps=(coarse_steps,))
    label = f"jax lbfgs{' coarse-to-fine' if coarse_steps else ''}{'' if lbfgs_memory is None else f' m={lbfgs_memory}'}"
    params = jax.device_put(vgg.load_params())
    content, style = pair(size, full)
    plan = [(k, *scale_problem(params, content, style, full, k)) for k in coarse_to_fine.plan(full)]
    points, steps = count_to_target(params, plan, size, target, max_evals)
    reached = target is not None and points[-1][1] <= target
    seconds, evals = timed_run(params, plan, steps, full.report_every)
    assert evals == points[-1][0], (evals, points[-1][0])  # the timed run repeats the counted one
    per_eval = seconds / evals
    curve = [[size, label, e, e * per_eval, v] for e, v in points]
    rows = [Row(size, label, "ttq_s", seconds if reached else float("nan"), 1),
            Row(size, label, "ttq_evals", evals if reached else float("nan"), 1),
            Row(size, label, "ttq_s_per_eval", per_eval, 1),
            Row(size, label, "coarse_steps", coarse_steps, 1)]
    return rows, curve


def count_to_target(params: Any, plan: list, size: int, target: float | None,
                    max_evals: int) -> tuple[list[tuple[int, float]], int]:
    """(evaluations so far, loss at ``size``) after every step, and the final scale's steps to the target."""
    points, evals, x, steps = [], 0, None, 0
    for k, loop, c, targets in plan:
        x, hyper, state = enter_scale(params, loop, c, targets, k, x)
        evals, final = evals + 1, k.size == size
        for _ in range(k.steps if not final else 10**9):
            value = float(optax.tree_utils.tree_get(state, "value"))
            if final:
                points.append((evals, value))
                if (target is not None and value <= target) or evals >= max_evals or not np.isfinite(value):
                    break
                steps += 1
            x, state, ev = loop.run(params, x, state, targets, hyper, 1)
            evals += int(ev)
    return points, steps


def timed_run(params: Any, plan: list, final_steps: int, chunk: int) -> tuple[float, int]:
    """Wall seconds and evaluations of the plan's scales, the final one ``final_steps`` long, each run as
    ``stylize`` runs it (compiled calls of ``chunk`` steps, the result read back after each)."""
    evals, x, start = 0, None, time.perf_counter()
    for i, (k, loop, c, targets) in enumerate(plan):
        x, hyper, state = enter_scale(params, loop, c, targets, k, x)
        evals, todo = evals + 1, final_steps if i == len(plan) - 1 else k.steps
        while todo > 0:
            x, state, ev = loop.run(params, x, state, targets, hyper, min(chunk, todo))
            x, evals, todo = np.asarray(x), evals + int(ev), todo - chunk
    return time.perf_counter() - start, evals


def enter_scale(params: Any, loop: Any, c: jax.Array, targets: Any, k: Settings, x: Any) -> tuple:
    """(x, hyper, initial state) at the start of scale ``k``: the content ``c`` first, else the previous
    scale's x resized to ``c``'s shape (one evaluation: L-BFGS's f(x), ∇f(x))."""
    x = c if x is None else jnp.asarray(coarse_to_fine.resize_batch(np.asarray(x)[None], c.shape[:2])[0])
    hyper = k.hyper()
    return x, hyper, loop.init(params, x, targets, hyper)


def scale_problem(params: Any, content: np.ndarray, style: np.ndarray, full: Settings, k: Settings):
    """(compiled loop, start content, targets) of one scale, compiled and run once before timing."""
    hw = coarse_to_fine.shape_at(content.shape[:2], k.size)
    c = jnp.asarray(coarse_to_fine.resize_batch(content[None], hw)[0])
    targets = targets_for(params, c, jnp.asarray(styles.at_scale([style], full, k.size)[0]), k)
    loop = optimize.make_loop(k.program())
    state = loop.init(params, c, targets, k.hyper())
    jax.block_until_ready(loop.run(params, c, state, targets, k.hyper(), 1))
    return loop, c, targets


# --- levers, precision, large images -------------------------------------------------------------


def lever_variants() -> dict[str, dict[str, Any]]:
    """Name → how the loop is built when one of the library's speed choices is undone: a Program change
    (``conv``: the convolution implementation) or ``make_loop`` options (scheduler, kernel preparation)."""
    return {
        "default": {},
        "XLA default (concurrency) scheduler": {"scheduler": {}},
        "params not prepared (kernel transposes/transforms per evaluation)": {"prepare": False},
        "direct convolutions only (no Winograd)": {"conv": vgg.Fast(winograd_min_channels=10**9)},
        "lax convolution with autodiff's gradient (no custom VJP, no Winograd)": {"conv": vgg.Direct()},
    }


def bench_levers(size: int, args: argparse.Namespace) -> list[Row]:
    """s/eval of the L-BFGS loop for each lever variant, bfloat16 and remat, and one conv in NCHW vs NHWC."""
    params = jax.device_put(vgg.load_params())
    rows = []
    variants = {name: (Settings(**PAPER, size=size), kw) for name, kw in lever_variants().items()}
    variants.update({"precision bfloat16": (Settings(**PAPER, size=size, precision="bfloat16"), {}),
                     "remat on": (Settings(**PAPER, size=size, remat="on"), {})})
    for name, (s, kw) in variants.items():
        x, targets = problem(params, size, s)
        program = dataclasses.replace(s.program(), conv=kw["conv"]) if "conv" in kw else s.program()
        loop_options = {k: v for k, v in kw.items() if k != "conv"}
        m = bench_loop(params, x, targets, s, args.steps, args.repeats, program, **loop_options)
        rows += rows_of(size, f"lever: {name}", m, args.repeats)
        print(f"  done: lever {name}", file=sys.stderr, flush=True)
    return rows + layout_rows(size, args.repeats)


def layout_rows(size: int, repeats: int) -> list[Row]:
    """Seconds of conv3_2 (256 → 256 channels) at this size in NHWC and NCHW (XLA picks the kernels)."""
    h, w = (n // 4 for n in pair(size, Settings(**PAPER, size=size))[0].shape[:2])
    k = jnp.ones((3, 3, 256, 256)) * 0.01
    out = []
    cases = (("NHWC", jnp.ones((1, h, w, 256)), k, ("NHWC", "HWIO", "NHWC")),
             ("NCHW", jnp.ones((1, 256, h, w)), k.transpose(3, 2, 0, 1), ("NCHW", "OIHW", "NCHW")))
    for layout, x, kernel, dims in cases:
        conv = jax.jit(lambda a, b, d=dims: jax.lax.conv_general_dilated(a, b, (1, 1), "SAME", dimension_numbers=d))
        jax.block_until_ready(conv(x, kernel))
        times = [timed(conv, x, kernel)[0] for _ in range(max(repeats, 3))]
        out += rows_of(size, f"layout: conv3_2 {layout}", spread("s_per_conv", times), repeats)
    return out


def bench_precision(size: int, steps: int, args: argparse.Namespace) -> list[Row]:
    """``steps`` L-BFGS steps in float32 and bfloat16 from the content: s/eval, final loss by the float32 objective."""
    params = jax.device_put(vgg.load_params())
    base = Settings(**PAPER, size=size)
    x0, targets32 = problem(params, size, base)
    judge = jax.jit(lambda p, x: objective.evaluate(p, None, x, targets32, base.hyper(), base.program())[0])
    rows = []
    for precision in ("float32", "bfloat16"):
        s = base.replace(precision=precision)
        x, targets = problem(params, size, s)
        m = bench_loop(params, x, targets, s, args.steps, args.repeats)
        loop, hyper = optimize.make_loop(s.program()), s.hyper()
        final, _, _ = loop.run(params, x0, loop.init(params, x0, targets, hyper), targets, hyper, steps)
        m.update(final_loss=float(judge(params, final)), steps=steps)
        rows += rows_of(size, f"precision {precision}", m, args.repeats)
    return rows


def bench_large(size: int, remat: str, steps: int) -> list[Row]:
    """``steps`` L-BFGS steps at ``size`` with ``remat``: s/step, evaluations, peak RSS, XLA's and our estimate."""
    params = jax.device_put(vgg.load_params())
    base, free = resident_mib(), memory.available_bytes() / 2**20  # before any image work
    s = Settings(**PAPER, size=size, remat=remat)
    x, targets = problem(params, size, s)
    loop, hyper = optimize.make_loop(memory.resolve(s.program(), x.shape)), s.hyper()
    state = jax.block_until_ready(loop.init(params, x, targets, hyper))
    exe = loop.run.lower(params, x, state, targets, hyper, steps).compile()
    temp = (exe.memory_analysis().temp_size_in_bytes if exe.memory_analysis() else float("nan")) / 2**20
    seconds, (_, _, ev) = timed(exe, params, x, state, targets, hyper, steps)
    est = memory.evaluation_bytes(x.shape[:2], s, remat == "on") / 2**20
    peak = peak_memory()[0]
    m = {"s_per_step": seconds / steps, "evals": int(ev), "peak_mib": peak, "xla_temp_mib": temp, "estimate_mib": est,
         "max_side": size * (free / max(peak - base, 1.0)) ** 0.5, "ok": 1}
    return rows_of(size, f"large remat {remat}", m, 1)


# --- workers -------------------------------------------------------------------------------------


def worker(job: dict) -> dict:
    """Run one measurement (in a subprocess of ``main``); rows and curve points as JSON-able lists."""
    args = argparse.Namespace(**job["args"])
    kind, size, curve = job["kind"], job["size"], []
    if kind == "jax":
        rows = bench_size(jax.device_put(vgg.load_params()), size, args, job["peak"])
    elif kind == "torch":
        rows = bench_torch(size, args, job["peak"])
    elif kind == "ttq-torch":
        rows, curve = ttq_torch(size, args)
    elif kind == "ttq-jax":
        rows, curve = ttq_jax(size, job["target"], job["max_evals"], job["coarse_steps"], job.get("lbfgs_memory"))
    elif kind == "levers":
        rows = bench_levers(size, args)
    elif kind == "precision":
        rows = bench_precision(size, args.precision_steps, args)
    elif kind == "large":
        rows = bench_large(size, job["remat"], args.large_steps)
    else:
        rows = bench_full(size, args.full_steps)
    return {"rows": [list(r) for r in rows], "curve": curve}


def spawn(job: dict, timeout: float | None = None) -> dict | None:
    """``job`` in a fresh Python process; its result, or None (with a note on stderr) if it failed."""
    label = f"{job['kind']} {job['size']} px {job.get('remat', '')}".strip()
    print(f"running: {label}", file=sys.stderr, flush=True)
    try:
        done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  {label}: timed out", file=sys.stderr, flush=True)
        return None
    if done.returncode != 0:
        print(f"  {label}: failed (exit {done.returncode}): {done.stderr.strip()[-500:]}", file=sys.stderr, flush=True)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def collect(jobs: list[dict], rows: list[Row], curves: list[list]) -> None:
    """Run ``jobs`` one after the other, appending their rows and curves."""
    for job in jobs:
        out = spawn(job)
        if out is not None:
            rows += [Row(*r) for r in out["rows"]]
            curves += out["curve"]


def measure(args: argparse.Namespace, peak: float, rows: list[Row], curves: list[list]) -> None:
    """Every job of the run, in order: per-step, levers, precision, time to quality, large images."""
    base = {"args": vars(args), "peak": peak}
    have_torch = torch_baseline() is not None and not args.no_torch
    for size in sorted(args.sizes):
        kinds = ("jax", "torch") if have_torch else ("jax",)
        collect([{**base, "kind": kind, "size": size} for kind in kinds], rows, curves)
    collect([{**base, "kind": "levers", "size": min(args.sizes)}] if args.levers else [], rows, curves)
    collect([{**base, "kind": "precision", "size": args.precision_size}] if args.precision_size else [], rows, curves)
    for size in sorted(args.sizes) if args.evals else []:
        measure_ttq(base, size, have_torch, rows, curves)
    for size in args.large:
        for remat in ("off", "on"):
            out = spawn({**base, "kind": "large", "size": size, "remat": remat})
            rows += [Row(*r) for r in out["rows"]] if out else [Row(size, f"large remat {remat}", "ok", 0, 1)]
    collect([{**base, "kind": "full", "size": size} for size in sorted(args.sizes)] if args.full else [], rows, curves)


def measure_ttq(base: dict, size: int, have_torch: bool, rows: list[Row], curves: list[list]) -> None:
    """PyTorch's run to ``--evals`` evaluations, then the jax_nst variants to its final loss."""
    target = None
    if have_torch:
        collect([{**base, "kind": "ttq-torch", "size": size}], rows, curves)
        target = next((r.value for r in rows if r.size == size and r.metric == "target"), None)
    args = base["args"]
    common = {**base, "kind": "ttq-jax", "size": size, "target": target, "max_evals": 2 * args["evals"]}
    jobs = [{**common, "coarse_steps": c} for c in dict.fromkeys((0, *args["coarse_steps"]))]
    jobs += [{**common, "coarse_steps": 0, "lbfgs_memory": m} for m in args["lbfgs_memory"]]
    collect(jobs, rows, curves)


# --- tables and files ----------------------------------------------------------------------------


def fmt(v: float | None) -> str:
    """Three significant digits, blank when missing."""
    return "" if v is None or v != v else f"{v:.3g}"


def by_label(rows: list[Row], prefix: str | tuple[str, ...] = "") -> dict[tuple[int, str], dict[str, float]]:
    """{(size, label): {metric: value}} for the labels starting with ``prefix``."""
    table: dict[tuple[int, str], dict[str, float]] = {}
    for r in rows:
        if r.optimizer.startswith(prefix):
            table.setdefault((r.size, r.optimizer), {})[r.metric] = r.value
    return table


def loop_table(rows: list[Row]) -> list[list[str]]:
    """One line per (size, optimizer) with per-eval timings, in COLUMNS order."""
    table = by_label([r for r in rows if not r.optimizer.startswith(("lever", "precision", "large", "layout"))])
    torch = {size: m["s_per_eval"] for (size, opt), m in table.items() if opt == "torch grad"}
    return [[str(size), opt, fmt(m.get("compile_s")), fmt(m.get("s_per_step")), fmt(m["evals_per_step"]),
             fmt(m["s_per_eval"]), f"{fmt(m['s_per_eval_min'])}–{fmt(m['s_per_eval_max'])}",
             fmt(m["s_per_eval"] / torch[size] if size in torch else None), fmt(m["conv_gflops"]),
             f"{100 * m['peak_fraction']:.1f}", f"{100 * m['executed_fraction']:.1f}", f"{m['peak_mib']:.0f}"]
            for (size, opt), m in sorted(table.items()) if "conv_gflops" in m]


def full_table(rows: list[Row]) -> list[list[str]]:
    """One line per size of the ``--full`` runs."""
    m = {(r.size, r.metric): r for r in rows}
    return [[str(z), opt, f"{m[z, 'full_steps'].value:.0f}", fmt(m[z, "full_s"].value), fmt(m[z, "full_warm_s"].value)]
            for z, opt in dict.fromkeys((r.size, r.optimizer) for r in rows if r.metric == "full_s")]


def ttq_table(rows: list[Row]) -> list[list[str]]:
    """One line per size and jax_nst variant: time to PyTorch's final loss and the ratio."""
    torch = by_label(rows, "torch lbfgs")
    out = []
    for (size, label), m in sorted(by_label(rows, ("jax lbfgs", "torch lbfgs tutorial")).items()):
        t = torch.get((size, "torch lbfgs"), {})
        ratio = m["ttq_s"] / t["ttq_s"] if "ttq_s" in t and "ttq_s" in m else None
        out.append([str(size), fmt(t.get("target")), fmt(t.get("ttq_s")), fmt(t.get("ttq_evals")), fmt(per_eval(t)),
                    label, fmt(m.get("ttq_s")) or "not reached", fmt(m.get("ttq_evals")), fmt(per_eval(m)), fmt(ratio),
                    f"{m['coarse_steps']:.0f}"])
    return out


def per_eval(m: dict[str, float]) -> float | None:
    """Seconds per evaluation of a time-to-quality run (None if unknown)."""
    if "ttq_s_per_eval" in m:
        return m["ttq_s_per_eval"]
    return m["ttq_s"] / m["ttq_evals"] if m.get("ttq_evals") and np.isfinite(m.get("ttq_s", np.nan)) else None


def lever_table(rows: list[Row]) -> list[list[str]]:
    """One line per lever variant (s/eval of the L-BFGS loop) and per conv layout (s/conv)."""
    table = by_label(rows, ("lever", "layout"))
    default = next((m["s_per_eval"] for (_, k), m in table.items() if k == "lever: default"), None)
    out = []
    for (size, label), m in table.items():
        key = "s_per_eval" if "s_per_eval" in m else "s_per_conv"
        ratio = m[key] / default if default and key == "s_per_eval" else None
        out.append([str(size), label.split(": ", 1)[1] + (" (one conv)" if key == "s_per_conv" else ""), fmt(m[key]),
                    f"{fmt(m[key + '_min'])}–{fmt(m[key + '_max'])}", fmt(ratio)])
    return out


def precision_table(rows: list[Row]) -> list[list[str]]:
    """float32 against bfloat16: speed and the final loss under the float32 objective."""
    table = by_label(rows, "precision")
    ref = next((m["final_loss"] for (_, k), m in table.items() if k.endswith("float32")), None)
    return [[str(size), label.split()[1], f"{m['steps']:.0f}", fmt(m["s_per_eval"]), fmt(m["final_loss"]),
             f"{100 * (m['final_loss'] / ref - 1):+.2f}%" if ref else ""] for (size, label), m in table.items()]


def large_table(rows: list[Row]) -> list[list[str]]:
    """One line per large size and remat setting."""
    out = []
    for (size, label), m in by_label(rows, "large").items():
        ok = m.get("ok") == 1
        keys = ("s_per_step", "evals", "peak_mib", "xla_temp_mib", "estimate_mib", "max_side")
        numbers = [fmt(m.get(k)) for k in keys]
        out.append([str(size), label.split()[-1], "ok" if ok else "failed (killed or error)", *numbers])
    return out


def render(header: tuple[str, ...], body: list[list[str]], markdown: bool) -> str:
    """An aligned text table, or a markdown one."""
    if markdown:
        return "\n".join("| " + " | ".join(line) + " |" for line in [header, ["---"] * len(header), *body])
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in [header, *body])


def report(rows: list[Row], args: argparse.Namespace, device: str, command: str, markdown: bool) -> str:
    """Every table with its notes, as text or markdown."""
    peak = next(r.value for r in rows if r.optimizer == "matmul")
    sections = [("Per-step cost", COLUMNS, loop_table(rows),
                 f"matmul peak {peak:.1f} GFLOP/s (float32, this run); {args.steps} steps × {args.repeats} repeats, "
                 f"medians; conv GFLOP/s = 2 × forward conv FLOPs up to {Settings().layers[-1]} (as direct "
                 "convolutions) / s/eval; executed % peak counts the Winograd layers' 2.25× fewer multiplications; "
                 f"peak MiB = {peak_memory()[1]} of the measuring process"),
                ("Time to quality", TTQ_COLUMNS, ttq_table(rows),
                 f"target = PyTorch L-BFGS loss after {args.evals} evaluations; curves.csv, time_to_quality.png"),
                ("Levers", LEVER_COLUMNS, lever_table(rows), "L-BFGS loop s/eval; × default < 1 is faster"),
                ("Precision", PRECISION_COLUMNS, precision_table(rows), "final images judged by the float32 objective"),
                ("Large images", LARGE_COLUMNS, large_table(rows),
                 f"{args.large_steps} L-BFGS steps, one process each; largest side = size × √(memory free after "
                 "loading the weights / resident memory added from then to the peak), which grows with the pixels"),
                ("Full stylize", FULL_COLUMNS, full_table(rows), "")]
    head = f"**{device}**\n\n`{command}`" if markdown else f"device: {device}"
    parts = [head]
    for title, columns, body, note in sections:
        if body:
            parts.append(f"### {title}\n\n{render(columns, body, True)}\n\n{note}" if markdown
                         else f"{title}\n{render(columns, body, False)}\n{note}")
    return "\n\n".join(parts) + "\n"


def write_csv(path: Path, header: list[str], body: list[list]) -> None:
    """A CSV file with ``header``."""
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        out.writerows(body)


def plot(curves: list[list], rows: list[Row], path: Path) -> bool:
    """Loss against wall time per size (log scale), PyTorch's target dashed; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = sorted({c[0] for c in curves})
    fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.5), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        for label in dict.fromkeys(c[1] for c in curves if c[0] == size):
            pts = [(c[3], c[4]) for c in curves if c[0] == size and c[1] == label]
            ax.plot(*zip(*pts), label=label)
        target = next((r.value for r in rows if r.size == size and r.metric == "target"), None)
        if target is not None:
            ax.axhline(target, color="grey", linestyle="--", linewidth=1, label="target")
        ax.set(title=f"{size} px", xlabel="wall s", ylabel="L_total", yscale="log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def write_outputs(out_dir: Path, text: str, device: str, rows: list[Row], curves: list[list]) -> None:
    """results.md, rows.csv, curves.csv and time_to_quality.png in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.md").write_text(text)
    write_csv(out_dir / "rows.csv", ["device", *Row._fields], [[device, *r] for r in rows])
    write_csv(out_dir / "curves.csv", ["size", "side", "evals", "seconds", "loss"], curves)
    if curves and not plot(curves, rows, out_dir / "time_to_quality.png"):
        print("matplotlib is not installed: no plot", file=sys.stderr)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="long sides in px")
    p.add_argument("--steps", type=int, default=10, help="optimizer steps per timed run")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per measurement")
    p.add_argument("--evals", type=int, default=300,
                   help="PyTorch evaluations that set the time-to-quality target (0: skip)")
    p.add_argument("--coarse-steps", type=int, nargs="*", default=[50],
                   help="also run coarse-to-fine (size/2 for this many steps first) in the time to quality")
    p.add_argument("--lbfgs-memory", type=int, nargs="*", default=[],
                   help="also run the time to quality with these L-BFGS history lengths")
    p.add_argument("--no-levers", dest="levers", action="store_false", help="skip the lever comparison")
    p.add_argument("--precision-size", type=int, default=128, help="size of the float32/bfloat16 comparison (0: skip)")
    p.add_argument("--precision-steps", type=int, default=50, help="L-BFGS steps of the precision comparison")
    p.add_argument("--large", type=int, nargs="*", default=[], help="large sizes to run with remat off and on")
    p.add_argument("--large-steps", type=int, default=2, help="L-BFGS steps at the large sizes")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it is installed")
    p.add_argument("--full", action="store_true", help="also time complete default stylize calls")
    p.add_argument("--full-steps", type=int, help="steps of the --full runs (default: Settings().steps)")
    p.add_argument("--out-dir", help="write results.md, rows.csv, curves.csv, time_to_quality.png here")
    p.add_argument("--csv", help="also write the raw rows (device, size, optimizer, metric, value, n) here")
    p.add_argument("--markdown", action="store_true", help="print markdown tables for BENCHMARKS.md")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print (and write) its tables."""
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    device = doctor.describe()
    print(f"device: {device}", flush=True)
    peak = matmul_peak()
    rows, curves = [Row(0, "matmul", "gflops", peak / 1e9, 5)], []
    measure(args, peak, rows, curves)
    command = "python scripts/benchmark.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    print(report(rows, args, device, command, args.markdown))
    if args.out_dir:
        write_outputs(Path(args.out_dir), report(rows, args, device, command, True), device, rows, curves)
    if args.csv:
        write_csv(Path(args.csv), ["device", *Row._fields], [[device, *r] for r in rows])


if __name__ == "__main__":
    main()
