"""Coarse-to-fine against single-scale: final loss at the target size against wall time.

For each target size and init, a single-scale run records L_total (of the target-size objective)
over wall time; each multi-scale plan (``--plans``, e.g. "4:100,2:100" = size/4 for 100 steps, then
size/2 for 100, then ``--steps`` at the size) reports its final L_total and time. The comparison is at
equal time: the single-scale loss reached when the multi-scale run finished (interpolated), and the
time single-scale needs to reach the multi-scale loss. Every configuration runs one step per scale
to compile and is timed on a second run. Time is the process's CPU time (all threads; steadier than wall time on a
shared machine), and wall time is shown beside it. Example (a few minutes on 2 CPU cores):

    python scripts/benchmark_multiscale.py --sizes 128 256 --steps 100 --markdown
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

import jax_nst
from jax_nst import images, samples

COLUMNS = ("size", "init", "plan", "steps per scale", "CPU s", "wall s", "final L_total",
           "single-scale L_total at that CPU time", "single-scale CPU s to reach that loss", "CPU time saved")


def parse_plan(text: str, size: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """"4:100,2:100" → scales (size/4, size/2) and their steps (100, 100)."""
    if not text:
        return (), ()
    pairs = [item.split(":") for item in text.split(",")]
    return tuple(size // int(d) for d, _ in pairs), tuple(int(n) for _, n in pairs)


def timed_run(content: np.ndarray, style: np.ndarray, options: dict[str, Any]) -> tuple[float, float, list]:
    """CPU and wall seconds of a compiled run, and its (CPU seconds, L_total) reports at the target size."""
    warm = {**options, "steps": 1, "scale_steps": (1,) * len(options.get("scales", ()))}
    jax_nst.stylize(content, style, **warm)  # compiles every scale's loop (steps do not change it)
    curve, start, wall, size = [], time.process_time(), time.perf_counter(), options["size"]

    def record(p: jax_nst.Progress) -> None:
        if max(p.image.shape[:2]) == size:
            curve.append((time.process_time() - start, p.losses["total"]))

    jax_nst.stylize(content, style, callback=record, **options)
    return time.process_time() - start, time.perf_counter() - wall, curve


def loss_at(curve: list[tuple[float, float]], t: float) -> float:
    """Single-scale L_total at time ``t`` (linear in log loss between reports; last value after the end)."""
    ts, ls = np.array([c[0] for c in curve]), np.log([c[1] for c in curve])
    return float(np.exp(np.interp(t, ts, ls)))


def time_to(curve: list[tuple[float, float]], loss: float) -> float | None:
    """First time the single-scale curve reaches ``loss`` (None if it never does)."""
    for (t0, l0), (t1, l1) in zip([(0.0, curve[0][1] * 10)] + curve[:-1], curve):
        if l1 <= loss:
            return t0 + (t1 - t0) * (np.log(l0) - np.log(loss)) / max(np.log(l0) - np.log(l1), 1e-12)
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--steps", type=int, default=100, help="steps at the target size of the multi-scale plans")
    p.add_argument("--single-steps", type=int, default=None, help="single-scale steps (default: 2 × --steps)")
    p.add_argument("--plans", nargs="+", default=["2:100", "4:100,2:100"], help="coarse scales as divisor:steps")
    p.add_argument("--inits", nargs="+", default=["content", "noise"])
    p.add_argument("--optimizer", default="lbfgs")
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    rows = []
    for size in a.sizes:
        content, style = images.load_image(samples.CONTENT, size), images.load_image(samples.STYLE, size)
        base = dict(size=size, optimizer=a.optimizer, report_every=5)
        for init in a.inits:
            single_s, single_wall, curve = timed_run(content, style, {**base, "init": init,
                                                                      "steps": a.single_steps or 2 * a.steps})
            rows.append((size, init, "single", str(a.single_steps or 2 * a.steps), f"{single_s:.1f}",
                         f"{single_wall:.1f}", f"{curve[-1][1]:.4g}", "", "", ""))
            print(rows[-1], flush=True)
            for plan in a.plans:
                scales, steps = parse_plan(plan, size)
                ms_s, ms_wall, ms_curve = timed_run(content, style, {**base, "init": init, "steps": a.steps,
                                                            "scales": scales, "scale_steps": steps})
                final = ms_curve[-1][1]
                reach = time_to(curve, final)
                saved = "never reached" if reach is None else f"{100 * (1 - ms_s / reach):.0f}%"
                rows.append((size, init, "→".join(map(str, (*scales, size))), ",".join(map(str, (*steps, a.steps))),
                             f"{ms_s:.1f}", f"{ms_wall:.1f}", f"{final:.4g}", f"{loss_at(curve, ms_s):.4g}",
                             "-" if reach is None else f"{reach:.1f}", saved))
                print(rows[-1], flush=True)
    if a.markdown:
        print("| " + " | ".join(COLUMNS) + " |")
        print("| " + " | ".join("---" for _ in COLUMNS) + " |")
        for row in rows:
            print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()
