"""Throughput of ``jax_nst.stylize_batch``: images/s per batch size, and scaling over devices.

Part 1 times batches of 1, 2, 4, 8 images on the current JAX device(s). Part "vmap" (not in
"both") times the compiled L-BFGS loop alone on one device for each batch size, batched with
``vmap`` (the default) and one image after the other (``lax.map``), with the evaluations each made. Part 2 gives d devices
d images (one each) for d = 1, 2, 4, 8 and reports the scaling efficiency
E(d) = throughput(d) / (d · throughput(1)); without that many devices it runs in a subprocess on
``--simulate-devices`` CPU devices (``--xla_force_host_platform_device_count``), which share the
host's cores: it checks the mechanism and its overhead, not the speed-up of real chips. Each call
is timed after a warm-up call that compiles it; the time is the whole call (weights, targets,
``--steps`` optimizer steps). Example:

    python scripts/benchmark_batch.py --size 256 --steps 5
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from typing import Any, NamedTuple

PART_BATCH, PART_SCALING, PART_VMAP = "batch", "scaling", "vmap"


class Row(NamedTuple):
    """One timing: ``devices`` used for a batch of ``batch`` images."""

    devices: int
    batch: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.batch / self.seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256, help="long side in px (default: %(default)s)")
    p.add_argument("--steps", type=int, default=5, help="optimizer steps per call (default: %(default)s)")
    p.add_argument("--optimizer", default="lbfgs", choices=("lbfgs", "adam"))
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8], help="device counts of part 2")
    p.add_argument("--part", choices=(PART_BATCH, PART_SCALING, PART_VMAP, "both"), default="both")
    p.add_argument("--simulate-devices", type=int, default=8, help="CPU devices to simulate for part 2")
    p.add_argument("--repeats", type=int, default=1, help="timed calls per row; the fastest counts")
    return p.parse_args(argv)


def contents(n: int) -> list[Any]:
    """``n`` different same-shape crops of the sample photo."""
    import numpy as np

    from jax_nst import images, samples

    photo = images.load_image(samples.CONTENT)
    h, w = photo.shape[:2]
    side = int(0.7 * min(h, w))
    ys, xs = np.linspace(0, h - side, n).astype(int), np.linspace(0, w - side, n).astype(int)
    return [photo[y : y + side, x : x + side] for y, x in zip(ys, xs[::-1])]


def time_batch(n: int, args: argparse.Namespace) -> Row:
    """Seconds of a warm ``stylize_batch`` call on ``n`` images (fastest of ``--repeats``)."""
    import jax_nst
    from jax_nst import samples
    from jax_nst.optimize import sharding

    batch, style = contents(n), jax_nst.load_image(samples.STYLE)
    options = dict(size=args.size, steps=args.steps, optimizer=args.optimizer, report_every=args.steps)
    jax_nst.stylize_batch(batch, style, **{**options, "steps": 1, "report_every": 1})  # compiles
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        jax_nst.stylize_batch(batch, style, **options)
        best = min(best, time.perf_counter() - start)
    return Row(sharding.batch_devices(n) if n > 1 else 1, n, best)


def time_loop(n: int, args: argparse.Namespace, one_by_one: bool) -> tuple[float, int]:
    """(seconds, evaluations per image) of ``--steps`` steps of ``--optimizer`` in the compiled loop on ``n`` images,
    warm (the fastest of ``--repeats``)."""
    import jax
    import numpy as np

    import jax_nst
    from jax_nst import objective, optimize, samples, vgg
    from jax_nst.controls.presets import PAPER  # the paper's loss, every step
    from jax_nst.settings import Settings

    s = Settings(**PAPER, size=args.size, steps=args.steps, optimizer=args.optimizer)
    batch = np.stack([jax_nst.load_image(c, args.size) for c in contents(n)])
    style = jax_nst.load_image(samples.STYLE, args.size)
    params, program = jax.device_put(vgg.load_params()), optimize.memory.resolve(s.program(), batch.shape)
    hyper = optimize.per_image(s.hyper(), n)
    targets = objective.targets.build(params, batch, [style], program)
    loop = optimize.make_loop(program, True, one_by_one=one_by_one)
    state = loop.init(params, batch, targets, hyper)
    jax.block_until_ready(loop.run(params, batch, state, targets, hyper, args.steps))  # compiles
    best, evals = float("inf"), 0
    for _ in range(args.repeats):
        start = time.perf_counter()
        _, _, ev = jax.block_until_ready(loop.run(params, batch, state, targets, hyper, args.steps))
        best, evals = min(best, time.perf_counter() - start), int(np.sum(ev))
    return best, evals


def run_vmap(args: argparse.Namespace) -> None:
    """Part "vmap": the L-BFGS loop batched by vmap against lax.map, per batch size."""
    print(f"\n### L-BFGS batches: vmap against one image after the other, {args.size} px, {args.steps} steps\n")
    print(f"device: {device_line()}\n")
    print("| batch | lax.map s | vmap s | lax.map images/s | vmap images/s | vmap speed-up | evaluations (all images) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |", flush=True)
    for n in args.batch_sizes:
        (t_map, e_map), (t_vmap, e_vmap) = time_loop(n, args, True), time_loop(n, args, False)
        evals = str(e_vmap) if e_map == e_vmap else f"{e_map} / {e_vmap}"
        print(f"| {n} | {t_map:.2f} | {t_vmap:.2f} | {n / t_map:.3f} | {n / t_vmap:.3f} | {t_map / t_vmap:.2f}× | {evals} |",
              flush=True)


def device_line() -> str:
    """The devices JAX sees, with the CPU model on CPU (:func:`jax_nst.doctor.describe`)."""
    from jax_nst import doctor

    return doctor.describe()


BATCH_HEAD = "| batch | devices used | s per call | images/s | s per image-step |\n| ---: | ---: | ---: | ---: | ---: |"
SCALING_HEAD = "| devices | images | s per call | images/s | efficiency |\n| ---: | ---: | ---: | ---: | ---: |"


def batch_line(r: Row, steps: int) -> str:
    return f"| {r.batch} | {r.devices} | {r.seconds:.2f} | {r.rate:.3f} | {r.seconds / (r.batch * steps):.3f} |"


def scaling_line(r: Row, base: Row) -> str:
    """One row with E(d) = throughput(d) / (d · throughput(1))."""
    efficiency = r.rate / (r.devices * base.rate / base.devices)
    return f"| {r.devices} | {r.batch} | {r.seconds:.2f} | {r.rate:.3f} | {efficiency:.0%} |"


def run_batch(args: argparse.Namespace) -> None:
    """Part 1: one row per batch size, printed as soon as it is measured."""
    print(f"\n### images/s by batch size, {args.size} px, {args.steps} {args.optimizer} steps per call\n")
    print(f"device: {device_line()}\n\n{BATCH_HEAD}", flush=True)
    for n in args.batch_sizes:
        print(batch_line(time_batch(n, args), args.steps), flush=True)


def run_scaling(args: argparse.Namespace) -> None:
    """Part 2: d images on d devices, on real devices when there are enough, else simulated CPU ones."""
    import jax

    if jax.local_device_count() < max(args.devices):
        if jax.default_backend() != "cpu":
            raise SystemExit(f"part 2 needs {max(args.devices)} devices; this host has {jax.local_device_count()}")
        simulate(args)
        return
    print(f"\n### scaling over devices, one {args.size} px image per device, {args.steps} {args.optimizer} steps\n")
    print(f"device: {device_line()}\n\n{SCALING_HEAD}", flush=True)
    base = None
    for d in args.devices:
        row = time_batch(d, args)
        base = base or row
        print(scaling_line(row, base), flush=True)


def simulate(args: argparse.Namespace) -> None:
    """Run part 2 again in a subprocess with ``--simulate-devices`` CPU devices."""
    given = [a for a in sys.argv[1:] if a not in ("--part", PART_BATCH, PART_SCALING, "both")]
    argv = [sys.executable, __file__, *given, "--part", PART_SCALING]
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={args.simulate_devices}"
    env = {**os.environ, "XLA_FLAGS": flags.strip(), "JAX_PLATFORMS": "cpu"}
    print(f"\n(simulated: XLA_FLAGS={shlex.quote(env['XLA_FLAGS'])})", flush=True)
    subprocess.run(argv, env=env, check=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print("command: python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__), *(argv or sys.argv[1:])]))
    if args.part in (PART_BATCH, "both"):
        run_batch(args)
    if args.part in (PART_SCALING, "both"):
        run_scaling(args)
    if args.part == PART_VMAP:
        run_vmap(args)


if __name__ == "__main__":
    main()
