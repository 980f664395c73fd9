"""VGG-19 and VGG-16: the layer table, convolution implementations, the Flax module and weight files.

Names load on first use (:data:`_EXPORTS`), so that reading the layer table (option checks, ``--help``) does
not import JAX.
"""

import importlib
from typing import Any

_MODULES = {
    "conv": ("DEFAULT_CONV", "WINOGRAD_MIN_CHANNELS", "Conv", "Direct", "Fast", "adjoint_kernel", "lax_conv", "winograd",
             "winograd_kernel"),
    "layers": ("LAYERS", "MODELS", "PADDINGS", "POOLINGS", "TABLES", "WIDTHS", "Layer", "blocks", "check_layers",
               "deepest", "layer", "layer_names", "min_side", "shapes", "table"),
    "module": ("PRECISIONS", "PREPARED", "VGG", "Conv3x3", "Input", "Params", "Tap", "apply", "features",
               "init_params", "merge", "prepare", "preprocess"),
    "weights": ("CAFFE", "DEFAULT_PREPROCESSING", "IMAGENET_MEAN", "IMAGENET_STD", "MEAN_BGR", "TORCHVISION",
                "WEIGHTS_ENV", "expected_sha256", "file_sha256", "input_transform", "load_params", "resolve_weights",
                "shipped_weights", "tensor_digest"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    if name in ("row_bands", "windows") or name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
