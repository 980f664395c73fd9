"""Coarse-to-fine optimization: the plan, progress over the scales and the result at the target size."""

from __future__ import annotations

import numpy as np
import pytest

import jax_nst
from jax_nst.controls import coarse_to_fine, presets
from jax_nst.errors import NSTError
from jax_nst.settings import Settings

import tiny


def test_plan_sizes_steps_and_style_weights():
    s = Settings(size=256, steps=50, style_weight=1e3, scales=(64, 128), scale_steps=(30, 20))
    plan = coarse_to_fine.plan(s)
    assert [(k.size, k.steps) for k in plan] == [(64, 30), (128, 20), (256, 50)]
    assert [k.style_weight for k in plan] == [1e3, 1e3, 1e3]  # size normalization: the same β at every scale
    paper = coarse_to_fine.plan(s.replace(normalization="paper"))
    assert [k.style_weight for k in paper] == [1e3 / 16, 1e3 / 4, 1e3]  # plain sums: β_k = β (s_k/S)²
    assert all(k.scales == () for k in plan) and sum(k.steps for k in coarse_to_fine.plan(s)) == 100
    assert coarse_to_fine.plan(Settings(size=64)) == [Settings(size=64, scales=())]  # "auto" below 2·128 px: one
    assert coarse_to_fine.halvings(512, 2) == (128, 256) and coarse_to_fine.halvings(64, 3) == (16, 32)
    assert Settings(size=256, steps=7, scales=(64,)).replace() == Settings(size=256, steps=7, scales=[64])


def test_the_default_runs_from_half_and_a_root_half_of_the_size_and_the_paper_at_the_size_only():
    assert [k.size for k in coarse_to_fine.plan(Settings(size=512))] == [256, 362, 512]
    assert Settings(size=256).coarse_scales == (128, 181) and Settings(size=200).coarse_scales == (141,)
    assert Settings(size=180).coarse_scales == () and Settings(size=1024).coarse_scales == (512, 724)
    assert Settings(size=512, scales="none").coarse_scales == () == Settings(size=512, scales=()).coarse_scales
    assert Settings(size=512, scales=" Auto ").scales == "auto"
    assert Settings(size=512, scales="auto", scale_steps=(5, 6)).scale_steps == (5, 6)
    with pytest.raises(NSTError, match=r"2 scales \(\[256, 362\]\), 1 entries"):
        Settings(size=512, scale_steps=(5,))
    for name in ("gatys2016", "ratio-1e-04", "style-conv3_1"):  # the paper's figures: one scale, every step
        assert presets.resolve(name, size=512).coarse_scales == ()


def test_the_margin_is_the_same_pixels_at_every_scale():
    """The frame comes from the network's reach, which is in pixels: a margin scaled down at 128 px left one."""
    style = np.zeros((40, 40, 3), np.float32)
    found = coarse_to_fine.stages(Settings(size=256, **tiny.LAYERS), (192, 256), [style])
    assert [(k.shape, k.margin) for k in found] == [((96, 128), 16), ((136, 181), 16), ((192, 256), 16)]


@pytest.mark.parametrize("bad", [dict(scales=(128, 64)), dict(scales=(64,), scale_steps=(1, 2)), dict(scales=(256,))])
def test_bad_scales(bad):
    with pytest.raises(NSTError):
        Settings(size=256, **bad)


def test_too_small_scale_is_refused_before_running(content_small, style_small):
    with pytest.raises(NSTError, match="at scale 8 px"):
        jax_nst.stylize(content_small, style_small, size=48, steps=1, scales=(8,))


def test_multiscale_runs_every_scale_and_gives_a_head_start(content_small, style_small):
    multi, single = [], []
    opts = dict(size=48, steps=4, report_every=2, init="noise", **tiny.LAYERS)
    out = jax_nst.stylize(content_small, style_small, scales=(24,), scale_steps=(6,), callback=multi.append, **opts)
    jax_nst.stylize(content_small, style_small, callback=single.append, **opts)
    assert out.shape == content_small.shape
    assert [r.step for r in multi] == [2, 4, 6, 8, 10] and {r.steps for r in multi} == {10}
    assert [r.image.shape[:2] for r in multi] == [(16, 24)] * 3 + [(32, 48)] * 2
    assert multi[-1].evaluations >= 10
    # the same 4 steps at the target size go further from the upsampled coarse result than from noise
    print(f"L_total after 4 steps at 48 px: {single[-1].losses['total']:.3g} from noise, "
          f"{multi[-1].losses['total']:.3g} after 6 steps at 24 px")
    assert multi[-1].losses["total"] < 0.8 * single[-1].losses["total"]  # measured 0.72 (new line search)
