"""Keeping a long-running process under the operating system's limit on memory maps.

XLA:CPU maps each compiled kernel on its own: a stylize call at a new image size adds ~3,500 maps.
Linux refuses a process more than ``vm.max_map_count`` (65,530 by default), and the next compilation
past it crashes the process. Every stage of a stylize call (``jax_nst.api.run``) first drops the compiled
programs of a crowded process: a job, a notebook or a study that meets many image shapes stays under the
limit; programs are compiled again when a shape comes back.
"""

from __future__ import annotations

import gc
import pathlib

import jax

MAPS = pathlib.Path("/proc/self/maps")
CROWDED = 20_000  # maps held before compiled programs are dropped: ~13 new shapes from the limit


def map_count() -> int | None:
    """Memory maps this process holds (None where ``/proc`` does not say: not Linux)."""
    try:
        with MAPS.open() as f:
            return sum(1 for _ in f)
    except OSError:
        return None


def release_when_crowded(limit: int | None = None) -> bool:
    """Drop JAX's compiled programs (``jax.clear_caches``) once the process holds more than ``limit``
    (default :data:`CROWDED`) memory maps; True when it did."""
    count = map_count()
    if count is None or count <= (CROWDED if limit is None else limit):
        return False
    jax.clear_caches()
    gc.collect()
    return True
