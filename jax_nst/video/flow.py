"""Optical flow between frames (OpenCV's DIS, no downloaded network) and where it can be trusted.

A flow w from frame a to frame b maps each pixel p of a to where it is in b: a(p) ≈ b(p + w(p)),
stored as (H, W, 2) = (dx, dy) in pixels. Following Ruder, Dosovitskiy & Brox (2016), the
backward flow ŵ (frame t → t−1) is checked against the forward flow w (t−1 → t) sampled where ŵ
points, w̃(p) = w(p + ŵ(p)): p is disoccluded where |w̃ + ŵ|² > 0.01(|w̃|² + |ŵ|²) + 0.5, on a
motion boundary where |∇û|² + |∇v̂|² > 0.01|ŵ|² + 0.002, and untracked where p + ŵ(p) leaves the frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NSTError


def _cv2() -> Any:
    """OpenCV, or a one-line NSTError naming the extra that installs it."""
    try:
        import cv2
    except ImportError:
        raise NSTError("video needs OpenCV for optical flow: pip install 'jax_nst[video]'") from None
    return cv2


def _grey(frame: np.ndarray) -> np.ndarray:
    """An (H, W, 3) float frame in [0, 1] as 8-bit luma, the input DIS takes."""
    y = np.asarray(frame, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)


def estimate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The flow w from frame a to frame b, a(p) ≈ b(p + w(p)): (H, W, 2) float32 by DIS (medium preset)."""
    cv2 = _cv2()
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(_grey(a), _grey(b), None).astype(np.float32)


def sample(field: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """field(p + flow(p)) for every p, bilinear, edges clamped: (H, W, C) from (H, W, C) and (H, W, 2)."""
    cv2 = _cv2()
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = cv2.remap(np.asarray(field, np.float32), xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(h, w, -1)


def consistency(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """c (H, W, 1): 1 where ŵ = ``backward`` (t → t−1) agrees with w = ``forward`` (t−1 → t), 0 at
    disocclusions, motion boundaries and pixels that ŵ takes outside the frame."""
    h, w = backward.shape[:2]
    tilde = sample(forward, backward)
    sq = lambda v: np.sum(np.square(v), axis=-1)  # noqa: E731
    occluded = sq(tilde + backward) > 0.01 * (sq(tilde) + sq(backward)) + 0.5
    grads = [g for c in range(2) for g in np.gradient(backward[..., c])]
    boundary = sum(np.square(g) for g in grads) > 0.01 * sq(backward) + 0.002
    ys, xs = np.mgrid[0:h, 0:w]
    tx, ty = xs + backward[..., 0], ys + backward[..., 1]
    outside = (tx < 0) | (tx > w - 1) | (ty < 0) | (ty > h - 1)
    return (~(occluded | boundary | outside)).astype(np.float32)[..., None]


def between(current: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ŵ, c): the flow from ``current`` (frame t) to ``previous`` (t−1) and where it can be trusted."""
    backward = estimate(current, previous)
    return backward, consistency(backward, estimate(previous, current))
