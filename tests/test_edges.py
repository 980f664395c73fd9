"""The margin: mirrored content stylized around the image and cropped off, so its edges are not the maps' edges."""

from __future__ import annotations

import numpy as np
import pytest

import jax_nst
from jax_nst import images
from jax_nst.errors import NSTError


def test_a_margin_is_the_grown_image_stylized_and_cropped(content_small, style_small):
    c = images.load_image(content_small, 32)
    seen = []
    got = jax_nst.stylize(c, style_small, size=32, style_size=32, steps=3, margin=4, report_every=3, callback=seen.append)
    grown = np.pad(c, ((4, 4), (4, 4), (0, 0)), mode="symmetric")
    want = jax_nst.stylize(grown, style_small, size=40, style_size=32, steps=3)[4:-4, 4:-4]
    assert got.shape == c.shape == seen[-1].image.shape
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_bad_margins_are_refused(content_small, style_small):
    for bad in (-1, 17, 2.5):
        with pytest.raises(NSTError, match="margin"):
            jax_nst.stylize(content_small, style_small, size=32, steps=1, margin=bad)
