"""Faults a hostile but ordinary user meets: a full disk, absurd options, too little memory, interrupts,
concurrent jobs on one folder, broken links and huge inputs. Each ends in one clear line or a correct result."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from PIL import Image

from jax_nst import api, cli, images, samples
from jax_nst.errors import NSTError
from jax_nst.jobs import claims, manifest
from jax_nst.settings import Settings

import tiny

FAST = ["--size", "32", "--steps", "2", "--optimizer", "adam", "-q", *tiny.FLAGS]
CHILD_ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}


def noise_image(path: pathlib.Path, size: tuple[int, int] = (40, 32), seed: int = 0) -> pathlib.Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)).save(path)
    return path


def folder_of(root: pathlib.Path, n: int) -> tuple[pathlib.Path, pathlib.Path]:
    """``n`` noise images under root/in and a style image."""
    for i in range(n):
        noise_image(root / "in" / f"img{i:02d}.png", seed=i)
    return root / "in", noise_image(root / "style.png", seed=99)


def one_error_line(capsys: pytest.CaptureFixture) -> str:
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def hidden_files(folder: pathlib.Path) -> list[pathlib.Path]:
    return [p for p in folder.rglob(".*")]


def manifest_lines_are_records(out: pathlib.Path) -> None:
    """Every line of every manifest file is a whole JSON record."""
    for path in out.glob(manifest.PATTERN):
        for line in path.read_text().splitlines():
            assert isinstance(json.loads(line), dict), line


# --- 1. a full disk ------------------------------------------------------------------------------


def enospc_at_call(n: int):
    """An os.write whose n-th call writes half its bytes and whose later calls fail: a disk filling up."""
    real, calls = os.write, [0]

    def write(fd: int, data) -> int:
        calls[0] += 1
        if calls[0] < n:
            return real(fd, data)
        if calls[0] == n and len(data) > 1:
            return real(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


@pytest.mark.parametrize("call", [1, 3, 4])
def test_full_disk_in_a_folder_job_leaves_nothing_partial(tmp_path, monkeypatch, capsys, call: int) -> None:
    """The disk fills at the first image, the first record or the second image: one line, exit 1, no temp
    file, no cut record; then, with room again, a rerun finishes every image exactly once."""
    in_dir, style = folder_of(tmp_path, 3)
    out = tmp_path / "out"
    argv = ["folder", str(in_dir), str(style), str(out), *FAST, "--batch-size", "1"]
    monkeypatch.setattr(os, "write", enospc_at_call(call))
    assert cli.main(argv) == 1
    monkeypatch.undo()
    assert "No space left on device" in one_error_line(capsys)
    assert hidden_files(out) == []
    assert all(m.stat().st_size > 0 for m in out.glob(manifest.PATTERN))  # no empty manifest
    manifest_lines_are_records(out)
    for r in manifest.read(out):
        assert images.load_image(out / r["output"]).shape == (26, 32, 3)
    assert cli.main(argv) == 0
    counts = [r["output"] for r in manifest.read(out) if r["status"] == manifest.DONE]
    assert sorted(counts) == [f"img{i:02d}.png" for i in range(3)]
    assert hidden_files(out) == []


# --- 2. absurd learning rates, divergence --------------------------------------------------------


@pytest.mark.parametrize("lr", ["inf", "nan", "1e38", "-1", "0", "2"])
def test_absurd_adam_learning_rates_are_refused(tmp_path, capsys, lr: str) -> None:
    out = tmp_path / "o.png"
    argv = [str(samples.CONTENT), str(samples.STYLE), "-o", str(out), *FAST, "--lr", lr]
    assert cli.main(argv) in (1, 2)
    assert "learning" in one_error_line(capsys) or "lr" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_a_diverging_optimization_stops_with_an_error(tmp_path, capsys) -> None:
    """Adam at the largest accepted rate saturates the pixels; the loss rises; nothing is written."""
    out = tmp_path / "o.png"
    argv = [str(samples.CONTENT), str(samples.STYLE), "-o", str(out), "--size", "48", "--steps", "10",
            "--optimizer", "adam", "--lr", "1", "-q", "--preset", "gatys2016"]  # the Gram loss: its loss rises
    assert cli.main(argv) == 1
    line = one_error_line(capsys)
    assert "the optimization diverged: the loss rose from" in line and "lower the learning rate" in line
    assert not out.exists()


# --- 3. memory and the output location, refused before any work ---------------------------------


def test_a_size_that_cannot_fit_is_refused_at_once(tmp_path, capsys) -> None:
    out = tmp_path / "o.png"
    start = time.perf_counter()
    assert cli.main([str(samples.CONTENT), str(samples.STYLE), "-o", str(out), "--size", "100000", "-q"]) == 1
    line = one_error_line(capsys)
    assert "need about" in line and "even with remat" in line and "--size" in line
    assert time.perf_counter() - start < 5.0, "the refusal must come before any computation"
    side = int(line.rsplit("--size ", 1)[1].rstrip(")"))
    s = Settings(size=side)
    from jax_nst.optimize import memory

    assert memory.fits(images.fit_long_side(512, 341, side), s)  # the size it names does fit the estimate
    assert not out.exists()


def test_running_out_of_memory_in_xla_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    def exhausted(*args, **kwargs):
        raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 123456789 bytes.")

    monkeypatch.setattr(api, "optimize_stage", exhausted)
    out = tmp_path / "o.png"
    assert cli.main([str(samples.CONTENT), str(samples.STYLE), "-o", str(out), *FAST]) == 1
    line = one_error_line(capsys)
    assert re.match(r"jax-nst: error: out of memory stylizing 1 image\(s\) of 32×\d+ px on cpu; no smaller size is "
                    r"worth suggesting", line)  # 32 px: a smaller size would show no style
    assert not out.exists()


def test_an_unwritable_output_is_refused_before_work(capsys, monkeypatch) -> None:
    monkeypatch.setattr(api, "stylize_batch", lambda *a, **k: pytest.fail("computed before checking the output"))
    assert cli.main([str(samples.CONTENT), str(samples.STYLE), "-o", "/proc/x.png", *FAST]) == 1
    assert "cannot write to output directory '/proc'" in one_error_line(capsys)


def test_a_252_character_output_name_is_written(tmp_path, capsys) -> None:
    out = tmp_path / ("n" * 248 + ".png")
    assert cli.main([str(samples.CONTENT), str(samples.STYLE), "-o", str(out), *FAST]) == 0
    assert images.load_image(out).shape[1] == 32
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


# --- 6. Ctrl-C at any moment ---------------------------------------------------------------------


@contextlib.contextmanager
def terminal_interrupt():
    """Start commands with SIGINT as a terminal gives it, also when the suite runs in the background: there
    SIGINT is ignored and a child inherits that, while a handled signal is reset to its default in a child."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.5, 0.8, 1.2, 2.0, 3.0, 5.0, 8.0])
