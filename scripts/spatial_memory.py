"""Per-device memory of spatial sharding: XLA's compiled peak against the memory model, and the largest sizes.

For D = 1, 2, 4, 8 bands (simulated CPU devices unless real ones exist) and each size, compiles the
L-BFGS loop of one image with ``spatial=D`` and reads ``memory_analysis()`` of the per-device program
(temporaries + arguments + outputs), beside :func:`jax_nst.optimize.memory.evaluation_bytes`. Then the
largest square image the model allows per device class, with remat. Prints a Markdown table.

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python scripts/spatial_memory.py --sizes 512 1024
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax  # noqa: E402
import numpy as np  # noqa: E402

from jax_nst import objective, optimize, vgg  # noqa: E402
from jax_nst.optimize import memory, spatial  # noqa: E402
from jax_nst.settings import Settings  # noqa: E402
from jax_nst.controls.presets import PAPER  # noqa: E402 (the paper's loss, no margin)

GIB = 2**30
DEVICE_CLASSES = {
    "TPU v4-8 (4 chips × 32 GiB HBM)": (4, 32 * GIB),
    "TPU v5e-8 (8 chips × 16 GiB HBM)": (8, 16 * GIB),
    "one 80 GB GPU (A100/H100)": (1, 80 * 10**9),
    "8 × 80 GB GPUs (one host)": (8, 80 * 10**9),
    "Colab T4 (15 GiB)": (1, 15 * GIB),
}


def measured(size: int, bands: int, remat: str) -> tuple[float, float]:
    """(XLA's per-device bytes of a 2-step L-BFGS run, the model's estimate) for a size × size image."""
    s = Settings(**PAPER, size=size, spatial=bands, remat=remat)
    program = s.program()
    params = vgg.init_params(jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    content = rng.random((1, size, size, 3), np.float32)
    targets = objective.first_image(objective.targets.build(params, content, [content[0, :64, :64]], program))
    x, hyper = content[0], s.hyper()
    if bands > 1:
        params, x, targets = spatial.place(params, x, targets, program)
    loop = optimize.make_loop(program)
    state = jax.eval_shape(loop.init, params, x, targets, hyper)
    m = loop.run.lower(params, x, state, targets, hyper, 2).compile().memory_analysis()
    used = m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
    return used, memory.evaluation_bytes((size, size), program, remat == "on")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--bands", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--remat", default="on", choices=("on", "off"))
    args = ap.parse_args()
    print(f"devices: {jax.device_count()} × {jax.devices()[0].device_kind}, jax {jax.__version__}, remat {args.remat}\n")
    print("| size | D | XLA per-device MiB | model MiB | model / XLA | XLA vs D=1 |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        one = None
        for d in args.bands:
            used, est = measured(size, d, args.remat)
            one = one or used
            print(f"| {size} | {d} | {used / 2**20:.0f} | {est / 2**20:.0f} | {est / used:.2f} | {used / one:.3f} |",
                  flush=True)
    s = Settings(**PAPER, precision="float32")
    print("\n| device class | D | largest square side (remat, model) |\n|---|---|---|")
    for name, (d, per) in DEVICE_CLASSES.items():
        side = memory.largest_side((1, 1), s.replace(spatial=d), available=per)
        print(f"| {name} | {d} | {side} px |")


if __name__ == "__main__":
    main()
