"""The studio's work: uploaded pictures checked as the command line checks files, and a queue that runs one
stylization at a time on this host's devices, each job keeping what its page shows (picture, losses, programs made).

Nothing the page sends names a file: pictures are known by the id their upload got, jobs by theirs, and every file
the studio writes lies in its own folder, written atomically.
"""

from __future__ import annotations

import dataclasses
import pathlib
import queue
import secrets
import threading
import time
from typing import Any, Mapping, Sequence

import numpy as np

from .. import api, images, progress, samples
from ..controls import grids, presets
from ..errors import NSTError
from ..objective import terms
from ..optimize import compilations
from ..settings import Settings

MAX_UPLOAD_BYTES = 64 * 2**20
"""The largest file the page may upload; the decoder's own limits (a decompression bomb) apply after it."""
SAMPLES = {"sample-content": ("content.jpg", samples.CONTENT), "sample-style": ("style.png", samples.STYLE)}
"""The bundled pictures, there from the start."""
STATES = ("queued", "running", "done", "stopped", "failed")


@dataclasses.dataclass(frozen=True)
class Picture:
    """An uploaded (or bundled) picture: its id, the name it came with, its size and where the studio keeps it."""

    id: str
    name: str
    width: int
    height: int
    path: pathlib.Path

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "width": self.width, "height": self.height}


class Uploads:
    """The pictures the page may use, by id: the samples, and files uploaded into ``folder`` once they decode."""

    def __init__(self, folder: pathlib.Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._pictures = {i: _picture(i, name, pathlib.Path(path)) for i, (name, path) in SAMPLES.items()}

    def add(self, data: bytes, name: str) -> Picture:
        """Keep ``data`` if it is a picture the command line would read; NSTError (one line) otherwise."""
        name = pathlib.PurePath(name or "upload").name[:120] or "upload"
        if len(data) > MAX_UPLOAD_BYTES:
            raise NSTError(f"{name} is larger than {MAX_UPLOAD_BYTES // 2**20} MiB")
        if not data:
            raise NSTError(f"{name} is empty")
        i = secrets.token_hex(8)
        path = self.folder / f"{i}.upload"
        images.write_atomic(data, path, what="upload")
        try:
            picture = _picture(i, name, path)
        except NSTError as e:
            path.unlink(missing_ok=True)
            raise NSTError(str(e).replace(str(path), name)) from None
        with self._lock:
            self._pictures[i] = picture
        return picture

    def get(self, i: str) -> Picture:
        """The picture of id ``i``; NSTError when there is none."""
        with self._lock:
            found = self._pictures.get(i)
        if found is None:
            raise NSTError(f"no picture {i!r}: upload it again")
        return found

    def all(self) -> list[Picture]:
        with self._lock:
            return list(self._pictures.values())


def _picture(i: str, name: str, path: pathlib.Path) -> Picture:
    """A Picture of the file at ``path``, decoded once to check it (the decoder's limits apply)."""
    h, w = images.load_image(path).shape[:2]
    return Picture(i, name, w, h, path)


class Stopped(Exception):
    """Raised inside a job's progress callback when its page asked it to stop."""


@dataclasses.dataclass
class Job:
    """One stylization the page asked for, and what the page shows of it while it runs and after."""

    id: str
    settings: Settings
    content: Picture
    styles: list[Picture]
    grid: dict[str, list[float]] | None = None
    init: Any = "content"
    init_label: str | None = None
    state: str = "queued"
    message: str = ""
    step: int = 0
    losses: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    pictures: list[np.ndarray] = dataclasses.field(default_factory=list)
    compiled: int | None = None
    created: float = dataclasses.field(default_factory=time.time)
    started: float | None = None
    first_preview_s: float | None = None
    finished: float | None = None
    version: int = 0
    result: pathlib.Path | None = None
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)
    changed: threading.Condition = dataclasses.field(default_factory=threading.Condition)

    @property
    def cells(self) -> list[dict[str, float]]:
        """The grid's cells' values in order (one empty cell without a grid)."""
        if not self.grid:
            return [{}]
        return [{k: getattr(c, k) for k in self.grid} for c in grids.cells(self.settings, self.grid)]

    def update(self, **fields: Any) -> None:
        """Change fields and wake everyone waiting for news of this job."""
        with self.changed:
            for k, v in fields.items():
                setattr(self, k, v)
            self.version += 1
            self.changed.notify_all()

    def wait(self, version: int, timeout: float) -> int:
        """Block until the job's version passes ``version`` (or ``timeout`` s); returns the version now."""
        with self.changed:
            self.changed.wait_for(lambda: self.version > version, timeout)
            return self.version

    def report(self, p: progress.Progress) -> None:
        """A progress callback: keep the losses and pictures; raise :class:`Stopped` when asked to stop."""
        pictures = np.asarray(p.image)
        pictures = list(pictures) if pictures.ndim == 4 else [pictures]
        losses = {k: [float(v) for v in np.ravel(np.asarray(x))] for k, x in p.losses.items()}
        first = self.first_preview_s if self.first_preview_s is not None else time.time() - self.created
        self.update(step=p.step, losses=[*self.losses, {"step": p.step, **losses}], pictures=pictures,
                    first_preview_s=first)
        if self.stop.is_set():
            raise Stopped

    def public(self) -> dict[str, Any]:
        """What the page shows: state, step, the loss curves, the cells and the programs made."""
        return {"id": self.id, "state": self.state, "message": self.message, "step": self.step,
                "steps": self.settings.steps, "losses": self.losses, "cells": self.cells, "version": self.version,
                "compiled": self.compiled, "size": self.settings.size,
                "weights": {n: getattr(self.settings, o) for n, o in terms.OPTIONS.items()}, "content": self.content.public(),
                "styles": [s.public() for s in self.styles], "grid": self.grid, "has_picture": bool(self.pictures),
                "first_preview_s": self.first_preview_s,
                "seconds": None if self.started is None else (self.finished or time.time()) - self.started}


