"""Coarse-to-fine (multi-scale) optimization: the plan of sizes and steps, and moving between sizes.

With ``scales`` = (s_1 < … < s_K) and target size S, the image is optimized at long side s_1, upsampled
(Lanczos), optimized at s_2, …, and finally at S. With the default normalization the weights mean the
same at every scale; with the paper's plain sums L_content grows with the pixel count while E_l does
not, so there scale k uses β_k = β·(s_k/S)² to keep the α/β balance of the target size.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .. import images
from ..settings import Settings


def plan(s: Settings) -> list[Settings]:
    """Settings of each scale in order, the target size last (the only one when ``scales`` is empty)."""
    steps = s.scale_steps or (s.steps,) * len(s.scales)
    flat = s.replace(scales=(), scale_steps=None)
    paper = s.normalization == "paper"
    coarse = [
        flat.replace(size=size, steps=n, style_weight=s.style_weight * ((size / s.size) ** 2 if paper else 1.0))
        for size, n in zip(s.scales, steps)
    ]
    return [*coarse, flat]


def total_steps(s: Settings) -> int:
    """Steps over all scales."""
    return sum(k.steps for k in plan(s))


def halvings(size: int, count: int, smallest: int = 16) -> tuple[int, ...]:
    """``count`` coarse scales size/2^count … size/2 (those of at least ``smallest`` px)."""
    return tuple(size >> k for k in range(count, 0, -1) if size >> k >= smallest)


def shape_at(hw: Sequence[int], size: int) -> tuple[int, int]:
    """(h, w) of an image of shape ``hw`` with its long side resized to ``size``."""
    return images.fit_long_side(int(hw[0]), int(hw[1]), size)


def resize_batch(batch: np.ndarray, hw: Sequence[int]) -> np.ndarray:
    """Every (H, W, C) image of a batch resized (Lanczos) to ``hw``."""
    return np.stack([images.resize(np.asarray(img), int(hw[0]), int(hw[1])) for img in batch])


class Relay:
    """A progress callback for the scales in turn: reports steps and evaluations counted over all scales."""

    def __init__(self, callback: Callable, total: int) -> None:
        self.callback, self.total, self.done, self.evals, self.last = callback, total, 0, 0, None

    def __call__(self, p) -> None:
        self.last = p
        self.callback(p._replace(step=p.step + self.done, steps=self.total, evaluations=p.evaluations + self.evals))

    def next_scale(self) -> None:
        """Count the finished scale's steps and evaluations."""
        if self.last is not None:
            self.done, self.evals, self.last = self.done + self.last.step, self.evals + self.last.evaluations, None
