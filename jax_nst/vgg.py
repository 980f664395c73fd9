"""VGG-19 and VGG-16 in Flax: layer names, preprocessing and weight loading.

Layer ``conv{b}_{i}`` names the rectified response (after ReLU) of the i-th convolution of block b,
as in Gatys et al. Blocks are joined by 2×2 pooling, ``max`` or ``avg`` (the paper prefers avg).
Preprocessing belongs to the weights: params["input"] is the affine map RGB [0, 1] → network input,
x ↦ x·K + b (Caffe: BGR, 0–255, minus the mean; torchvision: (x − mean)/std).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

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


PRECISIONS = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
"""Compute dtypes of the VGG pass; bfloat16 convolutions accumulate in float32."""
WINOGRAD_MIN_CHANNELS = 256
"""float32 convolutions with this many input or output channels use Winograd F(2×2, 3×3) on CPU.

It needs 2.25× fewer multiplications; measured on XLA:CPU 1.6× faster for VGG blocks 3–5 and
slower for blocks 1–2 (64–128 channels), where its transforms cost more than they save.
"""
_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)  # input transform Bᵀ
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)  # kernel transform G
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)  # output transform Aᵀ


def _conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """3×3, stride 1, zero padding 1, NHWC × HWIO; bfloat16 inputs give a float32 (accumulated) result."""
    wide = jnp.float32 if x.dtype == jnp.bfloat16 else None
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"), preferred_element_type=wide
    )


def adjoint_kernel(kernel: jax.Array) -> jax.Array:
    """The kernel of the convolution's input gradient: flipped in space, in/out swapped (HWIO)."""
    return jnp.transpose(kernel[::-1, ::-1], (0, 1, 3, 2))


def winograd_kernel(kernel: jax.Array) -> jax.Array:
    """U = G g Gᵀ of a (3, 3, in, out) kernel, as (16, in, out)."""
    u = jnp.einsum("ai,ijcd,bj->abcd", _G, kernel, _G, precision=jax.lax.Precision.HIGHEST)
    return u.reshape(16, *kernel.shape[2:])


def wants_winograd(kernel: jax.Array) -> bool:
    """Whether a convolution with ``kernel`` runs as Winograd F(2×2, 3×3) (see WINOGRAD_MIN_CHANNELS)."""
    wide = max(kernel.shape[-2:]) >= WINOGRAD_MIN_CHANNELS
    return wide and kernel.dtype == jnp.float32 and jax.default_backend() == "cpu"


def for_conv(kernel: jax.Array) -> jax.Array:
    """What :func:`conv3x3` applies for ``kernel``: the Winograd transform (16, in, out) or the kernel itself."""
    return winograd_kernel(kernel) if wants_winograd(kernel) else kernel


def _combine(parts: list[jax.Array], row: np.ndarray) -> jax.Array:
    """Σ_k row[k]·parts[k], skipping zeros and multiplications by ±1."""
    terms = [p if c == 1 else -p if c == -1 else float(c) * p for c, p in zip(row, parts) if c != 0]
    return functools.reduce(jnp.add, terms)


