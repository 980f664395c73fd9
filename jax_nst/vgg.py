"""VGG-19 in Flax: layer names, preprocessing and weight loading.

Layer ``conv{b}_{i}`` names the rectified response (after ReLU) of the i-th convolution of block b,
as in Gatys et al. Blocks are joined by 2×2 pooling, ``max`` or ``avg`` (the paper prefers avg).
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from .errors import NSTError

# Convolutions per block and their widths.
BLOCKS: tuple[tuple[int, int], ...] = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))
LAYERS: tuple[str, ...] = tuple(
    f"conv{b}_{i}" for b, (n, _) in enumerate(BLOCKS, 1) for i in range(1, n + 1)
)
POOLINGS = ("avg", "max")
MEAN_BGR = (103.939, 116.779, 123.68)  # Caffe ImageNet mean, BGR, 0–255
WEIGHTS_ENV = "JAX_NST_WEIGHTS"

Params = Mapping[str, Mapping[str, jax.Array]]


def preprocess(rgb: jax.Array) -> jax.Array:
    """RGB in [0, 1] → the network's input: BGR in 0–255 minus the Caffe mean."""
    return rgb[..., ::-1] * 255.0 - jnp.asarray(MEAN_BGR, rgb.dtype)


def check_layers(layers: Sequence[str]) -> None:
    """Raise NSTError naming any layer that VGG-19 does not have."""
    unknown = [name for name in layers if name not in LAYERS]
    if unknown:
        raise NSTError(f"unknown layer {unknown[0]!r}; VGG-19 layers are {', '.join(LAYERS)}")


def min_side(layers: Sequence[str]) -> int:
    """Smallest image side giving every layer in ``layers`` at least one pixel: 2^(pools before it)."""
    return 2 ** (max(int(name[4]) for name in layers) - 1)


def _conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """3×3, stride 1, zero padding 1, NHWC × HWIO."""
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))


@jax.custom_vjp
def conv3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """The VGG convolution; its input gradient is a plain convolution with the flipped kernel.

    Written out because XLA:CPU runs the generic transposed convolution about 2.5× slower inside
    loops (the optimizer's line search); gradients are the same as autodiff's.
    """
    return _conv(x, kernel)


def _conv_fwd(x: jax.Array, kernel: jax.Array):
    return _conv(x, kernel), (x, kernel)


def _conv_bwd(res, g: jax.Array):
    x, kernel = res
    flipped = jnp.transpose(kernel[::-1, ::-1], (0, 1, 3, 2))  # HWOI → HWIO of the adjoint
    _, kernel_vjp = jax.vjp(lambda k: _conv(x, k), kernel)  # dead code unless params need grads
    return _conv(g, flipped), kernel_vjp(g)[0]


conv3x3.defvjp(_conv_fwd, _conv_bwd)


class Conv3x3(nn.Module):
    """A VGG convolution layer with params {kernel (3, 3, in, out), bias (out,)}."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return conv3x3(x, kernel.astype(x.dtype)) + bias.astype(x.dtype)


class VGG19(nn.Module):
    """VGG-19 convolutional trunk computed up to ``last``; returns every ``conv*_*`` activation on the way."""

    pooling: str = "avg"
    last: str = LAYERS[-1]

    @nn.compact
    def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
        """x: preprocessed NHWC batch → {layer name: NHWC activation} for layers up to ``last``."""
        pool = nn.avg_pool if self.pooling == "avg" else nn.max_pool
        out = {}
        for b, (n, width) in enumerate(BLOCKS, 1):
            if b > 1:
                x = pool(x, (2, 2), strides=(2, 2))
            for i in range(1, n + 1):
                name = f"conv{b}_{i}"
                x = nn.relu(Conv3x3(width, name=name)(x))
                out[name] = x
                if name == self.last:
                    return out
        return out


def features(
    params: Params, images: jax.Array, layers: Sequence[str], pooling: str = "avg"
) -> dict[str, jax.Array]:
    """Activations of ``layers`` for NHWC RGB ``images`` in [0, 1]; computes nothing past the deepest."""
    if not layers:
        return {}
    last = max(layers, key=LAYERS.index)
    out = VGG19(pooling=pooling, last=last).apply({"params": params}, preprocess(images))
    return {name: out[name] for name in layers}


# --- weights -----------------------------------------------------------------------------------


def shipped_weights() -> Path:
    """Path of the VGG-19 weights installed with the package."""
    return Path(str(resources.files("jax_nst.weights") / "vgg19.safetensors"))


def resolve_weights(path: str | os.PathLike | None = None) -> Path:
    """The weights file to use: ``path``, else $JAX_NST_WEIGHTS, else the shipped file."""
    return Path(path or os.environ.get(WEIGHTS_ENV) or shipped_weights())


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def expected_sha256(path: Path) -> str | None:
    """The SHA-256 recorded in the provenance file beside ``path`` (``<stem>.provenance.json``), if any."""
    prov = path.with_name(path.stem + ".provenance.json")
    if not prov.is_file():
        return None
    try:
        return json.loads(prov.read_text())["result"]["sha256"]
    except (ValueError, KeyError, TypeError) as e:
        raise NSTError(f"provenance file '{prov}' is unreadable: {e}") from None


def load_params(path: str | os.PathLike | None = None, sha256: str | None = None) -> dict:
    """Load and check VGG-19 params {layer: {kernel (HWIO), bias}} from a safetensors file.

    The file's SHA-256 must equal ``sha256`` or, if not given, the one in its provenance file.
    Quantized layers (``codes`` uint8 + ``table`` float32[256]) are dequantized: kernel = table[codes].
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = resolve_weights(path)
    if not path.is_file():
        raise NSTError(f"weights file '{path}' does not exist")
    want = sha256 or expected_sha256(path)
    if want is not None and file_sha256(path) != want.lower():
        raise NSTError(f"weights file '{path}' is corrupt or not the expected file (SHA-256 mismatch)")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise NSTError(f"weights file '{path}' is not a readable safetensors file: {e}") from None
    return {name: _layer(tensors, name, path) for name in LAYERS}


def _layer(tensors: Mapping[str, np.ndarray], name: str, path: Path) -> dict[str, np.ndarray]:
    """One layer's {kernel, bias}, dequantized and shape-checked."""
    b, i = int(name[4]), int(name[6])
    cin = 3 if name == "conv1_1" else BLOCKS[b - 2][1] if i == 1 else BLOCKS[b - 1][1]
    shape = (3, 3, cin, BLOCKS[b - 1][1])
    if f"{name}.kernel" in tensors:
        kernel = tensors[f"{name}.kernel"]
    elif f"{name}.codes" in tensors and f"{name}.table" in tensors:
        kernel = tensors[f"{name}.table"][tensors[f"{name}.codes"]]
    else:
        raise NSTError(f"weights file '{path}' has no VGG-19 layer {name}")
    bias = tensors.get(f"{name}.bias")
    if kernel.shape != shape or bias is None or bias.shape != shape[-1:]:
        raise NSTError(f"weights file '{path}': layer {name} has the wrong shape (want kernel {shape})")
    return {"kernel": kernel.astype(np.float32), "bias": bias.astype(np.float32)}
