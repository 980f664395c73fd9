"""Does one set of weights give the same content/style balance at every size? Stylize the sample pair at
several sizes with the default weights, under the default "size" normalization and the paper's plain sums.

Two measures that do not depend on the normalization, for the output x against the content c and style s:

* style left  = E(x) / E(c): the share of the content's style distance Σ_l w_l E_l still there (0 = the style's Grams);
* content lost = ‖F(x) − F(c)‖² / ‖F(s') − F(c)‖² at conv4_2, s' the style resized to the content (1 = as far as the style).

    python scripts/size_balance.py --sizes 256 512 1024 --steps 50 --markdown
"""

from __future__ import annotations

import argparse
import platform
import time

import jax.numpy as jnp
import numpy as np

import jax_nst
from jax_nst import images, objective, samples, vgg
from jax_nst.settings import Settings
from jax_nst.controls.presets import PAPER  # the paper's loss, every step


def measures(params, out: np.ndarray, content: np.ndarray, style: np.ndarray, s: Settings) -> tuple[float, float]:
    """(style left, content lost) of ``out`` (see the module docstring)."""
    program = s.program()
    targets = objective.targets.build(params, content[None], [style], program)
    targets = objective.first_image(targets)
    hyper = s.hyper()

    def parts(x: np.ndarray) -> dict:
        return objective.evaluate(params, None, jnp.asarray(x), targets, hyper, program)[1]

    swapped = images.resize(style, *content.shape[:2])
    style_left = float(parts(out)["style"]) / float(parts(content)["style"])
    content_lost = float(parts(out)["content"]) / float(parts(swapped)["content"])
    return style_left, content_lost


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--normalizations", nargs="+", default=["size", "paper"])
    p.add_argument("--save", help="write the outputs as PREFIX_<normalization>_<size>.png")
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    params = vgg.load_params()
    rows = []
    for norm in a.normalizations:
        for size in a.sizes:
            s = Settings(**PAPER, size=size, steps=a.steps, report_every=a.steps, normalization=norm)
            content = images.load_image(samples.CONTENT, size)
            style = images.load_image(samples.STYLE, size)
            start = time.perf_counter()
            out = jax_nst.stylize(content, style, settings=s)
            seconds = time.perf_counter() - start
            if a.save:
                images.save_image(out, f"{a.save}_{norm}_{size}.png")
            rows.append((norm, size, *measures(params, out, content, style, s), seconds))
            print(f"{norm} {size}: style left {rows[-1][2]:.3f}, content lost {rows[-1][3]:.3f}, {seconds:.0f} s", flush=True)
    print(f"\nCPU: {platform.processor() or platform.machine()}; {a.steps} L-BFGS steps, α = 1, β = 1e3, from the content")
    print("| normalization | size | style left E(x)/E(c) | content lost | s |\n| --- | --- | --- | --- | --- |")
    for norm, size, sl, cl, sec in rows:
        print(f"| {norm} | {size} | {sl:.3f} | {cl:.3f} | {sec:.0f} |")


if __name__ == "__main__":
    main()
