"""jax_nst: neural style transfer (Gatys, Ecker & Bethge) as a functional JAX library.

    import jax_nst
    image = jax_nst.stylize("content.jpg", "style.jpg", size=512)   # float32 (H, W, 3) in [0, 1]
    jax_nst.save_image(image, "out.png")

The pipeline reads as the package: images → ``vgg`` (the Flax module) → ``objective`` (terms) →
``optimize`` (the compiled loop) → image; ``controls`` (colours, styles, masks, scales, presets),
``jobs`` (folders, datasets, hosts) and ``cli`` (the ``jax-nst`` command) build on it.
"""

from . import progress
from .api import Progress, stylize, stylize_batch
from .errors import NSTError
from .images import load_image, save_image
from .modes import reconstruct, synthesize
from .settings import Hyper, Program, Settings

__all__ = [
    "Hyper", "NSTError", "Program", "Progress", "progress", "Settings", "load_image", "reconstruct", "save_image", "stylize",
    "stylize_batch", "synthesize",
]
__version__ = "0.1.0"
