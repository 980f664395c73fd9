"""Several hosts: ``jax.distributed`` start-up and each process's share of a job's inputs.

Process k of N takes the inputs with index % N == k; inside a process the batch is spread over
its local devices (:mod:`jax_nst.sharding`). Hosts never exchange images, so no collective runs.
"""

from __future__ import annotations

from typing import Iterable, Iterator, TypeVar

from ..errors import NSTError

T = TypeVar("T")


def initialize(coordinator: str | None = None, processes: int | None = None, process: int | None = None) -> None:
    """Join the job's processes with ``jax.distributed.initialize``.

    With no arguments the cluster is detected (Cloud TPU pods, SLURM, Open MPI); otherwise give the
    coordinator "host:port", the number of processes and this process's index.
    """
    import jax

    try:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=processes, process_id=process)
    except (RuntimeError, ValueError) as e:
        raise NSTError(f"jax.distributed.initialize failed: {' '.join(str(e).split())}") from None


def finish() -> None:
    """Leave the job in order: every process waits at ``jax.distributed``'s shutdown barrier before any exits.

    Without it, process 0 can take the coordination service down at interpreter exit while another
    process is still leaving, and the coordination service aborts that process (SIGABRT).
    """
    import jax

    if jax.distributed.is_initialized():
        jax.distributed.shutdown()


def process() -> tuple[int, int]:
    """(this process's index, number of processes); (0, 1) without ``jax.distributed``."""
    import jax

    return jax.process_index(), jax.process_count()


def share(items: Iterable[T], index: int | None = None, count: int | None = None) -> Iterator[T]:
    """The items whose position i satisfies i % count == index (default: this process's)."""
    if index is None or count is None:
        index, count = process()
    return (item for i, item in enumerate(items) if i % count == index)
