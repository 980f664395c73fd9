"""Sample content and style images shipped with jax_nst (see README.md for sources)."""

from __future__ import annotations

import pathlib
from importlib.resources import files

__all__ = ["CONTENT", "STYLE"]

_ROOT = pathlib.Path(str(files(__name__)))

CONTENT: pathlib.Path = _ROOT / "content.jpg"
"""A photo of a cat (Chelsea), long side 512 px, JPEG."""

STYLE: pathlib.Path = _ROOT / "style.png"
"""A procedurally painted swirling brush-stroke texture, 512 x 512 px, PNG."""
