"""Reading clips (a video file, a folder of frames or arrays) and writing them (a video file or a folder).

Video files go through PyAV (FFmpeg in its wheel; ``pip install 'jax_nst[video]'``); GIFs through
Pillow. Frames come out as float32 (H, W, 3) in [0, 1] with the long side resized to ``size``, one at a
time, so a long clip never sits in memory. A written video keeps the frame rate and copies the audio
track of the source (re-encoded to Opus for WebM); it is written beside its name and renamed into place.
"""

from __future__ import annotations

import contextlib
import fractions
import itertools
import os
import pathlib
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from .. import images
from ..errors import NSTError

FRAME_NAME = "frame_{:06d}.png"
"""The name of frame i (from 1) in a folder of PNG frames, read and written."""

CONTAINERS = {".mp4": ("mp4", "libx264"), ".mov": ("mov", "libx264"), ".mkv": ("matroska", "libx264"),
              ".webm": ("webm", "libvpx-vp9"), ".gif": ("gif", None)}
"""Output suffix → (FFmpeg format, video encoder); GIFs are written by Pillow."""
REENCODE_AUDIO = {"webm": "libopus"}
"""Formats that take only some audio codecs: the audio is re-encoded to this one there, copied elsewhere."""
DEFAULT_FPS = fractions.Fraction(24)
"""Frame rate of a clip given as a folder or arrays, unless one is given."""
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class Clip(NamedTuple):
    """A clip to stylize: its frames (an iterator), frame rate, frame count if known, audio source if any."""

    frames: Iterator[np.ndarray]
    fps: fractions.Fraction
    count: int | None
    audio: pathlib.Path | None
    label: str


def _av() -> Any:
    """PyAV, or a one-line NSTError naming the extra that installs it."""
    try:
        import av
    except ImportError:
        raise NSTError("video files need PyAV: pip install 'jax_nst[video]'") from None
    return av


def is_video_file(path: Any) -> bool:
    """Whether ``path`` names a video file by its suffix (else a folder of frames)."""
    return isinstance(path, (str, os.PathLike)) and pathlib.Path(path).suffix.lower() in {*CONTAINERS, ".avi", ".m4v"}


def open_clip(source: Any, size: int, max_frames: int | None = None, fps: float | None = None) -> Clip:
    """The frames of ``source`` (a video file, a folder of image files, or a sequence/array of frames),
    long side ``size``, at most ``max_frames``; ``fps`` overrides the frame rate (a folder's or arrays')."""
    if isinstance(source, (str, os.PathLike)):
        path = pathlib.Path(source)
        if path.is_dir():
            clip = _folder(path, size)
        elif path.exists():
            clip = _video(path, size)
        else:
            raise NSTError(f"cannot read video '{path}': no such file or folder")
    else:
        frames = list(source)
        clip = Clip((images.load_image(f, size) for f in frames), DEFAULT_FPS, len(frames), None, "frames")
    if fps is not None:
        clip = clip._replace(fps=rate(fps))
    return _checked(clip, max_frames)


def rate(fps: float) -> fractions.Fraction:
    """A frame rate as the fraction FFmpeg takes (29.97 → 30000/1001); NSTError outside (0, 1000)."""
    if not 0 < fps < 1000:
        raise NSTError(f"fps must be in (0, 1000), got {fps}")
    return fractions.Fraction(fps).limit_denominator(1001)


def _checked(clip: Clip, max_frames: int | None) -> Clip:
    """``clip`` cut to ``max_frames``, refusing an empty clip and frames of another size than the first."""
    count = clip.count if max_frames is None or clip.count is None else min(clip.count, max_frames)

    def frames() -> Iterator[np.ndarray]:
        shape = None
        for i, frame in enumerate(clip.frames):
            if max_frames is not None and i >= max_frames:
                return
            if shape is not None and frame.shape != shape:
                raise NSTError(f"frame {i + 1} of {clip.label} is {frame.shape[1]}×{frame.shape[0]} px after resizing, "
                               f"frame 1 is {shape[1]}×{shape[0]}: all frames must have one size")
            shape = frame.shape
            yield frame
        if shape is None:
            raise NSTError(f"{clip.label} has no video frames")

    return clip._replace(frames=frames(), count=count)


def _folder(path: pathlib.Path, size: int) -> Clip:
    """Image files of a folder in name order as frames; their sizes are checked (headers only) before any is used."""
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith("."))
    sizes = {}
    for p in files:
        sizes.setdefault(_upright_size(p), p)
    sizes.pop(None, None)
    if len(sizes) > 1:
        (a, first), (b, other) = list(sizes.items())[:2]
        raise NSTError(f"frames of folder '{path}' differ in size: '{first.name}' is {a[0]}×{a[1]} px, "
                       f"'{other.name}' {b[0]}×{b[1]}: all frames must have one size")
    return Clip((images.load_image(p, size) for p in files), DEFAULT_FPS, len(files), None, f"folder '{path}'")


def _upright_size(path: pathlib.Path) -> tuple[int, int] | None:
    """(width, height) of an image file as shown (EXIF rotation applied), from its header; None if unreadable
    (loading it then says why)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            turned = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # the orientations that swap the sides
            return (im.height, im.width) if turned else (im.width, im.height)
    except Exception:  # noqa: BLE001 - any decoder failure is reported when the frame is loaded
        return None


def _video(path: pathlib.Path, size: int) -> Clip:
    """The first video stream of a file: its frames, frame rate, count, and the file as the audio source."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise NSTError(f"cannot read video '{path}': it has no video stream")
            stream = container.streams.video[0]
            fps = stream.average_rate or stream.guessed_rate or DEFAULT_FPS
            count, audio = stream.frames or None, bool(container.streams.audio)
    except av.FFmpegError as e:
        raise NSTError(f"cannot read video '{path}': {_reason(e)}") from None
    return Clip(_decode(path, size), fractions.Fraction(fps), count, path if audio else None, f"'{path}'")


