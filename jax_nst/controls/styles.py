"""Several style images and their scale: loading, per-scale sizes and the blend weights."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import images
from ..errors import NSTError
from ..settings import Settings


def as_list(style: images.ImageSource | Sequence[images.ImageSource]) -> list[images.ImageSource]:
    """One style source, or a list / tuple of them, as a non-empty list."""
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise NSTError("no style images given")
    return styles


def style_side(s: Settings, size: int) -> int:
    """Long side of the style image when the output's long side is ``size``: s·(style_size or S)·size/S."""
    return max(1, round(s.style_scale * (s.style_size or s.size) * size / s.size))


def load_styles(style: images.ImageSource | Sequence[images.ImageSource], s: Settings) -> list[np.ndarray]:
    """The style image(s) at the long side ``style_side(s, s.size)`` (``style_scale`` applied)."""
    side = style_side(s, s.size)
    return [images.load_image(source, side) for source in as_list(style)]


def at_scale(styles: Sequence[np.ndarray], s: Settings, size: int) -> list[np.ndarray]:
    """``styles`` resized for an output of long side ``size`` (coarse-to-fine scales)."""
    side = style_side(s, size)
    return [images.resize(img, *images.fit_long_side(*img.shape[:2], side)) for img in styles]


def blend_weights(s: Settings, count: int) -> np.ndarray:
    """The style blend weights w_k normalized to Σ w_k = 1 (equal weights if none were given)."""
    w = np.ones(count) if s.style_blend_weights is None else np.asarray(s.style_blend_weights, np.float64)
    if len(w) != count:
        raise NSTError(f"{len(w)} style_blend_weights for {count} style images; give one weight per style")
    w = w / w.max()  # first to at most 1: weights near the float maximum must not sum to infinity
    return w / w.sum()
