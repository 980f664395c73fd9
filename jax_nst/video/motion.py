"""Clips with known motion, made from one still image: pan, zoom, rotation, an object moving over a background.

Each comes with its true backward flows (frame t → t−1, as :func:`jax_nst.video.flow.estimate` gives),
so flow, warping and the flicker measure can be checked against ground truth, and a clip can be made
offline from the bundled photo (``jax-nst clip``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import images
from . import flow

KINDS = ("pan", "zoom", "rotate", "object")


class Motion(NamedTuple):
    """Frames (T, H, W, 3) float32 and the true backward flows (T−1, H, W, 2): frame t(p) = frame t−1(p + w_t(p))."""

    frames: np.ndarray
    flows: np.ndarray


def make(kind: str, still: Any, frames: int = 8, size: int = 128, speed: float = 2.0) -> Motion:
    """A clip of ``frames`` frames, long side ``size``, from image ``still`` moving ``speed`` px per frame
    (at the border for zoom and rotation)."""
    if kind not in KINDS:
        from ..errors import NSTError

        raise NSTError(f"unknown clip kind {kind!r}; choose one of {', '.join(KINDS)}")
    source = images.load_image(still, round(size * 1.5))
    h, w = images.fit_long_side(*source.shape[:2], size)
    h, w = min(h, round(source.shape[0] / 1.5)), min(w, round(source.shape[1] / 1.5))
    if kind == "object":
        return _object(source, h, w, frames, speed)
    maps = [_affine(kind, t - (frames - 1) / 2 if kind == "pan" else t, h, w, source.shape, speed) for t in range(frames)]
    clip = np.stack([flow.sample(source, m - _grid(h, w)) for m in maps])
    flows = np.stack([_backward(maps[t - 1], maps[t], h, w) for t in range(1, frames)])
    return Motion(np.clip(clip, 0, 1).astype(np.float32), flows.astype(np.float32))


def _grid(h: int, w: int) -> np.ndarray:
    """(H, W, 2) pixel coordinates (x, y)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xs, ys], axis=-1)


def _affine(kind: str, t: float, h: int, w: int, shape: tuple, speed: float) -> np.ndarray:
    """Where pixel p of frame t samples the source: A_t p + b_t as an (H, W, 2) map (a pan passes the centre
    at t = 0)."""
    p = _grid(h, w) - np.array([w / 2, h / 2], np.float32)
    centre = np.array([shape[1] / 2, shape[0] / 2], np.float32)
    if kind == "pan":
        return p + centre + np.array([speed * t, 0.0], np.float32)
    if kind == "zoom":
        scale = 1.0 / (1.0 + speed * t / (w / 2))
        return p * scale + centre
    angle = speed * t / (w / 2)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    return p @ rot.T + centre


def _backward(before: np.ndarray, now: np.ndarray, h: int, w: int) -> np.ndarray:
    """w(p) = q − p with map_{t−1}(q) = map_t(p): each map is affine, so q solves a 2 × 2 system per pixel."""
    grid = _grid(h, w)
    # an affine map is fixed by its values at three points
    pts = np.array([[0, 0], [w - 1, 0], [0, h - 1]])
    src = np.array([[*pt, 1.0] for pt in pts], np.float32)
    coef = np.linalg.solve(src, before[pts[:, 1], pts[:, 0]])  # (3, 2): [x y 1] @ coef = map_{t−1}
    a, b = coef[:2].T, coef[2]
    q = (now - b) @ np.linalg.inv(a).T
    return q - grid


def _object(source: np.ndarray, h: int, w: int, frames: int, speed: float) -> Motion:
    """A disc of the source's other half moving right over a still background taken from the source."""
    background = source[:h, :w]
    r = h // 5
    patch = source[-2 * r:, -2 * r:]
    yy, xx = np.mgrid[-r:r, -r:r]
    disc = (xx**2 + yy**2 < r * r)[..., None]
    clip, flows, place = [], [], lambda t: (h // 2 - r, int(round(w / 4 + speed * t)) - r)  # noqa: E731
    for t in range(frames):
        frame = background.copy()
        y0, x0 = place(t)
        view = frame[y0:y0 + 2 * r, x0:x0 + 2 * r]
        view[:] = np.where(disc[:view.shape[0], :view.shape[1]], patch[:view.shape[0], :view.shape[1]], view)
        clip.append(frame)
        if t:
            f = np.zeros((h, w, 2), np.float32)
            f[y0:y0 + 2 * r, x0:x0 + 2 * r][disc[..., 0][:view.shape[0], :view.shape[1]]] = [place(t - 1)[1] - x0, 0]
            flows.append(f)
    return Motion(np.stack(clip).astype(np.float32), np.stack(flows))
