"""The ``jax-nst`` command: one entry point, one module per subcommand, every flag declared in ``flags``.

Exit codes: 0 success, 1 user error (one ``jax-nst: error: …`` line on stderr), 2 usage error,
3 a batch job finished with failed images, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from typing import Any, Callable, Sequence

from ..errors import NSTError
from . import convert, demo, jobs, layers, modes, stylize
from .run import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, PROG

COMMANDS: dict[str, tuple[Callable[[], argparse.ArgumentParser], Callable[[dict[str, Any]], int]]] = {
    "demo": (demo.build_parser, demo.main),
    "layers": (layers.build_parser, layers.main),
    "reconstruct": (lambda: modes.build_parser("reconstruct"), lambda a: modes.main("reconstruct", a)),
    "synthesize": (lambda: modes.build_parser("synthesize"), lambda a: modes.main("synthesize", a)),
    "folder": (jobs.build_folder_parser, jobs.folder_main),
    "tfds": (jobs.build_tfds_parser, jobs.tfds_main),
    "convert-weights": (convert.build_parser, convert.main),
}
"""Subcommand → (parser, runner); anything else is ``jax-nst CONTENT STYLE -o OUT``."""
COMPUTES = ("demo", "reconstruct", "synthesize", "folder", "tfds", None)
CACHE_ENV, NO_CACHE_ENV = "JAX_NST_CACHE_DIR", "JAX_NST_NO_COMPILE_CACHE"


def compile_cache_dir() -> pathlib.Path:
    """Where compiled programs are kept across runs: $JAX_NST_CACHE_DIR, else the user's cache directory."""
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "jax_nst" / "xla"


def enable_compile_cache() -> pathlib.Path | None:
    """Turn on JAX's persistent compilation cache (off when $JAX_NST_NO_COMPILE_CACHE is set): a second run
    of the same image shape loads its programs instead of compiling them. Returns the folder, or None."""
    if os.environ.get(NO_CACHE_ENV):
        return None
    import jax

    path = compile_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # an unwritable cache only costs compile time
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return path


def _parsed(parse: Callable[[], Any]) -> Any:
    """Run an argparse parse; its exit (usage error 2, --help 0) comes back as an int."""
    try:
        return parse()
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else EXIT_ERROR


def _dispatch(argv: Sequence[str]) -> int:
    """Parse ``argv`` and run the command it names."""
    name = argv[0] if argv and argv[0] in COMMANDS else None
    build, runner = COMMANDS[name] if name else (stylize.build_parser, stylize.main)
    args = _parsed(lambda: build().parse_args(list(argv[1:] if name else argv)))
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
    except MemoryError:
        return error("out of memory; try a smaller --size")
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED


__all__ = ["COMMANDS", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "PROG", "main"]
