"""A weight grid in one compiled batch: cells, their order and labels, equality with one-by-one runs, the CLI sheet."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import jax_nst
from jax_nst import cli
from jax_nst.controls import grids
from jax_nst.errors import NSTError
from jax_nst.settings import Settings

import tiny


def test_cells_vary_the_first_option_fastest():
    cells = grids.cells(Settings(), {"style_weight": (1e2, 1e3), "tv_weight": (1.0, 2.0, 3.0)})
    assert [(c.style_weight, c.tv_weight) for c in cells] == [(1e2, 1.0), (1e3, 1.0), (1e2, 2.0), (1e3, 2.0),
                                                              (1e2, 3.0), (1e3, 3.0)]
    assert len({c.program() for c in cells}) == 1


def test_bad_grids_are_refused():
    assert grids.parse("style-weight=1e2, 1e3") == ("style_weight", (100.0, 1000.0))
    for text in ("style_weight", "style_weight=", "style_weight=a,b"):
        with pytest.raises(NSTError, match="a grid is NAME=V1,V2"):
            grids.parse(text)
    with pytest.raises(NSTError, match="not 'size'"):
        grids.cells(Settings(), {"size": (64, 128)})
    with pytest.raises(NSTError, match="change the compiled program"):
        grids.cells(Settings(), {"style_weight": (0.0, 1e3)})
    with pytest.raises(NSTError, match="must be a finite number"):
        grids.cells(Settings(), {"style_weight": (-1.0,)})
    with pytest.raises(NSTError, match="leave spatial at 1 for a grid"):
        grids.cells(Settings(spatial=2), {"style_weight": (1e2, 1e3)})


def test_each_cell_equals_stylize_with_its_values(content_small, style_small):
    opts = dict(size=32, steps=3, report_every=3, **tiny.LAYERS)
    betas = (1e2, 1e4)
    cells = jax_nst.stylize_grid(content_small, style_small, {"style_weight": betas}, **opts)
    assert cells.shape[0] == 2
    for beta, cell in zip(betas, cells):
        alone = jax_nst.stylize(content_small, style_small, style_weight=beta, **opts)
        np.testing.assert_allclose(cell, alone, atol=2e-3)
    assert np.abs(cells[0] - cells[1]).mean() > 1e-3  # each cell had its own β


def test_cli_grid_writes_a_labelled_sheet(tmp_path, capsys):
    content, style = tmp_path / "c.png", tmp_path / "s.png"
    rng = np.random.default_rng(0)
    for path in (content, style):
        Image.fromarray((rng.random((32, 40, 3)) * 255).astype(np.uint8)).save(path)
    out = tmp_path / "sheet.png"
    argv = [str(content), str(style), "-o", str(out), "--size", "32", "--steps", "2", "--optimizer", "adam", "-q",
            *tiny.FLAGS, "--grid", "style_weight=1e2,1e3,1e4", "--grid", "tv_weight=1,10"]
    assert cli.main(argv) == 0
    assert "6 cells" in capsys.readouterr().out
    with Image.open(out) as sheet:
        assert sheet.width >= 3 * 32 and sheet.height >= 2 * 25  # 3 columns of β, 2 rows of γ, plus labels
    assert cli.main([*argv[:-4], "--grid", "size=1,2"]) == 1
    assert "a grid varies only" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--grid", "style_weight=1e3", "--grid", "style_weight=1e4"], "gives style_weight more than once"),
    (["--grid", "style_weight=1e3,1e4", "--save-every", "1"], "--save-every follows a single image"),
    (["--grid", "style_weight=1e3,1e4", "--frames-every", "1"], "--frames-every follows a single image"),
])
def test_cli_grid_refuses_what_a_sheet_cannot_honour(tmp_path, capsys, extra, message):
    out = tmp_path / "sheet.png"
    assert cli.main(["c.png", "s.png", "-o", str(out), *extra]) == 1  # refused before the images are read
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
