"""Named settings: those that reproduce the figures of Gatys, Ecker & Bethge (arXiv 2015 / CVPR 2016), and
"quality" (the defaults, chosen by measurement: QUALITY.md); and the one place where a preset, the defaults
and the options a user gives become :class:`Settings`.

A preset is a dict of ``Settings`` fields; options given explicitly override it. The paper presets
use the paper's plain sums (``normalization="paper"``) and α/β = 1/β with α = 1: the paper's images
are about 512 px, where this equals the default "size" normalization.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import NSTError
from ..settings import INITS, STYLE_LAYERS, Settings

RATIOS = (1e-5, 1e-4, 1e-3, 1e-2)
"""The α/β columns of the trade-off figure (arXiv 2015 fig. 3, CVPR 2016 fig. 4)."""
RECONSTRUCTION_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
"""Layers of the content reconstructions figure (CVPR 2016 fig. 1 uses conv1_2 … conv5_2)."""


def cumulative_style_layers(last: str) -> tuple[str, ...]:
    """conv1_1, conv2_1, … up to ``last``: the style-layer subsets of the style reconstructions figure."""
    if last not in STYLE_LAYERS:
        raise NSTError(f"style layer subsets end at one of {', '.join(STYLE_LAYERS)}, got {last!r}")
    return STYLE_LAYERS[: STYLE_LAYERS.index(last) + 1]


PAPER: dict[str, Any] = {"style_loss": "gram", "margin": 0, "padding": "zero", "stop_tol": 0.0, "scales": ()}
"""What every paper preset adds to its figure's layers and weights, where the defaults differ from the paper: the
Gram loss, no margin, VGG's zero padding, every step of ``steps`` run, at the output size only."""


def paper_weights(ratio: float, alpha: float = 1.0) -> dict[str, Any]:
    """The paper's settings for α/β = ``ratio``: α, β = α/ratio, its normalization and :data:`PAPER`."""
    if not ratio > 0:
        raise NSTError(f"the ratio α/β must be > 0, got {ratio}")
    return {"content_weight": alpha, "style_weight": alpha / ratio, "normalization": "paper", **PAPER}


QUALITY: dict[str, Any] = {}
"""The settings QUALITY.md's studies chose, now the defaults: the W2 style loss (closer to the style by VGG-16
measures, a third of the Gram loss's off-palette speckle at the same time), a 16 px mirrored margin (no frame),
coarse-to-fine from half the size and the stopping rule. The name stays for scripts that ask for it."""

PRESETS: dict[str, dict[str, Any]] = {
    "quality": QUALITY,
    "gatys2016": {  # CVPR 2016 fig. 3: content conv4_2, style conv1_1 … conv5_1 (w_l = 1/5), α/β = 1e-3
        "content_layers": ("conv4_2",), "style_layers": STYLE_LAYERS, "pooling": "avg", "optimizer": "lbfgs",
        "steps": 300, **paper_weights(1e-3),
    },
    "gatys2016-content-conv2_2": {  # CVPR 2016 fig. 5, top: content matched on conv2_2
        "content_layers": ("conv2_2",), "style_layers": STYLE_LAYERS, "pooling": "avg", **paper_weights(1e-3),
    },
    **{  # arXiv 2015 fig. 3 rows: style matched on conv1_1 … up to the named layer
        f"style-{layer}": {"style_layers": cumulative_style_layers(layer), **paper_weights(1e-3)}
        for layer in STYLE_LAYERS
    },
    **{  # arXiv 2015 fig. 3 / CVPR 2016 fig. 4 columns: the α/β trade-off
        f"ratio-{ratio:.0e}": paper_weights(ratio) for ratio in RATIOS
    },
}


def preset_options(name: str | None, given: Mapping[str, Any]) -> dict[str, Any]:
    """The options of preset ``name`` (none: ``given`` as is), overridden by the ``given`` options."""
    if name is None:
        return dict(given)
    if name not in PRESETS:
        raise NSTError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    preset = dict(PRESETS[name])
    if "content_weight" in given and "style_weight" not in given and "style_weight" in preset:  # keep its α/β
        preset["style_weight"] = preset["style_weight"] * float(given["content_weight"]) / preset["content_weight"]
    return {**preset, **given}


def chosen(settings: Settings | None, preset: str | None, init: Any, options: Mapping[str, Any]) -> Settings:
    """The Settings of an API call: ``settings`` as given, else :func:`resolve` of ``preset`` and ``options``;
    NSTError when both are given."""
    if settings is None:
        return resolve(preset, init, **options)
    if options or preset is not None:
        raise NSTError("give either settings or options and a preset, not both")
    return settings


def resolve(preset: str | None = None, init: Any = "content", **options: Any) -> Settings:
    """The validated Settings of a run: ``preset`` (if any), overridden by ``options``, over the defaults.

    ``init`` may be an image; Settings records only the init mode (an image counts as "content").
    """
    mode = init if isinstance(init, str) and init in INITS else "content"
    return Settings(init=mode, **preset_options(preset, options))