class Studio:
    """The uploads, the jobs and the worker thread that runs them in order, with files in ``folder``."""

    def __init__(self, folder: pathlib.Path, weights: str | None = None, trust_weights: bool = False) -> None:
        self.folder = folder
        self.uploads = Uploads(folder)
        self.weights, self.trust_weights = weights, trust_weights
        self.jobs: dict[str, Job] = {}
        self.made: set[tuple] = set()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._work, name="jax-nst-studio", daemon=True)
        self._worker.start()

    def submit(self, request: Mapping[str, Any]) -> Job:
        """Queue the job the page asked for: ``content`` and ``styles`` ids, ``preset``, ``options`` (Settings
        fields), ``grid`` ({option: values}), or ``continue`` ({"job": id, "cell": k}: start from that job's
        picture, with that cell's values). NSTError for anything a stylization would refuse up front."""
        content, styles = self._pictures(request)
        if not styles:
            raise NSTError("choose at least one style picture")
        options = _options(request.get("options") or {})
        grid = {str(k): [float(v) for v in vs] for k, vs in (request.get("grid") or {}).items()} or None
        init, label = "content", None
        if request.get("continue"):
            before = self.job(str(request["continue"].get("job", "")))
            cell = int(request["continue"].get("cell", 0))
            if not before.pictures or not 0 <= cell < len(before.pictures):
                raise NSTError("that job has no picture to continue from")
            init, label = before.pictures[cell], f"{before.id}-{cell}" if before.grid else before.id
            options = {**before.cells[cell], **options}
        s = presets.resolve(request.get("preset") or None, "content", **options)
        if grid:
            grids.cells(s, grid)
        job = Job(secrets.token_hex(6), s, content, styles, grid, init, label)
        with self._lock:
            self.jobs[job.id] = job
        self._queue.put(job)
        return job

    def job(self, i: str) -> Job:
        """The job of id ``i``; NSTError when there is none."""
        with self._lock:
            found = self.jobs.get(i)
        if found is None:
            raise NSTError(f"no job {i!r}")
        return found

    def compiles(self, request: Mapping[str, Any]) -> bool:
        """Whether the job ``request`` describes makes a program this studio has not made yet: a change of traced
        weights (:data:`jax_nst.controls.grids.TRACED`) makes none, a new size, loss, step count… does."""
        try:
            s = presets.resolve(request.get("preset") or None, "content", **_options(request.get("options") or {}))
            content, styles = self._pictures(request)
        except NSTError:
            return True
        return _shape_key(s, content, styles, request.get("grid")) not in self.made

    def _pictures(self, request: Mapping[str, Any]) -> tuple[Picture, list[Picture]]:
        """The content and style pictures a request names by id."""
        return (self.uploads.get(str(request.get("content", ""))),
                [self.uploads.get(str(i)) for i in request.get("styles") or []])

    def close(self) -> None:
        """Stop the running job and the worker."""
        for job in list(self.jobs.values()):
            job.stop.set()
        self._queue.put(None)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            if job.stop.is_set():
                job.update(state="stopped", message="stopped before it started", finished=time.time())
            else:
                self._run(job)

    def _run(self, job: Job) -> None:
        """Run ``job``, keep its picture (a PNG, written atomically; a stopped job's last one) and count the
        programs it made."""
        job.update(state="running", started=time.time())
        pictures, state, message = [], "failed", ""
        with compilations.counting() as made:
            try:
                pictures, state = self._stylize(job), "done"
            except Stopped:
                pictures, state, message = job.pictures, "stopped", f"stopped at step {job.step}"
            except NSTError as e:
                message = str(e)
            except Exception as e:  # noqa: BLE001 - a failed job is a message on its page; the studio keeps serving
                message = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        result = None
        if len(pictures):
            result = images.save_image(_shown(pictures, job.grid), self.folder / f"{job.id}.png")
        if len(pictures):  # it reported, so its programs exist (a job refused before compiling made none)
            self.made.add(_shape_key(job.settings, job.content, job.styles, job.grid))
        job.update(state=state, message=message, pictures=list(pictures), result=result, compiled=len(made),
                   finished=time.time())

    def _stylize(self, job: Job) -> list[np.ndarray]:
        content, styles = job.content.path, [s.path for s in job.styles]
        common = dict(weights=self.weights, trust_weights=self.trust_weights, init=job.init, callback=job.report,
                      settings=job.settings)
        if job.grid:
            return list(api.stylize_grid(content, styles, job.grid, **common))
        return [api.stylize(content, styles, **common)]

    def sheet_png(self, job: Job) -> bytes:
        """The job's pictures now: one PNG, or the grid's labelled contact sheet."""
        pictures = job.pictures
        if not pictures:
            raise NSTError("no picture yet")
        return images.encode(_shown(pictures, job.grid), "PNG")


