"""The memory a run may use is the least of the host's RAM, the process's ulimit and its control group's limit;
refusals name a size that fits under it, and running out of memory anywhere is one line."""

from __future__ import annotations

import re
import resource
import subprocess
import sys

import jax
import pytest

from jax_nst import api, cli, objective, samples
from jax_nst.optimize import host_memory

import tiny

GiB = 2**30


def fake_roots(tmp_path, cgroup_lines: str, files: dict[str, str], meminfo_gib: int = 16):
    """A /proc and /sys/fs/cgroup of our own: ``files`` maps paths under the cgroup root to their text."""
    proc, cgroup = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    (proc / "meminfo").write_text(f"MemTotal: {32 * 2**20} kB\nMemAvailable: {meminfo_gib * 2**20} kB\n")
    (proc / "self" / "status").write_text("VmSize:\t 1048576 kB\nVmData:\t 524288 kB\n")
    (proc / "self" / "cgroup").write_text(cgroup_lines)
    for name, text in files.items():
        (cgroup / name).parent.mkdir(parents=True, exist_ok=True)
        (cgroup / name).write_text(text)
    return host_memory.Roots(proc, cgroup)


def test_a_cgroup_v2_limit_bounds_what_is_available(tmp_path):
    roots = fake_roots(tmp_path, "0::/job/step\n", {"cgroup.controllers": "memory", "job/memory.max": str(4 * GiB),
                                                     "job/memory.current": str(GiB), "job/step/memory.max": "max"})
    assert host_memory.available_bytes(roots) == 3 * GiB


def test_a_cgroup_v1_limit_bounds_what_is_available_and_its_no_limit_is_none(tmp_path):
    files = {"memory/memory.limit_in_bytes": "9223372036854771712", "memory/slurm/memory.limit_in_bytes": str(6 * GiB),
             "memory/slurm/memory.usage_in_bytes": str(2 * GiB)}
    roots = fake_roots(tmp_path, "4:memory:/slurm\n0::/\n", files)
    assert host_memory.available_bytes(roots) == 4 * GiB
    roots = fake_roots(tmp_path / "none", "4:memory:/\n", {"memory/memory.limit_in_bytes": "9223372036854771712"})
    assert host_memory.available_bytes(roots) == 16 * GiB  # the RAM


def test_ulimit_v_counts_from_the_process_size_and_keeps_room_for_its_mappings(tmp_path, monkeypatch):
    limits = {resource.RLIMIT_AS: (5 * GiB, resource.RLIM_INFINITY), resource.RLIMIT_DATA: (resource.RLIM_INFINITY,) * 2}
    monkeypatch.setattr(resource, "getrlimit", lambda which: limits[which])
    roots = fake_roots(tmp_path, "0::/\n", {})
    used = max(GiB, host_memory.ADDRESS_SPACE_FLOOR)  # VmSize 1 GiB, or the floor counted for any run
    assert host_memory.available_bytes(roots) == 5 * GiB - used - host_memory.ADDRESS_SPACE_EXTRA


@pytest.mark.parametrize("message", ["INTERNAL: Error dispatching computation: Out of memory allocating 2654300552 bytes.",
                                     "INTERNAL: YNNPACK operation failed: error"])
def test_running_out_of_memory_while_computing_the_targets_is_one_line(tmp_path, capsys, monkeypatch, message):
    """XLA:CPU under a full ulimit says INTERNAL ... Out of memory, or (in a YNNPACK kernel) YNNPACK operation failed:
    before the optimization it is one line too."""
    def exhausted(*args, **kwargs):
        raise jax.errors.JaxRuntimeError(message)

    monkeypatch.setattr(objective.targets, "build", exhausted)
    out = tmp_path / "o.png"
    assert cli.main([str(samples.CONTENT), str(samples.STYLE), "-o", str(out), "--size", "32", "--steps", "1", "-q",
                     *tiny.FLAGS]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.match(r"jax-nst: error: out of memory stylizing 1 image\(s\) of 32×\d+ px", err[0])
    assert not out.exists()


def test_running_out_of_memory_anywhere_else_is_one_line(tmp_path, capsys, monkeypatch):
    def exhausted(*args, **kwargs):
        raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 99 bytes.")

    monkeypatch.setattr(api, "load_params", exhausted)
    assert cli.main([str(samples.CONTENT), str(samples.STYLE), "-o", str(tmp_path / "o.png"), "--size", "32"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["jax-nst: error: out of memory; try a smaller --size (jax-nst doctor names the largest size that fits)"]


@pytest.mark.slow
def test_under_ulimit_v_a_run_is_refused_with_a_size_that_then_runs(tmp_path):
    """The refusal reads the process's real limit, and the size it names completes under that limit."""
    limit = 6 * GiB
    limited = (f"import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit})); "
               "sys.argv = ['jax-nst', *sys.argv[1:]]; runpy.run_module('jax_nst', run_name='__main__')")

    def run(size: str) -> subprocess.CompletedProcess:  # the child limits itself, as under `ulimit -v`
        # the paper's Gram loss: the size named is evaluated in bands of rows, where W2 takes one pass more (time)
        cmd = [sys.executable, "-c", limited, str(samples.CONTENT), str(samples.STYLE), "-o", str(tmp_path / "o.png"),
               "--size", size, "--steps", "1", "-q", "--preset", "gatys2016"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=900)

    refused = run("3000")
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    side = re.search(r"--size (\d+)", refused.stderr)
    assert side, refused.stderr
    done = run(side.group(1))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o.png").exists()
