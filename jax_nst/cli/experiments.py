"""``jax-nst reconstruct`` and ``jax-nst synthesize``: the paper's experiments from the command line."""

from __future__ import annotations

import argparse
from typing import Any

from .. import experiments, images
from ..settings import STYLE_LAYERS
from . import flags, run

DESCRIPTIONS = {
    "reconstruct": "Feature inversion: from white noise, find an image whose LAYER features equal IMAGE's.",
    "synthesize": "Texture synthesis: from white noise, find an image with STYLE's Gram matrices (no content).",
}
SKIP = {
    "reconstruct": flags.STYLE_ONLY + ("content_layers", "content_weight", "normalization"),
    "synthesize": flags.CONTENT_ONLY + ("style_blend_weights", "preserve_colors", "normalization"),
}
"""Settings flags that mean nothing in each experiment."""


def build_parser(command: str) -> argparse.ArgumentParser:
    """The parser of ``jax-nst reconstruct IMAGE`` or ``jax-nst synthesize STYLE``."""
    p = argparse.ArgumentParser(prog=f"{run.PROG} {command}", description=DESCRIPTIONS[command],
                                argument_default=argparse.SUPPRESS)
    if command == "reconstruct":
        p.add_argument("image", metavar="IMAGE", help="image to reconstruct")
        p.add_argument("--layer", default="conv4_2", help="layer whose features are matched (default: %(default)s)")
    else:
        p.add_argument("image", metavar="STYLE", help="style image whose texture is synthesized")
        p.add_argument("--up-to", metavar="LAYER",
                       help="match conv1_1 … LAYER (one of conv1_1, conv2_1, … conv5_1); default: --style-layers")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output image")
    flags.add_output_options(p)
    flags.add_settings(p, skip=SKIP[command], defaults={"init": "noise"})
    return p


def experiment_options(command: str, args: dict[str, Any]) -> dict[str, Any]:
    """The experiment's own settings under the flags given: inversion at --layer, or synthesis up to --up-to."""
    if command == "reconstruct":
        return experiments.reconstruct_options(args["layer"], {})
    if args.get("up_to"):
        return experiments.synthesize_options(args["up_to"], {})  # one name: the cumulative subset up to it
    given = args.get("style_layers")
    return experiments.synthesize_options(STYLE_LAYERS if given is None else given.split(","), {})


def main(command: str, args: dict[str, Any]) -> int:
    """Write the experiment's image (from noise unless --init says otherwise)."""
    init = args.get("init", "noise")
    experiment = experiment_options(command, args)
    args = {k: v for k, v in args.items() if k not in experiment}  # --up-to wins over --style-layers
    settings = run.settings_of(args, experiment, init=init)
    run.check_outputs(args)
    image = images.load_image(args["image"])
    return run.run_one(args, image, image, settings, run.resolve_init(init, "noise"))
