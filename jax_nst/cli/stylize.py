"""``jax-nst CONTENT STYLE [STYLE ...] -o OUT``: stylize one image file."""

from __future__ import annotations

import argparse
from typing import Any

from .. import images
from ..controls import grids, styles
from ..errors import NSTError
from . import COMMANDS, flags, run

EPILOG = (
    f"other commands: {run.PROG} {' | '.join(c for c in COMMANDS if c is not None)} "
    f"(see '{run.PROG} COMMAND -h'). A content file named like a command must be given as a path, e.g. ./demo. "
    "Exit codes: 0 ok, 1 error, 2 usage, 130 interrupted."
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``jax-nst CONTENT STYLE -o OUT``; options left out are absent from the namespace."""
    p = argparse.ArgumentParser(
        prog=run.PROG, argument_default=argparse.SUPPRESS, epilog=EPILOG,
        description="Neural style transfer (Gatys et al.): paint CONTENT in the style of STYLE.",
    )
    p.add_argument("content", metavar="CONTENT", help="content image file")
    p.add_argument("style", metavar="STYLE", nargs="+",
                   help="style image file; several are blended (--style-blend-weights) or placed (--mask)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help=f"output image ({', '.join(sorted(images.SAVE_FORMATS))})")
    flags.add_style_options(p)
    flags.add_output_options(p)
    flags.add_settings(p)
    return p


def _check_grid(args: dict[str, Any]) -> None:
    """NSTError for what a contact sheet cannot honour: an axis given twice, per-step outputs of one image."""
    names = [name for name, _ in args["grid"]]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise NSTError(f"--grid gives {', '.join(twice)} more than once; give each option's values in one --grid")
    for flag in ("save_every", "frames_every", "loss_plot"):
        if args.get(flag):
            raise NSTError(f"--grid writes one contact sheet; --{flag.replace('_', '-')} follows a single image "
                           "(run that cell alone for it)")


def main(args: dict[str, Any]) -> int:
    """Validate everything cheap (options, output location), then load the images and stylize."""
    init = args.get("init")
    settings = run.settings_of(args, init=init or "content")
    if args.get("grid"):
        _check_grid(args)
        grids.cells(settings, dict(args["grid"]))  # a bad grid fails before any image is read
    run.check_outputs(args)
    content = images.load_image(args["content"], at_least=settings.size)  # memory follows --size, not the file
    side = styles.style_side(settings, settings.size)
    loaded = [images.load_image(path, at_least=side) for path in args["style"]]
    style = loaded[0] if len(loaded) == 1 else loaded
    masks = [images.load_image(m, at_least=settings.size) for m in args["mask"]] if args.get("mask") else None
    if args.get("grid"):
        return run.run_grid(args, content, style, settings, run.resolve_init(init), dict(args["grid"]), masks)
    return run.run_one(args, content, style, settings, run.resolve_init(init), masks)
