"""The paper's experiments beside style transfer: feature inversion (``reconstruct``) and texture synthesis (``synthesize``)."""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from . import images
from .progress import Callback
from .controls.presets import PAPER, cumulative_style_layers
from .settings import STYLE_LAYERS, Options, Unpack, with_options


def reconstruct_options(layer: str, options: dict[str, Any]) -> dict[str, Any]:
    """Settings of feature inversion at ``layer``: the paper's (:data:`PAPER`), α = 1, β = 0, content layer ``layer``
    (``options`` win)."""
    return {**PAPER, "content_layers": [layer], "style_weight": 0.0, "content_weight": 1.0, **options}


def synthesize_options(layers: Sequence[str] | str, options: dict[str, Any]) -> dict[str, Any]:
    """Settings of texture synthesis: the paper's (:data:`PAPER`: Gram matrices), α = 0, style ``layers`` (a single
    name: conv1_1 … that layer); ``options`` win."""
    if isinstance(layers, str) and "," not in layers:
        layers = cumulative_style_layers(layers)
    return {**PAPER, "style_layers": layers, "content_weight": 0.0, **options}


@with_options
def reconstruct(
    image: images.ImageSource, layer: str = "conv4_2", *, weights: str | os.PathLike | None = None,
    callback: Callback | None = None, **options: Unpack[Options],
) -> np.ndarray:
    """x* = argmin_x ½ Σ (F_l(x) − P_l)² from white noise: the image as layer ``layer`` sees it."""
    options = reconstruct_options(layer, options)
    from . import api

    return api.stylize(image, image, weights=weights, init="noise", callback=callback, **options)


@with_options
def synthesize(
    style: images.ImageSource, layers: Sequence[str] | str = STYLE_LAYERS, *, weights: str | os.PathLike | None = None,
    callback: Callback | None = None, **options: Unpack[Options],
) -> np.ndarray:
    """x* = argmin_x Σ_l w_l E_l from white noise: a texture with the style's Gram matrices at ``layers``.

    ``layers`` may be one layer name, meaning the cumulative subset conv1_1 … that layer. The output
    has the style's aspect ratio and long side ``size``.
    """
    options = synthesize_options(layers, options)
    from . import api

    return api.stylize(style, style, weights=weights, init="noise", callback=callback, **options)
