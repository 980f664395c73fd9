"""The ``jax-nst`` command: stylize an image file, run the offline demo, or list VGG-19 layers.

Exit codes: 0 success, 1 user error (one ``jax-nst: error: …`` line on stderr), 2 usage error,
130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np

from . import api, cli_controls, frames, images, presets, samples, schedule, vgg
from .errors import NSTError
from .cli_controls import positive_int
from .settings import DEFAULT_LR, INITS, OPTIMIZERS, PRECISIONS, REMATS, Settings

PROG = "jax-nst"
DEMO: dict[str, Any] = {"size": 256, "steps": 70, "optimizer": "lbfgs", "style_weight": 250.0, "report_every": 5}
"""Settings of ``jax-nst demo``: about a minute on a 2-core CPU."""
DEMO_OUTPUT = "jax_nst_demo.png"
CLI_REPORT_EVERY = 10
"""Progress-bar granularity when --report-every is not given (each report costs one forward pass)."""
SUBCOMMANDS = ("demo", "layers", "folder", "reconstruct", "synthesize")
FIELDS = {f.name: f.default for f in dataclasses.fields(Settings)}
CLI_ONLY = ("content", "style", "output", "weights", "save_every", "quiet")
EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130


# --- argument parsing ----------------------------------------------------------------------------


def _shown(name: str) -> str:
    """The default of Settings field ``name`` as help text shows it."""
    value = FIELDS[name]
    if isinstance(value, (tuple, list)):
        return ",".join(value)
    if name == "learning_rate" and value is None:
        return ", ".join(f"{lr:g} for {opt}" for opt, lr in DEFAULT_LR.items())
    if name == "style_size" and value is None:
        return "same as --size"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _help(text: str, name: str) -> str:
    """``text`` followed by the Settings default of ``name``."""
    return f"{text} (default: {_shown(name)})"


def parse_layers(text: str) -> list[str] | dict[str, float]:
    """``a,b`` → [a, b] (equal weights); ``a:0.5,b:0.5`` → {a: 0.5, b: 0.5}."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not any(":" in item for item in items):
        return items
    pairs = [item.partition(":") for item in items]
    if any(not sep or not name.strip() for name, sep, _ in pairs):
        raise argparse.ArgumentTypeError(f"give every layer a weight (name:weight) or none: {text!r}")
    try:
        return {name.strip(): float(weight) for name, _, weight in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"layer weights must be numbers: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``jax-nst CONTENT STYLE -o OUT``; options left out are absent from the namespace."""
    p = argparse.ArgumentParser(
        prog=PROG,
        argument_default=argparse.SUPPRESS,
        description="Neural style transfer (Gatys et al.): paint CONTENT in the style of STYLE.",
        epilog=(
            f"other commands: '{PROG} demo' stylizes bundled sample images offline (see '{PROG} demo -h'); "
            f"'{PROG} layers' lists the VGG-19 layer names; '{PROG} reconstruct' and '{PROG} synthesize' run "
            f"the paper's feature inversion and texture synthesis; '{PROG} folder IN_DIR STYLE OUT_DIR' "
            "stylizes a whole folder (resumable). A content file named like a command (demo, layers, folder, "
            "reconstruct, synthesize) must be given as a path, e.g. ./demo. "
            "Exit codes: 0 ok, 1 error, 2 usage, 130 interrupted."
        ),
    )
    p.add_argument("content", metavar="CONTENT", help="content image file")
    p.add_argument("style", metavar="STYLE", nargs="+",
                   help="style image file; several are blended (--style-blend-weights) or placed (--mask)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help=f"output image ({', '.join(sorted(images.SAVE_FORMATS))})")
    _add_settings(p)
    _add_run_options(p)
    cli_controls.add_run_options(p)
    return p


def _add_settings(p: argparse.ArgumentParser) -> None:
    """One option per Settings field."""
    p.add_argument("--size", type=int, metavar="PX", help=_help("long side of the output in px", "size"))
    p.add_argument("--style-size", type=int, metavar="PX",
                   help=_help("long side the style image is resized to", "style_size"))
    p.add_argument("--steps", type=int, metavar="N", help=_help("optimization steps", "steps"))
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=_help("optimizer", "optimizer"))
    p.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float, metavar="LR",
                   help=_help("learning rate (L-BFGS: initial step)", "learning_rate"))
    p.add_argument("--content-weight", type=float, metavar="ALPHA", help=_help("content weight α", "content_weight"))
    p.add_argument("--style-weight", type=float, metavar="BETA", help=_help("style weight β", "style_weight"))
    p.add_argument("--tv-weight", type=float, metavar="GAMMA", help=_help("total-variation weight γ", "tv_weight"))
    for kind in ("content", "style"):
        p.add_argument(f"--{kind}-layers", type=parse_layers, metavar="LAYERS",
                       help=_help(f"comma-separated {kind} layers, optionally name:weight", f"{kind}_layers"))
    p.add_argument("--init", metavar="INIT",
                   help=_help(f"starting image: {', '.join(INITS)} or an image file (./{INITS[0]} for a file "
                              "named like a mode)", "init"))
    p.add_argument("--pooling", choices=vgg.POOLINGS, help=_help("pooling between VGG blocks", "pooling"))
    p.add_argument("--model", choices=tuple(vgg.MODELS), help=_help("backbone (each with its own weights)", "model"))
    p.add_argument("--seed", type=int, help=_help("random seed of the noise init", "seed"))
    p.add_argument("--report-every", type=int, metavar="N",
                   help=_help("steps between progress reports", "report_every"))
    p.add_argument("--lbfgs-memory", type=int, metavar="M",
                   help=_help("L-BFGS history length", "lbfgs_memory"))
    p.add_argument("--precision", choices=PRECISIONS,
                   help=_help("compute dtype of the VGG pass (bfloat16: float32 accumulation)", "precision"))
    p.add_argument("--remat", choices=REMATS,
                   help=_help("recompute activations in the backward pass (auto: when memory would not suffice)", "remat"))
    cli_controls.add_settings(p)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """Options of the command itself, not of the stylization."""
    p.add_argument("--weights", metavar="PATH",
                   help=f"VGG-19 safetensors file (default: ${vgg.WEIGHTS_ENV}, else the shipped weights)")
    p.add_argument("--save-every", type=positive_int, metavar="N",
                   help="also save the image every N steps as OUTSTEM_000050.EXT… beside OUT")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def build_demo_parser() -> argparse.ArgumentParser:
    """The parser of ``jax-nst demo``."""
    p = argparse.ArgumentParser(
        prog=f"{PROG} demo",
        description="Stylize the bundled sample photo with the bundled style image; runs offline.",
    )
    p.add_argument("-o", "--output", default=DEMO_OUTPUT, metavar="OUT", help="output image (default: %(default)s)")
    p.add_argument("--size", type=int, default=DEMO["size"], metavar="PX", help="long side (default: %(default)s)")
    p.add_argument("--steps", type=int, default=DEMO["steps"], metavar="N", help="steps (default: %(default)s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


# --- running -------------------------------------------------------------------------------------


def settings_options(args: dict[str, Any]) -> dict[str, Any]:
    """The Settings fields given on the command line, except ``init``."""
    return {k: v for k, v in args.items() if k in FIELDS and k != "init"}


def resolve_init(init: str | None) -> Any:
    """``init`` as ``stylize`` takes it: a mode name, or the loaded image."""
    if init is None:
        return FIELDS["init"]
    return init if init in INITS else images.load_image(init)


def with_frames(options: dict[str, Any], save_every: int | None) -> dict[str, Any]:
    """Make progress reports fall on every multiple of ``save_every``."""
    if save_every is None:
        return options
    every = math.gcd(options.get("report_every", save_every), save_every)
    return {**options, "report_every": every}


def frame_path(out: pathlib.Path, step: int) -> pathlib.Path:
    """Where the intermediate image of ``step`` goes: OUTSTEM_000050.EXT beside ``out``."""
    return out.with_name(f"{out.stem}_{step:06d}{out.suffix}")


class Reporter:
    """The stylize callback: a tqdm bar on stderr (from the first report on) and, optionally, frames."""

    def __init__(self, steps: int, out: pathlib.Path, save_every: int | None, quiet: bool) -> None:
        self.steps, self.out, self.save_every, self.quiet = steps, out, save_every, quiet
        self.bar = None

    def __call__(self, p: api.Progress) -> None:
        """Advance the bar, show the losses, save a frame when one is due."""
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=self.steps, unit="step", file=sys.stderr, disable=self.quiet, dynamic_ncols=True)
        losses = " ".join(f"{k}={p.losses[k]:.3g}" for k in ("total", "content", "style"))
        self.bar.set_postfix_str(losses, refresh=False)
        self.bar.update(p.step - self.bar.n)
        if self.save_every and p.step % self.save_every == 0:
            images.save_image(p.image, frame_path(self.out, p.step))

    def close(self, erase: bool = False) -> None:
        """Finish the bar; ``erase`` removes it (on a terminal) so an error line stands alone."""
        if self.bar is not None:
            self.bar.leave = not erase
            self.bar.close()


