"""How much more memory this process may use on the host: the least of the machine's available RAM, the
process's own limits (``ulimit -v`` / ``-d``: RLIMIT_AS, RLIMIT_DATA) and its control group's limit (cgroup v2
``memory.max``, v1 ``memory.limit_in_bytes``: what Colab, Kubernetes, SLURM and Docker set).

Every memory refusal and size suggestion reads :func:`available_bytes` (through
:func:`jax_nst.optimize.memory.available_bytes`), so a run refused under a limit names a size that fits in it.
"""

from __future__ import annotations

import os
import pathlib
import resource
from typing import NamedTuple

UNLIMITED_V1 = 1 << 60
"""cgroup v1 writes "no limit" as a number near 2^63; anything above this is taken as none."""
ADDRESS_SPACE_EXTRA = 1 << 31
"""Address space a run maps beyond what it touches, kept free under ``ulimit -v``: VmPeak − VmHWM of 1- and 2-step
runs at 512–1536 px was 1.0–1.52 GiB (AMD EPYC, XLA:CPU, with the compilation cache), and a run at the size named
under a 6 GiB limit ran out on another machine of the same kind where it peaked 1.23 GiB below the limit here."""


ADDRESS_SPACE_FLOOR = 3 << 29
"""The address space counted as this process's own under ``ulimit -v``, at least: where the check is made, a run's
VmSize was 0.95–1.49 GiB (AMD EPYC, XLA:CPU), so counting the larger keeps a refusal's suggestion and the check of
the run that follows it the same."""


class Roots(NamedTuple):
    """Where the kernel's files are read (tests point these at a folder of their own)."""

    proc: pathlib.Path = pathlib.Path("/proc")
    cgroup: pathlib.Path = pathlib.Path("/sys/fs/cgroup")


def available_bytes(roots: Roots = Roots()) -> int:
    """The least of: available RAM, what RLIMIT_AS / RLIMIT_DATA leave above this process's current size, and
    what each control group containing this process leaves below its limit."""
    found = [ram_available(roots), *rlimit_left(roots), *cgroup_left(roots)]
    return max(0, min(found))


def ram_available(roots: Roots = Roots()) -> int:
    """MemAvailable from /proc/meminfo, or free physical pages where there is none."""
    number = _field(roots.proc / "meminfo", "MemAvailable:")
    return number if number is not None else os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def rlimit_left(roots: Roots = Roots()) -> list[int]:
    """Bytes left under the address-space and data limits (``ulimit -v``, ``ulimit -d``) that are set."""
    left = []
    for limit, used in ((resource.RLIMIT_AS, "VmSize:"), (resource.RLIMIT_DATA, "VmData:")):
        soft = resource.getrlimit(limit)[0]
        if soft != resource.RLIM_INFINITY:
            size = _field(roots.proc / "self" / "status", used) or 0
            if limit == resource.RLIMIT_AS:
                size = max(size, ADDRESS_SPACE_FLOOR) + ADDRESS_SPACE_EXTRA
            left.append(soft - size)
    return left


def cgroup_left(roots: Roots = Roots()) -> list[int]:
    """Bytes left below the memory limit of every control group of this process (and their parents) that has one."""
    left = []
    for folder, limit_name, usage_name in _cgroup_folders(roots):
        limit, usage = _number(folder / limit_name), _number(folder / usage_name)
        if limit is not None and limit < UNLIMITED_V1:
            left.append(limit - (usage or 0))
    return left


def _cgroup_folders(roots: Roots) -> list[tuple[pathlib.Path, str, str]]:
    """(folder, limit file, usage file) of this process's memory cgroup and its ancestors, v2 and v1.

    /proc/self/cgroup names the group from the root of the hierarchy; inside a container the mount shows the
    container's own group at its root instead, so both the named path and the mount's root are read."""
    try:
        lines = (roots.proc / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":
            base, files = roots.cgroup, ("memory.max", "memory.current")
            if not (base / "cgroup.controllers").exists():
                base = roots.cgroup / "unified"
        elif "memory" in controllers.split(","):
            base, files = roots.cgroup / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        relative = pathlib.PurePosixPath(path.strip() or "/").relative_to("/")
        for part in [relative, *relative.parents]:
            found.append((base / part, *files))
    return list(dict.fromkeys(found))


def _number(path: pathlib.Path) -> int | None:
    """The integer in a one-line kernel file; None for "max", a missing or unreadable file."""
    try:
        text = path.read_text().strip()
        return int(text)
    except (OSError, ValueError):
        return None


def _field(path: pathlib.Path, key: str) -> int | None:
    """The "key: N kB" field of a /proc status-style file, in bytes; None when absent."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
