"""Memory and time of one evaluation (L_total and ∇L) against the image side, in one pass and in bands of rows.

Each configuration runs in a child process of its own, so its peak resident memory (VmHWM) is its own: the VGG
params, the content features and style statistics (computed band by band too), and two evaluations of the
compiled objective (the first compiles). Beside it, the estimate of :func:`jax_nst.optimize.memory.needed_bytes`.
Then the largest square that fits on accelerators of 16, 40 and 80 GB by the same estimate.

    python scripts/band_memory.py --sides 1024 2048 4096 --bands 1 auto --optimizer adam
    python scripts/band_memory.py --sides 8192 --bands auto --optimizer adam
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def peak_rss() -> int:
    """This process's peak resident memory in bytes (VmHWM)."""
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def child(side: int, bands: str, optimizer: str, steps: int = 0, style_side: int | None = None,
          save: pathlib.Path | None = None) -> dict:
    """One configuration in this process: targets, then two timed evaluations, or with ``steps`` that many steps of
    the compiled optimization loop, one call each (the first compiles)."""
    import dataclasses

    import jax
    import numpy as np

    from jax_nst import api, images, objective, optimize, samples, vgg
    from jax_nst.objective import banded
    from jax_nst.optimize import memory
    from jax_nst.settings import Settings

    s = Settings(size=side, optimizer=optimizer, bands=bands)
    content = images.resize(images.load_image(samples.CONTENT), side, side)  # a square: side × side
    style = images.load_image(samples.STYLE, style_side) if style_side else images.resize(
        images.load_image(samples.STYLE), *content.shape[:2])
    program = memory.resolve(s.program(), (1, *content.shape))
    params = api.load_params()
    start = time.perf_counter()
    targets = objective.first_image(objective.targets.build(params, content[None], [style], program))
    jax.block_until_ready(targets)
    target_s = time.perf_counter() - start
    evaluate = banded.evaluate if banded.bands_needed(program) else objective.evaluate
    remat = program.remat == "on"
    f = jax.jit(jax.value_and_grad(lambda y: evaluate(params, None, y, targets, s.hyper(), program, remat)[0]))
    x = jax.numpy.asarray(content)
    times = []
    loss = None
    count = banded.count(content.shape[0], program)
    if steps:
        loop = optimize.make_loop(program)
        state = loop.init(params, x, targets, s.hyper())
        for _ in range(steps):
            start = time.perf_counter()
            x, state, _ = jax.block_until_ready(loop.run(params, x, state, targets, s.hyper(), 1))
            times.append(time.perf_counter() - start)
        if save is not None:
            np.save(save, np.asarray(x))
    for _ in range(0 if steps else 2):
        start = time.perf_counter()
        loss, grad = jax.block_until_ready(f(x))
        times.append(time.perf_counter() - start)
    if not steps and save is not None:
        np.save(save, np.asarray(grad))
        if count == 1:  # float drift for reference: the one-pass gradient at x nudged by one ulp at random
            up = np.random.default_rng(1).random(x.shape) < 0.5
            nudged = np.nextafter(np.asarray(x), np.where(up, 2, 0).astype(np.float32))
            np.save(save.with_suffix(".nudged.npy"), np.asarray(f(jax.numpy.asarray(nudged))[1]))
    g = None if count == 1 else vgg.windows.geometry(content.shape[0], program.bands, program.layers, program.model)
    return {"side": side, "bands": count, "band_rows": g.band if g else side, "window_rows": g.size if g else side,
            "optimizer": optimizer, "remat": program.remat, "targets_s": round(target_s, 1),
            "steps": steps, "loss": None if loss is None else float(loss), "first_s": round(times[0], 1), "evaluation_s": round(times[-1], 1),
            "peak_gib": round(peak_rss() / 2**30, 2),
            "estimate_gib": round(memory.needed_bytes(content.shape[:2], dataclasses.replace(program), 1,
                                                       bands=count) / 2**30, 2)}


