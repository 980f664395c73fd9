"""Bands of rows on one device: the objective evaluated window by window equals the one-pass value and gradient,
at any height, with masks and with every style loss that sums over positions; memory picks the bands."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_nst
from jax_nst import NSTError, images, objective, samples, vgg
from jax_nst.objective import banded
from jax_nst.optimize import memory
from jax_nst.settings import Settings

from tiny import LAYERS

HEIGHT, WIDTH = 83, 20
"""A height that is a multiple of nothing the network pools by."""


def _case(params, style_loss: str, masked: bool = False, padding: str = "zero", **layers):
    rng = np.random.default_rng(0)
    content = rng.random((1, HEIGHT, WIDTH, 3), np.float32)
    styles = [rng.random((40, 36, 3), np.float32), rng.random((57, 30, 3), np.float32)]
    s = Settings(tv_weight=1.0, style_loss=style_loss, padding=padding, **{**LAYERS, **layers})
    program = s.program(masked=masked)
    masks = None
    if masked:
        masks = np.zeros((HEIGHT, WIDTH, 2), np.float32)
        masks[:50, :, 0], masks[30:, 8:, 1] = 1.0, 0.6
    targets = objective.first_image(objective.targets.build(params, content, styles, program,
                                                            None if masked else [0.4, 0.6], masks))
    x = jnp.asarray(rng.random((HEIGHT, WIDTH, 3), np.float32) * 1.2 - 0.1)  # some pixels outside [0, 1]
    return s, program, targets, x


def _value_and_grad(evaluate, params, x, targets, s, program):
    f = lambda y: evaluate(params, None, y, targets, s.hyper(), program)  # noqa: E731
    return jax.jit(jax.value_and_grad(f, has_aux=True))(x)


@pytest.mark.parametrize("style_loss,masked,padding,counts", [  # band heights 42, 28, 14 → 16 rows for 2, 3, 6
    ("gram", False, "zero", (2, 6)), ("gram", True, "reflect", (3,)), ("mean_cov", False, "replicate", (3,)),
    ("mean_cov", True, "zero", (6,)), ("nearest_neighbour", False, "zero", (3,)),
])
def test_bands_give_the_one_pass_loss_and_gradient(params, style_loss, masked, padding, counts) -> None:
    # W2 is a difference of traces, tr C + tr C_s − 2 tr (√C_s C √C_s)^½, that cancels to a few digits in float32
    # (one pass is itself within 0.06–0.5 % of float64, test_spatial): its sums taken in another order move L_style
    # by up to ~1e-3; the Gram's and the others' move by ~1e-7
    tol = 1e-3 if style_loss == "mean_cov" else 1e-5
    s, program, targets, x = _case(params, style_loss, masked, padding)
    (v1, parts1), g1 = _value_and_grad(objective.evaluate, params, x, targets, s, program)
    assert float(parts1["tv"]) > 0 and float(parts1["content"]) > 0
    for k in counts:  # the last band's window reaches past the image
        banded_program = dataclasses.replace(program, bands=k)
        (v, parts), g = _value_and_grad(banded.evaluate, params, x, targets, s, banded_program)
        np.testing.assert_allclose(float(v), float(v1), rtol=tol)
        for name in ("content", "style", "tv"):
            np.testing.assert_allclose(float(parts[name]), float(parts1[name]), rtol=tol)
        np.testing.assert_allclose(np.asarray(g), np.asarray(g1), atol=tol * float(jnp.abs(g1).max()))
    value_only = jax.jit(lambda y: banded.evaluate(params, None, y, targets, s.hyper(), banded_program))(x)
    np.testing.assert_allclose(float(value_only[0]), float(v1), rtol=tol)  # without the gradient: the first pass


def test_w2_in_bands_is_centred_on_a_flat_picture_far_from_the_style(params) -> None:
    # C = Σ w d dᵀ/Σw − (μ − s)(μ − s)ᵀ loses every digit when s is far from μ and C is small (a flat, bright
    # picture against a dark style): bands take the moments about the image's own mean, gathered in two passes
    rng = np.random.default_rng(3)
    flat = (0.9 + 0.002 * rng.standard_normal((1, HEIGHT, WIDTH, 3))).astype(np.float32)
    s = Settings(style_loss="mean_cov", **LAYERS)
    program = s.program()
    targets = objective.first_image(objective.targets.build(params, flat, [0.1 * rng.random((40, 36, 3))], program))
    x = jnp.asarray(flat[0] + 0.001 * rng.standard_normal(flat.shape[1:]).astype(np.float32))
    (v1, _), g1 = _value_and_grad(objective.evaluate, params, x, targets, s, program)
    (v, _), g = _value_and_grad(banded.evaluate, params, x, targets, s, dataclasses.replace(program, bands=3))
    np.testing.assert_allclose(float(v), float(v1), rtol=1e-4)
    # the gradient goes through 1/√λ of C's near-zero eigenvalues: float32 rounding that differs between one pass
    # and three bands (and between CPUs' code) moves it by 0.3 % in norm here. At this size moments about the style's
    # far mean are as close (0.1 %): their loss of digits grows with the positions summed (a 2048 px gradient in 4
    # bands was 42 % off at its worst pixel), which scripts/band_memory.py measures at full size
    error = np.linalg.norm(np.asarray(g) - np.asarray(g1)) / np.linalg.norm(np.asarray(g1))
    assert error < 2e-2, error


def test_the_halo_is_the_reach_of_a_cut_edge_through_the_layers() -> None:
    # conv1_1, conv1_2 reach 2 rows, a pooling halves it, and so on: conv2_2 at 1/2 scale reaches 3 of its rows
    assert vgg.windows.halo(["conv1_1", "conv2_1", "conv2_2"]) == 6
    assert vgg.windows.halo(["conv1_2"]) == 2
    assert vgg.windows.halo(Settings().layers) == 80  # conv5_1: 5 rows at 1/16
    g = vgg.windows.geometry(HEIGHT, 3, ["conv1_1", "conv2_1"])
    assert (g.band, g.count, g.size) == (28, 3, 28 + 2 * 4)
    assert vgg.windows.geometry(HEIGHT, 100, ["conv1_1", "conv2_1"]).count == 42  # bands of 2 rows, no fewer


@pytest.mark.slow
def test_bands_through_the_deepest_layer_need_their_halo(params) -> None:
    """conv5_1: a cut edge's zero border reaches 80 rows; a 240-row image in 3 bands of 80 is exact with that halo."""
    rng = np.random.default_rng(1)
    content, x = rng.random((1, 240, 16, 3), np.float32), jnp.asarray(rng.random((240, 16, 3), np.float32))
    s = Settings(style_loss="gram", style_layers="conv1_1,conv5_1", content_layers="conv4_2")
    program = s.program()
    targets = objective.first_image(objective.targets.build(params, content, [content[0, :96]], program))
    (v1, _), g1 = _value_and_grad(objective.evaluate, params, x, targets, s, program)
    (v, _), g = _value_and_grad(banded.evaluate, params, x, targets, s, dataclasses.replace(program, bands=3))
    np.testing.assert_allclose(float(v), float(v1), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(g), np.asarray(g1), atol=1e-5 * float(jnp.abs(g1).max()))