def stylize_to_file(
    content: Any, style: Any, out: pathlib.Path, options: dict[str, Any], *,
    init: Any = "content", weights: str | None = None, save_every: int | None = None, quiet: bool = False,
    also: Callable | None = None, **extra: Any,
) -> str:
    """Run ``stylize`` with a progress bar, write ``out``; returns the summary of the run.

    ``also`` is a second progress callback; ``extra`` goes to ``stylize`` (e.g. masks).
    """
    steps = schedule.total_steps(Settings(**options))
    reporter = Reporter(steps, out, save_every, quiet)
    callback = frames.chain(reporter, also)
    start = time.perf_counter()
    try:
        result = api.stylize(content, style, weights=weights, init=init, callback=callback, **options, **extra)
    except BaseException:
        reporter.close(erase=True)
        raise
    reporter.close()
    images.save_image(result, out)
    h, w = result.shape[:2]
    return f"({w}x{h}, {steps} steps, {time.perf_counter() - start:.1f} s)"


def run_main(args: dict[str, Any]) -> int:
    """``jax-nst CONTENT STYLE -o OUT``: validate everything cheap, then stylize."""
    init = args.get("init")
    given = presets.preset_options(args.get("preset"), settings_options(args))
    options = with_frames({"report_every": CLI_REPORT_EVERY, **given}, args.get("save_every"))
    options = cli_controls.report_every(options, args.get("frames_every"))
    Settings(init=init if init in INITS else "content", **options)  # bad options fail before any file is read
    out = images.check_writable_output(args["output"])
    recorder = cli_controls.recorder(args)
    content, style = images.load_image(args["content"]), cli_controls.load_styles(args["style"])
    start = resolve_init(init)
    summary = stylize_to_file(
        content, style, out, options, init=start, weights=args.get("weights"),
        save_every=args.get("save_every"), quiet=args.get("quiet", False), also=recorder,
        **cli_controls.style_kwargs(args),
    )
    print(f"wrote {args['output']} {summary}")
    for path in cli_controls.write_progress(recorder, args, out):
        print(f"wrote {path}")
    return EXIT_OK


