"""Where to stop: the stopping rule's measure against the judges of ``quality_study.py``, to choose ``stop_tol``.

Each pair is stylized for ``--steps`` steps with early stopping off, a checkpoint every ``--every`` steps holding
the picture, the wall time and the rule's measure (the mean absolute pixel change per step, averaged over ~10
steps: ``Progress.change``). Every checkpoint is judged (content LPIPS, VGG-16 style SW). For each tolerance τ
the table gives where the rule would stop (the first checkpoint with change < τ: at most ``--every`` − 1
steps later than the rule itself, which checks every step), the seconds saved, and how far the picture there
is from the one after all ``--steps`` steps, as ratios of the judges' measures. Example:

    python scripts/stop_study.py --size 256 --steps 300 --every 10
"""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

import jax_nst
from jax_nst import doctor, images

from quality_study import Judge, options_of, pairs

TOLERANCES = (3e-3, 2e-3, 1.5e-3, 1e-3, 5e-4)


def trace(content, style, size: int, steps: int, every: int, options: dict) -> list[tuple[float, int, float, np.ndarray]]:
    """(seconds, step, change, picture) at every checkpoint of a run of ``steps`` steps without early stopping."""
    seen = []

    def callback(p):
        seen.append((time.perf_counter() - start, p.step, float(p.change), np.asarray(p.image)))
        print(f"#   step {p.step}: {seen[-1][0]:.0f} s, {p.evaluations} evaluations, change {p.change:.2g}", flush=True)

    jax_nst.stylize(content, style, size=size, steps=2, report_every=1, stop_tol=0, **options)  # compile first
    start = time.perf_counter()
    jax_nst.stylize(content, style, size=size, steps=steps, report_every=every, stop_tol=0, callback=callback, **options)
    return seen


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--method", default="mean_cov+margin=16", help="as quality_study.py's --methods entries")
    p.add_argument("--pairs", nargs="+", help="names of pairs (default: all)")
    p.add_argument("--cache", type=pathlib.Path, default=pathlib.Path.home() / ".cache" / "jax_nst_study")
    args = p.parse_args()
    print(f"# {doctor.describe()}\n# size {args.size} px, {args.steps} steps, {args.method}\n")
    print("| pair | τ | stops at step | s (of all steps' s) | content LPIPS / final | style SW / final |")
    print("|---|---|---|---|---|---|")
    judge, chosen = Judge(), pairs(args.cache)
    for name in args.pairs or list(chosen):
        content_path, style_path = chosen[name]
        c, s = images.load_image(content_path, args.size), images.load_image(style_path, args.size)
        targets = judge.style_targets(s)
        seen = trace(content_path, style_path, args.size, args.steps, args.every, options_of(args.method))
        marks = [(judge.content(x, c), judge.style(x, targets)[0]) for *_, x in seen]
        (t_end, *_), (lp_end, sw_end) = seen[-1], marks[-1]
        print(f"| {name} | changes | " + ", ".join(f"{step}: {change:.2g}" for _, step, change, _ in seen) + " | | | |")
        for tol in TOLERANCES:
            at = next((i for i, (_, step, change, _) in enumerate(seen) if step >= 10 and change < tol), len(seen) - 1)
            (t, step, _, _), (lp, sw) = seen[at], marks[at]
            print(f"| {name} | {tol:g} | {step} | {t:.0f} ({t_end:.0f}) | {lp / lp_end:.3f} | {sw / sw_end:.3f} |",
                  flush=True)


if __name__ == "__main__":
    main()
