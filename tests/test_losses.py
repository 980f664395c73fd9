"""Gram matrix and loss properties against their definitions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jax_nst import losses

RNG = np.random.default_rng(0)
F = jnp.asarray(RNG.random((6, 5, 4)), jnp.float32)  # H, W, N


def test_gram_is_symmetric_and_matches_the_sum():
    g = np.asarray(losses.gram_matrix(F))
    flat = np.asarray(F).reshape(-1, 4)
    np.testing.assert_allclose(g, g.T, rtol=1e-6)
    np.testing.assert_allclose(g, flat.T @ flat, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(losses.gram_matrix(F, normalize=True)), flat.T @ flat / 30, rtol=1e-5)


def test_gram_is_invariant_to_permuting_pixels():
    flat = np.asarray(F).reshape(-1, 4)
    shuffled = jnp.asarray(RNG.permutation(flat).reshape(F.shape))
    np.testing.assert_allclose(np.asarray(losses.gram_matrix(shuffled)), np.asarray(losses.gram_matrix(F)), rtol=1e-5)


def test_gram_batches():
    batch = jnp.stack([F, 2 * F])
    g = losses.gram_matrix(batch)
    assert g.shape == (2, 4, 4)
    np.testing.assert_allclose(np.asarray(g[1]), 4 * np.asarray(losses.gram_matrix(F)), rtol=1e-5)


def test_losses_of_an_image_against_itself_are_zero():
    assert float(losses.content_loss(F, F)) == 0.0
    assert abs(float(losses.style_layer_loss(F, losses.gram_matrix(F, normalize=True)))) < 1e-12
    assert float(losses.tv_loss(jnp.full((5, 5, 3), 0.3))) == 0.0


def test_content_loss_is_half_squared_error():
    p = F + 0.5
    np.testing.assert_allclose(float(losses.content_loss(F, p)), 0.5 * 0.25 * F.size, rtol=1e-5)


def test_style_layer_loss_matches_paper_normalization():
    other = jnp.asarray(RNG.random(F.shape), jnp.float32)
    g, a = np.asarray(losses.gram_matrix(F), np.float64), np.asarray(losses.gram_matrix(other), np.float64)
    n, m = 4, 30
    want = np.sum((g - a) ** 2) / (4 * n**2 * m**2)
    got = float(losses.style_layer_loss(F, losses.gram_matrix(other, normalize=True)))
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_style_loss_weights_layers():
    feats = {"a": F, "b": 2 * F}
    targets = {"a": jnp.zeros((4, 4)), "b": jnp.zeros((4, 4))}
    ea = float(losses.style_layer_loss(F, targets["a"]))
    eb = float(losses.style_layer_loss(2 * F, targets["b"]))
    np.testing.assert_allclose(float(losses.style_loss(feats, targets, {"a": 0.25, "b": 2.0})), 0.25 * ea + 2 * eb, rtol=1e-5)


def test_tv_loss_of_a_step_edge():
    img = jnp.zeros((4, 4, 3)).at[:, 2:].set(1.0)  # one vertical edge, 4 rows × 3 channels
    assert float(losses.tv_loss(img)) == 12.0


def test_total_loss_and_gradients_are_finite():
    img = jnp.asarray(RNG.random((8, 8, 3)), jnp.float32)

    def total(x):
        c = losses.content_loss(x, 0.5 * jnp.ones_like(x))
        s = losses.style_layer_loss(x, jnp.eye(3))
        return losses.total_loss(c, s, losses.tv_loss(x), 1.0, 10.0, 0.1)

    g = jax.grad(total)(img)
    assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).sum()) > 0