def _shown(pictures: Sequence[np.ndarray], grid: Mapping[str, Sequence[float]] | None) -> Any:
    """What a job's pictures show as one image: the picture, or a grid's labelled contact sheet."""
    return grids.sheet(list(pictures), grid) if grid else pictures[0]


PAGE_OPTIONS = ("size", "steps", "optimizer", "learning_rate", "content_weight", "style_weight", "tv_weight",
                "style_loss", "report_every", "seed", "margin", "padding", "preserve_colors", "style_size",
                "stop_tol", "scales", "style_layers", "content_layers")
"""The Settings fields the page sets; the rest keep the preset's or the default values."""
PAGE_DEFAULTS = {"size": 256, "report_every": 2}
"""Where the page starts other than the Settings defaults: a size that paints in seconds, a picture every 2 steps
(a report costs one forward pass, a fraction of an L-BFGS step with its line search)."""


def _options(given: Mapping[str, Any]) -> dict[str, Any]:
    """The page's options as Settings fields; NSTError for a field the page does not set."""
    unknown = sorted(set(given) - set(PAGE_OPTIONS))
    if unknown:
        raise NSTError(f"the studio does not set {', '.join(unknown)}")
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in given.items() if v is not None and v != ""}


def _shape_key(s: Settings, content: Picture, styles: Sequence[Picture], grid: Any) -> tuple:
    """What decides the programs a job makes: its settings with each traced weight only on or off, the pictures'
    sizes and the grid's cell count."""
    on = {k: 0.5 if getattr(s, k) or k == "learning_rate" else 0.0 for k in grids.TRACED}  # only "off" compiles
    fixed = s.replace(**on)
    cells = 1 if not grid else int(np.prod([len(v) for v in grid.values()]))
    return fixed, (content.width, content.height), tuple((p.width, p.height) for p in styles), cells