def _decode(path: pathlib.Path, size: int) -> Iterator[np.ndarray]:
    """Decoded RGB frames of ``path``, resized; a decoding error becomes one line."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                yield images.load_image(frame.to_ndarray(format="rgb24"), size)
    except av.FFmpegError as e:
        raise NSTError(f"cannot read video '{path}': {_reason(e)}") from None


def _reason(e: Exception) -> str:
    """FFmpeg's message without the file name it repeats."""
    return getattr(e, "strerror", None) or str(e)


def check_output(path: Any, available: Sequence[str] | None = None) -> pathlib.Path:
    """``path`` if a video can be written there (known suffix, encoder present, folder writable), else NSTError.

    ``available``: the encoders to assume (default: those of the installed FFmpeg).
    """
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in CONTAINERS:
        raise NSTError(f"cannot write video '{path}': use a name ending in {', '.join(CONTAINERS)}, or a folder")
    encoder = CONTAINERS[suffix][1]
    if encoder is not None:
        codecs = _av().codecs_available if available is None else available
        if encoder not in codecs:
            raise NSTError(f"cannot write video '{path}': the installed FFmpeg has no {encoder} encoder")
    images.check_writable_output(path.with_suffix(".png"))
    return path


def encoded_shape(height: int, width: int, path: Any) -> tuple[int, int]:
    """(H, W) of (height, width) frames as written to ``path``: its codec stores yuv420p, which needs even sides
    (an odd side gets one edge row or column); a GIF keeps them."""
    if CONTAINERS[pathlib.Path(path).suffix.lower()][1] is None:
        return height, width
    return height + height % 2, width + width % 2


def write_video(frames: Iterable[np.ndarray], path: Any, fps: fractions.Fraction,
                audio: pathlib.Path | None = None) -> pathlib.Path:
    """Encode (H, W, 3) float frames to ``path`` (format by suffix) at ``fps``, with ``audio``'s audio track;
    written to a temp file beside it and renamed, so ``path`` is whole or untouched (and a killed write's temp
    file is removed by the next)."""
    path = check_output(path)
    fmt, encoder = CONTAINERS[path.suffix.lower()]
    for leftover in images.temp_files(path.parent, [path.name]).get(path.name, []):  # a killed write's
        leftover.unlink(missing_ok=True)
    with images.replacing(path, "video") as tmp:
        if encoder is None:
            _write_gif(frames, str(tmp), fps)
        else:
            _encode(frames, str(tmp), fmt, encoder, fps, audio)
    return path


def _encode(frames: Iterable[np.ndarray], tmp: str, fmt: str, encoder: str, fps: fractions.Fraction,
            audio: pathlib.Path | None) -> None:
    """The video stream of ``frames`` (yuv420p; odd sides padded by one edge row/column), then the audio.

    Every stream is added before the first packet is written (the container's header fixes them).
    """
    av = _av()
    rgb = (np.pad(f, ((0, f.shape[0] % 2), (0, f.shape[1] % 2), (0, 0)), mode="edge")
           for f in map(images.to_uint8, frames))
    first = next(rgb, None)
    if first is None:
        raise NSTError("no frames to write")
    try:
        with av.open(tmp, "w", format=fmt) as out, (av.open(str(audio)) if audio else contextlib.nullcontext()) as src:
            stream = out.add_stream(encoder, rate=fps)
            stream.width, stream.height, stream.pix_fmt = first.shape[1], first.shape[0], "yuv420p"
            sound = src.streams.audio[0] if audio else None
            codec = REENCODE_AUDIO.get(fmt)
            target = None if sound is None else (out.add_stream(codec, rate=48000) if codec
                                                 else out.add_stream_from_template(sound))
            count = 0
            for count, frame in enumerate(itertools.chain([first], rgb), 1):
                out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            out.mux(stream.encode(None))
            if sound is not None:
                _copy_audio(src, sound, out, target, codec is not None, count / fps)
    except av.FFmpegError as e:
        raise NSTError(f"cannot encode video: {_reason(e)}") from None


def _copy_audio(src: Any, sound: Any, out: Any, target: Any, reencode: bool, seconds: fractions.Fraction) -> None:
    """The first ``seconds`` of ``sound`` (the video's length) muxed into ``target`` as they are, or decoded
    and encoded again."""
    def within(item: Any) -> bool:
        return item.pts is None or item.time_base is None or item.pts * item.time_base < seconds

    if not reencode:
        for packet in src.demux(sound):
            if packet.dts is not None and within(packet):
                packet.stream = target
                out.mux(packet)
        return
    for frame in src.decode(sound):
        if within(frame):
            frame.pts = None
            out.mux(target.encode(frame))
    out.mux(target.encode(None))


def _write_gif(frames: Iterable[np.ndarray], tmp: str, fps: fractions.Fraction) -> None:
    """An endlessly looping GIF (Pillow: one adaptive palette per frame) at ``fps`` (GIF counts in 10 ms)."""
    tiles = [images.to_pil(f) for f in frames]
    if not tiles:
        raise NSTError("no frames to write")
    ms = max(20, round(1000 / float(fps) / 10) * 10)
    tiles[0].save(tmp, format="GIF", save_all=True, append_images=tiles[1:], duration=ms, loop=0)
