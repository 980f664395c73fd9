"""The objective: Gram matrix and loss properties against their definitions, traced weights, normalization."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_nst
from jax_nst import images, objective, samples
from jax_nst.objective.terms import content, style, tv
from jax_nst.objective import style_losses
from jax_nst.optimize import compilations
from jax_nst.objective.style_losses import gram
from jax_nst.settings import Settings

import tiny

RNG = np.random.default_rng(0)
F = jnp.asarray(RNG.random((6, 5, 4)), jnp.float32)  # H, W, N


def test_gram_is_symmetric_and_matches_the_sum():
    g = np.asarray(gram.gram_matrix(F))
    flat = np.asarray(F).reshape(-1, 4)
    np.testing.assert_allclose(g, g.T, rtol=1e-6)
    np.testing.assert_allclose(g, flat.T @ flat, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(gram.gram_matrix(F, normalize=True)), flat.T @ flat / 30, rtol=1e-5)


def test_gram_is_invariant_to_permuting_pixels():
    flat = np.asarray(F).reshape(-1, 4)
    shuffled = jnp.asarray(RNG.permutation(flat).reshape(F.shape))
    np.testing.assert_allclose(np.asarray(gram.gram_matrix(shuffled)), np.asarray(gram.gram_matrix(F)), rtol=1e-5)


def test_gram_batches():
    batch = jnp.stack([F, 2 * F])
    g = gram.gram_matrix(batch)
    assert g.shape == (2, 4, 4)
    np.testing.assert_allclose(np.asarray(g[1]), 4 * np.asarray(gram.gram_matrix(F)), rtol=1e-5)


def test_losses_of_an_image_against_itself_are_zero():
    assert float(content.content_loss(F, F)) == 0.0
    assert abs(float(gram.style_layer_loss(F, gram.gram_matrix(F, normalize=True)))) < 1e-12
    assert float(tv.tv_loss(jnp.full((5, 5, 3), 0.3))) == 0.0


def test_content_loss_is_half_squared_error():
    p = F + 0.5
    np.testing.assert_allclose(float(content.content_loss(F, p)), 0.5 * 0.25 * F.size, rtol=1e-5)


def test_style_layer_loss_matches_paper_normalization():
    other = jnp.asarray(RNG.random(F.shape), jnp.float32)
    g, a = np.asarray(gram.gram_matrix(F), np.float64), np.asarray(gram.gram_matrix(other), np.float64)
    n, m = 4, 30
    want = np.sum((g - a) ** 2) / (4 * n**2 * m**2)
    got = float(gram.style_layer_loss(F, gram.gram_matrix(other, normalize=True)))
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_style_loss_weights_layers():
    feats = {"a": F, "b": 2 * F}
    targets = {"a": jnp.zeros((4, 4)), "b": jnp.zeros((4, 4))}
    ea = float(gram.style_layer_loss(F, targets["a"]))
    eb = float(gram.style_layer_loss(2 * F, targets["b"]))
    got = style.style_loss(feats, targets, {"a": 0.25, "b": 2.0}, style_losses.get("gram"))
    np.testing.assert_allclose(float(got), 0.25 * ea + 2 * eb, rtol=1e-5)


def test_tv_loss_of_a_step_edge():
    img = jnp.zeros((4, 4, 3)).at[:, 2:].set(1.0)  # one vertical edge, 4 rows × 3 channels
    assert float(tv.tv_loss(img)) == 12.0


def test_total_loss_and_gradients_are_finite():
    img = jnp.asarray(RNG.random((8, 8, 3)), jnp.float32)

    def total(x):
        c = content.content_loss(x, 0.5 * jnp.ones_like(x))
        s = gram.style_layer_loss(x, jnp.eye(3))
        return c + 10.0 * s + 0.1 * tv.tv_loss(x)

    g = jax.grad(total)(img)
    assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).sum()) > 0


# --- the objective as traced terms -----------------------------------------------------------------

counting_compilations = compilations.counting


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_changing_weights_and_learning_rate_compiles_nothing(content_small, style_small, optimizer):
    opts = dict(size=32, steps=2, report_every=1, optimizer=optimizer)
    first = jax_nst.stylize(content_small, style_small, **opts, **tiny.LAYERS)
    changed = dict(content_weight=3.0, style_weight=40.0, tv_weight=2.0, learning_rate=0.05,
                   content_layers="conv2_2:2", style_layers="conv2_1:0.05,conv1_1:0.7")
    with counting_compilations() as seen:
        second = jax_nst.stylize(content_small, style_small, **changed, **opts)
    assert seen == []
    assert np.abs(second - first).max() > 1e-3  # the new weights were used


def test_weights_enter_the_loss_as_traced_values(params, content_small, style_small):
    s = Settings(size=48, tv_weight=1.0, **tiny.LAYERS)
    program = s.program()
    targets = objective.targets.build(params, content_small[None], [style_small], program)
    targets = objective.first_image(targets)
    x = jnp.asarray(np.clip(content_small + 0.05, 0, 1))
    f = jax.jit(lambda h: objective.evaluate(params, None, x, targets, h, program))
    total, parts = f(s.hyper())
    with counting_compilations() as seen:
        twice, parts2 = f(s.replace(style_weight=2 * s.style_weight, tv_weight=3.0).hyper())
    assert float(twice) == pytest.approx(float(total) + s.style_weight * float(parts["style"]) + 2 * float(parts["tv"]),
                                         rel=1e-5)
    assert seen == []  # other weights, the same compiled program


def test_size_normalization_gives_the_content_term_its_512_px_value(params, content_small):
    base = images.load_image(samples.CONTENT, 128)
    ripple = 0.1 * np.sin(np.arange(base.shape[1]) / 5.0)[None, :, None]
    values = {}
    for side in (64, 128):
        c = images.resize(base, *images.fit_long_side(*base.shape[:2], side))
        x = np.clip(images.resize(base + ripple, *c.shape[:2]), 0, 1)
        for norm in ("size", "paper"):
            s = Settings(style_weight=0.0, normalization=norm, content_layers="conv3_2")
            t = objective.targets.build(params, c[None], [c], s.program())
            t = objective.first_image(t)
            values[side, norm] = float(objective.evaluate(params, None, jnp.asarray(x), t, s.hyper(), s.program())[1]["content"])
    size_ratio = values[128, "size"] / values[64, "size"]
    assert 0.5 < size_ratio < 2.0  # the same picture gives about the same normalized term at both sizes
    h, w = (images.fit_long_side(*base.shape[:2], side) for side in (64, 128))
    m64, m128 = (hw[0] // 4 * (hw[1] // 4) for hw in (h, w))
    assert values[128, "paper"] / values[64, "paper"] == pytest.approx(size_ratio * m128 / m64, rel=1e-4)
    s = (512 // 4) ** 2 / m128  # size = paper × (128²/M_l) for conv3_2
    assert values[128, "size"] == pytest.approx(values[128, "paper"] * s, rel=1e-5)


def test_first_stylize_compiles_a_handful_of_programs(content_small, style_small):
    jax.clear_caches()  # as in a new process: every program is made again
    with counting_compilations() as seen:
        jax_nst.stylize(content_small, style_small, size=32, steps=2, report_every=1, **tiny.LAYERS)
    assert 0 < len(seen) <= 14  # 9 programs (init, run, report, targets, resizing), some counted compiled and loaded


def test_learning_rate_follows_the_optimizer_unless_given():
    assert Settings().replace(optimizer="adam").lr == 0.02
    assert float(Settings().replace(optimizer="adam").hyper().learning_rate) == pytest.approx(0.02)
    assert Settings(optimizer="adam").replace(optimizer="lbfgs").lr == 1.0
    assert Settings(learning_rate=0.5).replace(optimizer="adam").lr == 0.5


def test_program_and_hyper_split_the_settings():
    base = Settings()
    assert base.replace(style_weight=1.0, tv_weight=3.0, size=64, steps=3, seed=5).program() == base.program()
    assert base.replace(style_layers="conv5_1,conv1_1").program() == base.replace(style_layers="conv1_1,conv5_1").program()
    assert base.replace(style_weight=0.0).program().style_layers == ()
    assert base.replace(pooling="max").program() != base.program()
    h = base.replace(style_layers="conv1_1:0.75,conv2_1").hyper()
    assert float(h.style_layers["conv1_1"]) == 0.75 and float(h.style_layers["conv2_1"]) == 0.5
