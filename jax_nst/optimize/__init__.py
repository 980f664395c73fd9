"""Optimizing the image: the compiled loop, memory (remat) decisions and sharding over devices.

Names load on first use, so that the modules that need no JAX (``host_memory``) and the command's parsers import none.
"""

import importlib
import importlib.util
from typing import Any

_EXPORTS = {name: ".loop" for name in ("Averaged", "Loop", "compiler_options", "host_blas", "make_loop", "make_optimizer",
                                        "output_image", "per_image", "stack")}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        if importlib.util.find_spec(f"{__name__}.{name}") is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return importlib.import_module(f".{name}", __name__)
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


__all__ = sorted(_EXPORTS)
