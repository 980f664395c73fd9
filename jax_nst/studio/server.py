"""The studio's web app (Starlette): a static page, a JSON API over :class:`jax_nst.studio.jobs.Studio`, and each
job's progress as server-sent events, so the page redraws the picture and the loss curves as they come.

Every error the user can cause is a 400 with ``{"error": one line}``; the server keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import shlex
from typing import Any, AsyncIterator, Awaitable, Callable

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import images
from ..cli import flags
from ..controls import grids, presets
from ..errors import NSTError
from ..objective import style_losses
from ..settings import OPTION_DOCS, Settings
from .jobs import MAX_UPLOAD_BYTES, PAGE_DEFAULTS, PAGE_OPTIONS, STATES, Job, Studio

STATIC = pathlib.Path(__file__).parent / "static"
FINISHED = STATES[2:]
THUMB_SIDE = 256


def make_app(studio: Studio) -> Starlette:
    """The ASGI app of ``studio``."""

    def handled(fn: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def route(request: Request) -> Response:
            try:
                return await fn(request)
            except NSTError as e:
                return JSONResponse({"error": " ".join(str(e).split())}, status_code=400)
            except (ValueError, TypeError, KeyError, IndexError) as e:
                return JSONResponse({"error": f"bad request: {e}"}, status_code=400)

        return route

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def config(request: Request) -> Response:
        return JSONResponse({"options": form(), "presets": list(presets.PRESETS), "traced": list(grids.TRACED),
                             "pictures": [p.public() for p in studio.uploads.all()]})

    async def upload(request: Request) -> Response:
        name = request.query_params.get("name", "upload")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_UPLOAD_BYTES:
                raise NSTError(f"{name} is larger than {MAX_UPLOAD_BYTES // 2**20} MiB")
        picture = await anyio.to_thread.run_sync(studio.uploads.add, bytes(data), name)
        return JSONResponse(picture.public())

    async def thumbnail(request: Request) -> Response:
        picture = studio.uploads.get(request.path_params["id"])
        data = await anyio.to_thread.run_sync(lambda: images.encode(images.load_image(picture.path, THUMB_SIDE), "PNG"))
        return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    async def submit(request: Request) -> Response:
        job = studio.submit(await request.json())
        return JSONResponse(job.public())

    async def compiles(request: Request) -> Response:
        return JSONResponse({"compiles": studio.compiles(await request.json())})

    async def listing(request: Request) -> Response:
        return JSONResponse([j.public() for j in sorted(studio.jobs.values(), key=lambda j: -j.created)][:20])

    async def status(request: Request) -> Response:
        return JSONResponse(job_of(request).public())

    async def stop(request: Request) -> Response:
        job = job_of(request)
        job.stop.set()
        return JSONResponse(job.public())

    async def picture(request: Request) -> Response:
        job, cell = job_of(request), request.query_params.get("cell")
        if cell is None:
            data = await anyio.to_thread.run_sync(studio.sheet_png, job)
        else:
            pictures = job.pictures
            if not 0 <= int(cell) < len(pictures):
                raise NSTError("no picture yet")
            data = await anyio.to_thread.run_sync(images.encode, pictures[int(cell)], "PNG")
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    async def download(request: Request) -> Response:
        """The finished picture (a grid's contact sheet), or with ``cell`` that cell's picture, as a PNG file."""
        job, cell = job_of(request), request.query_params.get("cell")
        if job.result is None:
            raise NSTError("the picture is not finished: stop the job or wait for it")
        if cell is None:
            return FileResponse(job.result, media_type="image/png", filename=f"jax-nst-{job.id}.png")
        data = await anyio.to_thread.run_sync(images.encode, job.pictures[int(cell)], "PNG")
        return Response(data, media_type="image/png",
                        headers={"Content-Disposition": f'attachment; filename="jax-nst-{job.id}-{int(cell)}.png"'})

    async def command(request: Request) -> Response:
        return JSONResponse({"command": command_of(job_of(request))})

    async def events(request: Request) -> Response:
        return StreamingResponse(stream(request, job_of(request)), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    def job_of(request: Request) -> Job:
        return studio.job(request.path_params["id"])

    routes = [
        Route("/", page),
        Route("/api/config", handled(config)),
        Route("/api/pictures", handled(upload), methods=["POST"]),
        Route("/api/pictures/{id}", handled(thumbnail)),
        Route("/api/jobs", handled(submit), methods=["POST"]),
        Route("/api/jobs", handled(listing)),
        Route("/api/compiles", handled(compiles), methods=["POST"]),
        Route("/api/jobs/{id}", handled(status)),
        Route("/api/jobs/{id}/stop", handled(stop), methods=["POST"]),
        Route("/api/jobs/{id}/picture", handled(picture)),
        Route("/api/jobs/{id}/download", handled(download)),
        Route("/api/jobs/{id}/command", handled(command)),
        Route("/api/jobs/{id}/events", handled(events)),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    return Starlette(routes=routes)


async def stream(request: Request, job: Job, beat_s: float = 1.0) -> AsyncIterator[str]:
    """Server-sent events: the job's state whenever it changes, until it is finished or the page leaves."""
    seen = -1
    while True:
        version = await anyio.to_thread.run_sync(job.wait, seen, beat_s)
        if await request.is_disconnected():
            return
        if version != seen:
            seen = version
            yield f"data: {json.dumps(job.public())}\n\n"
            if job.state in FINISHED and job.finished is not None:
                return
        else:
            yield ": beat\n\n"
        await asyncio.sleep(0)


def command_of(job: Job) -> str:
    """The ``jax-nst`` command line that makes the job's picture from the same files."""
    init = None if job.init_label is None else f"jax-nst-{job.init_label}.png"
    argv = flags.command_line(job.settings, job.content.name, [s.name for s in job.styles], "out.png", init=init,
                              grid=job.grid)
    return shlex.join(argv)


def form() -> list[dict[str, Any]]:
    """The page's fields, from the typed options: name, flag, help, default and kind (choices, number, list)."""
    default, fields = Settings(), []
    for name in PAGE_OPTIONS:
        kw = flags.SETTINGS_FLAGS[name][1]
        value = PAGE_DEFAULTS.get(name, getattr(default, name))
        kind = ("choice" if "choices" in kw else "list" if name == "scales" else "text" if name.endswith("layers")
                else "int" if kw.get("type") is int else "float")
        choices = list(style_losses.NAMES if name == "style_loss" else kw.get("choices") or [])
        if name == "preserve_colors":
            choices = ["", *choices]
        fields.append({"name": name, "flag": flags.SETTINGS_FLAGS[name][0][0], "help": OPTION_DOCS[name],
                       "kind": kind, "choices": choices, "traced": name in grids.TRACED,
                       "default": flags.flag_value(value) if kind == "text" else
                       list(value) if isinstance(value, tuple) else value})
    return fields


__all__ = ["command_of", "form", "make_app"]
