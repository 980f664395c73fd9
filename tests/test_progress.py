"""Progress pictures: frames grid, animated GIF and the loss curve."""

from __future__ import annotations

import builtins

import numpy as np
import pytest
from PIL import Image

import jax_nst
from jax_nst import progress
from jax_nst.errors import NSTError


def fake_reports(n: int = 6, hw=(20, 30)) -> progress.Recorder:
    """A recorder fed ``n`` synthetic progress reports (steps 1…n)."""
    rec = progress.Recorder(every=2)
    for step in range(1, n + 1):
        image = np.full((*hw, 3), step / n, np.float32)
        losses = {"total": 10.0 / step, "content": 1.0 * step, "style": 5.0 / step, "tv": 0.0}
        rec(jax_nst.Progress(step, n, step, losses, image))
    return rec


def test_recorder_keeps_every_nth_frame_and_all_losses():
    rec = fake_reports(7)
    assert rec.steps == list(range(1, 8))
    assert [s for s, _ in rec.frames] == [2, 4, 6, 7]  # and the last one
    assert rec.losses["style"][0] == 5.0


def test_grid_and_gif(tmp_path):
    rec = fake_reports(8)
    grid = progress.grid(rec.frames)
    assert grid.size == (2 * 30 + 2, 2 * 20 + 2)
    progress.save_grid(rec.frames, tmp_path / "g.png", columns=4)
    assert Image.open(tmp_path / "g.png").size == (4 * 30 + 3 * 2, 20)
    progress.save_gif(rec.frames, tmp_path / "a.gif", width=15)
    gif = Image.open(tmp_path / "a.gif")
    assert gif.n_frames == 4 and gif.size == (15, 10)
    with pytest.raises(NSTError, match="no frames"):
        progress.grid([])
    with pytest.raises(NSTError, match=r"\.gif"):
        progress.save_gif(rec.frames, tmp_path / "a.png")


def test_frames_of_a_multiscale_run_share_the_final_size(tmp_path):
    rec = progress.Recorder(every=1)
    for step, hw in ((1, (10, 15)), (2, (20, 30))):
        rec(jax_nst.Progress(step, 2, step, {k: 1.0 for k in progress.PARTS}, np.zeros((*hw, 3), np.float32)))
    assert progress.grid(rec.frames).size == (2 * 30 + 2, 20)


def test_loss_curve(tmp_path):
    pytest.importorskip("matplotlib")
    path = progress.save_loss_curve(fake_reports(), tmp_path / "loss.png", "test")
    assert Image.open(path).format == "PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["loss.png"]


def test_loss_curve_without_matplotlib_is_a_clear_error(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(NSTError, match=r"pip install 'jax_nst\[plot\]'"):
        progress.save_loss_curve(fake_reports(), tmp_path / "loss.png")
    assert list(tmp_path.iterdir()) == []


def test_chain_calls_each():
    seen = []
    both = progress.chain(seen.append, None, lambda p: seen.append(-p))
    both(3)
    assert seen == [3, -3] and progress.chain(None) is None


def test_live_shows_one_picture_and_line_and_redraws_them_in_place():
    class Handle:
        def __init__(self, shown):
            self.shown = [shown]

        def update(self, shown):
            self.shown.append(shown)

    handles = []
    live = progress.Live(width=64, display=lambda obj, display_id: handles.append(Handle(obj)) or handles[-1])
    rng = np.random.default_rng(0)
    for step in (5, 10):
        batch = rng.random((2, 20, 30, 3)).astype(np.float32)  # a batch shows its first image
        live(progress.Progress(step, 10, step, {"total": np.array([10.0 / step, 1.0])}, batch, stopped=step == 10))
    picture, line = handles
    assert len(handles) == 2 and len(picture.shown) == 2 and len(line.shown) == 2  # updated, not shown again
    assert picture.shown[-1].size == (64, 43)
    assert str(line.shown[-1]) == "step 10/10  L_total 1  (stopped: the loss stopped falling)"
