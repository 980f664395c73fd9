"""Resize policies of batch jobs: the shape an image is stylized at, and the shape it is written at.

Every output keeps its input's aspect ratio with the long side equal to ``size``. Images are
batched by their work shape, so each shape compiles once:

* ``bucket`` (default): long side ``size``, short side rounded to a multiple of ``step`` px (at most
  ``step``/2 px of stretch); ``step`` 1 gives exact shapes (one compilation per aspect ratio).
* ``square``: every image is stylized at ``size`` × ``size`` (one compilation for all).

The result is resized back to the output shape when the two differ.
"""

from __future__ import annotations

import numpy as np

from .. import images
from ..errors import NSTError

POLICIES = ("bucket", "square")
DEFAULT_STEP = 32


def output_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) of the output: long side ``size``, aspect ratio kept."""
    return images.fit_long_side(height, width, size)


def work_shape(height: int, width: int, size: int, policy: str = "bucket", step: int = DEFAULT_STEP) -> tuple[int, int]:
    """(h, w) the image is stylized at under ``policy`` (see the module docstring)."""
    if policy == "square":
        return size, size
    if policy != "bucket":
        raise NSTError(f"unknown resize policy {policy!r}; choose one of {', '.join(POLICIES)}")
    h, w = output_shape(height, width, size)
    snap = lambda side: min(size, max(step, step * round(side / step)))  # noqa: E731
    return (size, snap(w)) if h >= w else (snap(h), size)


def describe(policy: str, step: int) -> str:
    """A short label of the policy for manifests: "bucket:32" or "square"."""
    return f"bucket:{step}" if policy == "bucket" else policy


def prepare(img: np.ndarray, size: int, policy: str = "bucket", step: int = DEFAULT_STEP) -> tuple[np.ndarray, tuple[int, int]]:
    """The image resized to its work shape, and the output shape to restore afterwards."""
    h, w = img.shape[:2]
    return images.resize(img, *work_shape(h, w, size, policy, step)), output_shape(h, w, size)


def restore(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The stylized image at its output shape (unchanged when it is already there)."""
    return img if img.shape[:2] == tuple(shape) else images.resize(img, *shape)
