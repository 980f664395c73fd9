"""Iterate averaging: the returned image is the bias-corrected exponential moving average of x_t."""

from __future__ import annotations

import numpy as np

import jax_nst

import tiny

OPTS = dict(size=48, **tiny.STYLIZING)


def test_average_is_the_ema_of_the_iterates(content_small, style_small):
    iterates = []
    record = lambda p: iterates.append(p.image)  # noqa: E731
    jax_nst.stylize(content_small, style_small, steps=2, report_every=1, callback=record, **OPTS)
    x1, x2 = iterates
    d = 0.6
    averaged = jax_nst.stylize(content_small, style_small, steps=2, report_every=1, average=d, **OPTS)
    np.testing.assert_allclose(averaged, (d * x1 + x2) / (1 + d), atol=1e-6)  # x̄_2 = x1 + (x2 − x1)/(1 + d)
    assert np.abs(averaged - x2).mean() > 1e-3
