"""Video: warping, the consistency mask, the temporal term, flicker, clip I/O, kill-and-resume, bad inputs."""

from __future__ import annotations

import fractions
import os
import pathlib
import signal
import subprocess
import sys
import time

import av
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_nst import api, cli, images, objective, samples
from jax_nst.errors import NSTError
from jax_nst.jobs import manifest
from jax_nst.objective.terms import temporal
from jax_nst.settings import Settings
from jax_nst.video import flicker, flow, io, motion, stylize_video

import tiny

from test_objective import counting_compilations

CHILD_ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}
TINY = {"size": 40, "steps": 4, "report_every": 4}


@pytest.fixture(scope="module")
def moving():
    """A disc moving 3 px per frame over a still background, with its true flows."""
    return motion.make("object", samples.CONTENT, frames=4, size=96, speed=3.0)


def test_warp_follows_known_shifts():
    rng = np.random.default_rng(0)
    img = rng.random((20, 24, 3)).astype(np.float32)
    shift = np.zeros((20, 24, 2), np.float32)
    shift[..., 0], shift[..., 1] = 3.0, -2.0  # ω(img)(y, x) = img(y − 2, x + 3)
    warped = np.asarray(temporal.warp(img, shift))
    np.testing.assert_allclose(warped[2:, :-3], img[:-2, 3:], atol=1e-6)
    half = np.full((20, 24, 2), 0.5, np.float32)  # bilinear: the mean of four neighbours
    expected = (img[:-1, :-1] + img[1:, :-1] + img[:-1, 1:] + img[1:, 1:]) / 4
    np.testing.assert_allclose(np.asarray(temporal.warp(img, half))[:-1, :-1], expected, atol=1e-6)


def test_dis_flow_finds_a_pan_and_warping_rebuilds_the_frame():
    clip = motion.make("pan", samples.CONTENT, frames=3, size=96, speed=2.0)
    backward, certainty = flow.between(clip.frames[2], clip.frames[1])
    good = certainty[..., 0] > 0
    assert good.mean() > 0.9  # only the strip entering at the edge is untracked
    np.testing.assert_allclose(np.median(backward[good], axis=0), clip.flows[1][0, 0], atol=0.05)
    np.testing.assert_allclose(clip.flows[1][..., 0], 2.0, atol=1e-4)
    rebuilt = np.asarray(temporal.warp(clip.frames[1], backward))
    assert np.abs(rebuilt - clip.frames[2])[good].mean() < 0.01


def test_consistency_marks_disocclusion_boundaries_and_the_frame_edge(moving):
    t = 2
    backward = moving.flows[t - 1]
    forward = np.zeros_like(backward)  # the true flow t−1 → t: the disc's pixels at t−1 move +3 px in x
    moved = np.roll(backward[..., 0] != 0, -3, axis=1)  # where the disc was at t−1
    forward[moved, 0] = 3.0
    c = flow.consistency(backward, forward)[..., 0]
    was_disc, is_disc = moved, backward[..., 0] != 0
    uncovered = was_disc & ~is_disc  # background that the disc covered at t−1
    assert uncovered.any() and (c[uncovered] == 0).all()
    inner = is_disc & np.roll(is_disc, 2, 1) & np.roll(is_disc, -2, 1) & np.roll(is_disc, 2, 0) & np.roll(is_disc, -2, 0)
    assert (c[inner] == 1).all()  # inside the disc the two flows agree
    edge = is_disc & ~inner
    assert (c[edge] == 0).mean() > 0.5  # motion boundary
    near = was_disc | is_disc
    far = ~np.any([np.roll(near, k, axis) for k in range(-2, 3) for axis in (0, 1)], axis=0)
    assert (c[far] == 1).all()
    pan = np.zeros_like(backward)
    pan[..., 0] = 5.0  # every pixel comes from 5 px to the right: the last 5 columns from outside the frame
    c = flow.consistency(pan, -pan)[..., 0]
    assert (c[:, -4:] == 0).all() and (c[:, :-6] == 1).all()


def test_temporal_loss_gradient_and_zero_at_the_warped_frame():
    rng = np.random.default_rng(1)
    prev, x = (rng.random((12, 16, 3)).astype(np.float32) for _ in range(2))
    shift = np.full((12, 16, 2), 1.0, np.float32)
    c = (rng.random((12, 16, 1)) > 0.3).astype(np.float32)
    t = temporal.Temporal(prev, shift, c)
    omega = np.asarray(temporal.warp(prev, shift))
    assert float(temporal.temporal_loss(jnp.asarray(omega), t)) == pytest.approx(0.0, abs=1e-12)
    expected = np.mean(c * (x - omega) ** 2)
    assert float(temporal.temporal_loss(jnp.asarray(x), t)) == pytest.approx(expected, rel=1e-5)
    grad = np.asarray(jax.grad(temporal.temporal_loss)(jnp.asarray(x), t))
    np.testing.assert_allclose(grad, 2 * c * (x - omega) / x.size, rtol=1e-4, atol=1e-9)
    assert np.all(grad[np.broadcast_to(c == 0, grad.shape)] == 0)  # untrusted pixels are free


