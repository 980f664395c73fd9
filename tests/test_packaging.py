"""The wheel carries every subpackage, the weights, their provenance, the licence and the sample images."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_weights_and_samples(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("jax_nst-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in ("vgg19", "vgg16"):
        assert f"jax_nst/weights/{model}.safetensors" in names
        assert f"jax_nst/weights/{model}.provenance.json" in names
    assert {"jax_nst/samples/content.jpg", "jax_nst/samples/style.png"} <= names
    assert not any(n.startswith("tests/") for n in names)
    for package in ("cli", "controls", "jobs", "objective", "optimize", "studio", "vgg"):
        assert f"jax_nst/{package}/__init__.py" in names
    assert {f"jax_nst/studio/static/{f}" for f in ("index.html", "studio.js", "studio.css")} <= names
    assert any(n.endswith("licenses/LICENSE") or n.endswith("/LICENSE") for n in names)
    assert wheel.stat().st_size < 40 * 2**20  # both weight files are 8-bit codebooks
