"""The margin: mirrored content stylized around the image and cropped off, so its edges are not the maps' edges."""

from __future__ import annotations

import numpy as np
import pytest

import jax_nst
from jax_nst import images
from jax_nst.errors import NSTError


def test_a_margin_is_the_grown_image_stylized_and_cropped(content_small, style_small):
    c = images.load_image(content_small, 32)
    small = {"style_size": 32, "steps": 3, "style_layers": "conv1_1,conv2_1", "content_layers": "conv2_1"}
    seen = []
    got = jax_nst.stylize(c, style_small, size=32, margin=4, report_every=3, callback=seen.append, **small)
    grown = np.pad(c, ((4, 4), (4, 4), (0, 0)), mode="symmetric")
    want = jax_nst.stylize(grown, style_small, size=40, margin=0, **small)[4:-4, 4:-4]
    assert got.shape == c.shape == seen[-1].image.shape
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_bad_margins_are_refused(content_small, style_small):
    for bad in (-1, 2.5):
        with pytest.raises(NSTError, match="margin"):
            jax_nst.stylize(content_small, style_small, size=32, steps=1, margin=bad)


def test_a_grown_video_frame_keeps_its_temporal_loss():
    """The margin around a video frame: x_{t−1} and the flow grown with it, L_temporal unchanged."""
    from jax_nst.controls.coarse_to_fine import grow
    from jax_nst.objective.terms import temporal

    rng = np.random.default_rng(0)
    x, previous = rng.random((12, 10, 3), np.float32), rng.random((12, 10, 3), np.float32)
    flow = rng.uniform(-1.5, 1.5, (12, 10, 2)).astype(np.float32)
    c = np.zeros((12, 10, 1), np.float32)
    c[2:-2, 2:-2] = 1.0  # flows that leave the frame are not trusted (video.flow.consistency)
    t = temporal.Temporal(previous, flow, c)
    want = float(temporal.temporal_loss(x, t))
    got = float(temporal.temporal_loss(grow(x[None], 3)[0], temporal.grown(t, 3)))
    np.testing.assert_allclose(got, want, rtol=1e-5)