def test_objective_adds_lambda_times_the_temporal_term(params, content_small, style_small):
    s = Settings(size=48, temporal_weight=123.0, **tiny.LAYERS)
    rng = np.random.default_rng(2)
    ties = temporal.Temporal(rng.random(content_small.shape).astype(np.float32),
                             np.zeros((*content_small.shape[:2], 2), np.float32),
                             np.ones((*content_small.shape[:2], 1), np.float32))
    plain = objective.first_image(objective.targets.build(params, content_small[None], [style_small], s.program()))
    x = jnp.asarray(content_small)
    base, _ = objective.evaluate(params, None, x, plain, s.hyper(), s.program())
    total, parts = objective.evaluate(params, None, x, plain._replace(inputs={"temporal": ties}), s.hyper(),
                                       s.program(inputs=["temporal"]))
    expected = float(np.mean((content_small - ties.previous) ** 2))
    assert float(parts["temporal"]) == pytest.approx(expected, rel=1e-5)
    assert float(total) == pytest.approx(float(base) + 123.0 * expected, rel=1e-5)


def test_at_size_scales_the_flow_with_the_frame():
    flow_ = np.zeros((40, 60, 2), np.float32)
    flow_[..., 0], flow_[..., 1] = 6.0, -4.0
    t = temporal.at_size(temporal.Temporal(np.zeros((40, 60, 3), np.float32), flow_, np.ones((40, 60, 1))), (20, 30))
    np.testing.assert_allclose(t.flow[..., 0], 3.0, atol=1e-4)
    np.testing.assert_allclose(t.flow[..., 1], -2.0, atol=1e-4)
    assert t.previous.shape == (20, 30, 3) and t.certainty.shape == (20, 30, 1)


def test_warping_error_is_zero_for_the_input_and_large_for_noise(moving):
    assert flicker.warping_error(moving.frames, moving.frames, moving.flows) < 1e-3
    rng = np.random.default_rng(3)
    noise = rng.random(moving.frames.shape).astype(np.float32)
    assert flicker.warping_error(noise, moving.frames) > 0.2


def test_temporal_frames_flicker_less_than_frames_alone():
    """A panning clip stylized with the temporal term moves with its input: E 5× lower than frames alone."""
    frames = motion.make("pan", samples.CONTENT, frames=3, size=48, speed=2.0).frames
    compiled = []
    with counting_compilations() as seen:
        tied = stylize_video(list(frames), samples.STYLE, size=48, steps=20, later_steps=10,
                             on_frame=lambda d: compiled.append(len(seen)), **tiny.LAYERS)
    assert compiled[2] == compiled[1]  # frame 3 runs frame 2's programs: flow, frame and weights are traced
    alone = np.stack([api.stylize(f, samples.STYLE, size=48, steps=20, **tiny.LAYERS) for f in frames])
    assert tied.shape == alone.shape == frames.shape
    assert flicker.warping_error(tied, frames) * 5 < flicker.warping_error(alone, frames)


