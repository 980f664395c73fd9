"""Every flag of the ``jax-nst`` command, declared once; subcommands take the groups that apply to them.

Settings flags are left out of the namespace when not given (``argparse.SUPPRESS``), so the
Settings defaults and presets apply in one place (:func:`jax_nst.controls.presets.resolve`).
Layer lists use the one grammar of :func:`jax_nst.settings.layer_weights` ("conv1_1:0.5,conv2_1").
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Callable, Iterable

from .. import images, vgg
from ..controls import grids
from ..controls import presets
from ..errors import NSTError
from ..jobs import buckets
from ..objective import style_losses, terms
from ..settings import (
    DEFAULT_LR, MAX_COUNT, NORMALIZATIONS, OPTIMIZERS, PADDINGS, PRECISIONS, PRESERVE_COLORS, REMATS,
    OPTION_DOCS, Settings, scales_word,
)

FIELDS = {f.name: f.default for f in dataclasses.fields(Settings)}
CLI_REPORT_EVERY = 10
"""Progress-bar granularity when --report-every is not given (each report costs one forward pass)."""
CONTENT_ONLY = ("content_weight", "content_layers")
"""Settings meaningless without a content image (texture synthesis)."""
VIDEO_ONLY = tuple(terms.OPTIONS[n] for n in terms.NAMES if terms.CATALOGUE[n]["input"])
"""Settings that only ``jax-nst video`` takes."""
STYLE_ONLY = ("style_weight", "style_layers", "style_loss", "style_size", "style_blend_weights", "style_scale",
              "preserve_colors")
"""Settings meaningless without a style image (feature inversion)."""


def positive_int(text: str) -> int:
    """An argparse type for integers from 1 to :data:`jax_nst.settings.MAX_COUNT` (a compiled loop counts in int32)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_COUNT}, got {value}")
    return value


def band_count(text: str) -> int | str:
    """An argparse type for ``--bands``: "auto" or :func:`positive_int`."""
    return text if text == "auto" else positive_int(text)


def number_list(kind: type) -> Callable[[str], tuple]:
    """An argparse type for comma-separated numbers of ``kind``: "64,128" → (64, 128)."""

    def parse(text: str) -> tuple:
        try:
            return tuple(kind(item) for item in text.split(",") if item.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers: {text!r}") from None

    return parse


def scales_value(text: str) -> tuple | str:
    """The ``--scales`` argument: "auto", "none" (no coarse scales: ()) or comma-separated long sides."""
    word = scales_word(text)
    return number_list(int)(text) if word is None else word


def _shown(name: str, defaults: dict[str, Any]) -> str:
    """The default of Settings field ``name`` as help text shows it."""
    value = defaults.get(name, FIELDS[name])
    if isinstance(value, (tuple, list)):
        return ",".join(value)
    if name == "learning_rate" and value is None:
        return ", ".join(f"{lr:g} for {opt}" for opt, lr in DEFAULT_LR.items())
    if name == "style_size" and value is None:
        return "same as --size"
    if name == "scale_steps" and value is None:
        return "--steps each"
    if value is None or value == ():
        return "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


SETTINGS_FLAGS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    # field: (flags, argparse keywords); the help is the field's line in settings.OPTION_DOCS, the default from Settings
    "size": (("--size",), {"type": int, "metavar": "PX"}),
    "style_size": (("--style-size",), {"type": int, "metavar": "PX"}),
    "steps": (("--steps",), {"type": int, "metavar": "N"}),
    "optimizer": (("--optimizer",), {"choices": OPTIMIZERS}),
    "learning_rate": (("--lr", "--learning-rate"), {"type": float, "metavar": "LR"}),
    **{o: ((f"--{o.replace('_', '-')}",), {"type": float, "metavar": terms.CATALOGUE[n]["short"].upper()})
       for n, o in terms.OPTIONS.items()},  # each term's weight (the temporal term's: jax-nst video only)
    "content_layers": (("--content-layers",), {"metavar": "LAYERS"}),
    "style_layers": (("--style-layers",), {"metavar": "LAYERS"}),
    "normalization": (("--normalization",), {"choices": NORMALIZATIONS}),
    "init": (("--init",), {"metavar": "INIT"}),
    "pooling": (("--pooling",), {"choices": vgg.POOLINGS}),
    "model": (("--model",), {"choices": tuple(vgg.MODELS)}),
    "seed": (("--seed",), {"type": int}),
    "report_every": (("--report-every",), {"type": int, "metavar": "N"}),
    "lbfgs_memory": (("--lbfgs-memory",), {"type": int, "metavar": "M"}),
    "precision": (("--precision",), {"choices": PRECISIONS}),
    "remat": (("--remat",), {"choices": REMATS}),
    "style_loss": (("--style-loss",), {"choices": style_losses.NAMES}),
    "margin": (("--margin",), {"type": int, "metavar": "PX"}),
    "padding": (("--padding",), {"choices": PADDINGS}),
    "spatial": (("--spatial",), {"type": int, "metavar": "D"}),
    "scales": (("--scales",), {"type": scales_value, "metavar": "PX,PX|auto|none"}),
    "scale_steps": (("--scale-steps",), {"type": number_list(int), "metavar": "N,N"}),
    "style_blend_weights": (("--style-blend-weights",), {"type": number_list(float), "metavar": "W,W"}),
    "style_scale": (("--style-scale",), {"type": float, "metavar": "S"}),
    "preserve_colors": (("--preserve-colors",), {"choices": PRESERVE_COLORS}),
    "average": (("--average",), {"type": float, "metavar": "DECAY"}),
    "stop_tol": (("--stop-tol",), {"type": float, "metavar": "TOL"}),
    "bands": (("--bands",), {"type": band_count, "metavar": "K|auto"}),
}


