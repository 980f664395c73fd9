"""Counting the programs a block of code makes: each compiled by XLA or loaded from the persistent compilation cache.

Traced weights (α, β, γ, learning rate) compile nothing new; the studio shows this count per job, and tests bound it.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import jax

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"  # a program compiled by XLA
CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"  # a program loaded from the persistent compilation cache


@contextlib.contextmanager
def counting() -> Iterator[list[str]]:
    """A list that gets one entry (the event's name) per program made inside the block (jax.monitoring)."""
    seen: list[str] = []

    def compiled(event: str, duration: float, **kw: object) -> None:
        if event == COMPILE_EVENT:
            seen.append(event)

    def loaded(event: str, **kw: object) -> None:
        if event == CACHE_HIT_EVENT:
            seen.append(event)

    jax.monitoring.register_event_duration_secs_listener(compiled)
    jax.monitoring.register_event_listener(loaded)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(compiled)
        jax.monitoring.unregister_event_listener(loaded)
