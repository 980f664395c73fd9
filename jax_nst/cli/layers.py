"""``jax-nst layers [--model vgg16]``: the layer names of a backbone, with the defaults marked."""

from __future__ import annotations

import argparse
from typing import Any

from .. import vgg
from ..settings import CONTENT_LAYERS, STYLE_LAYERS
from . import run


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``jax-nst layers``."""
    p = argparse.ArgumentParser(prog=f"{run.PROG} layers",
                                description="List the conv layers of a backbone: name, block, channels in → out.")
    p.add_argument("--model", choices=tuple(vgg.MODELS), default="vgg19", help="backbone (default: %(default)s)")
    return p


def main(args: dict[str, Any]) -> int:
    """One line per layer: ``conv3_1  block 3  128 → 256  (style default)``."""
    for row in vgg.TABLES[args["model"]]:
        roles = [r for r, names in (("content", CONTENT_LAYERS), ("style", STYLE_LAYERS)) if row.name in names]
        mark = f"  ({', '.join(roles)} default)" if roles else ""
        print(f"{row.name}  block {row.block}  {row.cin:3d} → {row.cout:3d}{mark}")
    return run.EXIT_OK