def add_settings(p: argparse.ArgumentParser, skip: Iterable[str] = (), defaults: dict[str, Any] | None = None,
                 video: bool = False) -> None:
    """One flag per Settings field, except ``skip`` (and :data:`VIDEO_ONLY` unless ``video``); ``defaults``
    overrides the shown defaults (a mode's)."""
    shown, skip = defaults or {}, {*skip, *(() if video else VIDEO_ONLY)}
    g = p.add_argument_group("stylization settings")
    for name, (flags, kw) in SETTINGS_FLAGS.items():
        if name in skip:
            continue
        g.add_argument(*flags, dest=name, **kw, help=f"{OPTION_DOCS[name]} (default: {_shown(name, shown)})")
    if "stop_tol" not in skip:
        g.add_argument("--no-early-stop", dest="stop_tol", action="store_const", const=0.0,
                       help="run every step of --steps (and --scale-steps): the same as --stop-tol 0")


def add_weights(p: argparse.ArgumentParser, **kw: Any) -> None:
    """--weights."""
    p.add_argument("--weights", metavar="PATH", **kw,
                   help=f"VGG weights safetensors file of --model (default: ${vgg.WEIGHTS_ENV}, else the shipped "
                        "weights of the model)")
    p.add_argument("--trust-weights", action="store_true", **kw,
                   help="accept a --weights file that records no tensor digest (made before files carried one)")


