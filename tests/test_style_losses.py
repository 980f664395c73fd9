"""The style losses of the registry: value against independent float64 formulas, zero at the target,
invariances, gradients, blending, and the options that use them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_nst
from jax_nst.errors import NSTError
from jax_nst.settings import Settings
from jax_nst.objective import style_losses
from jax_nst.objective.style_losses import histogram, mean_cov, nearest_neighbour, quantiles

import tiny

KINDS = style_losses.NAMES


def _features(seed: int, h: int = 6, w: int = 5, n: int = 8) -> np.ndarray:
    """Non-negative correlated features (H, W, N), like ReLU outputs."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(n, n))
    return np.maximum(rng.normal(size=(h, w, n)) @ mix + 1.0, 0.0).astype(np.float32)


def _target(style: np.ndarray, kind: str, weights=(1.0,), others=()) -> dict:
    loss = style_losses.get(kind)
    return loss.blend([loss.statistics(jnp.asarray(s)) for s in (style, *others)], weights)


def _loss(kind: str, f, target, seed: int = 0):
    loss = style_losses.get(kind)
    if loss.random:
        target = loss.draw(target, jax.random.key(seed))
    return loss.layer_loss(jnp.asarray(f), target)


def _sqrtm64(a: np.ndarray) -> np.ndarray:
    lam, u = np.linalg.eigh(a)
    return (u * np.sqrt(np.clip(lam, 0, None))) @ u.T


def test_trace_sqrt_and_its_gradient_match_a_float64_eigendecomposition():
    rng = np.random.default_rng(0)
    b = rng.normal(size=(12, 12))
    m = b @ b.T + 0.1 * np.eye(12)
    value, grad = jax.value_and_grad(mean_cov.trace_sqrt)(jnp.asarray(m, jnp.float32))
    np.testing.assert_allclose(float(value), np.trace(_sqrtm64(m)), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(grad), 0.5 * np.linalg.inv(_sqrtm64(m)), rtol=1e-3, atol=1e-4)


def test_mean_cov_is_the_gaussian_w2_distance_in_float64():
    f, s = _features(1), _features(2, h=7)
    target = _target(s, "mean_cov")
    eps = float(target["eps"])
    ff, ss = f.reshape(-1, 8).astype(np.float64), s.reshape(-1, 8).astype(np.float64)
    c = np.cov(ff.T, bias=True) + eps * np.eye(8)
    cs = np.cov(ss.T, bias=True) + eps * np.eye(8)
    root = _sqrtm64(c)  # the other order than the loss's: tr((√C C_s √C)^½)
    w2 = np.sum((ff.mean(0) - ss.mean(0)) ** 2) + np.trace(c + cs - 2 * _sqrtm64(root @ cs @ root))
    np.testing.assert_allclose(float(_loss("mean_cov", f, target)), mean_cov.SCALE * w2 / 8, rtol=2e-3)


