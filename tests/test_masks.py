"""Spatial control: guided Gram matrices, the kept region and two styles in two regions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_nst
from jax_nst import objective, vgg
from jax_nst.objective import guided, style_losses
from jax_nst.objective.style_losses import gram, mean_cov
from jax_nst.objective.terms import style
from jax_nst.errors import NSTError
from jax_nst.settings import Settings

import tiny

FAST = dict(size=48, steps=6, report_every=3, **tiny.STYLIZING)


def test_guides_have_the_feature_maps_shapes(params, content_small):
    layers = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    feats = jax.eval_shape(lambda x: vgg.features(params, x, layers), jnp.asarray(content_small)[None])  # traced only
    guides = guided.layer_guides(np.ones((*content_small.shape[:2], 2), np.float32), layers)
    for name in layers:
        assert guides[name].shape == (*feats[name].shape[1:3], 2)


GUIDED = [n for n in style_losses.NAMES if style_losses.get(n).masks]


@pytest.mark.parametrize("name", GUIDED)
def test_one_full_mask_gives_the_plain_style_loss(params, content_small, style_small, name):
    s = Settings(style_weight=1.0, style_loss=name, **tiny.LAYERS)
    loss, x = style_losses.get(name), jnp.asarray(content_small)
    feats = {l: f[0] for l, f in vgg.features(params, x[None], list(s.style_layers)).items()}
    stats = objective.targets.style_statistics(params, jnp.asarray(style_small), s.program())
    targets = {l: loss.blend([t], [1.0]) for l, t in stats.items()}
    plain = style.style_loss(feats, targets, s.style_layers, loss)
    guides = guided.layer_guides(np.ones((*content_small.shape[:2], 1), np.float32), list(s.style_layers))
    stacked = jax.tree.map(lambda a: np.asarray(a)[None], targets)
    by_region = sum(w * loss.guided(feats[l], stacked[l], guides[l]) for l, w in s.style_layers.items())
    assert float(by_region) == pytest.approx(float(plain), rel=1e-4)


def test_guided_moments_see_only_their_region_weighted_by_its_share():
    """W2 with a mask over the left half = ½ × W2 of the left half's features alone."""
    rng = np.random.default_rng(0)
    f = jnp.asarray(rng.random((4, 6, 3)), jnp.float32)
    target = mean_cov.blend([mean_cov.statistics(jnp.asarray(rng.random((5, 5, 3)), jnp.float32))], [1.0])
    guide = np.zeros((4, 6, 1), np.float32)
    guide[:, :3] = 1.0
    stacked = jax.tree.map(lambda a: np.asarray(a)[None], target)
    got = mean_cov.guided_layer_loss(f, stacked, jnp.asarray(guide))
    np.testing.assert_allclose(float(got), 0.5 * float(mean_cov.layer_loss(f[:, :3], target)), rtol=1e-4)


def test_guided_gram_only_sees_its_region():
    f = jnp.asarray(np.random.default_rng(0).random((4, 6, 3)), jnp.float32)
    guide = np.zeros((4, 6, 1), np.float32)
    guide[:, :3] = 1.0
    expected = gram.gram_matrix(f[:, :3], normalize=True)
    np.testing.assert_allclose(guided.guided_gram(f, jnp.asarray(guide))[0], expected, rtol=1e-5)


def test_keep_map():
    m = np.zeros((2, 2, 2), np.float32)
    m[0, 0, 0], m[0, 1, 1], m[1, 0] = 1.0, 0.25, 0.75
    np.testing.assert_allclose(guided.keep_map(m)[..., 0], [[0.0, 0.75], [0.0, 1.0]])


def half_mask(shape, left: bool) -> np.ndarray:
    m = np.zeros(shape, np.float32)
    m[:, : shape[1] // 2] = 1.0
    return m if left else 1.0 - m


def test_the_unmasked_region_keeps_the_content(content_small, style_small):
    reports = []
    mask = half_mask(content_small.shape[:2], left=True)
    out = jax_nst.stylize(content_small, style_small, masks=[mask], init="noise", callback=reports.append, **FAST)
    right, left = slice(content_small.shape[1] // 2 + 2, None), slice(0, content_small.shape[1] // 2 - 2)
    np.testing.assert_allclose(out[:, right], content_small[:, right], atol=1e-6)
    assert np.abs(out[:, left] - content_small[:, left]).mean() > 0.05
    assert reports[-1].losses["style"] < reports[0].losses["style"]


def flat(rgb, shape=(48, 48)) -> np.ndarray:
    """A textured style image of one dominant colour."""
    noise = np.random.default_rng(int(sum(rgb) * 10)).random((*shape, 1))
    return np.clip(np.asarray(rgb, np.float32) * (0.7 + 0.6 * noise), 0.0, 1.0).astype(np.float32)


def test_each_style_goes_to_its_region(content_small):
    shape, half = content_small.shape[:2], content_small.shape[1] // 2
    out = jax_nst.stylize(content_small, [flat((0.9, 0.1, 0.1)), flat((0.1, 0.1, 0.9))],
                          masks=[half_mask(shape, True), half_mask(shape, False)], **{**FAST, "steps": 10})
    redness = lambda img: float(img[..., 0].mean() - img[..., 2].mean())  # noqa: E731
    left, right = (slice(None), slice(0, half - 4)), (slice(None), slice(half + 4, None))
    assert redness(out[left]) > redness(content_small[left]) + 0.05  # the red style on the left
    assert redness(out[right]) < redness(content_small[right]) - 0.05  # the blue one on the right
    assert redness(out[left]) - redness(out[right]) > 0.2


def test_mask_count_must_match_styles(content_small, style_small):
    with pytest.raises(NSTError, match="one mask per style"):
        jax_nst.stylize(content_small, style_small, masks=[np.ones((4, 4)), np.ones((4, 4))], **FAST)
    with pytest.raises(NSTError, match="exclude each other"):
        jax_nst.stylize(content_small, [style_small, style_small], masks=[np.ones((4, 4))] * 2,
                        style_blend_weights=(1, 1), **FAST)
