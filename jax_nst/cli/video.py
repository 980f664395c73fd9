"""``jax-nst video IN STYLE -o OUT`` (stylize a clip) and ``jax-nst clip KIND -o OUT`` (make one with known motion).

IN is a video file or a folder of frames; OUT a video file (.mp4 .mov .mkv .webm .gif: frame rate and audio
kept) or a folder of PNG frames. A video's frames are kept in OUTSTEM.frames/ beside it: a rerun of a killed
run reuses the frames done and writes the video last. Needs ``pip install 'jax_nst[video]'``.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
from typing import Any

from .. import images, samples
from ..errors import NSTError
from ..controls import presets
from ..video import io, motion
from . import flags, run

EPILOG = ("Resumable: a rerun with the same options reuses the frames already done. "
          "Exit codes: 0 ok, 1 error, 2 usage, 130 interrupted.")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``jax-nst video``."""
    p = argparse.ArgumentParser(
        prog=f"{run.PROG} video", argument_default=argparse.SUPPRESS, epilog=EPILOG,
        description="Stylize a clip frame by frame, each frame tied to the previous one along the optical flow "
                    "(Ruder et al. 2016), so that the texture moves with the picture instead of flickering.",
    )
    p.add_argument("input", metavar="IN", help="video file, or folder of frames (name order)")
    p.add_argument("style", metavar="STYLE", nargs="+", help="style image file; several are blended")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help=f"video file ({', '.join(io.CONTAINERS)}) or folder of PNG frames")
    p.add_argument("--later-steps", type=flags.positive_int, metavar="N",
                   help="steps of each frame after the first, which starts from the previous result (default: "
                        "a quarter of --steps)")
    p.add_argument("--max-frames", type=flags.positive_int, metavar="N", help="stylize only the first N frames")
    p.add_argument("--fps", type=float, metavar="F", help="frame rate of a folder of frames (default: 24)")
    p.add_argument("--preset", choices=tuple(presets.PRESETS), metavar="NAME",
                   help="the settings of a paper figure (gatys2016: the paper's recipe; quality: the defaults)")
    flags.add_weights(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    flags.add_settings(p, skip=("spatial",), video=True)  # frames are not split over devices
    return p


def main(args: dict[str, Any]) -> int:
    """Check the options and the output, then stylize frame after frame with a progress bar over frames."""
    from ..video import stylize_video

    init = args.get("init", "content")
    settings = run.settings_of(args, init=init)
    if args.get("fps") is not None:
        io.rate(args["fps"])
    out = pathlib.Path(args["output"])
    bar = _FrameBar(args.get("quiet", False))
    try:
        written = stylize_video(args["input"], args["style"], out, weights=args.get("weights"), settings=settings,
                                init=run.resolve_init(init),
                                later_steps=args.get("later_steps"), max_frames=args.get("max_frames"),
                                fps=args.get("fps"), trust_weights=args.get("trust_weights", False), on_frame=bar)
    finally:
        bar.close()
    print(f"wrote {written} ({bar.done} frames, {bar.reused} reused from an earlier run)")
    return run.EXIT_OK


class _FrameBar:
    """A tqdm bar over frames on stderr, with the seconds of the last frame."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.bar, self.done, self.reused = quiet, None, 0, 0

    def __call__(self, frame: Any) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=frame.count, unit="frame", file=sys.stderr, disable=self.quiet, dynamic_ncols=True)
        self.done, self.reused = self.done + 1, self.reused + frame.reused
        self.bar.set_postfix_str("reused" if frame.reused else f"{frame.seconds:.1f} s", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def build_clip_parser() -> argparse.ArgumentParser:
    """The parser of ``jax-nst clip``."""
    p = argparse.ArgumentParser(
        prog=f"{run.PROG} clip",
        description="Make a clip with known motion from the bundled photo (or IMAGE), offline: something to "
                    "stylize, and to measure flicker on.",
    )
    p.add_argument("kind", choices=motion.KINDS, help="pan, zoom, rotate, or an object moving over a background")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="video file or folder of PNG frames")
    p.add_argument("--image", default=samples.CONTENT, metavar="FILE", help="the still image (default: bundled photo)")
    p.add_argument("--frames", type=flags.positive_int, default=24, metavar="N", help="frames (default: %(default)s)")
    p.add_argument("--size", type=flags.positive_int, default=256, metavar="PX", help="long side (default: %(default)s)")
    p.add_argument("--speed", type=float, default=2.0, metavar="PX", help="motion per frame (default: %(default)s)")
    p.add_argument("--fps", type=float, default=float(io.DEFAULT_FPS), metavar="F", help="frame rate (default: 24)")
    return p


def _check_clip(frames: int, size: int, speed: float) -> None:
    """Refuse a motion that is not a finite number and a clip that cannot fit in memory, before it is made."""
    from ..optimize import host_memory

    if not math.isfinite(speed):
        raise NSTError(f"--speed must be a finite number of pixels per frame, got {speed}")
    need = 4 * (frames * size * size * (3 + 2) + 3 * (3 * size // 2) ** 2)  # float32 frames, flows, the still
    available = host_memory.available_bytes()
    if need > available:
        raise NSTError(f"a clip of {frames} frames at {size} px needs about {need / 2**30:.1f} GiB; "
                       f"{available / 2**30:.1f} GiB is available; give fewer --frames or a smaller --size")


def clip_main(args: dict[str, Any]) -> int:
    """Write the clip as a video file or as frame_000001.png … in a folder."""
    out = pathlib.Path(args["output"])
    if out.suffix:
        io.check_output(out)
    io.rate(args["fps"])
    _check_clip(args["frames"], args["size"], args["speed"])
    clip = motion.make(args["kind"], args["image"], args["frames"], args["size"], args["speed"])
    if out.suffix:
        io.write_video(clip.frames, out, io.rate(args["fps"]))
    else:
        out.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(clip.frames):
            images.save_image(frame, out / io.FRAME_NAME.format(i + 1))
    h, w = clip.frames.shape[1:3]
    written = io.encoded_shape(h, w, out) if out.suffix else (h, w)
    note = "" if written == (h, w) else f"; the codec needs even sides: {w}x{h} with its edge repeated"
    print(f"wrote {out} ({len(clip.frames)} frames, {written[1]}x{written[0]}{note})")
    return run.EXIT_OK
