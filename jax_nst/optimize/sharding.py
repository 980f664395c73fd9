"""Data parallelism over one host's devices: a 1-D ``Mesh`` whose "batch" axis splits the images.

A batch of B images on d devices is padded to ⌈B/d⌉·d by repeating its last image. Images, content
targets and optimizer state are sharded along "batch"; the VGG params and style Grams are
replicated. Each device runs the (``vmap``-ed) loop on its own slice under ``jax.shard_map``, so
the images never communicate: each result equals the one-device result within float tolerance.
(Leaving the placement to jit's sharding propagation instead made XLA all-gather activations inside
the line search, and the L-BFGS loop ran out of memory.)
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .loop import compiler_options

BATCH = "batch"
Tree = TypeVar("Tree")


def batch_devices(batch: int) -> int:
    """How many of this process's devices a batch of ``batch`` images uses: min(batch, local devices)."""
    return max(1, min(batch, jax.local_device_count()))


def local_mesh(devices: int | None = None) -> Mesh:
    """A mesh with one axis "batch" over the first ``devices`` (default all) local devices."""
    local = jax.local_devices()
    return Mesh(np.array(local[: devices or len(local)]), (BATCH,))


def padded_size(batch: int, devices: int) -> int:
    """``batch`` rounded up to a multiple of ``devices``."""
    return -(-batch // devices) * devices


def pad_batch(tree: Tree, size: int) -> Tree:
    """Grow every leaf's leading axis to ``size`` by repeating its last entry (no-op when already there)."""

    def pad(a: jax.Array) -> jax.Array:
        extra = size - a.shape[0]
        return a if extra <= 0 else jnp.concatenate([a, jnp.repeat(a[-1:], extra, axis=0)])

    return jax.tree.map(pad, tree)


def shard_batch(tree: Tree, mesh: Mesh) -> Tree:
    """Place every leaf split along its leading axis over the mesh's "batch" axis."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec(BATCH)))


def replicate(tree: Tree, mesh: Mesh) -> Tree:
    """Place a full copy of every leaf on each device of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def data_parallel(loop: Any, params: Any, x: jax.Array, targets: Any, hyper: Any,
                  batched: Sequence[str] = ("content",)) -> tuple:
    """(loop, params, x, targets, hyper) for a batch spread over the local devices; one device: unchanged.

    ``loop`` is a batched :class:`jax_nst.optimize.Loop`; the returned one has the same signatures
    and works on the padded batch. The ``batched`` fields of the ``targets`` named tuple and the
    per-image ``hyper`` have one entry per image and are sharded with x; the other fields are
    replicated like the params.
    """
    devices = batch_devices(x.shape[0])
    if devices == 1:
        return loop, params, x, targets, hyper
    mesh, size = local_mesh(devices), padded_size(x.shape[0], devices)
    split = {f: shard_batch(pad_batch(getattr(targets, f), size), mesh) for f in batched}
    shared = replicate(targets._replace(**dict.fromkeys(batched)), mesh)._replace(**split)
    x, hyper = (shard_batch(pad_batch(a, size), mesh) for a in (x, hyper))
    return sharded_loop(loop, devices, tuple(batched)), replicate(params, mesh), x, shared, hyper


@functools.lru_cache(maxsize=8)
def sharded_loop(loop: Any, devices: int, batched: tuple[str, ...] = ("content",)) -> Any:
    """``loop`` run under ``shard_map`` over ``devices`` local devices: each device takes its slice."""
    mesh, b, r = local_mesh(devices), PartitionSpec(BATCH), PartitionSpec()
    init_fn, run_fn, report_fn = (_unjitted(f) for f in (loop.init, loop.run, loop.losses))

    def over(fn: Callable, in_specs: tuple) -> Callable:
        # check_vma off: optax's line search mixes per-device and shared values in lax.cond branches
        mapped = jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=b, check_vma=False)
        return jax.jit(mapped, compiler_options=compiler_options() or None)

    def join(split: tuple, shared: Any) -> Any:
        return shared._replace(**dict(zip(batched, split)))

    def part(t: Any) -> tuple[tuple, Any]:
        return tuple(getattr(t, f) for f in batched), t._replace(**dict.fromkeys(batched))

    init = over(lambda p, x, c, t, h: init_fn(p, x, join(c, t), h), (r, b, b, r, b))
    run = over(lambda p, x, st, c, t, h, n: run_fn(p, x, st, join(c, t), h, n), (r, b, b, b, r, b, r))
    report = over(lambda p, x, c, t, h: report_fn(p, x, join(c, t), h), (r, b, b, r, b))
    return type(loop)(
        init=lambda p, x, t, h: init(p, x, *part(t), h),
        run=lambda p, x, st, t, h, n: run(p, x, st, *part(t), h, n),
        losses=lambda p, x, t, h: report(p, x, *part(t), h),
    )


def _unjitted(fn: Callable) -> Callable:
    """The function under a ``jax.jit`` (the loop is compiled again as a whole, with its options)."""
    return getattr(fn, "__wrapped__", fn)