@pytest.mark.parametrize("style_loss", ["gram", "mean_cov"])
def test_banded_targets_equal_the_one_pass_targets(params, style_loss) -> None:
    rng = np.random.default_rng(2)
    content, style = rng.random((2, HEIGHT, WIDTH, 3), np.float32), rng.random((HEIGHT, 31, 3), np.float32)
    program = Settings(style_loss=style_loss, **LAYERS).program()
    one = objective.targets.build(params, content, [style], program)
    three = objective.targets.build(params, content, [style], dataclasses.replace(program, bands=3))
    for l in program.content_layers:
        np.testing.assert_allclose(np.asarray(three.content[l]), np.asarray(one.content[l]), rtol=1e-5, atol=1e-5)
    scale = lambda b: 1e-5 * float(np.abs(np.asarray(b)).max())  # noqa: E731  (float32 sums in another order)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=scale(b)),
                 three.style, one.style)


def test_stylize_in_bands_equals_one_pass() -> None:
    content = images.load_image(samples.CONTENT, 64)
    options = dict(size=64, steps=6, style_loss="gram", padding="reflect", stop_tol=0, **LAYERS)
    one = jax_nst.stylize(content, samples.STYLE, bands=1, **options)
    four = jax_nst.stylize(content, samples.STYLE, bands=4, **options)
    assert four.shape == one.shape
    assert np.abs(four - one).max() < 1e-3  # sums in another order drift apart a little over L-BFGS steps


def test_auto_bands_split_what_does_not_fit_and_refusals_name_them(monkeypatch) -> None:
    s, hw = Settings(optimizer="adam"), (3000, 3000)
    whole = memory.needed_bytes(hw, s, bands=1)
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: int(whole / 2 / memory.HEADROOM))
    k = memory.bands_that_fit(hw, s)
    assert k is not None and k > 1
    assert memory.needed_bytes(hw, s, bands=k) <= whole / 2 < memory.needed_bytes(hw, s, bands=k - 1)
    assert memory.resolve(s.program(), (*hw, 3)).bands == k
    memory.check_fits(hw, s)  # "auto" takes the bands it needs
    with pytest.raises(NSTError, match="they fit with --bands auto"):
        memory.check_fits(hw, s.replace(bands=1))
    assert memory.largest_side((1, 1), s) > memory.largest_side((1, 1), s.replace(bands=1))
    assert memory.bands_that_fit((300, 300), s) == 1
    assert memory.bands_that_fit(hw, s.replace(style_loss="histogram")) is None  # it sorts all positions at once
    lbfgs = Settings()  # 2m + 4 image-sized arrays: the history is what does not fit, Adam does
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: int(memory.needed_bytes(hw, s, bands=k) * 1.01 / memory.HEADROOM))
    with pytest.raises(NSTError, match="they fit with --lbfgs-memory 10|they fit with --optimizer adam"):
        memory.check_fits(hw, lbfgs)


def test_bands_option_is_checked() -> None:
    assert Settings(bands="4").bands == 4 and Settings().bands == "auto"
    for bad in (0, -1, "x", 1.5, True):
        with pytest.raises(NSTError, match="bands must be auto or a positive integer"):
            Settings(bands=bad)