def compare(a, b, steps: int) -> dict:
    """How far apart one pass and bands are: after ``steps`` optimizer steps the pictures (pixel differences), else
    the gradients ∇L: the largest difference relative to max|∇L|, and the share of pixels whose gradient sign
    differs (where Adam's first step, ≈ −lr·sign(∇L), moves them apart by 2·lr) with the largest |∇L| among them."""
    import numpy as np

    d = np.abs(a - b)
    if steps:
        return {"max_diff": float(d.max()), "mean_diff": float(d.mean())}
    scale = float(np.abs(a).max())
    flipped = np.sign(a) != np.sign(b)
    return {"grad_max_rel": float(d.max() / scale), "grad_mean_rel": float(d.mean() / scale),
            "sign_flipped_share": float(flipped.mean()),
            "largest_flipped_rel": float(np.abs(a[flipped]).max() / scale) if flipped.any() else 0.0}


def accelerators(optimizer: str) -> list[str]:
    """Markdown rows: the largest square that fits on 16, 40 and 80 GB devices by the estimate, without and with bands."""
    from jax_nst.optimize import memory
    from jax_nst.settings import Settings

    rows = []
    for gb in (16, 40, 80):
        cells = []
        for s in (Settings(optimizer=optimizer, bands=1), Settings(optimizer=optimizer)):
            cells.append(str(memory.largest_side((1, 1), s, available=gb * 10**9, platform="gpu")))
        rows.append(f"| {gb} GB | {optimizer} | {cells[0]} px | {cells[1]} px |")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sides", type=int, nargs="+", default=[1024, 2048])
    p.add_argument("--bands", nargs="+", default=["1", "auto"])
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--steps", type=int, default=0, help="run this many optimizer steps instead of two evaluations")
    p.add_argument("--style-side", type=int, help="the style image's long side (default: the content's size)")
    p.add_argument("--child", nargs=3, metavar=("SIDE", "BANDS", "OPTIMIZER"))
    p.add_argument("--save", type=pathlib.Path, help="(child) write the picture after the steps here (.npy)")
    p.add_argument("--out", type=pathlib.Path, default=ROOT / "benchmarks" / "bands.jsonl")
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1], args.child[2], args.steps, args.style_side,
                               args.save)))
        return
    import numpy as np

    with args.out.open("a") as out, tempfile.TemporaryDirectory() as tmp:
        for side in args.sides:
            pictures = {}
            for bands in args.bands:
                pictures[bands] = pathlib.Path(tmp) / f"{side}-{bands}.npy"
                extra = ["--steps", str(args.steps), "--save", str(pictures[bands])]
                extra += ["--style-side", str(args.style_side)] if args.style_side else []
                run = subprocess.run([sys.executable, __file__, "--child", str(side), bands, args.optimizer, *extra],
                                     capture_output=True, text=True)
                line = run.stdout.strip().splitlines()[-1] if run.returncode == 0 else json.dumps(
                    {"side": side, "bands": bands, "error": run.stderr.strip().splitlines()[-1][:200]})
                print(line, flush=True)
                out.write(line + "\n")
            found = [np.load(f) for f in pictures.values() if f.exists()]
            nudged = [f.with_suffix(".nudged.npy") for f in pictures.values() if f.with_suffix(".nudged.npy").exists()]
            if len(found) == 2:
                line = json.dumps({"side": side, "compare": list(pictures), **compare(*found, args.steps)})
                print(line, flush=True)
                out.write(line + "\n")
            if len(found) == 2 and nudged:  # how far one ulp of the input moves the one-pass gradient
                line = json.dumps({"side": side, "compare": ["1", "1 nudged by one ulp"],
                                   **compare(found[0], np.load(nudged[0]), 0)})
                print(line, flush=True)
                out.write(line + "\n")
    print("\n| device | optimizer | largest square, one pass | with bands |\n|---|---|---|---|")
    print("\n".join(accelerators(args.optimizer) + accelerators("lbfgs")))


if __name__ == "__main__":
    main()
