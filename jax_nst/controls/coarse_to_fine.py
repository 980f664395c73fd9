"""Coarse-to-fine: the stages of a run, built once, and moving the picture from one stage to the next.

With ``scales`` = (s_1 < … < s_K) and target size S, the image is optimized at long side s_1, upsampled
(Lanczos), optimized at s_2, …, and finally at S (one stage when ``scales`` is empty). With the default
normalization the weights mean the same at every scale; with the paper's plain sums L_content grows with
the pixel count while E_l does not, so there scale k uses β_k = β·(s_k/S)² to keep the α/β balance of S.

A :class:`Stage` holds everything one scale needs, and :func:`stages` builds the list once per run:
:func:`jax_nst.api.run` is a loop over it.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple, Sequence

import numpy as np

from .. import images
from ..optimize import spatial, stack
from ..program import Hyper, Program
from ..settings import Settings
from . import styles


class Stage(NamedTuple):
    """One scale of a run.

    ``settings``: this scale's (size, steps, β_k); ``shape``: (h, w) of the picture; ``margin``: m px of
    mirrored content on every side, cropped after (``margin`` px at every scale); ``height``: the rows the
    optimizer works on, h + 2m padded below for spatial sharding; ``program``: the compiled program's key;
    ``styles``: the style images at this size; ``masks``: the region masks (height, w + 2m, R) at this
    size, or None; ``hyper``: a weight grid's traced values, one per cell (None: ``settings.hyper()``).
    """

    settings: Settings
    shape: tuple[int, int]
    margin: int
    height: int
    program: Program
    styles: list[np.ndarray]
    masks: np.ndarray | None
    hyper: Hyper | None

    def fit(self, batch: np.ndarray) -> np.ndarray:
        """(B, H, W, C) images as the optimizer sees them at this stage: resized to ``shape``, grown by the
        margin (mirrored), padded below to ``height`` (mirrored)."""
        if batch.shape[1:3] != self.shape:
            batch = resize_batch(batch, self.shape)
        return spatial.pad_rows(grow(np.asarray(batch), self.margin), self.height)

    def crop(self, pictures: np.ndarray) -> np.ndarray:
        """The (B, h, w, 3) pictures inside (B, height, w + 2m, 3) ones: padding and margin cut off."""
        m, (h, w) = self.margin, self.shape
        return pictures[:, m:m + h, m:m + w]


def plan(s: Settings) -> list[Settings]:
    """Settings of each scale in order, the target size last (the only one when ``scales`` is empty)."""
    scales = s.coarse_scales
    steps = s.scale_steps or (s.steps,) * len(scales)
    return [*(at_scale(s, size, n) for size, n in zip(scales, steps)), at_scale(s, s.size, s.steps)]


def at_scale(s: Settings, size: int, steps: int) -> Settings:
    """The settings of the scale of long side ``size``: ``steps`` steps, β_k = β·(size/S)² under "paper"."""
    ratio = (size / s.size) ** 2 if s.normalization == "paper" else 1.0
    return s.replace(scales=(), scale_steps=None, size=size, steps=steps, style_weight=s.style_weight * ratio)


def stages(s: Settings, hw: Sequence[int], style_images: Sequence[np.ndarray], masks: np.ndarray | None = None,
           inputs: Sequence[str] = (), cells: Sequence[Settings] | None = None) -> list[Stage]:
    """The stages of a run on pictures of shape ``hw`` at ``s.size``: one per scale of :func:`plan`.

    ``masks`` (H, W, R) at ``hw``; ``inputs``: the names of the terms given an input; ``cells``: a grid's
    settings, one per image of the batch (their traced values differ, their program does not).
    """
    found = []
    for k in plan(s):
        shape = shape_at(hw, k.size)
        margin = s.margin  # the network's receptive field, not the picture, decides how far its borders reach
        program = k.program(masked=masks is not None, inputs=inputs)
        height = spatial.padded_height(shape[0] + 2 * margin, program)
        program = dataclasses.replace(program, rows=shape[0] + 2 * margin if height > shape[0] + 2 * margin else 0)
        hyper = None if cells is None else stack([at_scale(c, k.size, k.steps).hyper() for c in cells])
        stage = Stage(k, shape, margin, height, program, styles.at_scale(style_images, s, k.size), None, hyper)
        found.append(stage if masks is None else stage._replace(masks=stage.fit(masks[None])[0]))
    return found


def halvings(size: int, count: int, smallest: int = 16) -> tuple[int, ...]:
    """``count`` coarse scales size/2^count … size/2 (those of at least ``smallest`` px)."""
    return tuple(size >> k for k in range(count, 0, -1) if size >> k >= smallest)


def shape_at(hw: Sequence[int], size: int) -> tuple[int, int]:
    """(h, w) of an image of shape ``hw`` with its long side resized to ``size``."""
    return images.fit_long_side(int(hw[0]), int(hw[1]), size)


def resize_batch(batch: np.ndarray, hw: Sequence[int]) -> np.ndarray:
    """Every (H, W, C) image of a batch resized (Lanczos) to ``hw``."""
    return np.stack([images.resize(np.asarray(img), int(hw[0]), int(hw[1])) for img in batch])


def grow(batch: np.ndarray, m: int) -> np.ndarray:
    """(B, H, W, C) images with ``m`` px mirrored onto every side (``margin``: the picture's edges are then
    inside the network's maps)."""
    return batch if m == 0 else np.pad(batch, ((0, 0), (m, m), (m, m), (0, 0)), mode="symmetric")


class Relay:
    """A progress callback for the stages in turn: reports steps and evaluations counted over all stages; a stage
    that stops early takes its unused steps off the total."""

    def __init__(self, callback: Callable, total: int) -> None:
        self.callback, self.total, self.done, self.evals, self.last = callback, total, 0, 0, None

    def __call__(self, p) -> None:
        self.last = p
        if p.stopped:
            self.total -= p.steps - p.step
        self.callback(p._replace(step=p.step + self.done, steps=self.total, evaluations=p.evaluations + self.evals))

    def next_scale(self) -> None:
        """Count the finished stage's steps and evaluations."""
        if self.last is not None:
            self.done, self.evals, self.last = self.done + self.last.step, self.evals + self.last.evaluations, None
