"""Running a stylization from the command line: one image with a progress bar, frames and loss plot."""

from __future__ import annotations

import math
import pathlib
import sys
import time
from typing import Any, Sequence

import numpy as np

from .. import images, progress
from ..controls import grids, presets
from ..settings import INITS, Settings
from . import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, PROG  # noqa: F401 (re-exported for the subcommands)
from .flags import CLI_REPORT_EVERY, settings_options  # noqa: F401 (CLI_REPORT_EVERY re-exported)


def resolve_init(init: str | None, default: str = "content") -> Any:
    """``init`` as ``stylize`` takes it: an init name (content, noise, style), or the loaded image."""
    if init is None:
        return default
    return init if init in INITS else images.load_image(init)


def report_on(options: dict[str, Any], *everies: int | None) -> dict[str, Any]:
    """Make progress reports fall on every multiple of each of ``everies`` (saved images, frames)."""
    every = options.get("report_every", CLI_REPORT_EVERY)
    for n in everies:
        every = every if n is None else math.gcd(every, n)
    return {**options, "report_every": every}


def settings_of(args: dict[str, Any], experiment: dict[str, Any] | None = None, init: Any = "content") -> Settings:
    """The Settings of a run: an experiment's own settings, the preset, then the flags given (validated once)."""
    given = {**(experiment or {}), **settings_options(args)}
    given = report_on(given, args.get("save_every"), args.get("frames_every"))
    return presets.resolve(args.get("preset"), init, **given)


def frame_path(out: pathlib.Path, step: int) -> pathlib.Path:
    """Where the intermediate image of ``step`` goes: OUTSTEM_000050.EXT beside ``out``."""
    return out.with_name(f"{out.stem}_{step:06d}{out.suffix}")


