"""The JSON-lines manifest of a batch job: one record per image stylized (or failed), appended as it happens.

Each process appends to its own file (``manifest.jsonl``, or ``manifest.K-of-N.jsonl`` with N
processes), so hosts sharing an output folder never write the same file. A record is one line,
flushed and fsync-ed after the image it describes was renamed into place; a line cut short by a
kill is ignored when reading.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Iterable, Mapping

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


def done(records: Iterable[Mapping[str, Any]], key: Mapping[str, Any]) -> set[str]:
    """Outputs with a "done" record made under ``key`` (the :data:`KEY_FIELDS` must all match)."""
    return {
        r["output"] for r in records
        if r.get("status") == DONE and all(r.get(f) == key.get(f) for f in KEY_FIELDS)
    }


class Writer:
    """Appends records to one manifest file, each line flushed to disk before the next image."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = pathlib.Path(path)
        self.file = open(self.path, "a+b")
        self._end_line()

    def _end_line(self) -> None:
        """Start on a fresh line if a kill cut the last record short."""
        self.file.seek(0, os.SEEK_END)
        if self.file.tell() > 0:
            self.file.seek(-1, os.SEEK_END)
            if self.file.read(1) != b"\n":
                self.file.write(b"\n")

    def append(self, record: Mapping[str, Any]) -> None:
        """Write ``record`` as one JSON line and fsync it."""
        self.file.write(json.dumps(record, sort_keys=True).encode() + b"\n")
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
