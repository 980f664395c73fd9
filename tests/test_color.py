"""Colour preservation: YIQ conversions, luminance and colour matching, and both modes end to end."""

from __future__ import annotations

import numpy as np
import pytest

import jax_nst
from jax_nst.controls import color

import tiny

FAST = dict(size=48, steps=6, report_every=6, **tiny.STYLIZING)


def test_yiq_round_trip_and_luminance():
    rgb = np.random.default_rng(0).random((5, 7, 3))
    np.testing.assert_allclose(color.yiq_to_rgb(color.rgb_to_yiq(rgb)), rgb, atol=1e-12)
    np.testing.assert_allclose(color.luminance(rgb), rgb @ [0.299, 0.587, 0.114])
    grey = color.grey(color.luminance(rgb))
    np.testing.assert_allclose(color.rgb_to_yiq(grey)[..., 1:], 0.0, atol=1e-6)


def test_match_luminance_takes_the_contents_mean_and_spread():
    rng = np.random.default_rng(1)
    style, content = rng.random((20, 20)) * 0.3, 0.5 + 0.1 * rng.standard_normal((10, 12))
    out = color.match_luminance(style, content)
    assert out.mean() == pytest.approx(content.mean()) and out.std() == pytest.approx(content.std())


def test_match_colors_takes_the_contents_mean_and_covariance():
    rng = np.random.default_rng(2)
    mix = np.array([[0.6, 0.2, 0.1], [0.1, 0.3, 0.05], [0.0, 0.1, 0.2]])
    style = 0.2 + rng.random((30, 30, 3)) @ mix * 0.5
    content = 0.3 + rng.random((24, 20, 3)) @ mix.T * 0.4
    out = color.match_colors(style, content)
    assert out.shape == style.shape and out.dtype == np.float32
    flat, ref = out.reshape(-1, 3), content.reshape(-1, 3)
    np.testing.assert_allclose(flat.mean(0), ref.mean(0), atol=1e-3)
    np.testing.assert_allclose(np.cov(flat, rowvar=False), np.cov(ref, rowvar=False), atol=1e-3)


def red(shape) -> np.ndarray:
    """A red-dominated textured style image."""
    rng = np.random.default_rng(3)
    img = np.zeros((*shape, 3), np.float32)
    img[..., 0] = 0.6 + 0.4 * rng.random(shape)
    img[..., 1:] = 0.1 * rng.random((*shape, 2))
    return img


def test_luminance_transfer_keeps_the_contents_chrominance(content_small):
    out = jax_nst.stylize(content_small, red((48, 48)), preserve_colors="luminance", **FAST)
    plain = jax_nst.stylize(content_small, red((48, 48)), **FAST)
    out_yiq, content_yiq = color.rgb_to_yiq(out), color.rgb_to_yiq(content_small)
    inside = np.all((out > 1e-3) & (out < 1 - 1e-3), axis=-1)  # pixels not clipped by the recombination
    assert inside.mean() > 0.9
    np.testing.assert_allclose(out_yiq[inside][:, 1:], content_yiq[inside][:, 1:], atol=1e-5)
    assert np.abs(out_yiq[..., 0] - content_yiq[..., 0]).mean() > 0.01  # the luminance was stylized
    assert np.abs(color.rgb_to_yiq(plain)[..., 1:] - content_yiq[..., 1:]).mean() > 0.02  # without it, colours move


def test_histogram_matching_keeps_the_contents_colours(content_small):
    plain = jax_nst.stylize(content_small, red((48, 48)), **FAST)
    matched = jax_nst.stylize(content_small, red((48, 48)), preserve_colors="histogram", **FAST)
    mean = content_small.reshape(-1, 3).mean(0)
    drift = lambda img: float(np.abs(img.reshape(-1, 3).mean(0) - mean).max())  # noqa: E731
    assert drift(matched) < 0.03 < drift(plain)
