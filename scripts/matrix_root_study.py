"""How far a matmul-only square root (coupled Newton–Schulz, float32) is from the exact one on real W2 matrices.

For each style layer of the samples pair this forms A = √C_s (C + εI) √C_s as the W2 loss does
(:mod:`jax_nst.objective.style_losses.mean_cov`) and compares, against float64 ``eigh`` with the exact path's
floor: the cross term tr(A^½), and the gradient as it reaches C, √C_s ½A^−½ √C_s (relative error in norm), for
float32 ``eigh`` (what runs) and for Newton–Schulz after k iterations, optionally with A shifted by
``--shift``·‖A‖_F. Example:

    python scripts/matrix_root_study.py --size 256 --iterations 15 20 30 --shift 0 1e-6
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from jax_nst import api, doctor, images, samples
from jax_nst.objective.style_losses import mean_cov
from jax_nst.vgg.module import features

LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
FLOOR = 1e-6
"""The exact gradient's eigenvalue floor (×λ_max), as the gradient of :func:`mean_cov.trace_sqrt`."""


def newton_schulz(a: jax.Array, iterations: int, shift: float) -> tuple[jax.Array, jax.Array]:
    """tr(A^½) and ½A^−½ by the coupled iteration Y → (A/‖A‖)^½, Z → (A/‖A‖)^−½ (matmuls only)."""
    eye = jnp.eye(a.shape[0], dtype=a.dtype)
    norm = jnp.sqrt(jnp.sum(a * a))

    def step(_, yz):
        t = 0.5 * (3.0 * eye - yz[1] @ yz[0])
        return yz[0] @ t, t @ yz[1]

    y, z = jax.lax.fori_loop(0, iterations, step, (a / norm + shift * eye, eye))
    return jnp.sqrt(norm) * jnp.trace(y), 0.5 * z / jnp.sqrt(norm)


def exact(a: np.ndarray) -> tuple[float, np.ndarray]:
    """tr(A^½) and ½A^−½ (eigenvalues floored at FLOOR·λ_max) by ``eigh`` in the array's own precision."""
    xp = jnp if isinstance(a, jax.Array) else np
    lam, u = xp.linalg.eigh(a)
    d = 0.5 / xp.sqrt(xp.maximum(lam, FLOOR * xp.max(xp.abs(lam))))
    return xp.sum(xp.sqrt(xp.clip(lam, 0.0, None))), (u * d) @ u.T


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iterations", type=int, nargs="+", default=[15, 20, 30])
    p.add_argument("--shift", type=float, nargs="+", default=[0.0, 1e-6])
    args = p.parse_args()
    params = api.load_params()
    load = lambda path: jnp.asarray(images.load_image(path, args.size))[None]  # noqa: E731
    fc, fs = (features(params, load(path), LAYERS) for path in (samples.CONTENT, samples.STYLE))
    print(f"# {doctor.describe()}\n# samples at {args.size} px; relative errors: value tr(A^½) / gradient in norm\n")
    runs = [(k, shift) for shift in args.shift for k in args.iterations]
    print("| layer | float32 eigh | " + " | ".join(f"NS k={k}, shift {s:g}" for k, s in runs) + " |")
    print("|---" * (2 + len(runs)) + "|")
    for layer in LAYERS:
        target = mean_cov.blend([mean_cov.statistics(fs[layer][0])], [1.0])
        cov = mean_cov.statistics(fc[layer][0])["cov"] + target["eps"] * jnp.eye(fc[layer].shape[-1])
        a = target["root"] @ cov @ target["root"]
        a = 0.5 * (a + a.T)
        root = np.asarray(target["root"], np.float64)
        value, grad = exact(np.asarray(a, np.float64))
        reached = root @ grad @ root

        def error(v, g) -> str:
            g = root @ np.asarray(g, np.float64) @ root
            return f"{abs(float(v) - value) / value:.1e} / {np.linalg.norm(g - reached) / np.linalg.norm(reached):.1e}"

        cells = [error(*jax.jit(exact)(a))]
        cells += [error(*jax.jit(newton_schulz, static_argnums=(1, 2))(a, k, s)) for k, s in runs]
        print(f"| {layer} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
