"""Evaluations L-BFGS needs to reach PyTorch's loss: history lengths, and a multi-resolution parametrization.

Counts, not seconds: every variant runs the paper objective on the sample pair from the content,
one step per call, and records the loss after each step; the target is the lowest loss of
PyTorch's ``LBFGS(max_iter=N, max_eval=N, line_search_fn="strong_wolfe")`` called once
(``scripts/torch_baseline.py``). Counts do not depend on the machine's load.

* ``--memory M …``: the library's loop with ``lbfgs_memory`` M.
* ``--pyramid C …``: L-BFGS (the library's optimizer and line search) on z = (z₀, z₁, …, z_K) with
  x = z₀ + Σ_k C^k·up(z_k), z_k at 1/2^k of the size (bilinear ``up``), z₀ the content, the others 0;
  after each step z₀ absorbs the projection of x onto [0, 1]. A linear change of variables:
  L-BFGS then takes larger steps in the coarse directions (its implied metric is P Pᵀ).

    python scripts/optimizer_study.py --size 128 --evals 320 --memory 10 30 100 --pyramid 0.5 0.7 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchmark  # noqa: E402
import torch_baseline  # noqa: E402

from jax_nst import objective, optimize, vgg  # noqa: E402
from jax_nst.controls.presets import PAPER  # noqa: E402 (the paper's loss, every step)
from jax_nst.settings import Settings  # noqa: E402

MARKS = (50, 100, 200)


def torch_target(size: int, evals: int) -> tuple[float, np.ndarray, np.ndarray]:
    """PyTorch's lowest loss in ``evals`` evaluations, and its (evaluations, best loss so far) curve."""
    torch_baseline.setup_threads()
    s = Settings(**PAPER, size=size)
    trace = torch_baseline.run_lbfgs(torch_baseline.torch_params(vgg.load_params()), *benchmark.pair(size, s), s, evals)
    return float(min(trace.loss)), np.asarray(trace.evals), np.minimum.accumulate(trace.loss)


def library_curve(size: int, evals: int, memory: int) -> list[tuple[int, float]]:
    """(evaluations so far, loss) after each step of the library's L-BFGS loop with ``memory`` pairs."""
    s = Settings(**PAPER, size=size, lbfgs_memory=memory)
    params = jax.device_put(vgg.load_params())
    plan = [(s, *benchmark.scale_problem(params, *benchmark.pair(size, s), s, s))]
    return benchmark.count_to_target(params, plan, size, None, evals)[0]


def pyramid_curve(size: int, evals: int, c: float, levels: int, memory: int) -> list[tuple[int, float]]:
    """(evaluations so far, loss) of L-BFGS on the pyramid z with x = z₀ + Σ_k c^k·up(z_k)."""
    s = Settings(**PAPER, size=size, lbfgs_memory=memory)
    program, hyper = s.program(), s.hyper()
    params = jax.device_put(vgg.load_params())
    x0, targets = benchmark.problem(params, size, s)
    shape = x0.shape

    def image(z):
        return z[0] + sum(c**k * jax.image.resize(zk, shape, "linear") for k, zk in enumerate(z[1:], 1))

    def loss(z, prepared):
        return objective.evaluate(params, prepared, image(z), targets, hyper, program)[0]

    opt = optimize.make_optimizer(program, hyper.learning_rate)

    @jax.jit
    def init(z):
        v, g = jax.value_and_grad(loss)(z, vgg.prepare(params, program.conv, program.precision))
        return optax.tree_utils.tree_set(opt.init(z), value=v, grad=g)

    @jax.jit
    def step(z, state):
        prepared = vgg.prepare(params, program.conv, program.precision)
        v, g = (optax.tree_utils.tree_get(state, k) for k in ("value", "grad"))
        updates, state = opt.update(g, state, z, value=v, grad=g, value_fn=lambda y: loss(y, prepared))
        z = optax.apply_updates(z, updates)
        x = image(z)
        z = (z[0] + jnp.clip(x, 0.0, 1.0) - x, *z[1:])
        return z, state, optax.tree_utils.tree_get(state, "num_linesearch_steps")

    h, w, _ = shape
    z = (x0, *[jnp.zeros((-(-h // 2**k), -(-w // 2**k), 3)) for k in range(1, levels + 1)])
    return _curve(z, init(z), step, evals)


def _curve(x, state, step: Callable, evals: int) -> list[tuple[int, float]]:
    """Run ``step`` until ``evals`` evaluations (the initial one counted), recording the loss after each:
    :func:`benchmark.count_to_target`'s loop for a state that is not the image (the pyramid's z)."""
    points, count = [], 1
    while True:
        points.append((count, float(optax.tree_utils.tree_get(state, "value"))))
        if count >= evals:
            return points
        x, state, used = step(x, state)
        count += int(used)


def row(label: str, points: list[tuple[int, float]], target: float, torch_evals: np.ndarray,
        torch_best: np.ndarray) -> str:
    """Markdown row: evaluations to the target, the loss after each of :data:`MARKS` evaluations and
    the evaluations PyTorch needed for that loss."""
    hit = next((e for e, v in points if v <= target), None)
    cells = []
    for n in MARKS:
        v = min((v for e, v in points if e <= n), default=float("nan"))
        reach = torch_evals[np.argmax(torch_best <= v)] if (torch_best <= v).any() else None
        cells.append(f"{v:.4g} ({reach if reach is not None else f'> {torch_evals[-1]}'})")
    return f"| {label} | {hit if hit is not None else 'not reached'} | " + " | ".join(cells) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--evals", type=int, default=320, help="evaluations of each jax_nst variant")
    ap.add_argument("--torch-evals", type=int, default=300, help="PyTorch evaluations that set the target")
    ap.add_argument("--memory", type=int, nargs="*", default=[10, 30, 100], help="history lengths to run")
    ap.add_argument("--pyramid", type=float, nargs="*", default=[], help="level factors C of the pyramid runs")
    ap.add_argument("--levels", type=int, default=3, help="coarse levels of the pyramid")
    ap.add_argument("--pyramid-memory", type=int, default=100, help="history length of the pyramid runs")
    args = ap.parse_args()
    target, torch_evals, torch_best = torch_target(args.size, args.torch_evals)
    print(f"{args.size} px, target {target:.4g} (PyTorch's lowest loss in {args.torch_evals} evaluations)\n")
    print("| variant | evaluations to target | " + " | ".join(f"loss after {n} (PyTorch evaluations)" for n in MARKS) + " |")
    print("|---" * (2 + len(MARKS)) + "|")
    for m in args.memory:
        print(row(f"m = {m}", library_curve(args.size, args.evals, m), target, torch_evals, torch_best), flush=True)
    for c in args.pyramid:
        points = pyramid_curve(args.size, args.evals, c, args.levels, args.pyramid_memory)
        label = f"pyramid C = {c:g}, {args.levels} levels, m = {args.pyramid_memory}"
        print(row(label, points, target, torch_evals, torch_best), flush=True)


if __name__ == "__main__":
    main()
