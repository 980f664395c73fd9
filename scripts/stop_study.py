"""Where to stop: the stopping rule's measure against the judges of ``quality_study.py``, to choose ``stop_tol``.

Each pair is stylized with the default recipe (coarse-to-fine) and early stopping off, every scale for ``--steps``
steps, reporting every step: the rule's measure (``Progress.change``, the loss's relative decrease per step, ln L
averaged over ~10 steps) is read at every step and the picture kept every ``--every`` steps. For each tolerance τ
the table gives where the rule would end each scale (the first step ≥ k with change < τ, else ``--steps``) and,
at the last scale, how far the picture there (the next kept one) is from the one after all ``--steps`` steps
and from the one nearest the style, as ratios of the judges' measures (content LPIPS, VGG-16 style SW). The
earlier scales ran all their steps, so the last scale starts from the same picture for every τ. Example:

    python scripts/stop_study.py --size 256 --steps 100 --every 10
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

import jax_nst
from jax_nst import doctor, images
from jax_nst.optimize import loop

from quality_study import Judge, options_of, pairs

TOLERANCES = (3e-3, 2e-3, 1.5e-3, 1e-3, 5e-4)


def trace(content, style, size: int, steps: int, every: int, options: dict) -> tuple[list, dict]:
    """Per scale, the measure after each of its ``steps`` steps; and the last scale's pictures every ``every``
    steps, by the step within the scale."""
    scales: list[list[float]] = []
    kept: dict[int, np.ndarray] = {}

    def callback(p):
        if not scales or (p.step - 1) % steps == 0:  # a new scale: only the last one's pictures are kept
            scales.append([])
            kept.clear()
        scales[-1].append(float(p.change))
        if len(scales[-1]) % every == 0 or len(scales[-1]) == steps:
            kept[len(scales[-1])] = np.asarray(p.image)

    jax_nst.stylize(content, style, size=size, steps=steps, report_every=1, stop_tol=0, callback=callback, **options)
    return scales, kept


def stop(changes: list[float], tol: float) -> int:
    """The step at which the rule (:meth:`jax_nst.optimize.loop.Watched.stopped`) ends a scale whose measure after
    each step is ``changes``."""
    return next((t for t, c in enumerate(changes, 1) if t >= loop.STOP_WINDOW and c < tol), len(changes))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=100, help="steps of every scale")
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--method", default="default", help="as quality_study.py's --methods entries")
    p.add_argument("--pairs", nargs="+", help="names of pairs (default: all)")
    p.add_argument("--cache", type=pathlib.Path, default=pathlib.Path.home() / ".cache" / "jax_nst_study")
    args = p.parse_args()
    print(f"# {doctor.describe()}\n# size {args.size} px, {args.steps} steps a scale, {args.method}\n")
    print("| pair | τ | steps of each scale | content LPIPS / at all steps | style SW / at all steps | style SW / least |")
    print("|---|---|---|---|---|---|")
    judge, chosen = Judge(), pairs(args.cache)
    for name in args.pairs or list(chosen):
        content_path, style_path = chosen[name]
        c, s = images.load_image(content_path, args.size), images.load_image(style_path, args.size)
        targets = judge.style_targets(s)
        scales, kept = trace(content_path, style_path, args.size, args.steps, args.every, options_of(args.method))
        marks = {k: (judge.content(x, c), judge.style(x, targets)[0]) for k, x in kept.items()}
        (lp_end, sw_end), sw_least = marks[max(marks)], min(sw for _, sw in marks.values())
        for tol in TOLERANCES:
            steps = [stop(changes, tol) for changes in scales]
            lp, sw = marks[min(k for k in marks if k >= steps[-1])]
            print(f"| {name} | {tol:g} | {', '.join(map(str, steps))} | {lp / lp_end:.3f} | {sw / sw_end:.3f} "
                  f"| {sw / sw_least:.3f} |", flush=True)


if __name__ == "__main__":
    main()
