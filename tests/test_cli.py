"""Tests for the jax-nst command: argument handling, one-line errors, outputs and the demo."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jax_nst import api, cli, progress, vgg
from jax_nst.controls import coarse_to_fine
from jax_nst.errors import NSTError
from jax_nst.cli import demo as cli_demo
from jax_nst.cli import run as cli_run
from jax_nst.settings import Settings, layer_weights

import tiny

TINY = ["--size", "32", "--steps", "2", "--report-every", "1", *tiny.FLAGS]


def write_image(path: pathlib.Path, mode: str = "RGB", size: tuple[int, int] = (40, 32), seed: int = 0) -> pathlib.Path:
    """Write a small random-noise image in ``mode`` (PIL size is (width, height))."""
    rng = np.random.default_rng(seed)
    rgba = (rng.random((size[1], size[0], 4)) * 255).astype(np.uint8)
    rgba[..., 3] = np.linspace(0, 255, size[0], dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").convert(mode).save(path)
    return path


@pytest.fixture
def inputs(tmp_path: pathlib.Path) -> tuple[str, str]:
    """A content and a style image, 40×32 px, in their own directory."""
    d = tmp_path / "in"
    d.mkdir()
    return str(write_image(d / "content.png", seed=1)), str(write_image(d / "style.png", seed=2))


@pytest.fixture
def out_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


def error_line(argv: list[str], capsys: pytest.CaptureFixture, out_dir: pathlib.Path) -> str:
    """Run the CLI expecting a user error: exit 1, one stderr line, nothing written to ``out_dir``."""
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("jax-nst: error: ")
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert list(out_dir.iterdir()) == []
    return lines[0]


# --- argument parsing ----------------------------------------------------------------------------


def test_one_layer_grammar_in_python_and_on_the_command_line() -> None:
    assert layer_weights("conv1_1, conv2_1", "style") == {"conv1_1": 0.5, "conv2_1": 0.5}
    assert layer_weights("conv1_1:0.5,conv2_1:1.5", "style") == {"conv1_1": 0.5, "conv2_1": 1.5}
    assert layer_weights("conv1_1:0.25,conv2_1,conv3_1", "style") == {"conv1_1": 0.25, "conv2_1": 1 / 3, "conv3_1": 1 / 3}
    assert Settings(style_layers=["conv1_1:0.5", "conv2_1"]).style_layers == {"conv1_1": 0.5, "conv2_1": 0.5}
    assert Settings(style_layers="conv1_1:0.5,conv2_1") == Settings(style_layers={"conv1_1": 0.5, "conv2_1": 0.5})


@pytest.mark.parametrize("bad, text", [("conv1_1:x", "must be a number"), (":1", "no layer name"),
                                       ("conv1_1:inf", "finite")])
def test_bad_layer_syntax_is_one_line(bad: str, text: str, inputs, out_dir, capsys) -> None:
    assert text in error_line([*inputs, "-o", str(out_dir / "o.png"), "--style-layers", bad], capsys, out_dir)


def test_usage_error_exit_code(capsys) -> None:
    assert cli.main(["only_content.png"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "jax-nst: error: the following arguments are required: STYLE, -o/--output (see jax-nst --help)"]


def test_help_shows_settings_defaults(capsys) -> None:
    assert cli.main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    d = Settings()
    assert f"optimization steps at size (the coarse scales take scale_steps) (default: {d.steps})" in text
    assert f"(default: {d.size})" in text
    assert "(default: conv1_1,conv2_1,conv3_1,conv4_1,conv5_1)" in text
    assert "./demo" in text
    assert all(command in text for command in cli.COMMANDS if command is not None)  # doctor too


def test_doctor_help_says_percent_once(capsys) -> None:
    assert cli.main(["doctor", "-h"]) == 0
    assert "FLOP/s and % of peak" in " ".join(capsys.readouterr().out.split())


def test_every_settings_field_has_exactly_one_flag() -> None:
    from jax_nst.cli import flags

    assert set(flags.SETTINGS_FLAGS) == set(flags.FIELDS)
    spelled = [f for names, _ in flags.SETTINGS_FLAGS.values() for f in names]
    assert len(spelled) == len(set(spelled))


def test_demo_help(capsys) -> None:
    assert cli.main(["demo", "--help"]) == 0
    assert cli_demo.DEMO_OUTPUT in capsys.readouterr().out


@pytest.mark.parametrize("model", ["vgg19", "vgg16"])
def test_layers_command(model, capsys) -> None:
    assert cli.main(["layers", "--model", model]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == list(vgg.layer_names(model))
    assert "conv3_1  block 3  128 → 256  (style default)" in out


def fake_stylize(calls: list) -> object:
    """A stand-in for ``api.stylize`` that records its arguments, reports the last step as ``stylize`` does and
    returns a grey image."""

    def stylize(content, style, **kwargs):
        calls.append((content, style, kwargs))
        image, steps = np.full((26, 32, 3), 0.5, np.float32), sum(k.steps for k in coarse_to_fine.plan(kwargs["settings"]))
        if kwargs.get("callback") is not None:
            kwargs["callback"](api.Progress(steps, steps, steps, dict.fromkeys(progress.PARTS, 1.0), image))
        return image

    return stylize


def test_only_given_options_are_passed(inputs, out_dir, monkeypatch, capsys) -> None:
    calls: list = []
    monkeypatch.setattr(api, "stylize", fake_stylize(calls))
    assert cli.main([*inputs, "-o", str(out_dir / "o.png"), "-q"]) == 0
    content, style, kwargs = calls[0]
    assert content.shape == (32, 40, 3) and style.shape == (32, 40, 3)  # loaded once, passed as arrays
    assert kwargs.pop("callback") is not None
    assert kwargs == {"weights": None, "trust_weights": False, "init": "content", "masks": None,
                      "settings": Settings(report_every=cli_run.CLI_REPORT_EVERY)}


def test_options_reach_stylize(inputs, out_dir, monkeypatch, capsys) -> None:
    calls: list = []
    monkeypatch.setattr(api, "stylize", fake_stylize(calls))
    argv = [*inputs, "-o", str(out_dir / "o.jpg"), "-q", "--size", "64", "--style-size", "48", "--steps", "7",
            "--optimizer", "adam", "--lr", "0.1", "--content-weight", "2", "--style-weight", "30",
            "--tv-weight", "0.5", "--content-layers", "conv4_2,conv5_2", "--style-layers", "conv1_1:0.5,conv2_1:0.5",
            "--init", "noise", "--pooling", "max", "--seed", "3", "--report-every", "10", "--save-every", "4",
            "--lbfgs-memory", "5", "--weights", str(vgg.resolve_weights())]
    assert cli.main(argv) == 0
    kwargs = calls[0][2]
    s = kwargs["settings"]
    assert kwargs["init"] == "noise" and kwargs["weights"] == str(vgg.resolve_weights())
    assert s.style_layers == {"conv1_1": 0.5, "conv2_1": 0.5}
    assert s.content_layers == {"conv4_2": 0.5, "conv5_2": 0.5}
    assert s.report_every == 2  # gcd(10, 4): reports fall on every saved frame
    expected = dict(size=64, style_size=48, steps=7, optimizer="adam", learning_rate=0.1, content_weight=2.0,
                    style_weight=30.0, tv_weight=0.5, pooling="max", seed=3, lbfgs_memory=5, init="noise")
    assert {k: getattr(s, k) for k in expected} == expected
    assert (out_dir / "o.jpg").is_file()
    assert capsys.readouterr().out.startswith(f"wrote {out_dir / 'o.jpg'} (32x26, 7 steps, ")


def test_init_image_is_loaded(inputs, out_dir, monkeypatch, capsys) -> None:
    calls: list = []
    monkeypatch.setattr(api, "stylize", fake_stylize(calls))
    assert cli.main([*inputs, "-o", str(out_dir / "o.png"), "-q", "--init", inputs[1]]) == 0
    assert isinstance(calls[0][2]["init"], np.ndarray)


# --- user errors: one line, exit 1, no output ----------------------------------------------------


def test_missing_content(inputs, out_dir, capsys) -> None:
    missing = str(pathlib.Path(inputs[0]).with_name("nope.png"))
    line = error_line([missing, inputs[1], "-o", str(out_dir / "o.png")], capsys, out_dir)
    assert "nope.png" in line and "does not exist" in line


def test_missing_style(inputs, out_dir, capsys) -> None:
    line = error_line([inputs[0], "no_style.jpg", "-o", str(out_dir / "o.png")], capsys, out_dir)
    assert "no_style.jpg" in line


def test_missing_init_image(inputs, out_dir, capsys) -> None:
    line = error_line([*inputs, "-o", str(out_dir / "o.png"), "--init", "paint.png"], capsys, out_dir)
    assert "paint.png" in line


@pytest.mark.parametrize(
    "content_bytes, reason",
    [(b"", "empty"), (b"this is not an image", "not a recognised image"), (None, "truncated or corrupt")],
)
def test_bad_content_file(content_bytes, reason, inputs, out_dir, capsys) -> None:
    bad = pathlib.Path(inputs[0]).with_name("bad.png")
    if content_bytes is None:  # a PNG cut in half
        content_bytes = write_image(bad, size=(400, 300)).read_bytes()[:2000]
    bad.write_bytes(content_bytes)
    line = error_line([str(bad), inputs[1], "-o", str(out_dir / "o.png")], capsys, out_dir)
    assert "bad.png" in line and reason in line


def test_unknown_layer(inputs, out_dir, capsys) -> None:
    line = error_line([*inputs, "-o", str(out_dir / "o.png"), "--style-layers", "conv1_1,conv9_9"], capsys, out_dir)
    assert "conv9_9" in line


@pytest.mark.parametrize(
    "option, name",
    [(["--style-weight", "-1"], "style_weight"), (["--tv-weight", "nan"], "tv_weight"),
     (["--content-layers", "conv4_2:-1"], "conv4_2"), (["--steps", "0"], "steps"),
     (["--lr", "0"], "learning_rate"), (["--init", "content", "--size", "-5"], "size")],
)
def test_bad_values(option, name, inputs, out_dir, capsys) -> None:
    assert name in error_line([*inputs, "-o", str(out_dir / "o.png"), *option], capsys, out_dir)


def test_image_too_small_for_layers(inputs, out_dir, capsys) -> None:
    line = error_line([*inputs, "-o", str(out_dir / "o.png"), "--size", "8"], capsys, out_dir)
    assert "conv5_1" in line and "16 px" in line


def test_output_directory_missing(inputs, out_dir, capsys) -> None:
    line = error_line([*inputs, "-o", str(out_dir / "sub" / "o.png")], capsys, out_dir)
    assert "does not exist" in line and "sub" in line


def test_unknown_output_extension(inputs, out_dir, capsys) -> None:
    line = error_line([*inputs, "-o", str(out_dir / "o.xyz")], capsys, out_dir)
    assert "'.xyz'" in line


def test_output_checked_before_inputs(out_dir, capsys) -> None:
    line = error_line(["nope.png", "nope.png", "-o", str(out_dir / "o.gifx")], capsys, out_dir)
    assert "extension" in line


def test_missing_weights(inputs, out_dir, capsys, monkeypatch) -> None:
    line = error_line([*inputs, "-o", str(out_dir / "o.png"), "--weights", "gone.safetensors"], capsys, out_dir)
    assert "gone.safetensors" in line
    monkeypatch.setenv(vgg.WEIGHTS_ENV, str(out_dir.parent / "env.safetensors"))
    assert "env.safetensors" in error_line([*inputs, "-o", str(out_dir / "o.png")], capsys, out_dir)


def test_random_bytes_weights(inputs, out_dir, tmp_path, capsys) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    line = error_line([*inputs, "-o", str(out_dir / "o.png"), "--weights", str(junk)], capsys, out_dir)
    assert "junk.safetensors" in line and "safetensors" in line


def test_weights_sha256_mismatch(inputs, out_dir, tmp_path, capsys) -> None:
    shipped = vgg.shipped_weights()
    copy = tmp_path / "w" / "vgg19.safetensors"
    copy.parent.mkdir()
    shutil.copy(shipped, copy)
    shutil.copy(shipped.with_name("vgg19.provenance.json"), copy.with_name("vgg19.provenance.json"))
    assert json.loads(copy.with_name("vgg19.provenance.json").read_text())["result"]["sha256"]
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    line = error_line([*inputs, "-o", str(out_dir / "o.png"), "--weights", str(copy)], capsys, out_dir)
    assert "SHA-256 mismatch" in line


def test_non_finite_loss(inputs, out_dir, capsys) -> None:
    argv = [*inputs, "-o", str(out_dir / "o.png"), "-q", *TINY, "--style-weight", "1e38", "--save-every", "2"]
    assert "NaN or infinite" in error_line(argv, capsys, out_dir)


@pytest.mark.parametrize(
    "exc, code, text",
    [(NSTError("boom\nsecond line"), 1, "boom second line"), (OSError(28, "No space left on device", "x.png"), 1,
     "No space left on device: 'x.png'"), (MemoryError(), 1, "out of memory; try a smaller --size (jax-nst doctor names the largest size that fits)"), (KeyboardInterrupt(), 130, "interrupted")],
)
def test_errors_from_stylize(exc, code, text, inputs, out_dir, monkeypatch, capsys) -> None:
    def stylize(*args, **kwargs):
        raise exc

    monkeypatch.setattr(api, "stylize", stylize)
    assert cli.main([*inputs, "-o", str(out_dir / "o.png")]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"jax-nst: error: {text}"
    assert list(out_dir.iterdir()) == []


# --- real runs -----------------------------------------------------------------------------------


def test_run_writes_output_frames_and_progress(inputs, out_dir, capsys) -> None:
    out = out_dir / "o.png"
    assert cli.main([*inputs, "-o", str(out), *TINY, "--save-every", "2"]) == 0
    captured = capsys.readouterr()
    assert re.fullmatch(rf"wrote {re.escape(str(out))} \(32x26, 2 steps, [0-9.]+ s\)\n", captured.out)
    assert "total=" in captured.err and "style=" in captured.err and "2/2" in captured.err
    assert sorted(p.name for p in out_dir.iterdir()) == ["o.png", "o_000002.png"]
    with Image.open(out) as im:
        assert im.size == (32, 26)


def test_odd_but_valid_images(tmp_path, out_dir, capsys) -> None:
    content = write_image(tmp_path / "rgba.png", "RGBA", seed=3)
    style = write_image(tmp_path / "grey.png", "L", seed=4)
    init = write_image(tmp_path / "palette.png", "P", seed=5)
    out = out_dir / "o.webp"
    assert cli.main([str(content), str(style), "-o", str(out), "-q", *TINY, "--init", str(init)]) == 0
    with Image.open(out) as im:
        assert im.size == (32, 26) and im.mode == "RGB"
    assert [p.name for p in out_dir.iterdir()] == ["o.webp"]


@pytest.mark.slow
def test_demo(tmp_path, capsys) -> None:
    out = tmp_path / "d.png"
    assert cli.main(["demo", "-o", str(out), "--size", "32", "--steps", "2", "-q"]) == 0
    assert str(out.absolute()) in capsys.readouterr().out
    with Image.open(out) as im:
        assert max(im.size) == 32


def test_demo_default_output_is_in_cwd(tmp_path, monkeypatch, capsys) -> None:
    calls: list = []
    monkeypatch.setattr(api, "stylize", fake_stylize(calls))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo", "-q"]) == 0
    assert (tmp_path / cli_demo.DEMO_OUTPUT).is_file()
    s = calls[0][2]["settings"]
    assert s.size == cli_demo.DEMO["size"] and s.steps == cli_demo.DEMO["steps"]
    assert s == Settings(**cli_demo.DEMO)  # the defaults: what a user gets with no options
    assert f"wrote {tmp_path / cli_demo.DEMO_OUTPUT} " in capsys.readouterr().out


@pytest.mark.parametrize("option, name", [(["--steps", "0"], "steps"), (["--size", "4"], "16 px")])
def test_demo_errors(option, name, out_dir, capsys) -> None:
    assert name in error_line(["demo", "-o", str(out_dir / "d.png"), *option], capsys, out_dir)


def python_m(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jax_nst", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONUTF8": "1"})


def test_python_m_error_exit_code(out_dir) -> None:
    proc = python_m("missing.png", "missing.png", "-o", str(out_dir / "o.png"), cwd=out_dir)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("jax-nst: error: cannot read image 'missing.png'")


@pytest.mark.slow
def test_second_run_loads_compiled_programs_from_the_cache(inputs, out_dir, tmp_path) -> None:
    cache = tmp_path / "xla-cache"
    env = {k: v for k, v in os.environ.items() if k != "JAX_NST_NO_COMPILE_CACHE"}
    run = lambda: subprocess.run([sys.executable, "-m", "jax_nst", *inputs, "-o", str(out_dir / "c.png"), *TINY],  # noqa: E731
                                 env={**env, "JAX_NST_CACHE_DIR": str(cache)}, capture_output=True, text=True, timeout=300)
    first = run()
    assert first.returncode == 0, first.stderr
    entries = sorted(p.name for p in cache.iterdir())
    assert entries, "the first run wrote its compiled programs"
    second = run()
    assert second.returncode == 0 and sorted(p.name for p in cache.iterdir()) == entries  # nothing new compiled