def run_demo(args: argparse.Namespace) -> int:
    """``jax-nst demo``: the bundled samples with :data:`DEMO` settings."""
    options = {**DEMO, "size": args.size, "steps": args.steps}
    settings = Settings(**options)
    options["report_every"] = min(settings.report_every, settings.steps)
    out = images.check_writable_output(pathlib.Path(args.output).absolute())
    content, style = images.load_image(samples.CONTENT), images.load_image(samples.STYLE)
    summary = stylize_to_file(content, style, out, options, quiet=args.quiet)
    print(f"wrote {out} {summary}")
    return EXIT_OK


def run_layers() -> int:
    """``jax-nst layers``: VGG-19 layer names, one a line, with the defaults marked."""
    for name in vgg.LAYERS:
        roles = [r for r in ("content", "style") if name in FIELDS[f"{r}_layers"]]
        print(f"{name}  ({', '.join(roles)} default)" if roles else name)
    return EXIT_OK


def _parsed(parse: Callable[[], Any]) -> Any:
    """Run an argparse parse; its exit (usage error 2, --help 0) comes back as an int."""
    try:
        return parse()
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else EXIT_ERROR


def _dispatch(argv: Sequence[str]) -> int:
    """Parse ``argv`` and run the command it names."""
    if argv and argv[0] == "layers":
        return run_layers()
    if argv and argv[0] == "folder":
        from . import folder

        return folder.main(argv[1:])
    if argv and argv[0] in ("reconstruct", "synthesize"):
        from . import cli_modes

        return cli_modes.run(argv[0], argv[1:])
    if argv and argv[0] == "demo":
        args = _parsed(lambda: build_demo_parser().parse_args(argv[1:]))
        return args if isinstance(args, int) else run_demo(args)
    args = _parsed(lambda: build_parser().parse_args(argv))
    return args if isinstance(args, int) else run_main(vars(args))


def error(message: str) -> int:
    """Print one ``jax-nst: error:`` line to stderr; returns exit code 1."""
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_ERROR


def _os_message(e: OSError) -> str:
    """A one-line description of an OS error, with the file it concerns."""
    where = f" '{e.filename}'" if e.filename else ""
    return f"{e.strerror or e}{':' if where else ''}{where}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``jax-nst`` and ``python -m jax_nst``; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _dispatch(argv)
    except NSTError as e:
        return error(str(e))
    except OSError as e:
        return error(_os_message(e))
    except MemoryError:
        return error("out of memory; try a smaller --size")
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
