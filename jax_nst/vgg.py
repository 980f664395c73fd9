"""VGG-19 and VGG-16 in Flax: layer names, preprocessing and weight loading.

Layer ``conv{b}_{i}`` names the rectified response (after ReLU) of the i-th convolution of block b,
as in Gatys et al. Blocks are joined by 2×2 pooling, ``max`` or ``avg`` (the paper prefers avg).
Preprocessing belongs to the weights: params["input"] is the affine map RGB [0, 1] → network input,
x ↦ x·K + b (Caffe: BGR, 0–255, minus the mean; torchvision: (x − mean)/std).
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

WIDTHS = (64, 128, 256, 512, 512)  # filters of the convolutions in each block
MODELS: dict[str, tuple[int, ...]] = {"vgg19": (2, 2, 4, 4, 4), "vgg16": (2, 2, 3, 3, 3)}  # convs per block
POOLINGS = ("avg", "max")
MEAN_BGR = (103.939, 116.779, 123.68)  # Caffe ImageNet mean, BGR, 0–255
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # torchvision, RGB, [0, 1]
CAFFE = {"channel_order": "BGR", "scale": 255.0, "mean": list(MEAN_BGR), "std": [1.0, 1.0, 1.0]}
TORCHVISION = {"channel_order": "RGB", "scale": 1.0, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
DEFAULT_PREPROCESSING = {"vgg19": CAFFE, "vgg16": TORCHVISION}  # for files that do not say
WEIGHTS_ENV = "JAX_NST_WEIGHTS"

Params = Mapping[str, Mapping[str, jax.Array]]


def layer_names(model: str = "vgg19") -> tuple[str, ...]:
    """conv1_1 … conv5_4 (VGG-19) or … conv5_3 (VGG-16), in network order."""
    return tuple(f"conv{b}_{i}" for b, n in enumerate(MODELS[model], 1) for i in range(1, n + 1))


LAYERS = layer_names("vgg19")


def input_transform(preprocessing: Mapping) -> dict[str, np.ndarray]:
    """params["input"] = {kernel K (3, 3), bias b} with RGB·K + b = the network's input.

    ``preprocessing``: channel_order ("RGB"/"BGR"), scale (of [0, 1] pixels), mean and std (in
    the network's channel order and scale): input = (scale·x[order] − mean) / std.
    """
    order = [2, 1, 0] if preprocessing["channel_order"] == "BGR" else [0, 1, 2]
    std = np.asarray(preprocessing["std"], np.float64)
    kernel = np.zeros((3, 3))
    kernel[order, range(3)] = float(preprocessing["scale"]) / std
    bias = -np.asarray(preprocessing["mean"], np.float64) / std
    return {"kernel": kernel.astype(np.float32), "bias": bias.astype(np.float32)}


def preprocess(params: Params, rgb: jax.Array) -> jax.Array:
    """RGB in [0, 1] → the network's input, by the weights' own affine map params["input"]."""
    t = params["input"]
    return rgb @ jnp.asarray(t["kernel"], rgb.dtype) + jnp.asarray(t["bias"], rgb.dtype)


def check_layers(layers: Sequence[str], model: str = "vgg19") -> None:
    """Raise NSTError naming any layer that ``model`` does not have."""
    names = layer_names(model)
    unknown = [name for name in layers if name not in names]
    if unknown:
        raise NSTError(f"unknown layer {unknown[0]!r}; {model} layers are {', '.join(names)}")


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


class VGG(nn.Module):
    """VGG trunk (``model`` "vgg19" or "vgg16") up to ``last``; returns every ``conv*_*`` activation on the way."""

    model: str = "vgg19"
    pooling: str = "avg"
    last: str = "conv5_4"

    @nn.compact
    def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
        """x: preprocessed NHWC batch → {layer name: NHWC activation} for layers up to ``last``."""
        pool = nn.avg_pool if self.pooling == "avg" else nn.max_pool
        out = {}
        for b, (n, width) in enumerate(zip(MODELS[self.model], WIDTHS), 1):
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
    params: Params, images: jax.Array, layers: Sequence[str], pooling: str = "avg", model: str = "vgg19"
) -> dict[str, jax.Array]:
    """Activations of ``layers`` for NHWC RGB ``images`` in [0, 1]; computes nothing past the deepest."""
    if not layers:
        return {}
    last = max(layers, key=layer_names(model).index)
    convs = {k: v for k, v in params.items() if k != "input"}
    out = VGG(model=model, pooling=pooling, last=last).apply({"params": convs}, preprocess(params, images))
    return {name: out[name] for name in layers}


# --- weights -----------------------------------------------------------------------------------


def shipped_weights(model: str = "vgg19") -> Path:
    """Path of the ``model`` weights installed with the package."""
    return Path(str(resources.files("jax_nst.weights") / f"{model}.safetensors"))


def resolve_weights(path: str | os.PathLike | None = None, model: str = "vgg19") -> Path:
    """The weights file to use: ``path``, else $JAX_NST_WEIGHTS, else the shipped file of ``model``."""
    return Path(path or os.environ.get(WEIGHTS_ENV) or shipped_weights(model))


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


def load_params(path: str | os.PathLike | None = None, sha256: str | None = None, model: str = "vgg19") -> dict:
    """Load and check ``model`` params {input, layer: {kernel (HWIO), bias}} from a safetensors file.

    The file's SHA-256 must equal ``sha256`` or, if not given, the one in its provenance file.
    Quantized layers (``codes`` uint8 + ``table`` float32[256]) are dequantized: kernel = table[codes].
    The file's metadata "jax_nst" (JSON: model, preprocessing) gives params["input"]; without it,
    the model's default preprocessing is used.
    """
    from safetensors import SafetensorError, safe_open

    path = resolve_weights(path, model)
    if not path.is_file():
        raise NSTError(f"weights file '{path}' does not exist")
    want = sha256 or expected_sha256(path)
    if want is not None and file_sha256(path) != want.lower():
        raise NSTError(f"weights file '{path}' is corrupt or not the expected file (SHA-256 mismatch)")
    try:
        with safe_open(str(path), framework="np") as f:
            meta = json.loads((f.metadata() or {}).get("jax_nst", "{}"))
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        preprocessing = meta.get("preprocessing", DEFAULT_PREPROCESSING[model])
    except (SafetensorError, OSError, ValueError) as e:
        raise NSTError(f"weights file '{path}' is not a readable safetensors file: {e}") from None
    if meta.get("model", model) != model:
        raise NSTError(f"weights file '{path}' holds {meta['model']}, not {model}")
    params = {name: _layer(tensors, name, path, model) for name in layer_names(model)}
    return {"input": input_transform(preprocessing), **params}


def _layer(tensors: Mapping[str, np.ndarray], name: str, path: Path, model: str) -> dict[str, np.ndarray]:
    """One layer's {kernel, bias}, dequantized and shape-checked."""
    b, i = int(name[4]), int(name[6])
    cin = 3 if name == "conv1_1" else WIDTHS[b - 2] if i == 1 else WIDTHS[b - 1]
    shape = (3, 3, cin, WIDTHS[b - 1])
    if f"{name}.kernel" in tensors:
        kernel = tensors[f"{name}.kernel"]
    elif f"{name}.codes" in tensors and f"{name}.table" in tensors:
        kernel = tensors[f"{name}.table"][tensors[f"{name}.codes"]]
    else:
        raise NSTError(f"weights file '{path}' has no {model} layer {name}")
    bias = tensors.get(f"{name}.bias")
    if kernel.shape != shape or bias is None or bias.shape != shape[-1:]:
        raise NSTError(f"weights file '{path}': layer {name} has the wrong shape (want kernel {shape})")
    return {"kernel": kernel.astype(np.float32), "bias": bias.astype(np.float32)}
