"""Seconds per value-and-gradient of L_total with each style loss, side by side in one process, default layers.

    python scripts/style_loss_cost.py --sizes 256 512 --losses gram mean_cov

Each loss is compiled first, then the evaluations alternate between the losses (the fastest of ``--repeats``
kept), so a busy machine slows them alike; the ratio to the first loss is printed. On CPU they run with one
BLAS thread, as ``stylize`` runs them (``--blas-threads both`` measures OpenBLAS's own threads beside).
"""

from __future__ import annotations

import argparse
import contextlib
import time

import jax
import jax.numpy as jnp

from jax_nst import images, objective, optimize, samples, vgg
from jax_nst.settings import Settings
from jax_nst.controls.presets import PAPER  # no margin: the losses alone are compared


def evaluation(params: vgg.Params, size: int, loss: str):
    """(jitted value-and-gradient of L_total for the samples at ``size`` with style loss ``loss``, its input)."""
    content = images.load_image(samples.CONTENT, size)[None]
    s = Settings(**{**PAPER, "size": size, "style_loss": loss, "remat": "off"})
    program = s.program()
    targets = objective.first_image(objective.targets.build(params, content, [images.load_image(samples.STYLE, size)],
                                                            program))
    f = jax.jit(jax.value_and_grad(lambda y: objective.evaluate(params, None, y, targets, s.hyper(), program, False)[0]))
    x = jnp.asarray(content[0])
    jax.block_until_ready(f(x))
    return f, x


def seconds(params: vgg.Params, size: int, losses: list[str], repeats: int) -> dict[str, float]:
    """The fastest of ``repeats`` value-and-gradient evaluations per loss, alternated between the losses."""
    runs = {loss: evaluation(params, size, loss) for loss in losses}
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for loss, (f, x) in runs.items():
            start = time.perf_counter()
            jax.block_until_ready(f(x))
            best[loss] = min(best[loss], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--losses", nargs="+", default=["gram", "mean_cov"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--blas-threads", choices=["one", "default", "both"], default="one",
                        help="one: as stylize runs on CPU (optimize.host_blas); default: OpenBLAS's own threads too")
    args = parser.parse_args()
    params = vgg.load_params()
    modes = ["one", "default"] if args.blas_threads == "both" else [args.blas_threads]
    for size in args.sizes:
        for mode in modes:
            with optimize.host_blas() if mode == "one" else contextlib.nullcontext():
                best = seconds(params, size, args.losses, args.repeats)
            first = best[args.losses[0]]
            print(f"{size} px, {mode} BLAS thread(s): "
                  + ", ".join(f"{loss} {t:.3f} s ({t / first:.2f}×)" for loss, t in best.items()), flush=True)


if __name__ == "__main__":
    main()
