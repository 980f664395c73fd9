"""``jax-nst reconstruct`` and ``jax-nst synthesize``: the paper's experiments from the command line."""

from __future__ import annotations

import argparse
from typing import Any, Sequence

from . import cli, cli_controls, images, modes
from .settings import Settings

DESCRIPTIONS = {
    "reconstruct": "Feature inversion: from white noise, find an image whose LAYER features equal IMAGE's.",
    "synthesize": "Texture synthesis: from white noise, find an image with STYLE's Gram matrices (no content).",
}


def build_parser(command: str) -> argparse.ArgumentParser:
    """The parser of ``jax-nst reconstruct IMAGE`` or ``jax-nst synthesize STYLE``; all Settings flags apply."""
    p = argparse.ArgumentParser(prog=f"{cli.PROG} {command}", description=DESCRIPTIONS[command],
                                argument_default=argparse.SUPPRESS)
    if command == "reconstruct":
        p.add_argument("image", metavar="IMAGE", help="image to reconstruct")
        p.add_argument("--layer", default="conv4_2", help="layer whose features are matched (default: %(default)s)")
    else:
        p.add_argument("image", metavar="STYLE", help="style image whose texture is synthesized")
        p.add_argument("--up-to", metavar="LAYER",
                       help="match conv1_1 … LAYER (one of conv1_1, conv2_1, … conv5_1); default: --style-layers")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output image")
    cli._add_settings(p)
    cli._add_run_options(p)
    cli_controls.add_progress_options(p)
    return p


def options_of(command: str, args: dict[str, Any]) -> dict[str, Any]:
    """The stylize options of the mode: the given Settings flags over the mode's own settings."""
    given = {"report_every": cli.CLI_REPORT_EVERY, **cli.settings_options(args)}
    given = cli.with_frames(given, args.get("save_every"))
    given = cli_controls.report_every(given, args.get("frames_every"))
    if command == "reconstruct":
        return modes.reconstruct_options(args["layer"], given)
    layers = given.pop("style_layers", Settings().style_layers)
    return modes.synthesize_options(args.get("up_to") or layers, given)


def run(command: str, argv: Sequence[str]) -> int:
    """Parse ``argv`` for ``command`` and write its image (from noise unless --init says otherwise)."""
    args = cli._parsed(lambda: build_parser(command).parse_args(list(argv)))
    if isinstance(args, int):
        return args
    args = vars(args)
    options = options_of(command, args)
    Settings(**options)  # bad options fail before any file is read
    out = images.check_writable_output(args["output"])
    recorder = cli_controls.recorder(args)
    image = images.load_image(args["image"])
    start = cli.resolve_init(args.get("init", "noise"))
    summary = cli.stylize_to_file(
        image, image, out, options, init=start, weights=args.get("weights"),
        save_every=args.get("save_every"), quiet=args.get("quiet", False), also=recorder,
    )
    print(f"wrote {args['output']} {summary}")
    for path in cli_controls.write_progress(recorder, args, out):
        print(f"wrote {path}")
    return cli.EXIT_OK