def test_ctrl_c_at_any_moment_is_one_line_and_130(tmp_path, delay: float) -> None:
    """From importing JAX to compiling and optimizing: one line, exit code 130, no output. (The first
    tenths of a second are the interpreter's own start-up, before any of the command's code runs.)"""
    out = tmp_path / "o.png"
    argv = [sys.executable, "-m", "jax_nst", str(samples.CONTENT), str(samples.STYLE), "-o", str(out),
            "--size", "48", "--steps", "400"]
    with terminal_interrupt():
        proc = subprocess.Popen(argv, env=CHILD_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    lines = [line for line in err.decode().replace("\r", "\n").splitlines() if line.strip() and "\x1b" not in line]
    assert (proc.returncode, lines) == (130, ["jax-nst: error: interrupted"])
    assert not out.exists()


# --- 7. concurrent runs on one output folder -----------------------------------------------------


@pytest.mark.slow
def test_concurrent_folder_runs_compute_each_output_once(tmp_path) -> None:
    runs = 3
    in_dir, style = folder_of(tmp_path, 6)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "jax_nst", "folder", str(in_dir), str(style), str(out), *FAST, "--batch-size", "1"]
    procs = [subprocess.Popen(argv, env=CHILD_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(runs)]
    results = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0] * runs, [r[1].decode()[-1500:] for r in results]
    done = [r["output"] for r in manifest.read(out) if r["status"] == manifest.DONE]
    assert sorted(done) == [f"img{i:02d}.png" for i in range(6)], "an image was computed twice or not at all"
    summaries = [r[0].decode() for r in results]
    assert sum(int(s.split("done ")[1].split(",")[0]) for s in summaries) == 6
    assert hidden_files(out) == []
    manifest_lines_are_records(out)


