"""Render the figures of Gatys et al. from the bundled samples, one PNG each.

* ``paper_reconstructions.png``: the content image reconstructed from white noise by matching the
  features of one layer, conv1_1 … conv5_1 (CVPR 2016 fig. 1, content reconstructions).
* ``paper_style_reconstructions.png``: textures synthesized from white noise by matching the Gram
  matrices of conv1_1; conv1_1+conv2_1; … up to conv5_1 (fig. 1, style reconstructions).
* ``paper_tradeoff.png``: stylizations, rows = style layers conv1_1 … up to conv5_1, columns =
  α/β = 1e-5 … 1e-2 (arXiv 2015 fig. 3), with the default size normalization: at any size the
  balance the paper's plain sums give at 512 px.

The defaults are fast (64 px, few L-BFGS steps: a few minutes on 2 CPU cores); ``--size 512 --steps
500 --tile 160`` approaches the paper's settings. Example:

    python scripts/paper_figures.py --out-dir docs
"""

from __future__ import annotations

import argparse
import pathlib
import time
from typing import Any

import numpy as np

import jax_nst
from jax_nst import experiments, images, progress, samples
from jax_nst.controls import presets

LAYERS = presets.RECONSTRUCTION_LAYERS
SUBSETS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def short(layer: str) -> str:
    """conv3_1 → 3_1."""
    return layer[4:]


def reconstructions(content: np.ndarray, a: argparse.Namespace) -> Any:
    """Row: the content, then its reconstruction from each layer."""
    outs = [experiments.reconstruct(content, layer, size=a.size, steps=a.steps, seed=a.seed, report_every=a.steps)
            for layer in a.layers]
    return progress.sheet([[content, *outs]], col_labels=["content", *a.layers], tile=a.tile)


def style_reconstructions(style: np.ndarray, a: argparse.Namespace) -> Any:
    """Row: the style, then a texture from each cumulative layer subset."""
    outs = [experiments.synthesize(style, last, size=a.size, steps=a.steps, seed=a.seed, report_every=a.steps)
            for last in SUBSETS]
    return progress.sheet([[style, *outs]], col_labels=["style", *(f"..{short(l)}" for l in SUBSETS)], tile=a.tile)


def tradeoff(content: np.ndarray, style: np.ndarray, a: argparse.Namespace) -> Any:
    """Grid: rows = style layers conv1_1 … up to conv5_1, columns = α/β."""
    grid = []
    for last in SUBSETS:
        row = []
        for ratio in a.ratios:
            weights = {"content_weight": 1.0, "style_weight": 1.0 / ratio}
            row.append(jax_nst.stylize(content, style, size=a.size, steps=a.steps, report_every=a.steps, init=a.init,
                                       style_layers=presets.cumulative_style_layers(last), **weights))
        grid.append(row)
    return progress.sheet(grid, row_labels=[f"..{short(l)}" for l in SUBSETS],
                        col_labels=[f"{r:.0e}".replace("e-0", "e-") for r in a.ratios], tile=a.grid_tile)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out-dir", type=pathlib.Path, default=pathlib.Path("docs"))
    p.add_argument("--size", type=int, default=64, help="long side of every optimized image (default: %(default)s)")
    p.add_argument("--steps", type=int, default=60, help="L-BFGS steps per image (default: %(default)s)")
    p.add_argument("--tile", type=int, default=40, help="px per picture in the PNGs (default: %(default)s)")
    p.add_argument("--grid-tile", type=int, default=52, help="px per trade-off picture (default: %(default)s)")
    p.add_argument("--layers", nargs="+", default=list(LAYERS), help="reconstruction layers (paper: conv1_2 …)")
    p.add_argument("--ratios", type=float, nargs="+", default=list(presets.RATIOS))
    p.add_argument("--init", default="content", help="init of the trade-off grid (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", choices=("reconstructions", "styles", "tradeoff"), nargs="+",
                   default=("reconstructions", "styles", "tradeoff"))
    a = p.parse_args()
    a.out_dir.mkdir(parents=True, exist_ok=True)
    content, style = images.load_image(samples.CONTENT, a.size), images.load_image(samples.STYLE, a.size)
    jobs = {
        "reconstructions": ("paper_reconstructions.png", lambda: reconstructions(content, a)),
        "styles": ("paper_style_reconstructions.png", lambda: style_reconstructions(style, a)),
        "tradeoff": ("paper_tradeoff.png", lambda: tradeoff(content, style, a)),
    }
    for name in a.only:
        start, (file, make) = time.perf_counter(), jobs[name]
        path = images.save_image(np.asarray(make()), a.out_dir / file)
        print(f"wrote {path} ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
