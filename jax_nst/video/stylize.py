"""``stylize_video``: a clip stylized frame by frame, each frame tied to the previous one (Ruder et al. 2016).

Frame 1 is stylized as an image. Frame t > 1 starts from x_{t−1} warped along the optical flow
(ŵ, frame t → t−1, from the *input* frames) and adds λ L_temporal = λ (1/D) Σ c (x − ω(x_{t−1}))²
to the objective (:mod:`jax_nst.objective.terms.temporal`), with c from the flow's forward–backward check
(:mod:`.flow`). Later frames need fewer steps (``later_steps``) and run at the output size only (their start, the
warped previous result, has its detail already; coarse scales would blur it). Every frame's program is the same
compiled one: the previous frame, flow and c are traced inputs.

Written to a folder, each frame is a PNG put in place atomically and then recorded in the folder's
manifest (:mod:`jax_nst.jobs.manifest`) under a key that chains the hashes of the input frames so far:
a rerun after a kill reuses the recorded frames and goes on from the first missing one, computing
exactly what an uninterrupted run would (x_{t−1} is always the saved 8-bit frame).
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import time
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np

from .. import api, images
from ..controls import color, presets
from ..errors import NSTError
from ..jobs import manifest
from ..objective.terms import temporal
from ..optimize import spatial
from ..settings import Options, Settings, Unpack, with_options
from . import flow, io
from .io import FRAME_NAME

LATER_STEPS = 0.25
"""Later frames take this share of ``steps`` unless ``later_steps`` is given: they start from the warped previous
result. A quarter gave the flicker and style loss of a half or all on the known-motion clips (BENCHMARKS.md)."""


class FrameDone(NamedTuple):
    """What ``on_frame`` receives after each frame: its index (0-based), the clip's frame count if known,
    the stylized frame, seconds spent on it (0 when reused from an earlier run) and whether it was reused."""

    index: int
    count: int | None
    image: np.ndarray
    seconds: float
    reused: bool


@with_options
def stylize_video(
    source: Any, style: Any, output: str | os.PathLike | None = None, *, weights: str | os.PathLike | None = None,
    init: Any = "content", preset: str | None = None, settings: Settings | None = None, later_steps: int | None = None,
    max_frames: int | None = None, fps: float | None = None, masks: Any = None, trust_weights: bool = False,
    on_frame: Callable[[FrameDone], None] | None = None, **options: Unpack[Options],
) -> Any:
    """Stylize a clip; returns the frames (T, H, W, 3) float32 when ``output`` is None, else the path written.

    ``source``: a video file (PyAV), a folder of frames (name order) or a sequence of images. ``output``: a
    video file (.mp4, .mov, .mkv, .webm, .gif; frame rate and audio kept) or a folder of PNG frames. A video
    file's frames are kept in ``OUTSTEM.frames/`` beside it, which makes a killed run resumable. ``options``
    are the fields of :class:`jax_nst.settings.Settings` (``temporal_weight`` is λ); ``later_steps``: steps of
    frames after the first (default: a quarter of ``steps``); ``max_frames``: stylize only the first ones; ``fps``: the
    frame rate of a folder or of arrays (default 24); ``init``: the first frame's starting image ("content",
    "noise", "style" or an image); later frames start from the previous result, warped.
    """
    s = presets.chosen(settings, preset, init, options)
    later = s.replace(steps=later_steps or max(1, round(s.steps * LATER_STEPS)), scales=(), scale_steps=None)
    if s.spatial > 1:
        spatial.check(s, 1, [temporal.TERM.name])  # refused before frame 1, not at frame 2
    target = None if output is None else pathlib.Path(output)
    video_out = target is not None and target.suffix != "" and not target.is_dir()
    if video_out:
        io.check_output(target)
    clip = io.open_clip(source, s.size, max_frames, fps)
    style_imgs = [images.load_image(x) for x in (style if isinstance(style, (list, tuple)) else [style])]
    run = lambda frame, k, **kw: api.run([frame], style_imgs if len(style_imgs) > 1 else style_imgs[0], k,  # noqa: E731
                                         weights=weights, masks=masks, trust_weights=trust_weights, **kw)[0]
    store = None if target is None else Store(_frames_dir(target) if video_out else target,
                                              _key(s, later, style_imgs, weights, init))
    frames = []
    try:
        for done in _frames(clip, s, later, run, store, init):
            if store is None:
                frames.append(done.image)
            if on_frame is not None:
                on_frame(done)
    finally:
        if store is not None:
            store.close()
    if target is None:
        return np.stack(frames)
    if video_out:
        return io.write_video(store.images(), target, clip.fps, clip.audio)
    return target


def _frames(clip: io.Clip, s: Settings, later: Settings, run: Callable, store: "Store | None",
            init: Any) -> Iterator[FrameDone]:
    """Each frame stylized (or reused from ``store``) in order."""
    previous = previous_input = None
    chain = hashlib.sha1()
    for i, frame in enumerate(clip.frames):
        chain.update(images.to_uint8(frame).tobytes())
        link = chain.hexdigest()
        start = time.perf_counter()
        image = store.load(i, link) if store is not None else None
        reused = image is not None
        if not reused:
            if previous is None:
                image = run(frame, s, init=init)
            else:
                ties = _ties(frame, previous_input, previous, s)
                image = run(frame, later, init=np.asarray(temporal.warp(ties.previous, ties.flow)),
                            inputs={temporal.TERM.name: ties})
            image = images.to_uint8(image).astype(np.float32) / 255.0  # what the PNG holds: resumed runs see the same
            if store is not None:
                store.save(i, image, link)
        yield FrameDone(i, clip.count, image, 0.0 if reused else time.perf_counter() - start, reused)
        previous, previous_input = image, frame


def _ties(frame: np.ndarray, previous_input: np.ndarray, previous: np.ndarray, s: Settings) -> temporal.Temporal:
    """x_{t−1} in the space the optimizer works in, the flow from frame t to t−1 and its consistency c."""
    backward, certainty = flow.between(frame, previous_input)
    return temporal.Temporal(np.asarray(color.working(s.preserve_colors, previous), np.float32), backward, certainty)


def _frames_dir(target: pathlib.Path) -> pathlib.Path:
    """Where the frames of a video output are kept: OUTSTEM.frames/ beside it."""
    return target.with_name(f"{target.stem}.frames")


def _key(s: Settings, later: Settings, style_imgs: list[np.ndarray], weights: Any, init: Any) -> dict[str, Any]:
    """What a recorded frame must have been made under (with its chain of input hashes as "init")."""
    start = init if isinstance(init, str) else _pixels_digest([images.load_image(init)])
    return {"settings": f"{s.digest()}+{later.digest()}+{start}", "style": _pixels_digest(style_imgs),
            "resize": f"long side {s.size}",
            "weights": None if weights is None else str(pathlib.Path(weights).absolute())}


def _pixels_digest(pictures: list[np.ndarray]) -> str:
    """SHA-1 of the 8-bit pixels and shapes of ``pictures``."""
    return hashlib.sha1(b"".join(images.to_uint8(x).tobytes() + str(x.shape).encode() for x in pictures)).hexdigest()


class Store:
    """The frames of a run in a folder: PNGs put in place atomically, then recorded in its manifest."""

    def __init__(self, folder: pathlib.Path, key: dict[str, Any]) -> None:
        self.folder, self.key, self.count, self.made = folder, key, 0, not folder.exists()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for leftover in folder.glob(f".{FRAME_NAME[:6]}*{images.TEMP_SUFFIX}"):  # what a kill left mid-write
                leftover.unlink(missing_ok=True)
        except OSError as e:
            raise NSTError(f"cannot use the frames folder '{folder}': {e.strerror or e}") from None
        self.records = {r["output"]: r for r in manifest.read(folder) if r.get("status") == manifest.DONE}
        self.writer = manifest.Writer(manifest.path_for(folder))

    def close(self) -> None:
        """Close the manifest; a folder this run made and put no frame in (a clip without frames) is removed."""
        self.writer.close()
        if self.made and self.count == 0:
            try:
                self.folder.rmdir()
            except OSError:
                pass  # something else is in it now: leave it

    def load(self, index: int, link: str) -> np.ndarray | None:
        """Frame ``index`` as recorded under this key and input chain ``link``, or None."""
        name = FRAME_NAME.format(index + 1)
        record = self.records.get(name)
        if record is None or not manifest.matches(record, {**self.key, "init": link}):
            return None
        try:
            image = images.load_image(self.folder / name)
        except NSTError:
            return None
        self.count = index + 1
        return image

    def save(self, index: int, image: np.ndarray, link: str) -> None:
        """Write frame ``index``, then its record."""
        name = FRAME_NAME.format(index + 1)
        images.save_image(image, self.folder / name)
        record = {"output": name, "status": manifest.DONE, **self.key, "init": link, "time": time.time()}
        self.writer.append(record)
        self.records[name] = record
        self.count = index + 1

    def images(self) -> Iterator[np.ndarray]:
        """The frames of this run in order, read one at a time."""
        for index in range(self.count):
            yield images.load_image(self.folder / FRAME_NAME.format(index + 1))