def hold_claim(out: pathlib.Path, output: str, seconds: float) -> subprocess.Popen:
    """Another process that claims ``output`` in ``out`` and holds it for ``seconds`` (then exits without finishing)."""
    code = (f"import time, pathlib; from jax_nst.jobs import claims; c = claims.Claims(pathlib.Path({str(out)!r})); "
            f"assert c.take({output!r}); print('held', flush=True); time.sleep({seconds})")
    proc = subprocess.Popen([sys.executable, "-c", code], env=CHILD_ENV, stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"held"
    return proc


def test_a_claim_is_free_when_its_process_dies(tmp_path) -> None:
    holder = hold_claim(tmp_path, "a.png", 60)
    mine = claims.Claims(tmp_path)
    assert not mine.take("a.png") and mine.take("b.png")
    holder.kill()
    holder.wait()
    assert mine.take("a.png")
    mine.close()
    assert not (tmp_path / claims.FOLDER).exists()


def test_a_run_waits_for_a_claimed_output_and_takes_it_over(tmp_path, capsys) -> None:
    """An output claimed by a run that then dies without finishing is waited for, then done by this run."""
    in_dir, style = folder_of(tmp_path, 2)
    out = tmp_path / "out"
    out.mkdir()
    holder = hold_claim(out, "img00.png", 8)
    start = time.perf_counter()
    assert cli.main(["folder", str(in_dir), str(style), str(out), *FAST, "--batch-size", "1"]) == 0
    assert holder.wait() == 0 and time.perf_counter() - start > 5, "the run did not wait for the claim"
    assert "done 2, skipped 0" in capsys.readouterr().out
    done = [r["output"] for r in manifest.read(out) if r["status"] == manifest.DONE]
    assert sorted(done) == ["img00.png", "img01.png"]
    assert hidden_files(out) == []


# --- 9. links and huge inputs --------------------------------------------------------------------


def test_symlink_loops_and_dangling_links_are_named(tmp_path, capsys) -> None:
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    with pytest.raises(NSTError, match="symbolic link loop"):
        images.load_image(loop)
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "gone.png")
    with pytest.raises(NSTError, match="broken symbolic link"):
        images.load_image(dangling)


def test_links_in_an_input_folder_are_counted_as_failed(tmp_path, capsys) -> None:
    in_dir, style = folder_of(tmp_path, 1)
    (in_dir / "dangling.png").symlink_to(tmp_path / "gone.png")
    (in_dir / "loop.png").symlink_to(in_dir / "loop.png")
    out = tmp_path / "out"
    assert cli.main(["folder", str(in_dir), str(style), str(out), *FAST]) == 3
    captured = capsys.readouterr()
    assert "done 1, skipped 0 (already done), failed 2" in captured.out
    assert "broken symbolic link" in captured.err and "symbolic link loop" in captured.err


@pytest.mark.slow
def test_a_huge_input_decodes_near_the_target_size_without_warnings(tmp_path) -> None:
    """A 12000 × 12000 picture made into a 64 px output: no decompression-bomb warning, memory far below
    the 1.7 GB that the decoded file alone would take as float32."""
    path = tmp_path / "huge.png"
    Image.new("RGB", (12000, 12000), (200, 120, 40)).save(path)
    code = ("import pathlib, re, warnings; warnings.simplefilter('error'); from jax_nst import images; "
            f"img = images.load_image({str(path)!r}, 64); "
            "print(img.shape, re.search(r'VmHWM:\\s+(\\d+)', pathlib.Path('/proc/self/status').read_text())[1])")
    run = subprocess.run([sys.executable, "-W", "error", "-c", code], env=CHILD_ENV, capture_output=True, timeout=300)
    assert run.returncode == 0 and run.stderr == b"", run.stderr.decode()[-1000:]
    shape, peak_kb = run.stdout.decode().rsplit(")", 1)
    assert shape + ")" == "(64, 64, 3)"
    assert int(peak_kb) < 1_000_000, f"peak {int(peak_kb) / 1e6:.2f} GB"


def test_a_full_disk_at_the_first_record_leaves_no_empty_manifest(tmp_path, monkeypatch) -> None:
    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    path = manifest.path_for(tmp_path)
    monkeypatch.setattr(os, "write", full)
    with manifest.Writer(path) as writer, pytest.raises(NSTError, match="No space left on device"):
        writer.append({"output": "a.png", "status": manifest.DONE})
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
    with manifest.Writer(path) as writer:  # with room again: the record, whole
        writer.append({"output": "a.png", "status": manifest.DONE})
    assert manifest.read(tmp_path) == [{"output": "a.png", "status": manifest.DONE}]


