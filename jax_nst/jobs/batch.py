"""Batch jobs: many content images, one style, an output folder, a manifest; resumable after any kill.

Images are loaded one by one (a file that cannot be read is logged, recorded as failed and
skipped), grouped by work shape (:mod:`jax_nst.buckets`) into batches of ``batch_size`` and
stylized with :func:`jax_nst.stylize_batch`, which spreads each batch over the local devices.
Each output is written atomically (temp file + rename) and then recorded in the manifest, so an
output exists only complete, and a rerun skips every output recorded as done under the same
settings digest, style, resize policy, weights and init, and deletes the temp files a kill left.
Runs sharing the output folder claim each output first (:mod:`jax_nst.jobs.claims`): an output is
computed once; one claimed by another run is waited for at the end, and taken over if that run dies.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import sys
import time
from typing import Any, Callable, Iterable, NamedTuple

import numpy as np

from .. import images
from . import buckets, claims, hosts, manifest
from ..errors import NSTError
from ..settings import INITS, Settings

class Item(NamedTuple):
    """One input: its name in the manifest, its output path relative to the output folder, its loader."""

    name: str
    output: str
    load: Callable[[], Any]


@dataclasses.dataclass(frozen=True)
class Job:
    """What every image of a job shares: validated ``settings`` (an init image is recorded by name in ``key``)."""

    out_dir: pathlib.Path
    style: Any
    settings: Settings
    weights: str | None = None
    trust_weights: bool = False
    init: Any = "content"
    batch_size: int = 1
    policy: str = "bucket"
    step: int = buckets.DEFAULT_STEP

    def __post_init__(self) -> None:
        """Bad options or sizes fail here, before any image is read."""
        buckets.work_shape(1, 1, self.settings.size, self.policy, self.step)
        if self.batch_size < 1:
            raise NSTError(f"batch size must be >= 1, got {self.batch_size}")
        if self.batch_size > 1 and self.settings.spatial > 1:
            raise NSTError(f"spatial sharding stylizes one image at a time; use a batch size of 1, not {self.batch_size}")

    def key(self, init_label: str | None = None) -> dict[str, Any]:
        """What a manifest record must match to count as done (see :data:`jax_nst.manifest.KEY_FIELDS`)."""
        return {
            "settings": self.settings.digest(),
            "style": _label(self.style),
            "resize": buckets.describe(self.policy, self.step),
            "weights": None if self.weights is None else str(pathlib.Path(self.weights).absolute()),
            "init": init_label or _label(self.init),
        }


@dataclasses.dataclass
class Summary:
    """Counts of a run: stylized now, skipped as already done, failed; wall seconds."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Images stylized per second of this run."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (f"done {self.done}, skipped {self.skipped} (already done), failed {self.failed}; "
                f"{self.rate:.3g} images/s ({self.done} in {self.seconds:.1f} s)")


class _Pending(NamedTuple):
    item: Item
    image: np.ndarray  # at its work shape
    shape: tuple[int, int]  # output shape


def run(items: Iterable[Item], job: Job, *, total: int | None = None, quiet: bool = False,
        log: Callable[[str], None] | None = None) -> Summary:
    """Stylize every item not done yet; returns the counts. ``total``: how many items, for the bar.

    Items claimed by a concurrent run are left to it and waited for at the end; if it dies, this run does them.
    """
    out_dir = pathlib.Path(job.out_dir)
    if not out_dir.is_dir():
        raise NSTError(f"output directory '{out_dir}' does not exist")
    with manifest.Writer(manifest.path_for(out_dir, *hosts.process())) as writer, _bar(total, quiet) as bar:
        runner = _Runner(job, writer, bar, log or _logger(bar))
        try:
            waiting = [item for item in items if not runner.offer(item, wait=False)]
            runner.flush()
            for item in waiting:  # one at a time: a run never waits while it holds a claim
                runner.offer(item, wait=True)
                runner.flush()
            runner.sweep()
        finally:
            runner.claims.close()
    return runner.finish()


def _bar(total: int | None, quiet: bool) -> Any:
    """A tqdm bar over images on stderr, showing images/s."""
    from tqdm import tqdm

    return tqdm(total=total, unit="img", file=sys.stderr, disable=quiet, dynamic_ncols=True, smoothing=0.1)


def _logger(bar: Any) -> Callable[[str], None]:
    """Print a line to stderr above the progress bar."""
    return lambda message: bar.write(message, file=sys.stderr)