def write_clip(path: pathlib.Path, frames: np.ndarray, audio: bool = False) -> pathlib.Path:
    """``frames`` as an H.264 mp4 at 12 fps, with a 440 Hz AAC tone when ``audio``."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=12)
        v.width, v.height, v.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        a = out.add_stream("aac", rate=44100) if audio else None
        for f in frames:
            out.mux(v.encode(av.VideoFrame.from_ndarray(images.to_uint8(f), format="rgb24")))
        out.mux(v.encode(None))
        if a is not None:
            t = np.arange(44100 * len(frames) // 12) / 44100
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for start in range(0, tone.shape[1], 1024):
                frame = av.AudioFrame.from_ndarray(tone[:, start:start + 1024], format="flt", layout="mono")
                frame.sample_rate = 44100
                out.mux(a.encode(frame))
            out.mux(a.encode(None))
    return path


@pytest.mark.parametrize("suffix,codec", [(".mp4", "aac"), (".webm", "opus")])
def test_written_video_keeps_frame_rate_and_audio(tmp_path, suffix, codec):
    frames = motion.make("pan", samples.CONTENT, frames=6, size=64).frames
    src = write_clip(tmp_path / "in.mp4", frames[:, :42], audio=True)
    clip = io.open_clip(src, 64)
    assert clip.fps == 12 and clip.audio == src
    decoded = list(clip.frames)
    assert len(decoded) == 6 and np.abs(decoded[0] - frames[0, :42]).mean() < 0.03
    out = io.write_video(decoded[:3], tmp_path / f"out{suffix}", clip.fps, clip.audio)  # the first 3 frames
    with av.open(str(out)) as c:
        assert c.streams.video[0].average_rate == 12
        assert [s.codec_context.name for s in c.streams.audio] == [codec]
        assert 0.2 < c.duration / 1e6 < 0.35  # the audio is cut to the video's 0.25 s (the source has 0.5 s)
        assert sum(1 for _ in c.decode(video=0)) == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_gif_and_folder_outputs(tmp_path):
    frames = motion.make("zoom", samples.CONTENT, frames=3, size=40).frames
    killed = tmp_path / f"{images.temp_prefix('a.gif')}x1y2{images.TEMP_SUFFIX}"  # a killed write's temp file
    killed.write_bytes(b"GIF89a")
    gif = io.write_video(frames, tmp_path / "a.gif", fractions.Fraction(10))
    from PIL import Image

    with Image.open(gif) as im:
        assert im.n_frames == 3 and im.info["duration"] == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]
    assert cli.main(["clip", "rotate", "-o", str(tmp_path / "frames"), "--frames", "3", "--size", "40"]) == 0
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"frame_00000{i}.png" for i in (1, 2, 3)]


@pytest.mark.slow
def test_a_killed_run_resumes_without_recomputing_and_matches_an_unbroken_one(tmp_path):
    clip = motion.make("pan", samples.CONTENT, frames=4, size=40)
    src = tmp_path / "in"
    src.mkdir()
    for i, f in enumerate(clip.frames):
        images.save_image(f, src / f"{i:03d}.png")
    unbroken = stylize_video(src, samples.STYLE, tmp_path / "whole", **TINY)
    out = tmp_path / "out.mp4"
    argv = [sys.executable, "-m", "jax_nst", "video", str(src), str(samples.STYLE), "-o", str(out), "-q",
            *[f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]]
    proc = subprocess.Popen(argv, env=CHILD_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    frames_dir = tmp_path / "out.frames"
    deadline = time.monotonic() + 240
    while not (frames_dir.exists() and manifest.read(frames_dir)) and time.monotonic() < deadline:  # frame 1 done:
        # frame 2 first compiles the temporal program, so the kill lands mid-run
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    done = [r["output"] for r in manifest.read(frames_dir)]
    seen = []
    result = stylize_video(src, samples.STYLE, out, on_frame=lambda d: seen.append(d.reused), **TINY)
    assert 1 <= len(done) < 4 and result == out and seen == [True] * len(done) + [False] * (4 - len(done))
    for i in range(4):
        name = f"frame_{i + 1:06d}.png"
        np.testing.assert_array_equal(images.to_uint8(images.load_image(frames_dir / name)),
                                      images.to_uint8(images.load_image(unbroken / name)))
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 4
    again = []
    stylize_video(src, samples.STYLE, out, on_frame=lambda d: again.append(d.reused), **TINY)
    assert again == [True] * 4  # a finished run redoes nothing


def cli_error(argv: list[str], capsys) -> str:
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jax-nst: error: "), err
    return err[0]


def test_bad_inputs_give_one_line(tmp_path, capsys):
    style = str(samples.STYLE)
    empty = tmp_path / "empty"
    empty.mkdir()
    base = ["video", "--size", "32", "--steps", "1", "-q"]
    assert "has no video frames" in cli_error([*base, str(empty), style, "-o", str(tmp_path / "o.mp4")], capsys)
    assert "has no video frames" in cli_error([*base, str(empty), style, "-o", str(tmp_path / "frames")], capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # no frames folder left behind
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    images.save_image(np.zeros((30, 40, 3)), mixed / "a.png")
    images.save_image(np.zeros((40, 30, 3)), mixed / "b.png")
    assert "all frames must have one size" in cli_error([*base, str(mixed), style, "-o", str(tmp_path / "m")], capsys)
    corrupt = write_clip(tmp_path / "bad.mp4", motion.make("pan", samples.CONTENT, frames=3, size=32).frames[:, :20])
    corrupt.write_bytes(corrupt.read_bytes()[:400])  # a download cut short
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).bytes(2000))
    assert "cannot read video" in cli_error([*base, str(noise), style, "-o", str(tmp_path / "c.mp4")], capsys)
    assert "cannot read video" in cli_error([*base, str(corrupt), style, "-o", str(tmp_path / "c.mp4")], capsys)
    assert "no such file" in cli_error([*base, str(tmp_path / "none.mp4"), style, "-o", str(tmp_path / "n.mp4")], capsys)
    assert "use a name ending in" in cli_error([*base, str(empty), style, "-o", str(tmp_path / "o.avi")], capsys)
    with pytest.raises(NSTError, match="has no libx264 encoder"):
        io.check_output(tmp_path / "o.mp4", available=["gif"])
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "c.mp4").exists()
    with pytest.raises(NSTError, match="not split over devices"):
        stylize_video([np.zeros((32, 32, 3))], samples.STYLE, spatial=2)