def test_a_read_only_compile_cache_is_read_without_warnings(tmp_path) -> None:
    """A shared cache the user cannot write costs compile time only: the run prints its one line, no warnings."""
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o555)
    def writable(folder: pathlib.Path) -> bool:
        try:
            (folder / "probe").touch()
        except OSError:
            return False
        (folder / "probe").unlink()
        return True

    if writable(cache):  # root writes anywhere: take a folder where no file can be made (sysfs)
        cache = pathlib.Path("/sys")
        if not cache.is_dir() or writable(cache):
            pytest.skip("no read-only folder here")
    out = tmp_path / "o.png"
    cmd = [sys.executable, "-m", "jax_nst", str(samples.CONTENT), str(samples.STYLE), "-o", str(out), *FAST]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env={**CHILD_ENV, "JAX_NST_CACHE_DIR": str(cache)})
    assert done.returncode == 0 and out.exists()
    assert done.stderr.strip() == "", done.stderr[:500]


# --- 9. every flag of every subcommand, with values a hostile user types -------------------------

BAD_NUMBERS = ("nan", "inf", "-inf", "-1", "0", "1e400", "123456789012", "x", "")
BAD_TEXT = ("", "nan", "-1", "/nonexistent/x.png", "a=b=c")


SKIPPED = ("--output", "--weights", "--coordinator", "--num-processes", "--process-id")
"""Paths tested on their own, and the multi-host flags, which start jax.distributed."""


class Accepted(Exception):
    """Raised where the work would start: the value passed every check."""


def _accepted(*args, **kwargs):
    raise Accepted


def flag_cases() -> list[tuple[str | None, str, str]]:
    """(subcommand, flag, value) for every option that takes a value, of every subcommand, read from its usage line:
    "[--flag {a,b}]" takes a choice, "[--flag METAVAR]" a number or a text (both sets are tried)."""
    cases = []
    for name in cli.COMMANDS:
        usage = cli.command(name)[0]().format_usage()
        for flag, metavar in re.findall(r"(--[\w-]+) ([^\s\]|]+)", usage):
            if flag in SKIPPED:
                continue
            values = ("bogus",) if metavar.startswith("{") else tuple(dict.fromkeys(BAD_NUMBERS + BAD_TEXT))
            cases += [(name, flag, v) for v in values]
    return cases


@pytest.fixture(scope="module")
def battery_files(tmp_path_factory) -> dict[str, pathlib.Path]:
    root = tmp_path_factory.mktemp("battery")
    frames = root / "frames"
    for i in range(2):
        noise_image(frames / f"frame_{i + 1:06d}.png", (32, 24), seed=i)
    return {"content": noise_image(root / "c.png"), "style": noise_image(root / "s.png", seed=1),
            "folder": noise_image(root / "in" / "a.png").parent, "frames": frames}


def base_argv(name: str | None, f: dict[str, pathlib.Path], out: pathlib.Path) -> list[str]:
    """A valid command line of subcommand ``name`` writing under ``out``."""
    c, s = str(f["content"]), str(f["style"])
    return {None: [c, s, "-o", str(out / "o.png")], "demo": ["demo", "-o", str(out / "o.png")], "layers": ["layers"],
            "doctor": ["doctor"], "reconstruct": ["reconstruct", c, "-o", str(out / "o.png")],
            "synthesize": ["synthesize", s, "-o", str(out / "o.png")], "folder": ["folder", str(f["folder"]), s, str(out)],
            "tfds": ["tfds", "mnist", s, str(out)], "convert-weights": ["convert-weights", c, str(out / "w.safetensors")],
            "video": ["video", str(f["frames"]), s, "-o", str(out / "v")], "clip": ["clip", "pan", "-o", str(out / "c")],
            "studio": ["studio"]}[name]


@pytest.mark.parametrize("name, flag, value", flag_cases(), ids=lambda v: repr(v))
def test_every_flag_with_a_hostile_value_is_one_line_or_accepted(name, flag, value, battery_files, tmp_path, capsys,
                                                                  monkeypatch) -> None:
    """NaN, inf, negative, zero, huge, wrong type or empty: a usage error (2) or an error (1) in one line with
    nothing written, or a value that passes every check before the work starts."""
    from jax_nst import doctor, objective, studio, video
    from jax_nst.jobs import batch
    from jax_nst.video import motion

    for owner, attr in ((api, "load_params"), (objective.targets, "build"), (batch, "run"), (doctor, "table"),
                        (video, "stylize_video"), (motion, "make"), (studio, "serve")):  # where the work would start
        monkeypatch.setattr(owner, attr, _accepted)
    out = tmp_path / "out"
    out.mkdir()
    try:
        code = cli.main([*base_argv(name, battery_files, out), flag, value])
    except Accepted:
        code = None
    err = capsys.readouterr().err.strip().splitlines()
    if code is not None and code != 0:
        assert code in (1, 2) and len(err) == 1 and re.match(r"jax-nst( [\w-]+)?: error: ", err[0]), err
    assert list(out.iterdir()) == []
