"""Several styles blended at the Gram level, and the style scale."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import jax_nst
from jax_nst import api, objective
from jax_nst.controls import styles
from jax_nst.errors import NSTError
from jax_nst.settings import Settings

import tiny

FAST = dict(size=48, steps=4, report_every=4, **tiny.LAYERS)


def test_blend_grams_is_the_weighted_sum(params, style_small):
    s = Settings(style_blend_weights=(3, 1), style_loss="gram")
    a = objective.targets.style_statistics(params, jnp.asarray(style_small), s.program())
    b = objective.targets.style_statistics(params, jnp.asarray(style_small[::-1, ::-1] * 0.5), s.program())
    w = styles.blend_weights(s, 2)
    np.testing.assert_allclose(w, [0.75, 0.25])
    mixed = objective.targets.blend_styles([a, b], w, s.program())
    for l in a:
        np.testing.assert_allclose(mixed[l], 0.75 * a[l] + 0.25 * b[l], rtol=1e-6)
    with pytest.raises(NSTError, match="one weight per style"):
        styles.blend_weights(s, 3)


def test_blend_weights_choose_and_mix_the_styles(content_small, style_small):
    other = np.ascontiguousarray(style_small[..., ::-1])  # the style with red and blue swapped
    only_a = jax_nst.stylize(content_small, style_small, **FAST)
    only_b = jax_nst.stylize(content_small, other, **FAST)
    both = [style_small, other]
    np.testing.assert_array_equal(jax_nst.stylize(content_small, both, style_blend_weights=(1, 0), **FAST), only_a)
    np.testing.assert_array_equal(jax_nst.stylize(content_small, both, style_blend_weights=(0, 2), **FAST), only_b)
    mixed = jax_nst.stylize(content_small, [style_small, other], **FAST)
    assert np.abs(mixed - only_a).mean() > 1e-3 and np.abs(mixed - only_b).mean() > 1e-3


def test_style_scale_sets_the_style_image_size():
    assert styles.style_side(Settings(size=256), 256) == 256
    assert styles.style_side(Settings(size=256, style_scale=0.5), 256) == 128
    assert styles.style_side(Settings(size=256, style_size=200, style_scale=0.5), 128) == 50
    loaded = styles.load_styles(np.zeros((40, 80, 3), np.float32), Settings(size=64, style_scale=0.5))
    assert loaded[0].shape == (16, 32, 3)


def stripes(period: int, size: int = 64) -> np.ndarray:
    """Vertical black and white stripes of ``period`` px."""
    row = (np.arange(size) // (period // 2)) % 2
    return np.repeat(np.broadcast_to(row, (size, size))[..., None], 3, axis=-1).astype(np.float32)


def test_smaller_style_scale_asks_for_finer_texture(params, monkeypatch):
    seen = []
    monkeypatch.setattr(api, "optimize_stage", lambda p, x, targets, stage, cb: seen.append((targets, stage.settings))
                        or stage.crop(x))
    opts = dict(size=64, steps=1, content_weight=0.0, style_layers=["conv1_1", "conv2_1", "conv3_1"])
    for scale in (1.0, 0.5):
        jax_nst.stylize(stripes(16), stripes(16), style_scale=scale, **opts)

    def style_loss(run: int, image: np.ndarray) -> float:
        targets, s = seen[run]
        first = objective.first_image(targets)
        return float(objective.evaluate(params, None, jnp.asarray(image), first, s.hyper(), s.program())[1]["style"])

    assert style_loss(0, stripes(16)) < style_loss(0, stripes(8))  # the style as it is: 16 px stripes
    assert style_loss(1, stripes(8)) < style_loss(1, stripes(16))  # at half scale: 8 px stripes