def test_histogram_is_each_channels_1d_w2_in_float64():
    f, s = _features(3), _features(4)  # equal sizes: the quantiles are the sorted values
    a, b = np.sort(f.reshape(-1, 8), 0).astype(np.float64), np.sort(s.reshape(-1, 8), 0).astype(np.float64)
    want = histogram.SCALE * np.mean((a - b) ** 2)
    np.testing.assert_allclose(float(_loss("histogram", f, _target(s, "histogram"))), want, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_zero_at_the_target_and_blind_to_where_features_are(kind):
    f = _features(5)
    target = _target(f, kind)
    scale = float(_loss(kind, _features(6), target))
    assert scale > 0
    assert abs(float(_loss(kind, f, target))) < 1e-4 * scale
    moved = np.random.default_rng(0).permutation(f.reshape(-1, 8)).reshape(f.shape)  # positions shuffled
    np.testing.assert_allclose(float(_loss(kind, moved, target)), float(_loss(kind, f, target)), atol=1e-4 * scale)
    other = _features(7)
    shuffled = np.random.default_rng(1).permutation(other.reshape(-1, 8)).reshape(other.shape)
    np.testing.assert_allclose(float(_loss(kind, shuffled, target)), float(_loss(kind, other, target)), rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_a_style_of_another_size_with_the_same_distribution_is_matched(kind):
    """Every position of the image twice: the same distribution on 2M positions, so the loss is ~0."""
    f = _features(8)
    twice = np.concatenate([f, f], axis=0)
    other = float(_loss(kind, _features(9), _target(twice, kind)))
    assert float(_loss(kind, f, _target(twice, kind))) < 2e-2 * other


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_match_finite_differences(kind):
    f, target = _features(10).astype(np.float64), _target(_features(11), kind)
    grad = np.asarray(jax.grad(lambda x: _loss(kind, x, target))(jnp.asarray(f, jnp.float32)))
    rng = np.random.default_rng(2)
    for _ in range(3):
        v = rng.normal(size=f.shape)
        v /= np.linalg.norm(v)
        h = 1e-2
        up, down = (float(_loss(kind, (f + h * v).astype(np.float32), target)),
                    float(_loss(kind, (f - h * v).astype(np.float32), target)))
        np.testing.assert_allclose(np.sum(grad * v), (up - down) / (2 * h), rtol=3e-2, atol=1e-3 * abs(up))


def test_sliced_directions_change_with_the_key_and_repeat_with_it():
    f, target = _features(12), _target(_features(13), "sliced_wasserstein")
    a, b = float(_loss("sliced_wasserstein", f, target, 0)), float(_loss("sliced_wasserstein", f, target, 1))
    assert a != b
    assert a == float(_loss("sliced_wasserstein", f, target, 0))


def test_mean_cov_blend_is_the_mixture_of_the_styles():
    """Equal weights, equal sizes: the blend's moments are those of the two styles' positions pooled."""
    a, b = _features(14), _features(15)
    blended = _target(a, "mean_cov", (0.5, 0.5), (b,))
    pooled = _target(np.concatenate([a, b], 0), "mean_cov")
    for k in ("mean", "cov", "root"):
        np.testing.assert_allclose(blended[k], pooled[k], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ("sliced_wasserstein", "histogram"))
def test_quantile_blend_lies_between_the_styles(kind):
    """The 1-D barycenter: the blend of a style with a copy shifted by +2 is matched by the copy shifted by +1."""
    a = _features(16)
    target = _target(a, kind, (0.5, 0.5), (a + 2.0,))
    assert float(_loss(kind, a + 1.0, target)) < 1e-3 * float(_loss(kind, a, target))


@pytest.mark.parametrize("kind", KINDS)
def test_stylize_lowers_the_style_loss_with_each_loss(content_small, style_small, kind):
    seen = []
    jax_nst.stylize(content_small, style_small, size=32, steps=12, style_loss=kind, report_every=1,
                    callback=seen.append, **tiny.STYLIZING)
    assert seen[-1].losses["style"] < 0.5 * seen[0].losses["style"]
    assert np.isfinite(seen[-1].losses["total"])


def test_masks_and_spatial_refuse_a_loss_that_cannot_take_them(content_small, style_small):
    mask = np.ones((48, 48), np.float32)
    with pytest.raises(NSTError, match="masks"):
        jax_nst.stylize(content_small, [style_small], masks=[mask], size=32, steps=1, style_loss="histogram")
    with pytest.raises(NSTError, match="split over devices"):
        jax_nst.stylize(content_small, style_small, size=32, steps=1, style_loss="histogram", spatial=2)


def test_the_fast_sort_orders_floats_of_both_signs_as_numpy():
    x = (np.random.default_rng(3).normal(size=(4, 1000)) * 10.0 ** np.arange(-3, 1)[:, None]).astype(np.float32)
    x[0, :5] = [0.0, -0.0, np.inf, -np.inf, 1e-40]
    np.testing.assert_array_equal(np.asarray(quantiles.sort_rows(jnp.asarray(x))), np.sort(x, axis=-1))


def test_tied_values_share_their_ranks_goal():
    """ReLU zeros: three equal values take the mean of the three quantiles they cover."""
    p = jnp.asarray([[0.0, 0.0, 0.0, 1.0]])
    goal = jnp.asarray([[1.0, 2.0, 3.0, 4.0]])
    grad = np.asarray(jax.grad(quantiles.sorted_distance)(p, goal))
    np.testing.assert_allclose(grad, [[2 * (0 - 2) / 4] * 3 + [2 * (1 - 4) / 4]], rtol=1e-6)


def test_every_loss_is_named_on_the_command_line_and_validated():
    from jax_nst.cli import stylize

    help_text = " ".join(stylize.build_parser().format_help().split())
    for name, loss in style_losses.LOSSES.items():
        assert name in help_text and loss.summary in help_text
        assert Settings(style_loss=name).program().stochastic == loss.random
        assert not Settings(style_loss=name, style_weight=0.0).program().stochastic  # no style layers, no draw
    assert style_losses.NAMES[0] == "gram"  # the paper's loss first
    with pytest.raises(NSTError, match="unknown style_loss 'nope'; choose one of gram, "):
        Settings(style_loss="nope")


def test_nearest_neighbour_is_the_mean_cosine_distance_to_the_most_similar_style_vector():
    f, s = _features(20), _features(21, h=9)
    ff, ss = f.reshape(-1, 8).astype(np.float64), s.reshape(-1, 8).astype(np.float64)
    cos = (ff / np.linalg.norm(ff, axis=1, keepdims=True)) @ (ss / np.linalg.norm(ss, axis=1, keepdims=True)).T
    want = nearest_neighbour.SCALE * np.mean(1.0 - cos.max(axis=1))
    np.testing.assert_allclose(float(_loss("nearest_neighbour", f, _target(s, "nearest_neighbour"))), want, rtol=1e-4)


def test_nearest_neighbour_pools_the_styles_by_their_weights_and_keeps_at_most_its_budget(monkeypatch):
    monkeypatch.setattr(nearest_neighbour, "VECTORS", 40)
    a, b = _features(22, h=8, w=8), _features(23, h=8, w=8)  # 64 vectors each
    target = _target(a, "nearest_neighbour", (0.75, 0.25), (b,))
    assert target["unit"].shape == (40, 8)
    np.testing.assert_allclose(np.linalg.norm(target["unit"], axis=1), 1.0, rtol=1e-5)
    unit = lambda x: x.reshape(-1, 8) / np.linalg.norm(x.reshape(-1, 8), axis=1, keepdims=True)  # noqa: E731
    from_a = (np.abs(target["unit"][:, None, :] - unit(a)[None]).max(-1) < 1e-6).any(1)
    assert from_a.sum() == 30  # three quarters of the budget from the first style
