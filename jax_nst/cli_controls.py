"""The creative controls on the command line: their flags, several styles, masks, frames and loss curve."""

from __future__ import annotations

import argparse
import math
import pathlib
from typing import Any, Callable, Sequence

from . import frames, images, presets
from .settings import PRESERVE_COLORS


def number_list(kind: type) -> Callable[[str], tuple]:
    """An argparse type for comma-separated numbers of ``kind``: "64,128" → (64, 128)."""

    def parse(text: str) -> tuple:
        try:
            return tuple(kind(item) for item in text.split(",") if item.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers: {text!r}") from None

    return parse


def add_settings(p: argparse.ArgumentParser) -> None:
    """Flags of the Settings fields of the controls."""
    p.add_argument("--scales", type=number_list(int), metavar="PX,PX",
                   help="coarse-to-fine: optimize at these long sides first, then at --size (default: none)")
    p.add_argument("--scale-steps", type=number_list(int), metavar="N,N",
                   help="steps at each of --scales (default: --steps each)")
    p.add_argument("--style-blend-weights", type=number_list(float), metavar="W,W",
                   help="weights of several STYLE images, mixed at the Gram level (default: equal)")
    p.add_argument("--style-scale", type=float, metavar="S",
                   help="style image size relative to the output; small = finer texture (default: 1)")
    p.add_argument("--preserve-colors", choices=PRESERVE_COLORS,
                   help="keep the content's colours: luminance-only transfer or colour matching (default: off)")
    p.add_argument("--average", type=float, metavar="DECAY",
                   help="return the exponential moving average of the image over steps, e.g. 0.9 (default: 0, off)")


def positive_int(text: str) -> int:
    """An argparse type for integers >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Flags of the stylize command for masks, presets and progress pictures."""
    p.add_argument("--mask", action="append", metavar="FILE",
                   help="where a style applies (white), one per STYLE in order; the content stays where none does")
    p.add_argument("--preset", choices=tuple(presets.PRESETS), metavar="NAME",
                   help=f"settings of a figure of the paper, overridden by other flags: {', '.join(presets.PRESETS)}")
    add_progress_options(p)


def add_progress_options(p: argparse.ArgumentParser) -> None:
    """--frames-every and --loss-plot."""
    p.add_argument("--frames-every", type=positive_int, metavar="N",
                   help="also write the image every N steps as OUTSTEM_frames.png (grid) and OUTSTEM_frames.gif")
    p.add_argument("--loss-plot", metavar="PNG", help="also write the loss curves (needs matplotlib)")


def report_every(options: dict[str, Any], every: int | None) -> dict[str, Any]:
    """Make progress reports fall on every multiple of ``every`` (frames)."""
    if every is None:
        return options
    return {**options, "report_every": math.gcd(options.get("report_every", every), every)}


def recorder(args: dict[str, Any]) -> frames.Recorder | None:
    """A Recorder when frames or a loss plot are asked for; checks the plot's path and matplotlib first."""
    if args.get("loss_plot"):
        images.check_writable_output(args["loss_plot"])
        frames.require_matplotlib()
    if not (args.get("frames_every") or args.get("loss_plot")):
        return None
    return frames.Recorder(args.get("frames_every"))


def frame_files(out: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """OUTSTEM_frames.png and OUTSTEM_frames.gif beside ``out``."""
    return out.with_name(f"{out.stem}_frames.png"), out.with_name(f"{out.stem}_frames.gif")


def write_progress(rec: frames.Recorder | None, args: dict[str, Any], out: pathlib.Path) -> list[pathlib.Path]:
    """Write the frames grid, the GIF and the loss curve that were asked for; returns their paths."""
    written = []
    if rec is not None and rec.every:
        grid, gif = frame_files(out)
        written += [frames.save_grid(rec.frames, grid), frames.save_gif(rec.frames, gif)]
    if rec is not None and args.get("loss_plot"):
        written.append(frames.save_loss_curve(rec, args["loss_plot"], out.name))
    return written


def load_styles(paths: Sequence[str]) -> Any:
    """One style image, or the list of several."""
    loaded = [images.load_image(path) for path in paths]
    return loaded[0] if len(loaded) == 1 else loaded


def style_kwargs(args: dict[str, Any]) -> dict[str, Any]:
    """``masks`` for ``stylize`` when --mask was given (loaded images)."""
    return {"masks": [images.load_image(m) for m in args["mask"]]} if args.get("mask") else {}
