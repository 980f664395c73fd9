"""A long job, a notebook or a study drops its compiled programs before the process runs out of memory maps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_nst
from jax_nst.optimize import compilations, memory_maps

import tiny

pytestmark = pytest.mark.skipif(memory_maps.map_count() is None, reason="needs /proc/self/maps (Linux)")


def test_release_gives_the_maps_back_and_programs_compile_again() -> None:
    fns = [jax.jit(lambda x, k=k: jnp.sin(x) * k + x.sum()) for k in range(20)]
    for k, f in enumerate(fns):
        f(jnp.ones(k + 1)).block_until_ready()
    before = memory_maps.map_count()
    assert not memory_maps.release_when_crowded(limit=before + 10_000)  # few maps: programs are kept
    assert memory_maps.release_when_crowded(limit=0)
    assert memory_maps.map_count() < before - 100  # ~11 maps per compiled program came back
    assert float(fns[3](jnp.ones(4))[0]) == pytest.approx(float(jnp.sin(1.0) * 3 + 4))  # compiled again on use


def test_a_stylize_call_in_a_crowded_process_drops_compiled_programs(monkeypatch, content_small, style_small) -> None:
    f = jax.jit(lambda x: x * 2)
    f(jnp.ones(3)).block_until_ready()
    opts = dict(size=32, steps=2, scales="none", **tiny.LAYERS)
    kept = jax_nst.stylize(content_small, style_small, **opts)
    with compilations.counting() as made:
        f(jnp.ones(3)).block_until_ready()
    assert not made  # a process under the limit keeps its programs
    monkeypatch.setattr(memory_maps, "CROWDED", 0)  # every process is crowded
    dropped = jax_nst.stylize(content_small, style_small, **opts)
    with compilations.counting() as made:
        f(jnp.ones(3)).block_until_ready()
    assert made  # dropped before the stage compiled: a notebook meeting many shapes does not crash
    np.testing.assert_array_equal(dropped, kept)  # and the picture is the same
