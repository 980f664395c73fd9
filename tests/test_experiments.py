"""The paper's experiments: feature inversion, texture synthesis and the figure presets."""

from __future__ import annotations

import numpy as np
import pytest

import jax_nst
from jax_nst import experiments
from jax_nst.controls import presets
from jax_nst.errors import NSTError
from jax_nst.settings import STYLE_LAYERS, Settings


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def test_reconstruct_from_conv1_1_recovers_the_image(content_small):
    reports = []
    out = experiments.reconstruct(content_small, "conv1_1", size=48, steps=40, report_every=40, callback=reports.append)
    assert out.shape == content_small.shape
    assert psnr(out, content_small) > 20.0  # from uniform noise (≈ 8 dB)
    assert reports[-1].losses["style"] == 0.0


def test_synthesize_matches_the_style_grams_without_content(style_small):
    reports = []
    out = experiments.synthesize(style_small, "conv2_1", size=32, steps=20, report_every=5, callback=reports.append)
    assert out.shape == (32, 32, 3)
    assert reports[-1].losses["style"] < 0.05 * reports[0].losses["style"]
    assert reports[-1].losses["content"] == 0.0
    assert psnr(out, jax_nst.load_image(style_small, 32)) < 15.0  # a new texture, not the style image


def test_mode_options():
    assert experiments.reconstruct_options("conv3_1", {"size": 64}) == {
        **presets.PAPER, "content_layers": ["conv3_1"], "style_weight": 0.0, "content_weight": 1.0, "size": 64}
    assert experiments.synthesize_options("conv3_1", {"margin": 8})["margin"] == 8  # options win
    assert experiments.synthesize_options("conv3_1", {})["style_layers"] == ("conv1_1", "conv2_1", "conv3_1")
    assert experiments.synthesize_options(["conv4_1"], {})["style_layers"] == ["conv4_1"]
    with pytest.raises(NSTError, match="subsets end at"):
        experiments.synthesize_options("conv3_2", {})


def test_presets():
    assert presets.cumulative_style_layers("conv5_1") == STYLE_LAYERS
    for name in presets.PRESETS:
        Settings(**presets.preset_options(name, {"size": 128}))
    given = presets.preset_options("style-conv2_1", {"size": 256})
    assert given["style_layers"] == ("conv1_1", "conv2_1")
    assert given["style_weight"] == pytest.approx(1e3) and given["normalization"] == "paper"  # α/β = 1e-3
    assert presets.preset_options("gatys2016", {"content_weight": 2.0})["style_weight"] == pytest.approx(2e3)
    assert presets.preset_options("ratio-1e-05", {"style_weight": 7.0})["style_weight"] == 7.0  # given wins
    assert presets.preset_options(None, {"size": 3}) == {"size": 3}
    with pytest.raises(NSTError, match="unknown preset"):
        presets.preset_options("fig99", {})


def test_preset_reaches_stylize(content_small, style_small, monkeypatch):
    seen = []
    monkeypatch.setattr(jax_nst.api, "optimize_stage", lambda params, x, targets, stage, cb: seen.append(stage.settings)
                        or stage.crop(x))
    jax_nst.stylize(content_small, style_small, size=32, steps=1, preset="gatys2016-content-conv2_2")
    assert seen[0].content_layers == {"conv2_2": 1.0} and seen[0].style_weight == pytest.approx(1e3)
    assert seen[0].normalization == "paper"
