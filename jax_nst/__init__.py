"""jax_nst: neural style transfer (Gatys, Ecker & Bethge) as a functional JAX library.

    import jax_nst
    image = jax_nst.stylize("content.jpg", "style.jpg", size=512)   # float32 (H, W, 3) in [0, 1]
    jax_nst.save_image(image, "out.png")

The pipeline reads as the package: images → ``vgg`` (the Flax module) → ``objective`` (terms) →
``optimize`` (the compiled loop) → image; ``controls`` (colours, styles, masks, scales, presets),
``jobs`` (folders, datasets, hosts) and ``cli`` (the ``jax-nst`` command) build on it.
"""

import importlib
from typing import Any

from .errors import NSTError

_EXPORTS = {
    "progress": ".progress", "Progress": ".progress", "stylize": ".api", "stylize_batch": ".api", "stylize_grid": ".api",
    "load_image": ".images", "save_image": ".images", "reconstruct": ".experiments", "synthesize": ".experiments",
    "Hyper": ".program", "Options": ".settings", "Program": ".program", "Settings": ".settings",
}
"""Names loaded on first use, so that ``import jax_nst`` (and the command's start) does not import JAX yet."""


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'jax_nst' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name], __name__)
    value = module if module.__name__.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "Hyper", "NSTError", "Options", "Program", "Progress", "progress", "Settings", "load_image", "reconstruct", "save_image", "stylize",
    "stylize_batch", "stylize_grid", "synthesize",
]
__version__ = "0.1.0"
