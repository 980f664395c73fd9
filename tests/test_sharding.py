"""Batches spread over several devices: padding, placement, and results equal to one device's."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest

from jax_nst.optimize import sharding

EIGHT_DEVICES = textwrap.dedent(
    """
    import sys
    import jax
    import numpy as np
    import jax_nst
    from jax_nst import images, samples
    from jax_nst.optimize import sharding

    base = images.load_image(samples.CONTENT, 48)
    rng = np.random.default_rng(0)
    contents = [np.clip(0.8 * base[:32, i : i + 32] + 0.2 * rng.random((32, 32, 3)), 0, 1) for i in range(11)]
    style = images.load_image(samples.STYLE, 32)
    options = dict(size=32, steps=2, report_every=2, optimizer=sys.argv[2], style_loss="gram", margin=0)  # as test_stylize
    reports = []
    batch = jax_nst.stylize_batch(contents, style, callback=reports.append, **options)
    alone = np.stack([jax_nst.stylize(c, style, **options) for c in contents])
    np.savez(sys.argv[1], batch=batch, alone=alone, devices=jax.local_device_count(),
             used=sharding.batch_devices(len(contents)), compiled=sharding.sharded_loop.cache_info().currsize,
             losses=reports[-1].losses["total"], image=reports[-1].image)
    """
)


def test_padded_size_and_pad_batch() -> None:
    assert [sharding.padded_size(b, 8) for b in (1, 8, 11, 16)] == [8, 8, 16, 16]
    x = jnp.arange(3.0)[:, None]
    padded = sharding.pad_batch({"x": x}, 5)["x"]
    assert padded[:, 0].tolist() == [0.0, 1.0, 2.0, 2.0, 2.0]
    assert sharding.pad_batch(x, 3) is x


def test_one_device_leaves_the_batch_alone() -> None:
    assert sharding.batch_devices(11) == 1  # the test process has one CPU device
    loop, x = object(), jnp.zeros((3, 4, 4, 3))
    assert sharding.data_parallel(loop, {}, x, None, None) == (loop, {}, x, None, None)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_eleven_images_on_eight_devices_equal_one_device(tmp_path: pathlib.Path, optimizer: str) -> None:
    out = tmp_path / "eight.npz"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, "-c", EIGHT_DEVICES, str(out), optimizer], env=env, check=True, timeout=900)
    r = np.load(out)
    assert int(r["devices"]) == 8 and int(r["used"]) == 8 and int(r["compiled"]) == 1
    assert r["batch"].shape == (11, 32, 32, 3) and r["losses"].shape == (11,) and r["image"].shape == (11, 32, 32, 3)
    np.testing.assert_allclose(r["batch"], r["alone"], atol=1e-4 if optimizer == "adam" else 2e-3)  # as test_stylize
    assert np.all(np.isfinite(r["losses"]))
    assert not np.allclose(r["batch"][0], r["batch"][10], atol=0.05)  # distinct images, none lost to padding
