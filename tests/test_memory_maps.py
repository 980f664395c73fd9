"""A long job drops its compiled programs before the process runs out of memory maps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from jax_nst.optimize import memory_maps

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
