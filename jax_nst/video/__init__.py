"""Video: clips stylized frame by frame with a temporal term (Ruder et al. 2016), flow, clip I/O and
clips with known motion. Needs the ``video`` extra (PyAV, OpenCV): ``pip install 'jax_nst[video]'``."""

import importlib
from typing import Any

_EXPORTS = {"FrameDone": ".stylize", "stylize_video": ".stylize"}
"""Names loaded on first use: the clip tools (``io``, ``motion``, ``flow``) and ``jax-nst video -h`` need no JAX."""


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


__all__ = ["FrameDone", "stylize_video"]