def _winograd(x: jax.Array, u: jax.Array) -> jax.Array:
    """The 3×3 "same" convolution of NHWC ``x`` with U = ``winograd_kernel(g)``: 2×2 output tiles."""
    b, h, w, _ = x.shape
    th, tw = -(-h // 2), -(-w // 2)
    xp = jnp.pad(x, ((0, 0), (1, 2 * th + 1 - h), (1, 2 * tw + 1 - w), (0, 0)))
    rows = [_combine([xp[:, k : k + 2 * th : 2] for k in range(4)], r) for r in _BT]
    v = [_combine([row[:, :, k : k + 2 * tw : 2] for k in range(4)], r) for row in rows for r in _BT]
    m = jnp.einsum("ptc,pcd->ptd", jnp.stack(v).reshape(16, b * th * tw, -1), u).reshape(4, 4, b, th, tw, -1)
    half = [_combine([m[a] for a in range(4)], r) for r in _AT]  # (4, b, th, tw, out) per output row
    y = jnp.stack([jnp.stack([_combine([hi[j] for j in range(4)], r) for r in _AT], 3) for hi in half], 2)
    return y.reshape(b, 2 * th, 2 * tw, -1)[:, :h, :w]


def _apply(x: jax.Array, op: jax.Array) -> jax.Array:
    """The convolution given by ``op``: a (3, 3, in, out) kernel, or a (16, in, out) Winograd transform."""
    return _winograd(x, op) if op.ndim == 3 else _conv(x, op)


@jax.custom_vjp
def _conv_with(x: jax.Array, kernel: jax.Array, forward: jax.Array, adjoint: jax.Array) -> jax.Array:
    return _apply(x, forward)


def _conv_fwd(x: jax.Array, kernel: jax.Array, forward: jax.Array, adjoint: jax.Array):
    return _apply(x, forward), (x, kernel, forward, adjoint)


def _conv_bwd(res, g: jax.Array):
    x, kernel, forward, adjoint = res
    _, kernel_vjp = jax.vjp(lambda k: _conv(x, k), kernel)  # dead code unless params need grads
    dx = _apply(g.astype(adjoint.dtype), adjoint).astype(x.dtype)
    return dx, kernel_vjp(g)[0], jnp.zeros_like(forward), jnp.zeros_like(adjoint)  # only `kernel` defines the output


_conv_with.defvjp(_conv_fwd, _conv_bwd)


def conv3x3(
    x: jax.Array, kernel: jax.Array, forward: jax.Array | None = None, adjoint: jax.Array | None = None
) -> jax.Array:
    """The VGG convolution; its input gradient is a plain convolution with ``adjoint_kernel(kernel)``.

    Written out because XLA:CPU runs the generic transposed convolution about 2.5× slower inside
    loops (the optimizer's line search); gradients are the same as autodiff's. ``forward`` and
    ``adjoint`` are ``for_conv`` of the kernel and of its adjoint (see :func:`prepare`, which keeps
    their transposes and transforms out of every evaluation); wide float32 layers run as Winograd.
    """
    forward = for_conv(kernel) if forward is None else forward
    adjoint = for_conv(adjoint_kernel(kernel)) if adjoint is None else adjoint
    return _conv_with(x, kernel, forward, adjoint)


class Conv3x3(nn.Module):
    """A VGG convolution layer with params {kernel (3, 3, in, out), bias (out,)}."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return conv3x3(x, kernel.astype(x.dtype)) + bias.astype(x.dtype)


class VGG(nn.Module):
    """VGG trunk (``model`` "vgg19" or "vgg16") up to ``last``; returns every ``conv*_*`` activation on the way.

    The module defines the params; :func:`features` computes the same network block by block.
    """

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


def prepare(params: Params, precision: str = "float32") -> dict:
    """``params`` with kernels in the compute dtype and what each convolution applies precomputed.

    Each layer gets ``forward`` and ``adjoint``: :func:`for_conv` of its kernel and of the adjoint
    kernel (a Winograd transform for wide float32 layers on CPU, else the HWIO kernel).

    Call it once outside the optimization loop (XLA does not hoist the transposes out of it);
    prepared params pass through unchanged.
    """
    dtype = PRECISIONS[precision]
    out: dict = {"input": params["input"]}
    for name, p in params.items():
        if name == "input" or ("forward" in p and "adjoint" in p and p["kernel"].dtype == dtype):  # prepared
            out[name] = p
            continue
        kernel = jnp.asarray(p["kernel"], dtype)
        out[name] = {"kernel": kernel, "bias": jnp.asarray(p["bias"]), "forward": for_conv(kernel),
                     "adjoint": for_conv(adjoint_kernel(kernel))}
    return out


def blocks(layers: Sequence[str], model: str = "vgg19") -> list[list[str]]:
    """The conv layers of each block, up to the deepest of ``layers``."""
    names = layer_names(model)
    last = names.index(max(layers, key=names.index))
    return [[n for n in names[: last + 1] if n[4] == str(b)] for b in range(1, int(names[last][4]) + 1)]


def _block(convs: Mapping[str, Mapping[str, jax.Array]], x: jax.Array, pooling: str | None):
    """Optional 2×2 pooling, then conv + bias + ReLU per layer; (output, {layer: activation})."""
    if pooling is not None:
        x = (nn.avg_pool if pooling == "avg" else nn.max_pool)(x, (2, 2), strides=(2, 2))
    acts = {}
    for name, p in convs.items():
        y = conv3x3(x, jnp.asarray(p["kernel"], x.dtype), p.get("forward"), p.get("adjoint"))
        x = acts[name] = nn.relu(y + jnp.asarray(p["bias"], y.dtype)).astype(x.dtype)
    return x, acts


def features(
    params: Params, images: jax.Array, layers: Sequence[str], pooling: str = "avg", model: str = "vgg19",
    precision: str = "float32",
) -> dict[str, jax.Array]:
    """float32 activations of ``layers`` for NHWC RGB ``images`` in [0, 1]; computes nothing past the deepest.

    ``precision`` "bfloat16" runs the network in bfloat16 (float32 accumulation).
    """
    return feature_losses(params, images, layers, lambda name, f: {name: f}, pooling, model, precision)


def feature_losses(
    params: Params,
    images: jax.Array,
    layers: Sequence[str],
    loss: Callable[[str, jax.Array], Any],
    pooling: str = "avg",
    model: str = "vgg19",
    precision: str = "float32",
    remat: bool = False,
) -> Any:
    """``loss(layer, F_l)`` for each of ``layers`` (F_l float32), merged: pytrees of arrays add, dicts join.

    ``remat`` checkpoints each block together with its layers' losses: only block inputs are stored,
    and the backward pass recomputes each block's activations (see BENCHMARKS.md for what it saves).
    """
    if not layers:
        return {}
    x, total = preprocess(params, images).astype(PRECISIONS[precision]), None
    for b, names in enumerate(blocks(layers, model), 1):
        wanted = [n for n in names if n in layers]
        step = functools.partial(_block_loss, pooling=pooling if b > 1 else None, wanted=wanted, loss=loss)
        x, part = (jax.checkpoint(step) if remat else step)({n: params[n] for n in names}, x)
        total = _merge(total, part)
    return total


def _block_loss(convs, x: jax.Array, pooling: str | None, wanted: list[str], loss: Callable):
    """One block's output and the merged ``loss`` of its ``wanted`` layers."""
    x, acts = _block(convs, x, pooling)
    part = None
    for name in wanted:
        part = _merge(part, loss(name, acts[name].astype(jnp.float32)))
    return x, part


def _merge(a: Any, b: Any) -> Any:
    """Join dicts with distinct keys, add other pytrees leaf by leaf (None is empty)."""
    if a is None or b is None:
        return b if a is None else a
    if isinstance(a, dict) and not set(a) & set(b):
        return {**a, **b}
    return jax.tree.map(jnp.add, a, b)


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
