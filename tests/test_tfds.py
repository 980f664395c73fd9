"""Stylizing a TFDS split, on TFDS's mock data (no download); needs the ``tfds`` extra."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("tensorflow_datasets")

from jax_nst import images  # noqa: E402
from jax_nst.jobs import manifest  # noqa: E402

import tiny  # noqa: E402

MOCKED = textwrap.dedent(
    """
    import sys
    import tensorflow_datasets as tfds
    from jax_nst import cli

    with tfds.testing.mock_data(num_examples=int(sys.argv[1]), data_dir=sys.argv[2]):
        sys.exit(cli.main(["tfds", *sys.argv[3:]]))
    """
)


def run_mocked(examples: int, data_dir: pathlib.Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-c", MOCKED, str(examples), str(data_dir), *argv],
                          env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_tfds_split_is_stylized_and_resumed(tmp_path: pathlib.Path) -> None:
    style = tmp_path / "style.png"
    Image.fromarray((np.random.default_rng(0).random((32, 40, 3)) * 255).astype(np.uint8)).save(style)
    out = tmp_path / "out"
    argv = [str(style), str(out), "--dataset", "imagenette", "--split", "train[:4]", "--data-dir", str(tmp_path / "tfds"),
            "--size", "32", "--steps", "2", "--optimizer", "adam", "--batch-size", "2", "-q", *tiny.FLAGS]
    first = run_mocked(4, tmp_path / "tfds", *argv)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "done 4, skipped 0 (already done), failed 0" in first.stdout
    rs = manifest.read(out)
    assert len(rs) == 4 and {r["status"] for r in rs} == {"done"}
    assert all(r["input"].startswith("imagenette:") and r["losses"]["total"] > 0 for r in rs)
    for r in rs:
        assert max(images.load_image(out / r["output"]).shape[:2]) == 32
    again = run_mocked(4, tmp_path / "tfds", *argv)
    assert again.returncode == 0 and "done 0, skipped 4 (already done)" in again.stdout


def test_missing_data_dir_is_one_error_line(tmp_path: pathlib.Path) -> None:
    style = tmp_path / "style.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(style)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run([sys.executable, "-m", "jax_nst", "tfds", str(style), str(tmp_path / "out"), "--dataset", "imagenette",
                        "--data-dir", str(tmp_path / "empty")], env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 1
    assert "jax-nst: error: cannot read TFDS imagenette 'train'" in r.stderr
    assert "Traceback" not in r.stderr
