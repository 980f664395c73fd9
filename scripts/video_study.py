"""Flicker of stylized clips: frames stylized each on its own vs ``jax_nst.video.stylize_video``.

For clips with known motion made from the bundled photo (pan, zoom, rotation, an object moving over a
background; :mod:`jax_nst.video.motion`), reports the temporal warping error E (flow from the input
frames, :mod:`jax_nst.video.flicker`), E with the true flow, and the mean style loss L_style of the
frames, for independent per-frame stylization (content init, ``--steps`` per frame) and the temporal
method (``--steps`` for frame 1, ``--later-steps`` after) at each ``--weights`` λ. Part "timing"
reports seconds per frame at each ``--timing-sizes`` (first frame, later frames; compilation apart).

    python scripts/video_study.py --size 128 --frames 6 --steps 60 --later-steps 30
    python scripts/video_study.py --kinds rotate --frames 16 --gif docs/video_flicker.gif
    python scripts/video_study.py --clip bigbuckbunny.mp4 --skip 30 --frames 24
    python scripts/video_study.py --part timing --timing-sizes 256 512 --steps 60 --later-steps 30
"""

from __future__ import annotations

import argparse
import fractions
import pathlib
import time

import jax.numpy as jnp
import numpy as np

import jax_nst
from jax_nst import api, doctor, objective
from jax_nst.samples import CONTENT, STYLE
from jax_nst.settings import Settings
from jax_nst.controls.presets import PAPER  # the paper's loss, every step: the study's meaning
from jax_nst.video import io, motion, stylize_video
from jax_nst.video.flicker import warping_error


def style_loss(frames: np.ndarray, style: np.ndarray, s: Settings) -> float:
    """Mean over frames of L_style (the paper's Gram loss, all style layers) of each stylized frame."""
    params = api.load_params(None, s.model)
    program = s.program()
    values = []
    for frame in frames:
        targets = objective.first_image(objective.targets.build(params, frame[None], [style], program))
        values.append(float(objective.evaluate(params, None, jnp.asarray(frame), targets, s.hyper(), program)[1]["style"]))
    return float(np.mean(values))


def flicker_rows(args: argparse.Namespace) -> list[str]:
    """One Markdown row per clip and method."""
    style = jax_nst.load_image(STYLE, args.size)
    s = Settings(**PAPER, size=args.size, steps=args.steps)
    rows = []
    for kind, clip in clips(args):
        start = time.perf_counter()
        alone = np.stack([jax_nst.stylize(f, style, settings=s) for f in clip.frames])
        runs = [("independent", alone, time.perf_counter() - start)]
        for lam in args.weights:
            start = time.perf_counter()
            out = stylize_video(list(clip.frames), style, settings=s.replace(temporal_weight=lam),
                                later_steps=args.later_steps)
            runs.append((f"temporal λ={lam:g}", out, time.perf_counter() - start))
        if args.gif:
            side_by_side(clip.frames, alone, runs[1][1], path=args.gif)
        e0, l0 = warping_error(alone, clip.frames), style_loss(alone, style, s)
        for name, out, seconds in runs:
            e, loss = warping_error(out, clip.frames), style_loss(out, style, s)
            true = "—" if clip.flows is None else f"{warping_error(out, clip.frames, clip.flows):.2e}"
            rows.append(f"| {kind} | {name} | {e:.2e} | {e0 / e:.1f}× | {true} | {loss:.3g} | {loss / l0:.2f} "
                        f"| {seconds:.0f} |")
            print(rows[-1], flush=True)
    return rows


def clips(args: argparse.Namespace):
    """(name, clip) of each clip studied: ``--clip`` (frames ``--skip`` on, true flow unknown) or the ``--kinds``."""
    if args.clip:
        frames = list(io.open_clip(args.clip, args.size, args.skip + args.frames).frames)[args.skip:]
        yield pathlib.Path(args.clip).name, motion.Motion(np.stack(frames), None)
        return
    for kind in args.kinds:
        yield kind, motion.make(kind, CONTENT, frames=args.frames, size=args.size)


def side_by_side(*clips: np.ndarray, path: str) -> None:
    """A looping GIF of the clips next to each other (input | independent | temporal), 8 frames/s."""
    gap = np.ones((clips[0].shape[1], 4, 3), np.float32)
    frames = [np.concatenate([x for c in clips for x in (c[t], gap)][:-1], axis=1) for t in range(len(clips[0]))]
    io.write_video(frames, path, fractions.Fraction(8))
    print(f"wrote {path}", flush=True)


def timing_rows(args: argparse.Namespace) -> list[str]:
    """Seconds per frame at each size: frame 1, frame 2 (compiles the temporal program), frames 3 on."""
    rows = []
    for size in args.timing_sizes:
        clip = motion.make("pan", CONTENT, frames=args.timing_frames, size=size)
        seconds = []
        stylize_video(list(clip.frames), STYLE, size=size, steps=args.steps, later_steps=args.later_steps,
                      on_frame=lambda d: seconds.append(d.seconds))
        later = np.mean(seconds[2:]) if len(seconds) > 2 else float("nan")
        rows.append(f"| {size} | {clip.frames.shape[2]}×{clip.frames.shape[1]} | {args.steps} | {seconds[0]:.1f} "
                    f"| {args.later_steps} | {seconds[1]:.1f} | {later:.1f} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("flicker", "timing"), default="flicker")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--later-steps", type=int, default=30)
    p.add_argument("--kinds", nargs="+", default=list(motion.KINDS), choices=motion.KINDS)
    p.add_argument("--weights", nargs="+", type=float, default=[jax_nst.Settings().temporal_weight])
    p.add_argument("--timing-sizes", nargs="+", type=int, default=[256, 512])
    p.add_argument("--timing-frames", type=int, default=4)
    p.add_argument("--clip", metavar="VIDEO", help="study this video file instead of the --kinds")
    p.add_argument("--skip", type=int, default=0, metavar="N", help="frames of --clip to skip first")
    p.add_argument("--gif", metavar="PATH", help="also write input | independent | temporal (first λ) as a GIF")
    args = p.parse_args()
    print(f"# {doctor.describe()}")
    if args.part == "flicker":
        print(f"clips of {args.frames} frames, long side {args.size} px; steps {args.steps} (independent: each "
              f"frame; temporal: frame 1, then {args.later_steps})\n")
        print("| clip | method | E (DIS flow) | E independent / E | E (true flow) | L_style | / independent | seconds |")
        print("|---|---|---|---|---|---|---|---|")
        flicker_rows(args)
    else:
        print("| size | frame | steps, frame 1 | s, frame 1 | later steps | s, frame 2 (compiles) | s, later frames |")
        print("|---|---|---|---|---|---|---|")
        timing_rows(args)


if __name__ == "__main__":
    main()
