"""Stopping when the picture is done: ``steps`` as a cap, the rule exact per image, reported to the user."""

from __future__ import annotations

import numpy as np
import pytest

import jax_nst
from jax_nst import cli
from jax_nst.controls import coarse_to_fine, presets
from jax_nst.errors import NSTError
from jax_nst.optimize import loop
from jax_nst.settings import Settings

import tiny

ADAM = dict(size=32, optimizer="adam", report_every=5, **tiny.LAYERS)


def test_a_scale_stops_once_the_loss_stops_falling_and_equals_a_run_of_that_many_steps(content_small, style_small):
    """No step of this Adam run takes half the loss off, so a tolerance of 0.5 a step stops the run at the rule's
    first chance, step k; the picture is then the one of a k-step run."""
    seen = []
    early = jax_nst.stylize(content_small, style_small, steps=40, stop_tol=0.5, callback=seen.append, **ADAM)
    assert [p.step for p in seen] == [5, loop.STOP_WINDOW]
    assert [p.stopped for p in seen] == [False, True]
    assert 0 < seen[-1].change < 0.5
    exact = jax_nst.stylize(content_small, style_small, steps=loop.STOP_WINDOW, stop_tol=0, **ADAM)
    np.testing.assert_allclose(early, exact, atol=1e-6)


def test_the_measure_is_the_average_fall_of_the_log_loss(content_small, style_small):
    """c_t, the bias-corrected EMA of ln L(x_{t−2}) − ln L(x_{t−1}), checked against the losses reported each step:
    c_{t+1}(1 − dᵗ) = d·c_t(1 − dᵗ⁻¹) + (1 − d)(ln L(x_{t−1}) − ln L(x_t))."""
    seen = []
    jax_nst.stylize(content_small, style_small, steps=8, stop_tol=0, callback=seen.append, **{**ADAM, "report_every": 1})
    d, log = 1 - 1 / loop.STOP_WINDOW, np.log([float(p.losses["total"]) for p in seen])  # log[i]: ln L(x_{i+1})
    assert np.isinf(seen[0].change)  # one loss seen: no decrease yet
    for t in range(2, 8):
        expected = d * seen[t - 1].change * (1 - d ** (t - 1)) + (1 - d) * (log[t - 2] - log[t - 1])
        assert seen[t].change * (1 - d**t) == pytest.approx(expected, rel=1e-2), t
    assert all(p.change > 0 for p in seen[1:])  # the loss falls


def test_a_batch_stops_each_image_as_it_would_alone(content_small, style_small):
    """In a weight grid one cell may be done long before another: it is frozen where it stopped alone."""
    rates = (1e-4, 0.05)
    opts = dict(steps=30, stop_tol=2e-3, style_loss="gram", **ADAM)  # the Gram loss: a batch equals alone to 1e-6
    cells = jax_nst.stylize_grid(content_small, style_small, {"learning_rate": rates}, **opts)
    stops = []
    for rate, cell in zip(rates, cells):
        seen = []
        alone = jax_nst.stylize(content_small, style_small, learning_rate=rate, callback=seen.append, **opts)
        stops.append((seen[-1].step, seen[-1].stopped))
        np.testing.assert_allclose(cell, alone, atol=2e-3)
    assert stops == [(loop.STOP_WINDOW, True), (30, False)]


def test_no_early_stop_runs_every_step(content_small, style_small):
    seen = []
    jax_nst.stylize(content_small, style_small, steps=15, stop_tol=0, callback=seen.append, **ADAM)
    assert [p.step for p in seen] == [5, 10, 15] and not any(p.stopped for p in seen)


def test_the_progress_total_drops_the_steps_a_stopped_scale_left():
    seen = []
    relay = coarse_to_fine.Relay(seen.append, total=300)
    relay(jax_nst.Progress(20, 100, 25, {}, None, 1e-5, True))
    relay.next_scale()
    relay(jax_nst.Progress(50, 200, 60, {}, None, 1e-3, False))
    assert [(p.step, p.steps, p.evaluations) for p in seen] == [(20, 220, 25), (70, 220, 85)]


def test_stop_tol_is_checked_and_paper_presets_run_every_step():
    """The paper's figures are reproduced with their exact step counts."""
    for bad in (-1e-4, float("nan"), float("inf")):
        with pytest.raises(NSTError, match="stop_tol must be a finite number >= 0"):
            Settings(stop_tol=bad)
    for name in presets.PRESETS:
        assert presets.resolve(name).stop_tol == (presets.resolve().stop_tol if name == "quality" else 0), name


def test_cli_says_when_it_stopped_early(tmp_path, content_small, style_small, capsys):
    from jax_nst import images

    c, s = tmp_path / "c.png", tmp_path / "s.png"
    images.save_image(content_small, c)
    images.save_image(style_small, s)
    args = [str(c), str(s), "--size", "32", "--optimizer", "adam", "--steps", "40", "-q", *tiny.FLAGS]
    assert cli.main([*args, "-o", str(tmp_path / "a.png"), "--stop-tol", "0.5"]) == 0
    assert f"{loop.STOP_WINDOW} steps, stopped when the loss stopped falling" in capsys.readouterr().out
    assert cli.main([*args, "-o", str(tmp_path / "b.png"), "--stop-tol", "0.5", "--no-early-stop"]) == 0
    out = capsys.readouterr().out
    assert "40 steps" in out and "stopped when" not in out
