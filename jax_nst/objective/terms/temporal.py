"""The temporal term of video stylization (Ruder, Dosovitskiy & Brox 2016): stay with the previous frame.

L_temporal = (1/D) Σ_k c_k (x_k − ω(x_prev)_k)², D = H·W·3: x_prev, the previous stylized frame,
warped along the optical flow to this frame (ω), compared with x where the flow is trustworthy
(c = 1; 0 at disocclusions and motion boundaries, :func:`jax_nst.video.flow.consistency`).
The warp runs inside the compiled objective, so the flow and the previous frame are plain inputs: a run gives
them as ``inputs={"temporal": Temporal(...)}`` (:func:`jax_nst.api.run`); λ is ``temporal_weight``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ... import images
from . import Summand, Term

if TYPE_CHECKING:
    from ...program import Program


class Temporal(NamedTuple):
    """What frame t is tied to: x_{t−1} (H, W, 3), the flow from frame t to t−1 (H, W, 2: dx, dy in px),
    the consistency weights c (H, W, 1)."""

    previous: Any
    flow: Any
    certainty: Any


def warp(image: jax.Array, flow: jax.Array) -> jax.Array:
    """ω(image)(p) = image(p + flow(p)), bilinear, edges clamped: (H, W, C) image, (H, W, 2) flow (dx, dy)."""
    h, w = image.shape[:2]
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    coords = [ys + flow[..., 1], xs + flow[..., 0]]
    sample = lambda channel: jax.scipy.ndimage.map_coordinates(channel, coords, order=1, mode="nearest")  # noqa: E731
    return jnp.stack([sample(image[..., c]) for c in range(image.shape[-1])], axis=-1)


def temporal_loss(x: jax.Array, t: Temporal) -> jax.Array:
    """L_temporal = (1/D) Σ c (x − ω(x_prev))² with D = H·W·3."""
    return jnp.mean(t.certainty * jnp.square(x - warp(t.previous, t.flow)))


def at_size(t: Temporal, hw: tuple[int, int]) -> Temporal:
    """``t`` for an image of shape ``hw``: the frame resized, the flow resized and scaled, c resized (≥ ½ kept)."""
    h0, w0 = np.asarray(t.previous).shape[:2]
    if (h0, w0) == tuple(hw):
        return t
    h, w = hw
    flow = np.asarray(t.flow, np.float32)
    scaled = np.stack([images.resize_channel(flow[..., 0], h, w) * (w / w0),
                       images.resize_channel(flow[..., 1], h, w) * (h / h0)], axis=-1)
    certainty = images.resize_channel(np.asarray(t.certainty, np.float32)[..., 0], h, w) >= 0.5
    return Temporal(images.resize(np.asarray(t.previous), h, w), scaled, certainty[..., None].astype(np.float32))


def grown(t: Temporal, m: int) -> Temporal:
    """``t`` for an image grown by ``m`` mirrored px on every side (``margin``): x_{t−1} mirrored, the flow
    repeated outwards, c zero in the margin and scaled by D'/D inside, so the mean over D' pixels is unchanged."""
    if m == 0:
        return t
    pad = lambda a, mode: np.pad(np.asarray(a, np.float32), ((m, m), (m, m), (0, 0)), mode=mode)  # noqa: E731
    c = np.asarray(t.certainty, np.float32)
    scale = (c.shape[0] + 2 * m) * (c.shape[1] + 2 * m) / (c.shape[0] * c.shape[1])
    return Temporal(pad(t.previous, "symmetric"), pad(t.flow, "edge"), np.pad(c * scale, ((m, m), (m, m), (0, 0))))


def fit(t: Temporal, hw: tuple[int, int], margin: int) -> Temporal:
    """``t`` for an image of shape ``hw`` grown by ``margin`` mirrored px on every side."""
    return grown(at_size(t, hw), margin)


def summand(program: Program) -> Summand:
    """L_temporal of the image against ``targets.inputs["temporal"]``."""
    return Summand("temporal", (), lambda features, image, targets, hyper, part: temporal_loss(image, targets.inputs["temporal"]))


TERM = Term("temporal", "temporal_weight", "L_temporal", "lambda", 3, summand,
            "weight λ of the temporal term: stay with the previous frame warped along the flow",
            input=True, fit=fit, spatial=False)
