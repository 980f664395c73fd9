"""The JSON-lines manifest of a batch job: one record per image stylized (or failed), appended as it happens.

Each process appends to its own file (``manifest.jsonl``, or ``manifest.K-of-N.jsonl`` with N
processes), so hosts sharing an output folder never write the same file. A record is one line,
written with one O_APPEND write and fsync-ed after the image it describes was renamed into place;
a line cut short by a kill is ignored when reading, one cut by a full disk is taken back.
"""

from __future__ import annotations

import errno
import glob
import json
import math
import os
import pathlib
import socket
import time
from typing import Any, Iterable, Mapping

from ..errors import NSTError

PATTERN = "manifest*.jsonl"
DONE, FAILED = "done", "failed"
KEY_FIELDS = ("settings", "style", "resize", "weights", "init")
"""What, besides the output path, must match for an earlier record to count as done."""


def path_for(out_dir: pathlib.Path, process: int = 0, processes: int = 1) -> pathlib.Path:
    """This process's manifest file in ``out_dir``."""
    name = "manifest.jsonl" if processes == 1 else f"manifest.{process:04d}-of-{processes:04d}.jsonl"
    return pathlib.Path(out_dir) / name


def read(out_dir: pathlib.Path) -> list[dict[str, Any]]:
    """Every complete record of every manifest file in ``out_dir``."""
    records = []
    for path in sorted(pathlib.Path(out_dir).glob(PATTERN)):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            record = _parse(line)
            if record is not None:
                records.append(record)
    return records


def _parse(line: str) -> dict[str, Any] | None:
    """A record, or None for a blank, cut or foreign line."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "output" in record else None


def matches(record: Mapping[str, Any], key: Mapping[str, Any]) -> bool:
    """Whether ``record`` was made under ``key`` (the :data:`KEY_FIELDS` all match)."""
    return all(record.get(f) == key.get(f) for f in KEY_FIELDS)


def done(records: Iterable[Mapping[str, Any]], key: Mapping[str, Any]) -> set[str]:
    """Outputs with a "done" record made under ``key``."""
    return {r["output"] for r in records if r.get("status") == DONE and matches(r, key)}


class Follower:
    """Reads the records that the manifests of ``out_dir`` gain while a job runs (its own and other runs').

    Only complete lines are taken; new manifest files (other processes) are looked for at most every
    ``rescan`` seconds, or when asked (``scan``).
    """

    def __init__(self, out_dir: pathlib.Path, rescan: float = 5.0) -> None:
        self.out_dir, self.rescan = pathlib.Path(out_dir), rescan
        self.offsets: dict[pathlib.Path, int] = {}
        self.scanned = -math.inf

    def new(self, scan: bool = False) -> list[dict[str, Any]]:
        """The records written since the last call; ``scan``: look for new manifest files now."""
        if scan or time.monotonic() - self.scanned >= self.rescan:
            self.scanned = time.monotonic()
            for path in self.out_dir.glob(PATTERN):
                self.offsets.setdefault(path, 0)
        records = []
        for path, offset in self.offsets.items():
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
            except OSError:
                continue
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self.offsets[path] = offset + len(complete)
            records += [r for r in map(_parse, complete.decode("utf-8", "replace").splitlines()) if r is not None]
        return records


def _temp_head(name: str) -> str:
    """The start of the names of the temp files that make manifest ``name`` on this host (the PID follows)."""
    return f".{name}.{socket.gethostname()}."


def sweep(out_dir: pathlib.Path) -> None:
    """Delete the temp files that a killed run of this host left while making a manifest of ``out_dir``."""
    for temp in pathlib.Path(out_dir).glob(glob.escape(_temp_head("@")).replace("@", PATTERN) + "*.new"):
        pid = temp.name.removesuffix(".new").rpartition(".")[2]
        if pid.isdigit() and not _alive(int(pid)):
            temp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True


class Writer:
    """Appends records to one manifest file, each line fsync-ed before the next image; the file is made at
    the first record. Several runs may append to one file: each record is one O_APPEND write."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = pathlib.Path(path)
        self.fd: int | None = None

    def _open(self) -> int:
        """Open for appending; start on a fresh line if a kill cut the last record short."""
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.write(fd, b"\n")
        return fd

    def append(self, record: Mapping[str, Any]) -> None:
        """Write ``record`` as one JSON line and fsync it; a failed write leaves no part of the line behind."""
        line = json.dumps(record, sort_keys=True).encode() + b"\n"
        before = None
        try:
            if self.fd is None and self._create_with(line):
                return
            if self.fd is None:
                self.fd = self._open()
            before = os.fstat(self.fd).st_size
            if os.write(self.fd, line) != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            os.fsync(self.fd)
        except OSError as e:
            self._cut(before)
            raise NSTError(f"cannot write the manifest '{self.path}': {e.strerror or e}") from None

    def _create_with(self, line: bytes) -> bool:
        """Make the manifest holding ``line`` if there is none: written beside it, fsync-ed and linked into place, so
        a full disk leaves no empty manifest. False when one exists (another run made it): append to that."""
        if self.path.exists():
            return False
        tmp = self.path.with_name(f"{_temp_head(self.path.name)}{os.getpid()}.new")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            try:
                if os.write(fd, line) != len(line):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.link(tmp, self.path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        self.fd = self._open()
        return True

    def _cut(self, size: int | None) -> None:
        """Take a partly written line (no newline yet) back off the end, unless another run appended since."""
        if self.fd is None or size is None:
            return
        try:
            end = os.fstat(self.fd).st_size
            if end > size and b"\n" not in os.pread(self.fd, end - size, size):
                os.ftruncate(self.fd, size)
        except OSError:
            pass  # a reader ignores a cut line

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
