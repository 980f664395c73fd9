"""Progress you can look at: intermediate frames as a grid and an animated GIF, and a loss-curve PNG.

``Recorder`` is a ``stylize`` callback; the loss curve needs matplotlib (``pip install jax_nst[plot]``).
"""

from __future__ import annotations

import math
import os
import pathlib
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
from PIL import Image, ImageDraw

from . import images
from .errors import NSTError
from .objective import terms

PARTS = ("total", *terms.NAMES)
LABELS = {"total": "L_total", **{n: terms.CATALOGUE[n]["label"] for n in terms.NAMES}}


class Progress(NamedTuple):
    """What a callback receives every ``report_every`` steps and after the last step.

    ``losses`` maps "total" and every term's name (:data:`jax_nst.objective.terms.NAMES`: "content", "style", "tv",
    "temporal"; 0 where a term is off) to floats (``stylize``) or to arrays with one value per image
    (``stylize_batch``); ``steps`` counts all scales (each scale's ``steps`` is a cap when ``stop_tol`` > 0);
    ``image`` is the current (H, W, 3) or (B, H, W, 3) image; ``change``: the stopping rule's measure, the loss's
    relative decrease per step over the last ~10 steps (a float, or one per image); ``stopped``: this report
    ends its scale early because the loss stopped falling (``step`` is then the steps actually taken).
    """

    step: int
    steps: int
    evaluations: int
    losses: dict[str, Any]
    image: np.ndarray
    change: Any = None
    stopped: bool = False


Callback = Callable[[Progress], None]


class Recorder:
    """A progress callback keeping the losses of every report and the image every ``every`` steps (and the last)."""

    def __init__(self, every: int | None = None) -> None:
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise NSTError(f"frames every must be a positive integer, got {every!r}")
        self.every = every
        self.steps: list[int] = []
        self.losses: dict[str, list[float]] = {}
        self.frames: list[tuple[int, np.ndarray]] = []

    def __call__(self, p: Any) -> None:
        """Record one report (``jax_nst.Progress`` of a single image)."""
        self.steps.append(p.step)
        for k, v in p.losses.items():
            self.losses.setdefault(k, []).append(float(np.ravel(v)[0]))
        if self.every and (p.step % self.every == 0 or p.step == p.steps):
            image = np.asarray(p.image)
            self.frames.append((p.step, image[0] if image.ndim == 4 else image))


class Live:
    """A notebook callback: the picture and a line of losses shown in one place, redrawn at every report.

    ``display`` is IPython's ``display`` (the default); it is called once per shown thing with ``display_id=True``,
    and the handles it returns are updated in place, so a run leaves one picture, not one per report.
    """

    def __init__(self, width: int | None = 512, display: Callable[..., Any] | None = None) -> None:
        self.width = width
        self._display = display
        self._handles: tuple[Any, Any] | None = None

    def __call__(self, p: Any) -> None:
        """Show one report (``jax_nst.Progress`` of one image, or the first of a batch)."""
        image = np.asarray(p.image)
        picture = images.to_pil(image[0] if image.ndim == 4 else image)
        if self.width and picture.width != self.width:
            picture = picture.resize((self.width, max(1, round(picture.height * self.width / picture.width))))
        total = float(np.ravel(np.asarray(p.losses["total"]))[0])
        line = f"step {p.step}/{p.steps}  L_total {total:.4g}" + ("  (stopped: the loss stopped falling)"
                                                                  if p.stopped else "")
        if self._handles is None:
            show = self._display or _ipython_display()
            self._handles = (show(picture, display_id=True), show(_Text(line), display_id=True))
        else:
            self._handles[0].update(picture)
            self._handles[1].update(_Text(line))


class _Text(str):
    """A line shown as plain text by notebooks (no quotes)."""

    def __repr__(self) -> str:
        return str(self)


def _ipython_display() -> Callable[..., Any]:
    try:
        from IPython.display import display
    except ImportError:
        raise NSTError("progress.Live shows pictures in a notebook and needs IPython") from None
    return display


def chain(*callbacks: Callable | None) -> Callable | None:
    """One callback calling each of ``callbacks`` (None entries skipped) in turn."""
    live = [c for c in callbacks if c is not None]
    if len(live) <= 1:
        return live[0] if live else None

    def each(p: Any) -> None:
        for c in live:
            c(p)

    return each


def _labelled(image: np.ndarray, step: int, hw: tuple[int, int]) -> Image.Image:
    """A frame resized to ``hw`` with its step number in the corner."""
    pil = images.to_pil(images.resize(image, *hw))
    draw = ImageDraw.Draw(pil)
    text = str(step)
    box = draw.textbbox((2, 1), text)
    draw.rectangle((0, 0, box[2] + 2, box[3] + 1), fill=(0, 0, 0))
    draw.text((2, 1), text, fill=(255, 255, 255))
    return pil


