"""``jax-nst doctor``: its FLOP count, its peak lookup, its flags (the table itself: ``tests/test_notebook.py``)."""

from __future__ import annotations

import pytest

from jax_nst import doctor
from jax_nst.cli import main
from jax_nst.settings import Settings


def test_evaluation_flops_count_forward_and_input_gradient() -> None:
    s = Settings(content_layers="conv1_2", style_layers="conv1_1,conv2_1")
    conv1_1, conv1_2, conv2_1 = 2 * 8 * 8 * 9 * 3 * 64, 2 * 8 * 8 * 9 * 64 * 64, 2 * 4 * 4 * 9 * 64 * 128
    assert doctor.evaluation_flops(8, s) == 2 * (conv1_1 + conv1_2 + conv2_1)


def test_data_sheet_peak_by_device_kind() -> None:
    assert doctor.data_sheet_peak("TPU v5 lite", "bfloat16") == 197e12
    assert doctor.data_sheet_peak("TPU v5p", "bfloat16") == 459e12
    assert doctor.data_sheet_peak("TPU v4", "float32") is None  # float32 runs as bfloat16 passes
    assert doctor.data_sheet_peak("NVIDIA H100 80GB HBM3", "float32") == 67e12
    assert doctor.data_sheet_peak("cpu", "float32") is None


def test_doctor_bad_batches_is_one_line(capsys: pytest.CaptureFixture) -> None:
    assert main(["doctor", "--batches", "0,2"]) != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--batches must be sizes >= 1" in err


def test_devices_sharing_bands_fit_a_larger_square_than_one_pass_split_over_them() -> None:
    text = doctor.over_devices(Settings(bands=1), 8, 16 * 2**30)
    split, shared = (int(t.split(" px")[0].split()[-1]) for t in text.split(", ")[:2])
    assert "(--spatial 8)" in text and "(--spatial 8 --bands auto, Adam)" in text
    assert shared > split > 0
