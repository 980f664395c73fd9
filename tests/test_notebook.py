"""The Colab TPU notebook runs top to bottom on CPU at 32 px and 2 steps, on 8 simulated devices."""

from __future__ import annotations

import pathlib

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK = pathlib.Path(__file__).parents[1] / "examples" / "colab_tpu.ipynb"
TINY = 'SIZE = 32\nSTEPS = 2\nOPTIMIZER = "adam"\nPER_DEVICE = 1\nINSTALL = False\nPACKAGE = "jax_nst"\nCHECK_SIZE = 32\nOPEN_STUDIO = True\nSTUDIO_PORT = 0'


def outputs(nb) -> tuple[str, int]:
    """All text the notebook printed, and how many images it showed."""
    text, pictures = [], 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text.append(out.get("text", ""))
            data = out.get("data", {})
            text.append(data.get("text/plain", ""))
            pictures += "image/png" in data
    return "".join(text), pictures


@pytest.mark.slow
def test_colab_notebook_runs_at_tiny_size(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    params[0].source = TINY
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel shows figures inline
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text, pictures = outputs(nb)
    assert "8 local devices" in text
    assert "8 images on 8 devices" in text
    assert "| jax-nst doctor |" in text and "split over 8 devices (--spatial 8)" in text
    assert "with the devices sharing bands (--spatial 8 --bands auto, Adam)" in text
    assert pictures == 3  # the live picture (redrawn in place: one), the image with its loss curve, the batch
    assert "step 2/2  L_total" in text  # the live line, at its last report
    assert "studio serving at http://127.0.0.1:" in text