def add_output_options(p: argparse.ArgumentParser) -> None:
    """Options of a command writing one image: weights, intermediate images, progress pictures, quiet."""
    add_weights(p)
    p.add_argument("--save-every", type=positive_int, metavar="N",
                   help="also save the image every N steps as OUTSTEM_000050.EXT… beside OUT")
    p.add_argument("--frames-every", type=positive_int, metavar="N",
                   help="also write the image every N steps as OUTSTEM_frames.png (grid) and OUTSTEM_frames.gif")
    p.add_argument("--loss-plot", metavar="PNG", help="also write the loss curves (needs matplotlib)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_style_options(p: argparse.ArgumentParser) -> None:
    """--mask, --preset and --grid of the stylize command."""
    p.add_argument("--mask", action="append", metavar="FILE",
                   help="where a style applies (white), one per STYLE in order; the content stays where none does")
    p.add_argument("--preset", choices=tuple(presets.PRESETS), metavar="NAME",
                   help="settings of a figure of the paper (gatys2016: the paper's recipe; the defaults are QUALITY.md's "
                        "best, also named quality), overridden by other flags: "
                        f"{', '.join(presets.PRESETS)}")
    p.add_argument("--grid", action="append", metavar="NAME=V,V", type=_grid_entry,
                   help=f"write a contact sheet of every combination of these values, one compiled batch; NAME is one "
                        f"of {', '.join(grids.TRACED)}; repeat for a second axis (e.g. --grid style_weight=1e2,1e3,1e4)")


def _grid_entry(text: str) -> tuple[str, tuple[float, ...]]:
    """An argparse type for --grid entries."""
    try:
        return grids.parse(text)
    except NSTError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_job_options(p: argparse.ArgumentParser) -> None:
    """Options shared by the folder and TFDS jobs."""
    p.add_argument("--batch-size", type=positive_int, metavar="B", default=None,
                   help="images per batch, spread over the local devices (default: the local device count; "
                        "1 with --spatial)")
    p.add_argument("--resize", choices=buckets.POLICIES, default="bucket",
                   help="bucket: long side --size, short side rounded to --bucket px; square: --size × --size; "
                        "outputs keep the input's aspect ratio either way (default: %(default)s)")
    p.add_argument("--bucket", type=positive_int, metavar="PX", default=buckets.DEFAULT_STEP,
                   help="rounding of the short side under --resize bucket; 1 = exact (default: %(default)s)")
    p.add_argument("--ext", default="png", choices=sorted(e.lstrip(".") for e in images.SAVE_FORMATS),
                   help="output format (default: %(default)s)")
    add_weights(p, default=None)
    p.add_argument("-q", "--quiet", action="store_true", default=False, help="no progress bar")
    g = p.add_argument_group("several hosts (jax.distributed)")
    g.add_argument("--distributed", action="store_true", default=False,
                   help="call jax.distributed.initialize(); process k of N takes the inputs with index %% N == k")
    g.add_argument("--coordinator", metavar="HOST:PORT", default=None, help="coordinator address (default: detected)")
    g.add_argument("--num-processes", type=positive_int, metavar="N", default=None)
    g.add_argument("--process-id", type=int, metavar="K", default=None)


def settings_options(args: dict[str, Any]) -> dict[str, Any]:
    """The Settings fields given on the command line, except ``init`` (which may name a file)."""
    return {k: v for k, v in args.items() if k in FIELDS and k != "init"}


def command_line(s: Settings, content: str, styles: Iterable[str], output: str, *, init: str | None = None,
                 grid: grids.Grid | None = None) -> list[str]:
    """The ``jax-nst`` arguments that make the picture of ``s`` from these files: every Settings field that differs
    from its default as its flag (``init`` names a starting image; ``grid`` gives ``--grid`` entries)."""
    argv, default = ["jax-nst", content, *styles, "-o", output], Settings(report_every=CLI_REPORT_EVERY)
    for name, (flags, _) in SETTINGS_FLAGS.items():
        value = getattr(s, name)
        if name != "init" and value != getattr(default, name) and value is not None:
            argv += [flags[0], flag_value(value)]
    if init is not None or s.init != "content":
        argv += ["--init", init or s.init]
    for name, values in (grid or {}).items():
        argv += ["--grid", f"{name}={','.join(f'{v:g}' for v in values)}"]
    return argv


def flag_value(value: Any) -> str:
    """A Settings value as its flag reads it: layer weights "conv1_1:0.2,…", lists "a,b", numbers shortest."""
    if isinstance(value, dict):
        return ",".join(f"{k}:{w:g}" for k, w in value.items())
    if isinstance(value, (tuple, list)):
        return ",".join(flag_value(v) for v in value) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)
