"""Folder jobs: inputs and outputs, bad files, the manifest, kill-and-resume, several hosts."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from jax_nst import cli, images
from jax_nst.cli import jobs as cli_jobs
from jax_nst.jobs import buckets, folder, hosts, manifest
from jax_nst.errors import NSTError
from jax_nst.settings import Settings

import tiny

FAST = ["--size", "32", "--steps", "2", "--optimizer", "adam", "-q", *tiny.FLAGS]


def noise_image(path: pathlib.Path, size: tuple[int, int] = (40, 32), seed: int = 0) -> pathlib.Path:
    """A small RGB noise image (PIL size: width, height)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)).save(path)
    return path


def good_folder(root: pathlib.Path, n: int) -> list[pathlib.Path]:
    """``n`` images of a few sizes under root/in, some in a sub-folder."""
    sizes = [(40, 32), (32, 40), (36, 36), (48, 30)]
    return [noise_image(root / "in" / ("sub" if i % 3 == 2 else "") / f"img{i:02d}.png", sizes[i % 4], i) for i in range(n)]


def records(out: pathlib.Path) -> list[dict]:
    return manifest.read(out)


def done_counts(out: pathlib.Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records(out):
        if r["status"] == manifest.DONE:
            counts[r["output"]] = counts.get(r["output"], 0) + 1
    return counts


def leftovers(out: pathlib.Path) -> list[pathlib.Path]:
    """Hidden (temporary) files anywhere under ``out``."""
    return [p for p in out.rglob(".*")]


# --- pieces --------------------------------------------------------------------------------------


def test_work_shapes_and_restore() -> None:
    assert buckets.work_shape(300, 400, 256) == (192, 256)  # 192 = 6·32
    assert buckets.work_shape(400, 290, 256, step=32) == (256, 192)  # 185.6 → 192
    assert buckets.work_shape(400, 290, 256, step=1) == (256, 186)
    assert buckets.work_shape(10, 400, 256) == (32, 256)  # never below one step
    assert buckets.work_shape(300, 400, 256, "square") == (256, 256)
    img, shape = buckets.prepare(np.zeros((300, 400, 3), np.float32), 64, "square")
    assert img.shape == (64, 64, 3) and shape == (48, 64)
    assert buckets.restore(img, shape).shape == (48, 64, 3)
    with pytest.raises(NSTError, match="resize policy"):
        buckets.work_shape(1, 1, 32, "stretch")


def test_inputs_and_output_names(tmp_path: pathlib.Path) -> None:
    for name in ["b.jpg", "b.png", "sub/c.webp", ".hidden.png", ".cache/x.png", "out/old.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = folder.list_inputs(tmp_path, exclude=tmp_path / "out")
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["b.jpg", "b.png", "sub/c.webp"]
    assert folder.output_names(found, tmp_path) == ["b.jpg.png", "b.png.png", "sub/c.png"]
    assert folder.list_inputs(tmp_path, "*.jpg") == [tmp_path / "b.jpg"]
    assert folder.style_folders(["s.jpg"]) == [""]
    assert folder.style_folders(["a/s.jpg", "t.png"]) == ["s", "t"]
    with pytest.raises(NSTError, match="different file names"):
        folder.style_folders(["a/s.jpg", "b/s.png"])


def test_manifest_ignores_a_cut_line_and_other_settings(tmp_path: pathlib.Path) -> None:
    key = {"settings": "abc", "style": "/s.png", "resize": "bucket:32", "weights": None, "init": "content"}
    path = manifest.path_for(tmp_path)
    with manifest.Writer(path) as w:
        w.append({"output": "a.png", "status": "done", **key})
        w.append({"output": "b.png", "status": "done", **key, "settings": "other"})
        w.append({"output": "c.png", "status": "failed", **key})
    with open(path, "ab") as f:
        f.write(b'{"output": "d.png", "sta')  # a kill in the middle of a record
    with manifest.Writer(path) as w:
        w.append({"output": "e.png", "status": "done", **key})
    assert [r["output"] for r in manifest.read(tmp_path)] == ["a.png", "b.png", "c.png", "e.png"]
    assert manifest.done(manifest.read(tmp_path), key) == {"a.png", "e.png"}
    assert manifest.path_for(tmp_path, 3, 8).name == "manifest.0003-of-0008.jsonl"


def test_each_process_takes_every_nth_input() -> None:
    assert list(hosts.share(range(11), 2, 4)) == [2, 6, 10]
    assert sorted(x for k in range(3) for x in hosts.share(range(10), k, 3)) == list(range(10))
    assert hosts.process() == (0, 1)


def test_a_manifest_made_after_the_last_look_is_read_when_asked(tmp_path: pathlib.Path) -> None:
    """A run checks for manifests made since its last look before it computes an output it claimed: another
    run may have finished that output and made the folder's first manifest in between."""
    follower = manifest.Follower(tmp_path)  # looks for new files every 5 s
    assert follower.new() == []
    manifest.Writer(manifest.path_for(tmp_path)).append({"output": "a.png", "status": manifest.DONE})
    assert follower.new() == []
    assert [r["output"] for r in follower.new(scan=True)] == ["a.png"]


def test_a_manifest_temp_left_by_a_killed_run_is_swept(tmp_path: pathlib.Path) -> None:
    """A kill while the first record's manifest is made leaves its temp file; a later run of the folder deletes
    it, but never the temp of a run that still lives."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    left = tmp_path / f".manifest.jsonl.{host}.{int(dead.stdout)}.new"
    live = tmp_path / f".manifest.jsonl.{host}.{os.getpid()}.new"
    other_host = tmp_path / f".manifest.jsonl.{host}x.{int(dead.stdout)}.new"
    for path in (left, live, other_host):
        path.write_bytes(b"{}\n")
    manifest.sweep(tmp_path)
    assert sorted(tmp_path.iterdir()) == sorted([live, other_host])


def test_temp_files_of_a_killed_write_are_found(tmp_path: pathlib.Path) -> None:
    ours = tmp_path / (images.temp_prefix("a.png") + "k2j_x9zq" + images.TEMP_SUFFIX)
    ours.write_bytes(b"half")
    (tmp_path / (images.temp_prefix("b.png") + "k2j_x9zq" + images.TEMP_SUFFIX)).write_bytes(b"another output's")
    (tmp_path / ".a.png").write_bytes(b"not ours")
    (tmp_path / "a.png").write_bytes(b"x")
    assert images.temp_files(tmp_path, {"a.png"}) == {"a.png": [ours]}


# --- whole jobs ----------------------------------------------------------------------------------


def test_folder_job_skips_bad_files_and_says_so(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture) -> None:
    good = good_folder(tmp_path, 3)
    data = good[0].read_bytes()
    bad = {"corrupt.png": data[: len(data) // 2], "empty.jpg": b"", "notes.txt": b"not an image"}
    for name, content in bad.items():
        (tmp_path / "in" / name).write_bytes(content)
    style = noise_image(tmp_path / "style.png", seed=9)
    out = tmp_path / "out"
    argv = ["folder", str(tmp_path / "in"), str(style), str(out), *FAST, "--batch-size", "2"]
    assert cli.main(argv) == cli_jobs.EXIT_SOME_FAILED
    captured = capsys.readouterr()
    for name in bad:
        assert f"failed: cannot read image '{tmp_path / 'in' / name}'" in captured.err
    assert "done 3, skipped 0 (already done), failed 3" in captured.out
    for path in good:
        rel = path.relative_to(tmp_path / "in")
        result = images.load_image(out / rel)
        h, w = np.asarray(Image.open(path)).shape[:2]
        assert result.shape[:2] == images.fit_long_side(h, w, 32)  # aspect ratio restored
    rs = records(out)
    assert sorted(r["output"] for r in rs if r["status"] == "failed") == ["corrupt.png", "empty.png", "notes.png"]
    done = [r for r in rs if r["status"] == "done"]
    digest = Settings(size=32, steps=2, optimizer="adam", report_every=2, **tiny.LAYERS).digest()
    assert all(r["settings"] == digest and set(r["losses"]) >= {"total", "content", "style"} for r in done)
    assert all(r["seconds"] > 0 and r["batch"] in (1, 2) for r in done)

    assert cli.main(argv) == cli_jobs.EXIT_SOME_FAILED  # rerun: only the bad ones are tried again
    assert "done 0, skipped 3 (already done), failed 3" in capsys.readouterr().out
    assert set(done_counts(out).values()) == {1}


def wait_for(predicate, timeout: float, proc: subprocess.Popen) -> bool:
    """Poll ``predicate`` until true, the process ends or ``timeout`` s pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


@pytest.mark.slow
def test_killed_job_resumes_without_redoing_or_partial_files(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture) -> None:
    good = good_folder(tmp_path, 12)
    style = noise_image(tmp_path / "style.png", seed=9)
    out = tmp_path / "out"
    argv = ["folder", str(tmp_path / "in"), str(style), str(out), *FAST, "--batch-size", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "jax_nst", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        first = wait_for(lambda: any(out.rglob("img*.png")), 900, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        err = proc.communicate()[1].decode()
    assert first, err
    assert proc.returncode == -signal.SIGKILL
    before = done_counts(out)
    assert len(before) < len(good), "the job ended before the kill"
    # what a kill in the middle of a write leaves: a temp file and a cut manifest line
    pending = next(p for p in sorted(out.parent.joinpath("in").rglob("*.png")) if p.relative_to(tmp_path / "in").as_posix() not in before)
    temp = out / pending.relative_to(tmp_path / "in").parent / (images.temp_prefix(pending.name) + "abcd1234.part")
    temp.parent.mkdir(parents=True, exist_ok=True)
    temp.write_bytes(b"\x89PNG half")
    with open(manifest.path_for(out), "ab") as f:
        f.write(b'{"input": "cut')
    (out / f".manifest.jsonl.{socket.gethostname()}.{proc.pid}.new").write_bytes(b"{}\n")  # killed making it

    assert cli.main(argv) == cli.EXIT_OK
    assert f"skipped {len(before)} (already done)" in capsys.readouterr().out
    counts = done_counts(out)
    assert sorted(counts) == sorted(p.relative_to(tmp_path / "in").as_posix() for p in good)
    assert set(counts.values()) == {1}, "an image was stylized twice"
    for path in good:
        assert images.load_image(out / path.relative_to(tmp_path / "in")).shape[2] == 3
    assert leftovers(out) == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_share_a_folder(tmp_path: pathlib.Path) -> None:
    good = good_folder(tmp_path, 5)
    style = noise_image(tmp_path / "style.png", seed=9)
    out = tmp_path / "out"
    host = ["--distributed", "--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2"]
    argv = [sys.executable, "-m", "jax_nst", "folder", str(tmp_path / "in"), str(style), str(out), *FAST, *host]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen([*argv, "--process-id", str(k)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for k in range(2)]
    results = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1].decode()[-2000:] for r in results]
    assert "done 3," in results[0][0].decode() and "done 2," in results[1][0].decode()
    rs = records(out)
    assert {r["process"] for r in rs} == {0, 1} and {r["processes"] for r in rs} == {2}
    inputs = sorted(str(p) for p in good)
    assert sorted(r["input"] for r in rs if r["process"] == 0) == inputs[0::2]
    assert sorted(done_counts(out)) == sorted(p.relative_to(tmp_path / "in").as_posix() for p in good)
    assert sorted(p.name for p in out.glob("manifest*")) == ["manifest.0000-of-0002.jsonl", "manifest.0001-of-0002.jsonl"]


@pytest.mark.parametrize("extra, message", [
    (["--steps", "0"], "steps must be a positive integer"),
    (["--resize", "square", "--bucket", "0"], "--bucket: must be from 1 to"),
    (["--spatial", "2"], "needs 2 local devices"),  # refused once, not image by image
])
def test_bad_options_fail_before_any_work(tmp_path: pathlib.Path, capsys, extra: list[str], message: str) -> None:
    good_folder(tmp_path, 1)
    style = noise_image(tmp_path / "style.png")
    code = cli.main(["folder", str(tmp_path / "in"), str(style), str(tmp_path / "out"), *extra])
    assert code in (1, 2) and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_output_folder_that_is_a_file_is_one_error_line(tmp_path: pathlib.Path, capsys) -> None:
    good_folder(tmp_path, 1)
    style = noise_image(tmp_path / "style.png")
    (tmp_path / "out").write_text("mine")
    assert cli.main(["folder", str(tmp_path / "in"), str(style), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"jax-nst: error: the output folder '{tmp_path / 'out'}' is a file; give a folder"]
    assert (tmp_path / "out").read_text() == "mine"


def test_missing_input_folder_is_one_error_line(tmp_path: pathlib.Path, capsys) -> None:
    style = noise_image(tmp_path / "style.png")
    assert cli.main(["folder", str(tmp_path / "nope"), str(style), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"jax-nst: error: input folder '{tmp_path / 'nope'}' does not exist or is not a folder"]
