"""Render the small pictures of the README's "Controls" section into docs/ (each ≤ 256 px wide).

Every picture comes from the bundled samples (and a second, procedural style image made here) with
the library's public API. About five minutes on 2 CPU cores at the defaults. Example:

    python scripts/readme_pictures.py --out-dir docs
"""

from __future__ import annotations

import argparse
import pathlib
import time
from typing import Any, Callable

import numpy as np

import jax_nst
from jax_nst import images, progress, samples


def second_style(size: int, seed: int = 7) -> np.ndarray:
    """A warm mosaic (Voronoi cells in reds and yellows with dark joints): a style unlike the sample's."""
    rng = np.random.default_rng(seed)
    points = rng.random((90, 2)) * size
    palette = np.array([[0.85, 0.25, 0.1], [0.95, 0.7, 0.15], [0.6, 0.1, 0.1], [0.98, 0.9, 0.6], [0.4, 0.2, 0.05]])
    colors = palette[rng.integers(0, len(palette), len(points))]
    yx = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij"), axis=-1).reshape(-1, 1, 2)
    d = np.sort(np.linalg.norm(yx - points[None], axis=-1), axis=1)
    nearest = np.argmin(np.linalg.norm(yx - points[None], axis=-1), axis=1)
    joint = (d[:, 1] - d[:, 0] < 1.5)[:, None]
    img = np.where(joint, 0.08, colors[nearest])
    return img.reshape(size, size, 3).astype(np.float32)


class Pictures:
    """The inputs and settings shared by every picture."""

    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.content = images.load_image(samples.CONTENT, a.size)
        self.style = images.load_image(samples.STYLE, a.size)
        self.style2 = second_style(a.size)
        self.base = dict(size=a.size, steps=a.steps, report_every=a.steps)

    def run(self, style: Any = None, **options: Any) -> np.ndarray:
        """``jax_nst.stylize`` of the sample content with the shared settings."""
        return jax_nst.stylize(options.pop("content", self.content), self.style if style is None else style,
                               **{**self.base, **options})

    def multiscale(self) -> Any:
        """From noise: single-scale against coarse-to-fine with the same number of target-size steps."""
        a = self.a
        single = self.run(init="noise")
        multi = self.run(init="noise", scales=(a.size // 4, a.size // 2), scale_steps=(a.steps, a.steps))
        return progress.sheet([[self.content, self.style, single, multi]],
                            col_labels=["content", "style", "1 scale", "3 scales"], tile=a.tile)

    def blend(self) -> Any:
        """Two styles mixed at the Gram level with weights 1:0, 1:1, 0:1."""
        two = [self.style, self.style2]
        outs = [self.run(two, style_blend_weights=w) for w in ((1, 0), (1, 1), (0, 1))]
        return progress.sheet([[self.style, self.style2, *outs]], col_labels=["A", "B", "1:0", "1:1", "0:1"], tile=48)

    def style_scale(self) -> Any:
        """The style image at 2, 1 and 0.5 times the output size (1.5× the usual size): coarser to finer texture."""
        size = self.a.size * 3 // 2
        content = images.load_image(samples.CONTENT, size)
        opts = dict(content=content, size=size, steps=2 * self.a.steps)
        outs = [self.run(samples.STYLE, style_scale=s, **opts) for s in (2.0, 1.0, 0.5)]  # from the 512 px file
        return progress.sheet([[self.style, *outs]], col_labels=["style", "scale 2", "scale 1", "scale .5"],
                            tile=self.a.tile)

    def colors(self) -> Any:
        """Plain transfer, luminance-only transfer and colour matching of the style to the content (β × 4)."""
        beta = 4 * self.base["style_weight"]
        outs = [self.run(preserve_colors=mode, style_weight=beta) for mode in (None, "luminance", "histogram")]
        return progress.sheet([[self.content, *outs]], col_labels=["content", "plain", "luminance", "histogram"],
                            tile=self.a.tile)

    def masks(self) -> Any:
        """Style A on the left, B on the right; then A on the left with the right half kept."""
        h, w = self.content.shape[:2]
        left = np.zeros((h, w), np.float32)
        left[:, : w // 2] = 1.0
        two = self.run([self.style, self.style2], masks=[left, 1.0 - left])
        kept = self.run(masks=[left])
        mask_rgb = np.repeat(0.1 + 0.8 * left[..., None], 3, axis=-1)
        return progress.sheet([[mask_rgb, two, kept]], col_labels=["mask", "A | B", "A | kept"], tile=80)

    def average(self) -> Any:
        """Adam with a high learning rate, without and with iterate averaging (decay 0.97); 2× crops."""
        adam = dict(optimizer="adam", learning_rate=0.1, steps=2 * self.a.steps)
        outs = [self.run(**adam), self.run(**adam, average=0.97)]
        h, w = outs[0].shape[:2]
        crops = [o[h // 4 : h // 4 + h // 2, w // 3 : w // 3 + h // 2] for o in outs]
        tv = [float(np.abs(np.diff(o, axis=0)).mean() + np.abs(np.diff(o, axis=1)).mean()) for o in outs]
        print(f"mean |∇x|: Adam {tv[0]:.4f}, with averaging {tv[1]:.4f}")
        return progress.sheet([crops], col_labels=["Adam", "Adam + EMA .97"], tile=120)

    def progress(self) -> dict[str, Callable[[pathlib.Path], Any]]:
        """Frames every few steps from noise (grid and GIF) and the loss curve."""
        a = self.a
        every = -(-a.steps // 8)
        rec = progress.Recorder(every=every)
        self.run(init="noise", report_every=every, callback=rec)
        return {
            "controls_frames.png": lambda path: progress.save_grid(rec.frames, path, columns=4, width=60),
            "controls_frames.gif": lambda path: progress.save_gif(rec.frames, path, width=96),
            "controls_loss.png": lambda path: progress.save_loss_curve(rec, path, "from noise, L-BFGS"),
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out-dir", type=pathlib.Path, default=pathlib.Path("docs"))
    p.add_argument("--size", type=int, default=128, help="long side of every optimized image (default: %(default)s)")
    p.add_argument("--steps", type=int, default=60, help="L-BFGS steps (per scale) (default: %(default)s)")
    p.add_argument("--tile", type=int, default=60, help="px per picture in 4-column strips (default: %(default)s)")
    names = ("multiscale", "blend", "style_scale", "colors", "masks", "average", "progress")
    p.add_argument("--only", nargs="+", choices=names, default=names)
    a = p.parse_args()
    a.out_dir.mkdir(parents=True, exist_ok=True)
    pics = Pictures(a)
    for name in a.only:
        start, made = time.perf_counter(), getattr(pics, name)()
        if not isinstance(made, dict):
            made = {f"controls_{name}.png": lambda path, sheet=made: images.save_image(np.asarray(sheet), path)}
        writers = made
        for file, write in writers.items():
            print(f"wrote {write(a.out_dir / file)} ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
