"""The ``jax-nst`` command: one entry point, one module per subcommand, every flag declared in ``flags``.

Exit codes: 0 success, 1 user error (one ``jax-nst: error: …`` line on stderr), 2 usage error,
3 a batch job finished with failed images, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import pathlib
import sys
from typing import Any, Callable, Sequence

from ..errors import NSTError, out_of_memory

PROG = "jax-nst"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
COMMANDS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "demo": ("demo", "build_parser", "main", ()),
    "layers": ("layers", "build_parser", "main", ()),
    "doctor": ("doctor", "build_parser", "main", ()),
    "reconstruct": ("experiments", "build_parser", "main", ("reconstruct",)),
    "synthesize": ("experiments", "build_parser", "main", ("synthesize",)),
    "folder": ("jobs", "build_folder_parser", "folder_main", ()),
    "tfds": ("jobs", "build_tfds_parser", "tfds_main", ()),
    "convert-weights": ("convert", "build_parser", "main", ()),
    "video": ("video", "build_parser", "main", ()),
    "clip": ("video", "build_clip_parser", "clip_main", ()),
    "studio": ("studio", "build_parser", "main", ()),
    None: ("stylize", "build_parser", "main", ()),
}
"""Subcommand → (module, parser, runner, leading arguments of both); None is ``jax-nst CONTENT STYLE -o OUT``.
Modules are imported when the command runs, inside :func:`main`, so an interrupt at any moment is one line."""
COMPUTES = ("demo", "doctor", "reconstruct", "synthesize", "folder", "tfds", "video", "studio", None)
CACHE_ENV, NO_CACHE_ENV = "JAX_NST_CACHE_DIR", "JAX_NST_NO_COMPILE_CACHE"


def compile_cache_dir() -> pathlib.Path:
    """Where compiled programs are kept across runs: $JAX_NST_CACHE_DIR, else the user's cache directory."""
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "jax_nst" / "xla"


def enable_compile_cache() -> pathlib.Path | None:
    """Turn on JAX's persistent compilation cache (off when $JAX_NST_NO_COMPILE_CACHE is set): a second run
    of the same image shape loads its programs instead of compiling them. Returns the folder, or None.

    A cache folder that cannot be made is left off; one that exists but cannot be written (a shared, read-only
    cache) is read, and JAX's warning for each entry it cannot write is silenced: it only costs compile time."""
    if os.environ.get(NO_CACHE_ENV):
        return None
    import tempfile
    import warnings

    import jax

    path = compile_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        warnings.filterwarnings("ignore", message="Error writing persistent compilation cache entry")
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return path


def _parsed(parse: Callable[[], Any], name: str | None) -> Any:
    """Run an argparse parse; its exit (usage error 2, --help 0) comes back as an int. A usage error is one line,
    argparse's own "error:" line, with where to find the usage instead of the usage itself."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            return parse()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else EXIT_ERROR
        lines = said.getvalue().strip().splitlines()
        if code == EXIT_USAGE and lines:
            print(f"{lines[-1]} (see {PROG}{' ' + name if name else ''} --help)", file=sys.stderr)
        elif lines:
            print("\n".join(lines), file=sys.stderr)
        return code


def command(name: str | None) -> tuple[Callable[[], argparse.ArgumentParser], Callable[[dict[str, Any]], int]]:
    """(parser builder, runner) of subcommand ``name`` (None: stylize)."""
    module_name, build, run, lead = COMMANDS[name]
    module = importlib.import_module(f".{module_name}", __name__)
    return lambda: getattr(module, build)(*lead), lambda args: getattr(module, run)(*lead, args)


def _dispatch(argv: Sequence[str]) -> int:
    """Parse ``argv`` and run the command it names."""
    name = argv[0] if argv and argv[0] in COMMANDS else None
    build, runner = command(name)
    args = _parsed(lambda: build().parse_args(list(argv[1:] if name else argv)), name)
    if isinstance(args, int):
        return args
    if name in COMPUTES:
        enable_compile_cache()
    return runner(vars(args))


def error(message: str) -> int:
    """Print one ``jax-nst: error:`` line to stderr; returns exit code 1."""
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_ERROR


def _os_message(e: OSError) -> str:
    """A one-line description of an OS error, with the file it concerns."""
    where = f" '{e.filename}'" if e.filename else ""
    return f"{e.strerror or e}{':' if where else ''}{where}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``jax-nst`` and ``python -m jax_nst``; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _dispatch(argv)
    except NSTError as e:
        return error(str(e))
    except OSError as e:
        return error(_os_message(e))
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - running out of memory wherever it happens is one line too
        if not out_of_memory(e):
            raise
        return error("out of memory; try a smaller --size (jax-nst doctor names the largest size that fits)")


INTERRUPT_GRACE_S = 3.0
"""After Ctrl-C, how long the orderly exit may take before the process ends regardless."""


def entry() -> None:
    """The ``jax-nst`` program: exit with :func:`main`'s code, and on Ctrl-C within moments, whatever runs.

    Ctrl-C raises KeyboardInterrupt, and the command leaves in order (one line, code 130). A watcher
    thread makes sure of it: Python runs signal handlers only between bytecodes of the main thread
    (not during an XLA compilation) and a handler's exception raised inside a garbage-collector
    callback is dropped; if the process is still there :data:`INTERRUPT_GRACE_S` after the signal,
    the watcher says the line and ends it. After an interrupt the process ends with ``os._exit``:
    JAX's exit-time clean-up can crash while an interrupted computation is torn down.
    """
    _watch_interrupts(INTERRUPT_GRACE_S)
    sys.unraisablehook = _unraisable(sys.unraisablehook)
    code = main()
    if code == EXIT_INTERRUPTED:
        _leave(code)
    raise SystemExit(code)


def _watch_interrupts(grace: float) -> None:
    """Start the thread that ends the process ``grace`` s after SIGINT (signal wake-up file descriptor)."""
    import signal
    import threading
    import time

    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write, warn_on_full_buffer=False)

    def watch() -> None:
        while os.read(read, 1) != bytes([signal.SIGINT]):
            pass
        time.sleep(grace)
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
        error("interrupted")
        _leave(EXIT_INTERRUPTED)

    threading.Thread(target=watch, name="jax-nst-interrupt", daemon=True).start()


def _unraisable(default: Callable[[Any], None]) -> Callable[[Any], None]:
    """An unraisable-exception hook that turns a dropped KeyboardInterrupt into the interrupted exit."""

    def hook(unraisable: Any) -> None:
        if issubclass(unraisable.exc_type, KeyboardInterrupt):
            error("interrupted")
            _leave(EXIT_INTERRUPTED)
        default(unraisable)

    return hook


def _leave(code: int) -> None:
    """Flush the standard streams and end the process now."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


__all__ = ["COMMANDS", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "PROG", "entry", "main"]
