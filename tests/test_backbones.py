"""model="vgg16" end to end: its own weights, layers and preprocessing."""

from __future__ import annotations

import numpy as np
import pytest

import jax_nst
from jax_nst import cli
from jax_nst.errors import NSTError

import tiny


def test_vgg16_stylization_lowers_the_loss(content_small, style_small):
    reports = []
    out = jax_nst.stylize(content_small, style_small, model="vgg16", size=48, steps=20, report_every=5,
                          init="noise", callback=reports.append, **tiny.LAYERS)
    assert out.shape == content_small.shape
    assert reports[-1].losses["total"] < 0.5 * reports[0].losses["total"]


def test_vgg16_layers_are_checked(content_small, style_small):
    with pytest.raises(NSTError, match="vgg16 layers"):
        jax_nst.stylize(content_small, style_small, model="vgg16", size=48, steps=1, style_layers=["conv5_4"])
    with pytest.raises(NSTError, match="unknown model"):
        jax_nst.stylize(content_small, style_small, model="vgg11", size=48, steps=1)


def test_cli_model_flag(tmp_path, content_small, style_small, capsys):
    c, s = tmp_path / "c.png", tmp_path / "s.png"
    jax_nst.save_image(content_small, c)
    jax_nst.save_image(style_small, s)
    out = tmp_path / "o.png"
    assert cli.main([str(c), str(s), "-o", str(out), "--model", "vgg16", "--size", "32", "--steps", "2", "-q",
                     *tiny.FLAGS]) == 0
    assert np.asarray(jax_nst.load_image(out)).shape == (21, 32, 3)