def _frames(frames: Sequence[tuple[int, np.ndarray]], width: int | None) -> list[Image.Image]:
    """Labelled frames, all at the last frame's size (or ``width`` px wide)."""
    if not frames:
        raise NSTError("no frames were recorded; set frames every N steps with N <= steps")
    h, w = frames[-1][1].shape[:2]
    if width is not None:
        h, w = max(1, round(h * width / w)), width
    return [_labelled(image, step, (h, w)) for step, image in frames]


def grid(frames: Sequence[tuple[int, np.ndarray]], columns: int | None = None, width: int | None = None) -> Image.Image:
    """The (step, image) frames tiled row by row, ⌈√n⌉ columns unless given, 2 px gaps."""
    tiles = _frames(frames, width)
    cols = columns or math.ceil(math.sqrt(len(tiles)))
    rows, (w, h), gap = math.ceil(len(tiles) / cols), tiles[0].size, 2
    sheet = Image.new("RGB", (cols * w + (cols - 1) * gap, rows * h + (rows - 1) * gap), (255, 255, 255))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % cols) * (w + gap), (i // cols) * (h + gap)))
    return sheet


def save_grid(frames: Sequence[tuple[int, np.ndarray]], path: str | os.PathLike, **kw: Any) -> pathlib.Path:
    """Write :func:`grid` of the frames (atomically)."""
    return images.save_image(np.asarray(grid(frames, **kw)), path)


def save_gif(
    frames: Sequence[tuple[int, np.ndarray]], path: str | os.PathLike, ms: int = 200, width: int | None = None
) -> pathlib.Path:
    """Write the frames as a looping animated GIF, ``ms`` per frame, the last one held 1 s."""
    path = pathlib.Path(path)
    if path.suffix.lower() != ".gif":
        raise NSTError(f"cannot write animation '{path}': the name must end in .gif")
    images.check_writable_output(path.with_suffix(".png"))
    tiles = _frames(frames, width)
    durations = [ms] * (len(tiles) - 1) + [1000]
    with images.replacing(path, "animation") as tmp:
        tiles[0].save(tmp, format="GIF", save_all=True, append_images=tiles[1:], duration=durations, loop=0)
    return path


def require_matplotlib() -> Any:
    """matplotlib.pyplot with the Agg backend, or NSTError saying how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise NSTError("the loss curve needs matplotlib: pip install 'jax_nst[plot]'") from None
    return plt


def save_loss_curve(recorder: Recorder, path: str | os.PathLike, title: str = "") -> pathlib.Path:
    """Plot each term's loss that is not 0 throughout (and L_total) over steps on a log scale; write a PNG."""
    plt = require_matplotlib()
    path = images.check_writable_output(path)
    if not recorder.steps:
        raise NSTError("no losses were recorded")
    fig, ax = plt.subplots(figsize=(3.2, 2.2), dpi=80)  # 256 × 176 px
    for k, values in recorder.losses.items():
        values = np.asarray(values)
        if np.any(values > 0):
            marker = "." if len(values) < 30 else None
            ax.plot(recorder.steps, np.where(values > 0, values, np.nan), label=LABELS.get(k, k), marker=marker)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        with images.replacing(path, "loss plot") as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path


def _text_size(text: str) -> tuple[int, int]:
    """Width and height in px of ``text`` in PIL's default font."""
    box = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), text)
    return box[2] - box[0], box[3] - box[1]


def sheet(
    rows: Sequence[Sequence[np.ndarray | None]], row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None, tile: int = 64,
) -> Image.Image:
    """A labelled contact sheet: each image fitted into a ``tile``-px square cell (None leaves it blank)."""
    gap, left = 2, 0 if row_labels is None else max(_text_size(t)[0] for t in row_labels) + 4
    top = 0 if col_labels is None else max(_text_size(t)[1] for t in col_labels) + 4
    cols = max(len(r) for r in rows)
    heights = [max([tile * img.shape[0] // max(img.shape[:2]) for img in r if img is not None] or [tile]) for r in rows]
    out = Image.new("RGB", (left + cols * (tile + gap) - gap, top + sum(heights) + gap * (len(rows) - 1)), "white")
    draw, y = ImageDraw.Draw(out), top
    for j, text in enumerate(col_labels or []):
        draw.text((left + j * (tile + gap) + (tile - _text_size(text)[0]) // 2, 1), text, fill=(0, 0, 0))
    for i, row in enumerate(rows):
        if row_labels is not None:
            draw.text((1, y + (heights[i] - _text_size(row_labels[i])[1]) // 2), row_labels[i], fill=(0, 0, 0))
        for j, img in enumerate(row):
            if img is not None:
                h, w = images.fit_long_side(*img.shape[:2], tile)
                out.paste(images.to_pil(images.resize(img, h, w)), (left + j * (tile + gap) + (tile - w) // 2, y))
        y += heights[i] + gap
    return out
