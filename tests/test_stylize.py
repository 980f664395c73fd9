"""End-to-end optimization with the real weights at small sizes."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import jax_nst
from jax_nst import images, objective
from jax_nst.settings import Settings
from jax_nst.errors import NSTError

import tiny


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1]."""
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a) - np.asarray(b)) ** 2)))

FAST = dict(size=48, report_every=5)
SHALLOW = {**FAST, **tiny.LAYERS}


def run(content, style, **options):
    """stylize, also returning the list of progress reports."""
    reports = []
    out = jax_nst.stylize(content, style, callback=reports.append, **{**SHALLOW, **options})
    return out, reports


def test_content_reconstruction_from_conv1_1(content_small, style_small):
    out, reports = run(content_small, style_small, init="noise", style_weight=0.0, content_layers=["conv1_1"], steps=100,
                       stop_tol=0)  # all 100 steps, as the paper's reconstructions (jax_nst.reconstruct) run
    quality = psnr(out, content_small)
    print(f"conv1_1 reconstruction from noise, 48 px, 100 L-BFGS steps: PSNR {quality:.1f} dB")
    assert quality > 24.0
    assert reports[-1].losses["content"] < 1e-3 * reports[0].losses["content"]


def losses_of(params, content, style, x) -> dict:
    """L_content, L_style and L_TV of image ``x`` (resized to the content) under the paper's layers."""
    s = Settings(style_weight=3.0)
    targets = objective.first_image(objective.targets.build(params, content[None], [style], s.program()))
    x = jnp.asarray(images.resize(x, *content.shape[:2]))
    return {k: float(v) for k, v in objective.evaluate(params, None, x, targets, s.hyper(), s.program())[1].items()}


def test_stylization_lowers_style_loss_and_keeps_content(params, content_small, style_small):
    out, reports = run(content_small, style_small, steps=30, report_every=30, style_weight=300.0,
                       style_layers=Settings().style_layers, content_layers=Settings().content_layers)  # the paper's
    first, last = losses_of(params, content_small, style_small, content_small), reports[-1].losses  # x⁽⁰⁾: the content
    lost = losses_of(params, content_small, style_small, style_small)["content"]  # the style image: content lost
    print(f"48 px, 30 L-BFGS steps: style loss /{first['style'] / last['style']:.1f}, content {last['content']:.3g}")
    assert last["style"] < first["style"] / 3
    assert last["content"] < lost / 2
    assert out.shape == content_small.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert not np.allclose(out, content_small, atol=0.05)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_both_optimizers_lower_the_loss(content_small, style_small, optimizer):
    _, reports = run(content_small, style_small, optimizer=optimizer, init="noise", steps=20)
    totals = [r.losses["total"] for r in reports]
    assert totals[-1] < 0.6 * totals[0]
    assert [r.step for r in reports] == [5, 10, 15, 20]
    assert reports[-1].evaluations >= 20


def test_same_seed_same_pixels(content_small, style_small):
    a, _ = run(content_small, style_small, init="noise", seed=3, steps=5, optimizer="adam")
    b, _ = run(content_small, style_small, init="noise", seed=3, steps=5, optimizer="adam")
    c, _ = run(content_small, style_small, init="noise", seed=4, steps=5, optimizer="adam")
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


DRIFT = {"gram": (2e-3, 1e-4), "mean_cov": (0.1, 2e-3)}
"""(largest, mean) |batch − alone| of 6 steps: float32 rounding differs between a batch's program and one image's,
and W2 amplifies it: its eigenvalues near 0 (√λ, ½λ^(−½)) turn rounding into value and gradient noise that L-BFGS's
line search follows (measured at 48 px: Gram 1e-3 / 2e-5; W2 5e-4 on average, and with the moments taken about
sg(μ) a single value of the 4608 off by up to 0.085). Beyond 2e-2 at most 0.1 % of the values may lie."""


@pytest.mark.parametrize("style_loss", ["gram", "mean_cov"])
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_batch_equals_one_by_one(content_small, style_small, optimizer, style_loss):
    contents = [content_small, content_small[::-1].copy(), 1.0 - content_small]
    opts = dict(steps=6, optimizer=optimizer, init="noise", seed=1, style_loss=style_loss, **SHALLOW)
    batch = jax_nst.stylize_batch(contents, style_small, **opts)
    assert batch.shape == (3, *content_small.shape)
    largest, mean = DRIFT[style_loss]
    for i, c in enumerate(contents):
        alone = jax_nst.stylize(c, style_small, **opts)
        np.testing.assert_allclose(batch[i], alone, atol=largest)
        assert np.mean(np.abs(batch[i] - alone)) < mean
        assert np.mean(np.abs(batch[i] - alone) > 2e-2) <= 1e-3  # isolated values, not a region


def test_init_from_style_and_image(content_small, style_small):
    grey = np.full((10, 10, 3), 0.5, np.float32)
    out = jax_nst.stylize(content_small, style_small, init=grey, steps=1, **SHALLOW)
    assert out.shape == content_small.shape
    out = jax_nst.stylize(content_small, style_small, init="style", steps=1, **SHALLOW)
    assert out.shape == content_small.shape


def test_inputs_may_be_paths_and_pil(tmp_path, content_small, style_small):
    path = images.save_image(content_small, tmp_path / "c.png")
    out = jax_nst.stylize(str(path), images.to_pil(style_small), steps=1, **SHALLOW)
    assert out.shape == content_small.shape


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(style_layers=["conv9_9"]), "unknown layer"),
        (dict(style_weight=-1.0), "style_weight"),
        (dict(content_layers={"conv4_2": -2.0}), ">= 0"),
        (dict(optimizer="sgd"), "optimizer"),
        (dict(steps=0), "steps"),
        (dict(size=8), "at least 16 px"),
    ],
)
def test_bad_options_raise_clear_errors(content_small, style_small, options, message):
    with pytest.raises(NSTError, match=message):
        jax_nst.stylize(content_small, style_small, **{**FAST, "steps": 1, **options})


def test_batch_of_different_shapes_is_refused(content_small, style_small):
    with pytest.raises(NSTError, match="differ in shape"):
        jax_nst.stylize_batch([content_small, content_small[:, :20]], style_small, steps=1, **FAST)


def test_nan_loss_is_reported(content_small, style_small):
    with pytest.raises(NSTError, match="NaN or infinite"):
        jax_nst.stylize(content_small, style_small, steps=2, style_weight=1e38, content_weight=1e38, **SHALLOW)


def test_weights_load_once_per_file_version(tmp_path, monkeypatch, content_small, style_small):
    from jax_nst import vgg

    loads = []
    real = vgg.load_params
    monkeypatch.setattr(vgg, "load_params", lambda *a, **k: loads.append(a) or real(*a, **k))
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(vgg.shipped_weights("vgg19").read_bytes())
    for _ in range(2):
        jax_nst.stylize(content_small, style_small, weights=weights, size=32, steps=1, **tiny.LAYERS)
    assert len(loads) == 1  # a batch job pays the read and SHA-256 check once
    weights.write_bytes(b"not weights any more")
    with pytest.raises(NSTError, match="SHA-256|safetensors"):
        jax_nst.stylize(content_small, style_small, weights=weights, size=32, steps=1, **tiny.LAYERS)
