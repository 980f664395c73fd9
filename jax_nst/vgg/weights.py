"""Weight files: where they are, how they are checked, and loading them as the module's params.

A weights file is safetensors with ``{layer}.kernel`` (HWIO) and ``{layer}.bias`` per conv layer, or
an 8-bit codebook (``{layer}.codes`` uint8, ``{layer}.table`` float32[256]: kernel = table[codes]);
its metadata "jax_nst" (JSON: model, preprocessing, tensors_sha256) gives params["input"].
Every file is self-verifying: the converter records a digest of the tensors (:func:`tensor_digest`)
that the loader checks; a file without one is refused unless trusted explicitly.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import NSTError
from .layers import TABLES, Layer

MEAN_BGR = (103.939, 116.779, 123.68)  # Caffe ImageNet mean, BGR, 0–255
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # torchvision, RGB, [0, 1]
CAFFE = {"channel_order": "BGR", "scale": 255.0, "mean": list(MEAN_BGR), "std": [1.0, 1.0, 1.0]}
TORCHVISION = {"channel_order": "RGB", "scale": 1.0, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
DEFAULT_PREPROCESSING = {"vgg19": CAFFE, "vgg16": TORCHVISION}  # for files that do not say
WEIGHTS_ENV = "JAX_NST_WEIGHTS"


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


DIGEST_FIELD = "tensors_sha256"
CONVERTER = "jax-nst convert-weights"


def tensor_digest(tensors: Mapping[str, np.ndarray]) -> str:
    """Hex SHA-256 of the tensors: name, dtype, shape and little-endian bytes of each, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        digest.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def _check_digest(path: Path, meta: Mapping, tensors: Mapping[str, np.ndarray], trust: bool) -> None:
    """The tensors must match the digest the converter recorded; a file without one needs ``trust``."""
    recorded = meta.get(DIGEST_FIELD)
    if recorded is None:
        if not trust:
            raise NSTError(f"weights file '{path}' records no tensor digest, so it cannot be checked; make it with "
                           f"'{CONVERTER} SOURCE OUT.safetensors' (an older jax_nst file works as SOURCE), "
                           "or trust it as it is with --trust-weights")
    elif tensor_digest(tensors) != recorded:
        raise NSTError(f"weights file '{path}' is corrupt: its tensors do not match the digest recorded when it was made")


def expected_sha256(path: Path) -> str | None:
    """The SHA-256 recorded in the provenance file beside ``path`` (``<stem>.provenance.json``), if any."""
    prov = path.with_name(path.stem + ".provenance.json")
    if not prov.is_file():
        return None
    try:
        return json.loads(prov.read_text())["result"]["sha256"]
    except (ValueError, KeyError, TypeError) as e:
        raise NSTError(f"provenance file '{prov}' is unreadable: {e}") from None


def load_params(path: str | os.PathLike | None = None, sha256: str | None = None, model: str = "vgg19",
                trust: bool = False) -> dict:
    """Load and check ``model`` params {input, layer: {kernel (HWIO), bias}} from a safetensors file.

    The tensors must match the digest in the file's metadata (a file without one only with ``trust``);
    the file's SHA-256 must equal ``sha256`` or, if not given, the one in its provenance file.
    Quantized layers (``codes`` uint8 + ``table`` float32[256]) are dequantized: kernel = table[codes].
    The file's metadata "jax_nst" (JSON: model, preprocessing) gives params["input"]; without it,
    the model's default preprocessing is used.
    """
    from safetensors import SafetensorError, safe_open

    path = resolve_weights(path, model)
    if path.is_dir():
        raise NSTError(f"weights file '{path}' is a folder; give the .safetensors file in it")
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
    _check_digest(path, meta, tensors, trust)
    if meta.get("model", model) != model:
        raise NSTError(f"weights file '{path}' holds {meta['model']}, not {model}")
    params = {row.name: _layer(tensors, row, path, model) for row in TABLES[model]}
    return {"input": input_transform(preprocessing), **params}


def _layer(tensors: Mapping[str, np.ndarray], row: Layer, path: Path, model: str) -> dict[str, np.ndarray]:
    """One layer's {kernel, bias}, dequantized and shape-checked against the layer table."""
    name, shape = row.name, (3, 3, row.cin, row.cout)
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
