"""The objective: terms (pure functions), their targets, and their weighted sum over one VGG pass.

The registries (:mod:`.style_losses`, :mod:`.terms`) load at once and import no JAX; the rest on first use.
"""

import importlib
import importlib.util
from typing import Any

from . import style_losses, terms

_EXPORTS = {"evaluate": ".evaluation", "BATCHED": ".targets", "Targets": ".targets", "first_image": ".targets"}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        if importlib.util.find_spec(f"{__name__}.{name}") is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return importlib.import_module(f".{name}", __name__)  # a module: guided, targets
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


__all__ = ["BATCHED", "Targets", "evaluate", "first_image", "style_losses", "terms"]
