"""The controls on the command line: flags reach stylize, progress pictures, reconstruct and synthesize."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from PIL import Image

from jax_nst import api, cli
from jax_nst.cli import flags
from jax_nst.settings import Settings

from test_cli import fake_stylize, write_image

import tiny

RUN = ["--size", "32", "--steps", "2", "--report-every", "1"]
TINY = [*RUN, *tiny.FLAGS]


@pytest.fixture
def files(tmp_path: pathlib.Path) -> dict[str, str]:
    """Content, two styles and a mask, 40×32 px, and an output directory."""
    (tmp_path / "out").mkdir()
    paths = {name: str(write_image(tmp_path / f"{name}.png", seed=i)) for i, name in enumerate(("c", "s1", "s2"))}
    mask = np.zeros((32, 40), np.uint8)
    mask[:, :20] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    return {**paths, "m": str(tmp_path / "m.png"), "out": str(tmp_path / "out")}


def test_control_flags_reach_stylize(files, monkeypatch, capsys):
    calls: list = []
    monkeypatch.setattr(api, "stylize", fake_stylize(calls))
    argv = [files["c"], files["s1"], files["s2"], "-o", f"{files['out']}/o.png", "-q", "--size", "64",
            "--steps", "7", "--scales", "16,32", "--scale-steps", "3,4", "--style-blend-weights", "0.7,0.3",
            "--style-scale", "0.5", "--preserve-colors", "luminance", "--average", "0.9"]
    assert cli.main(argv) == 0
    content, style, kwargs = calls[0]
    assert isinstance(style, list) and len(style) == 2 and style[0].shape == (32, 40, 3)
    expected = dict(scales=(16, 32), scale_steps=(3, 4), style_blend_weights=(0.7, 0.3), style_scale=0.5,
                    preserve_colors="luminance", average=0.9)
    assert {k: getattr(kwargs["settings"], k) for k in expected} == expected
    assert kwargs["masks"] is None
    assert capsys.readouterr().out.startswith(f"wrote {files['out']}/o.png (32x26, 14 steps, ")  # over all scales


def test_masks_and_preset_reach_stylize(files, monkeypatch, capsys):
    calls: list = []
    monkeypatch.setattr(api, "stylize", fake_stylize(calls))
    argv = [files["c"], files["s1"], "-o", f"{files['out']}/o.png", "-q", "--size", "64", "--mask", files["m"],
            "--preset", "style-conv2_1", "--style-weight", "5"]
    assert cli.main(argv) == 0
    _, style, kwargs = calls[0]
    assert style.shape == (32, 40, 3)
    (mask,) = kwargs["masks"]
    assert mask.shape == (32, 40, 3) and mask[0, 0, 0] == 1.0 and mask[0, -1, 0] == 0.0
    s = kwargs["settings"]
    assert list(s.style_layers) == ["conv1_1", "conv2_1"] and s.style_weight == 5.0 and s.normalization == "paper"


@pytest.mark.parametrize("argv, message", [
    (["--scales", "64,32"], "scales must increase"),
    (["--scale-steps", "3"], "one scale_steps entry per scale"),
    (["--style-scale", "0"], "style_scale"),
    (["--average", "1.5"], "average"),
])
def test_bad_control_values_are_one_line_errors(files, argv, message, capsys):
    assert cli.main([files["c"], files["s1"], "-o", f"{files['out']}/o.png", "--size", "64", *argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert list(pathlib.Path(files["out"]).iterdir()) == []


def test_scales_reads_auto_none_or_sizes_and_a_command_line_gives_them_back():
    assert [flags.scales_value(v) for v in ("auto", "none", "", "128, 181")] == ["auto", (), (), (128, 181)]
    argv = flags.command_line(Settings(scales=()), "c.png", ["s.png"], "o.png")
    assert argv[argv.index("--scales") + 1] == "none"
    assert "--scales" not in flags.command_line(Settings(), "c.png", ["s.png"], "o.png")


def test_bad_number_list_is_a_usage_error(files, capsys):
    assert cli.main([files["c"], files["s1"], "-o", f"{files['out']}/o.png", "--scales", "a,b"]) == 2


def test_frames_and_loss_plot_are_written(files, capsys):
    pytest.importorskip("matplotlib")
    out = pathlib.Path(files["out"])
    argv = [files["c"], files["s1"], "-o", str(out / "o.png"), "-q", *TINY, "--steps", "4",
            "--frames-every", "2", "--loss-plot", str(out / "loss.png")]
    assert cli.main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["loss.png", "o.png", "o_frames.gif", "o_frames.png"]
    assert Image.open(out / "o_frames.gif").n_frames == 2
    assert "wrote" in capsys.readouterr().out


def test_loss_plot_path_is_checked_first(files, capsys):
    argv = [files["c"], files["s1"], "-o", f"{files['out']}/o.png", *TINY, "--loss-plot", "/no/such/dir/l.png"]
    assert cli.main(argv) == 1
    assert "does not exist" in capsys.readouterr().err


def test_reconstruct_and_synthesize_commands(files, monkeypatch, capsys):
    calls: list = []
    monkeypatch.setattr(api, "stylize", fake_stylize(calls))
    assert cli.main(["reconstruct", files["c"], "-o", f"{files['out']}/r.png", "-q", "--layer", "conv3_1"]) == 0
    content, style, kwargs = calls[-1]
    s = kwargs["settings"]
    assert kwargs["init"] == "noise" and s.init == "noise"
    assert s.content_layers == {"conv3_1": 1.0} and s.style_weight == 0.0
    assert cli.main(["synthesize", files["s1"], "-o", f"{files['out']}/t.png", "-q", "--up-to", "conv2_1"]) == 0
    content, style, kwargs = calls[-1]
    assert kwargs["settings"].content_weight == 0.0 and list(kwargs["settings"].style_layers) == ["conv1_1", "conv2_1"]
    assert np.array_equal(content, style)
    assert cli.main(["synthesize", files["s1"], "-o", f"{files['out']}/t.png", "-q", "--style-layers", "conv3_1"]) == 0
    assert list(calls[-1][2]["settings"].style_layers) == ["conv3_1"]
    capsys.readouterr()
    assert cli.main(["synthesize", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "texture synthesis" in text.lower() and "--content-weight" not in text and "--preserve-colors" not in text
    assert "starting image: content, noise, style or an image (./content for a file named like one of those) " \
           "(default: noise)" in text
    assert cli.main(["reconstruct", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--style-weight" not in text and "--style-layers" not in text and "--layer" in text


def test_synthesize_runs_for_real(files, capsys):
    out = pathlib.Path(files["out"]) / "t.png"
    assert cli.main(["synthesize", files["s1"], "-o", str(out), "-q", *RUN, "--up-to", "conv1_1"]) == 0
    assert Image.open(out).size == (32, 26)