def frame_files(out: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """OUTSTEM_frames.png and OUTSTEM_frames.gif beside ``out``."""
    return out.with_name(f"{out.stem}_frames.png"), out.with_name(f"{out.stem}_frames.gif")


def check_outputs(args: dict[str, Any]) -> list[pathlib.Path]:
    """Derive every file a run writes from ``-o`` and the flags (the image; with --save-every its intermediates, with
    --frames-every the frames grid and GIF; --loss-plot) and check each can be written, before any work."""
    out = pathlib.Path(args["output"])
    paths = [out]
    if args.get("save_every"):
        paths.append(frame_path(out, 0))  # every step's name has the same length
    if args.get("frames_every"):
        paths.append(frame_files(out)[0])  # the GIF beside it: the same folder, a name as long
    if args.get("loss_plot"):
        paths.append(pathlib.Path(args["loss_plot"]))
    return [images.check_writable_output(p) for p in paths]


class Reporter:
    """The stylize callback: a tqdm bar on stderr (from the first report on) and, optionally, frames.

    On a terminal, a note says that the program is compiling until the first report replaces it.
    """

    NOTE = "compiling the optimization for this image size (a first run of a size takes longest)…"

    def __init__(self, out: pathlib.Path, save_every: int | None, quiet: bool) -> None:
        self.steps, self.out, self.save_every, self.quiet = 0, out, save_every, quiet
        self.stopped = False  # a scale ended early: its loss had stopped falling
        self.bar = None
        self.noted = not quiet and sys.stderr.isatty()
        if self.noted:
            sys.stderr.write(self.NOTE)
            sys.stderr.flush()

    def _unnote(self) -> None:
        """Erase the compiling note (it never ends in a newline)."""
        if self.noted:
            sys.stderr.write("\r\033[K")
            self.noted = False

    def __call__(self, p: progress.Progress) -> None:
        """Advance the bar, show the losses, save a frame when one is due."""
        if self.bar is None:
            from tqdm import tqdm

            self._unnote()
            self.bar = tqdm(total=p.steps, unit="step", file=sys.stderr, disable=self.quiet, dynamic_ncols=True)
        self.steps, self.stopped = p.step, self.stopped or p.stopped
        self.bar.total = p.steps  # over all scales, less those a scale that stopped early left unused
        losses = " ".join(f"{k}={p.losses[k]:.3g}" for k in progress.PARTS if k == "total" or p.losses[k])
        change = "" if p.change is None else f" Δ={p.change:.2g}"
        self.bar.set_postfix_str(losses + change, refresh=False)
        self.bar.update(p.step - self.bar.n)
        if self.save_every and p.step % self.save_every == 0:
            images.save_image(p.image, frame_path(self.out, p.step))

    def close(self, erase: bool = False) -> None:
        """Finish the bar; ``erase`` removes it (on a terminal) so an error line stands alone."""
        self._unnote()
        if self.bar is not None:
            self.bar.leave = not erase
            self.bar.close()


def recorder(args: dict[str, Any]) -> progress.Recorder | None:
    """A Recorder when frames or a loss plot are asked for; checks the plot's path and matplotlib first."""
    if args.get("loss_plot"):
        progress.require_matplotlib()
    if not (args.get("frames_every") or args.get("loss_plot")):
        return None
    return progress.Recorder(args.get("frames_every"))


def write_progress(rec: progress.Recorder | None, args: dict[str, Any], out: pathlib.Path) -> list[pathlib.Path]:
    """Write the frames grid, the GIF and the loss curve that were asked for; returns their paths."""
    written = []
    if rec is not None and rec.every:
        grid, gif = frame_files(out)
        written += [progress.save_grid(rec.frames, grid), progress.save_gif(rec.frames, gif)]
    if rec is not None and args.get("loss_plot"):
        written.append(progress.save_loss_curve(rec, args["loss_plot"], out.name))
    return written


def stylize_to_file(
    content: Any, style: Any, out: pathlib.Path, settings: Settings, *, init: Any = "content",
    weights: str | None = None, save_every: int | None = None, quiet: bool = False,
    also: progress.Callback | None = None, masks: Sequence[np.ndarray] | None = None, trust_weights: bool = False,
) -> str:
    """Run ``stylize`` with a progress bar, write ``out``; returns the summary of the run.

    ``also`` is a second progress callback; ``masks``: one region mask per style (:func:`jax_nst.stylize`).
    """
    from .. import api

    reporter = Reporter(out, save_every, quiet)
    start = time.perf_counter()
    try:
        result = api.stylize(content, style, weights=weights, init=init, callback=progress.chain(reporter, also),
                             settings=settings, masks=masks, trust_weights=trust_weights)
    except BaseException:
        reporter.close(erase=True)
        raise
    reporter.close()
    images.save_image(result, out)
    h, w = result.shape[:2]
    stopped = ", stopped when the loss stopped falling" if reporter.stopped else ""
    return f"({w}x{h}, {reporter.steps} steps{stopped}, {time.perf_counter() - start:.1f} s)"


def run_grid(args: dict[str, Any], content: Any, style: Any, settings: Settings, init: Any, grid: grids.Grid,
             masks: Sequence[np.ndarray] | None = None) -> int:
    """Stylize every cell of ``grid`` in one batch (progress of the first cell shown); write the contact sheet."""
    from .. import api

    out = pathlib.Path(args["output"])
    reporter = Reporter(out, None, args.get("quiet", False))
    start = time.perf_counter()
    try:
        result = api.stylize_grid(content, style, grid, weights=args.get("weights"), init=init, settings=settings,
                                  trust_weights=args.get("trust_weights", False), callback=lambda p: reporter(api.first(p)),
                                  masks=masks)
    except BaseException:
        reporter.close(erase=True)
        raise
    reporter.close()
    images.save_image(np.asarray(grids.sheet(result, grid)), out)
    print(f"wrote {out} ({len(result)} cells, {time.perf_counter() - start:.1f} s)")
    return EXIT_OK


def run_one(args: dict[str, Any], content: Any, style: Any, settings: Settings, init: Any,
            masks: Sequence[np.ndarray] | None = None) -> int:
    """Stylize to ``args["output"]`` with the progress outputs asked for; print what was written."""
    out = pathlib.Path(args["output"])
    rec = recorder(args)
    summary = stylize_to_file(content, style, out, settings, init=init, weights=args.get("weights"),
                              save_every=args.get("save_every"), quiet=args.get("quiet", False), also=rec,
                              trust_weights=args.get("trust_weights", False), masks=masks)
    print(f"wrote {out} {summary}")
    for path in write_progress(rec, args, out):
        print(f"wrote {path}")
    return EXIT_OK
