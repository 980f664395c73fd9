"""Masks for spatial control: loading them at the content's size; each says where its style applies."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import images
from ..errors import NSTError


def load_masks(sources: Sequence[images.ImageSource], hw: tuple[int, int], count: int) -> np.ndarray:
    """The masks (paths, images or arrays; grey = mean of R, G, B) resized to ``hw``: (H, W, R) in [0, 1]."""
    if len(sources) != count:
        raise NSTError(f"{len(sources)} masks for {count} style images; give one mask per style")
    planes = [images.resize(images.load_image(m), *hw).mean(axis=-1) for m in sources]
    return np.stack(planes, axis=-1).astype(np.float32)


def at_size(masks: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """``masks`` (H, W, R) resized to ``hw`` (for coarse-to-fine scales)."""
    return images.resize(masks, *hw)
