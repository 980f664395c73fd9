"""``jax-nst studio``: watch the picture paint in the browser, change weights without compiling, run weight grids.

A local web app (Starlette + uvicorn, ``pip install "jax_nst[studio]"``): pick or drop a content and styles, choose
the preset, loss, size, steps and weights, start, and the picture and loss curves update every few steps over
server-sent events. :func:`serve` runs it from a terminal; :func:`inline` beside a notebook (Colab's kernel proxy,
or an iframe). Jobs run one at a time on this host's devices (:class:`jobs.Studio`).

Why Starlette rather than Gradio: the page needs a job queue that knows which changes compile (traced weights
against a new program), a grid of cells to continue from, reattaching after a reload and the CLI's own upload checks;
a small ASGI app gives each in a few lines, with two dependencies and no front-end build, and it runs in Colab
through the kernel's port proxy just as well. Server-sent events carry the progress (one way, plain HTTP, the
browser reconnects by itself).
"""

from __future__ import annotations

import contextlib
import pathlib
import tempfile
import threading
import time
from typing import Any, Iterator

from ..errors import NSTError

HOST, PORT = "127.0.0.1", 8750


def _needs() -> None:
    """NSTError naming the extra when the studio's packages are missing."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise NSTError('the studio needs its extra: pip install "jax_nst[studio]"') from None


@contextlib.contextmanager
def running(host: str = HOST, port: int = PORT, folder: str | pathlib.Path | None = None,
            weights: str | None = None, trust_weights: bool = False) -> Iterator[Any]:
    """A studio serving in a background thread while the block runs; yields the uvicorn server (its address is
    ``url(server)``). Its files live in ``folder`` (default: a temporary folder removed afterwards)."""
    _needs()
    import uvicorn

    from .jobs import Studio
    from .server import make_app

    with _folder(folder) as where:
        studio = Studio(where, weights, trust_weights)
        server = uvicorn.Server(uvicorn.Config(make_app(studio), host=host, port=port, log_config=None,
                                               timeout_graceful_shutdown=2))
        thread = threading.Thread(target=server.run, name="jax-nst-studio-server", daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise NSTError(f"the studio could not listen on {host}:{port} (is the port in use? try --port)")
            time.sleep(0.05)
        try:
            yield server
        finally:
            studio.close()
            server.should_exit = True
            thread.join(5)


def url(server: Any) -> str:
    """The address a running server listens on (the port it got when asked for port 0)."""
    sock = server.servers[0].sockets[0].getsockname()
    return f"http://{sock[0]}:{sock[1]}/"


def serve(host: str = HOST, port: int = PORT, folder: str | pathlib.Path | None = None, weights: str | None = None,
          trust_weights: bool = False, open_browser: bool = False, say: Any = print) -> None:
    """Serve the studio until Ctrl-C; ``say`` gets the address (and is told when it stops)."""
    with running(host, port, folder, weights, trust_weights) as server:
        address = url(server)
        say(f"jax-nst studio at {address} (Ctrl-C stops it)")
        if open_browser:
            import webbrowser

            webbrowser.open(address)
        try:
            while not server.should_exit:
                time.sleep(0.2)
        except KeyboardInterrupt:
            say("stopping the studio")


def inline(port: int = PORT, height: int = 900, weights: str | None = None) -> Any:
    """Start the studio in this notebook's kernel and show it in the output cell (Colab's proxy to the kernel's
    port, else an iframe on 127.0.0.1). It serves until the kernel stops; returns the server."""
    manager = running("127.0.0.1", port, None, weights)
    server = manager.__enter__()
    server.kept_open = manager  # closed with the server at the kernel's end, not when this function returns
    try:
        from google.colab import output  # type: ignore[import-not-found]

        output.serve_kernel_port_as_iframe(port, height=str(height))
    except ImportError:
        from IPython.display import IFrame, display

        display(IFrame(url(server), width="100%", height=height))
    return server


@contextlib.contextmanager
def _folder(folder: str | pathlib.Path | None) -> Iterator[pathlib.Path]:
    if folder is not None:
        path = pathlib.Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="jax-nst-studio-") as tmp:
        yield pathlib.Path(tmp)


__all__ = ["HOST", "PORT", "inline", "running", "serve", "url"]