class _Runner:
    """Loads items into per-shape buckets and stylizes a bucket once it holds a batch."""

    def __init__(self, job: Job, writer: manifest.Writer, bar: Any, log: Callable) -> None:
        self.job, self.writer, self.bar, self.log = job, writer, bar, log
        self.key, self.settings, self.summary = job.key(), job.settings, Summary()
        self.out_dir = pathlib.Path(job.out_dir)
        self.claims, self.follower = claims.Claims(self.out_dir), manifest.Follower(self.out_dir)
        self.buckets: dict[tuple[int, int], list[_Pending]] = {}
        self.seen: set[str] = set()
        self.done: set[str] = set()
        self.failed: set[str] = set()
        self.start, self.started = time.perf_counter(), time.time()

    def offer(self, item: Item, wait: bool) -> bool:
        """Skip ``item`` if done, else claim and load it; False if another run holds it (and not ``wait``)."""
        self.seen.add(item.output)
        if self.is_finished(item):
            self.skip()
        elif not self.claims.take(item.output, wait=wait):
            return False
        elif self.is_finished(item, scan=True):  # finished by the run that held it (maybe in a manifest made since)
            self.claims.release(item.output)
            self.skip()
        else:
            self.add(item)
        return True

    def is_finished(self, item: Item, scan: bool = False) -> bool:
        """Done under this job's key (and its output there), or failed in a concurrent run since this one started;
        ``scan``: also read manifest files made since the last look (before computing an output this run claimed)."""
        records = self.follower.new(scan)
        self.done |= manifest.done(records, self.key)
        self.failed |= {r["output"] for r in records if r.get("status") == manifest.FAILED
                        and manifest.matches(r, self.key) and r.get("time", 0) >= self.started}
        return (item.output in self.done and (self.out_dir / item.output).is_file()) or item.output in self.failed

    def skip(self) -> None:
        """Count an item already done (and take it off the bar's total)."""
        self.summary.skipped += 1
        if self.bar.total:
            self.bar.total -= 1
            self.bar.refresh()

    def add(self, item: Item) -> None:
        """Load ``item`` into its bucket (or record its failure); stylize the bucket when full."""
        try:
            img = images.load_image(item.load(), at_least=self.settings.size)
            work, shape = buckets.prepare(img, self.settings.size, self.job.policy, self.job.step)
        except Exception as e:  # noqa: BLE001 - any unreadable input is that input's failure
            self.fail(item, _message(e))
            return
        bucket = self.buckets.setdefault(work.shape[:2], [])
        bucket.append(_Pending(item, work, shape))
        if len(bucket) >= self.job.batch_size:
            self.stylize(self.buckets.pop(work.shape[:2]))

    def flush(self) -> None:
        """Stylize the partial batches left in the buckets."""
        for shape in list(self.buckets):
            self.stylize(self.buckets.pop(shape))

    def stylize(self, batch: list[_Pending]) -> None:
        """Stylize ``batch`` and write each result; a failing batch is retried image by image."""
        start, last = time.perf_counter(), {}
        try:
            from .. import api  # the command's parser imports no JAX

            out = api.stylize_batch(
                [p.image for p in batch], self.job.style, weights=self.job.weights, trust_weights=self.job.trust_weights, init=self.job.init,
                callback=lambda p: last.update(p.losses), settings=self.settings,
            )
        except NSTError as e:
            if len(batch) > 1:
                for p in batch:
                    self.stylize([p])
            else:
                self.fail(batch[0].item, _message(e))
            return
        seconds = (time.perf_counter() - start) / len(batch)
        for i, p in enumerate(batch):
            losses = {k: float(np.asarray(v).reshape(-1)[i]) for k, v in last.items()}
            self.write(p, out[i], losses, seconds, len(batch))

    def write(self, p: _Pending, image: np.ndarray, losses: dict, seconds: float, batch: int) -> None:
        """Save one output atomically, then record it."""
        path = pathlib.Path(self.job.out_dir) / p.item.output
        path.parent.mkdir(parents=True, exist_ok=True)
        images.save_image(buckets.restore(image, p.shape), path)
        self.record(p.item, manifest.DONE, losses=losses, seconds=round(seconds, 4), batch=batch)
        self.claims.release(p.item.output)
        self.summary.done += 1
        self.bar.update(1)

    def fail(self, item: Item, message: str) -> None:
        """Log, count and record an input that could not be stylized."""
        self.log(f"failed: {message}" if item.name in message else f"failed: {item.name}: {message}")
        self.record(item, manifest.FAILED, error=message)
        self.claims.release(item.output)
        self.summary.failed += 1
        self.bar.set_postfix(failed=self.summary.failed, refresh=False)
        self.bar.update(1)

    def record(self, item: Item, status: str, **fields: Any) -> None:
        process, processes = hosts.process()
        self.writer.append({
            "input": item.name, "output": item.output, "status": status, **self.key, **fields,
            "process": process, "processes": processes, "time": round(time.time(), 3),
        })

    def sweep(self) -> None:
        """Delete the temp files and claim files that a killed run left for this run's outputs (those no live run
        claims): a run killed between recording an output and letting go of its claim leaves the claim's file."""
        folders: dict[pathlib.Path, set[str]] = {}
        for output in self.seen:
            if self.claims.path(output).exists() and self.claims.take(output):
                self.claims.release(output)
            path = self.out_dir / output
            folders.setdefault(path.parent, set()).add(path.name)
        for folder, names in folders.items():
            if not folder.is_dir():
                continue
            for name, temps in images.temp_files(folder, names).items():
                output = (folder / name).relative_to(self.out_dir).as_posix()
                if self.claims.take(output):
                    for temp in temps:
                        temp.unlink(missing_ok=True)
                    self.claims.release(output)
        manifest.sweep(self.out_dir)

    def finish(self) -> Summary:
        self.summary.seconds = time.perf_counter() - self.start
        return self.summary


def _message(e: BaseException) -> str:
    """A one-line description of an input's failure."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if isinstance(e, NSTError) else f"{type(e).__name__}: {text}"


def _label(source: Any) -> str:
    """A stable name for a style or init source: an absolute path, a mode, or its kind."""
    if isinstance(source, (list, tuple)):
        return "+".join(_label(s) for s in source)
    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        return text if _is_mode(text) else str(pathlib.Path(source).absolute())
    return f"<{type(source).__name__}>"


def _is_mode(init: Any) -> bool:
    return isinstance(init, str) and init in INITS
