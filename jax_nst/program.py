"""The two views the compiled loop takes of :class:`jax_nst.settings.Settings`: ``Program``, what a compiled program
is keyed by (a change compiles again), and ``Hyper``, the values it takes traced (a change compiles nothing).

Below the objective and the optimizer, which read them, so that neither imports the settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import vgg

STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYERS = ("conv4_2",)
LBFGS_MEMORY = 50
"""L-BFGS history length m: the curvature pairs kept. At 256 px L-BFGS reached PyTorch's 300-evaluation loss in
278 evaluations with m = 50 against 324 with m = 10 (BENCHMARKS.md); 100 saves ~3 % more evaluations at
twice the history memory (2m image-sized arrays)."""


@dataclass(frozen=True)
class Program:
    """The static part of a stylization: one compiled program per Program and image shape.

    A layer set that is empty (α = 0 or β = 0) drops its term from the program.
    ``conv`` is the convolution implementation of the VGG pass (:mod:`jax_nst.vgg.conv`).
    ``spatial`` = D > 1 splits the image's rows over D local devices (:mod:`jax_nst.optimize.spatial`).
    ``inputs``: the terms that are given an input and so are on (:mod:`jax_nst.objective.terms`).
    ``stochastic``: the objective draws random numbers each step (a random style loss, e.g. "sliced_wasserstein",
    with style layers on). ``rows``: the image's own rows when the image in hand is padded below to split over
    ``spatial`` devices (0: all its rows are its own). ``bands`` = K > 1: the objective is evaluated over K bands of
    rows one after another on one device (:mod:`jax_nst.objective.banded`); "auto": as many as memory needs,
    decided per image size (:func:`jax_nst.optimize.memory.resolve`).
    """

    model: str = "vgg19"
    pooling: str = "avg"
    precision: str = "float32"
    remat: str = "auto"
    optimizer: str = "lbfgs"
    lbfgs_memory: int = LBFGS_MEMORY
    normalization: str = "size"
    content_layers: tuple[str, ...] = CONTENT_LAYERS
    style_layers: tuple[str, ...] = STYLE_LAYERS
    masked: bool = False
    average: bool = False
    conv: vgg.Conv = field(default_factory=lambda: vgg.DEFAULT_CONV)  # read on use: the table alone imports no JAX
    spatial: int = 1
    inputs: tuple[str, ...] = ()
    padding: str = "zero"
    style_loss: str = "gram"
    stochastic: bool = False
    rows: int = 0
    bands: int | str = 1

    @property
    def layers(self) -> list[str]:
        """Every layer the terms read, in network order (conv1_1 if none)."""
        names = {*self.content_layers, *self.style_layers} or {"conv1_1"}
        return sorted(names, key=vgg.layer_names(self.model).index)


class Hyper(NamedTuple):
    """The traced values: each term's weight by term name (α "content", β "style", γ "tv", λ "temporal"), w_l of
    the content and style layers, learning rate, EMA decay, the stopping rule's tolerance (0: never stop early)."""

    weights: dict[str, np.ndarray]
    content_layers: dict[str, np.ndarray]
    style_layers: dict[str, np.ndarray]
    learning_rate: np.ndarray
    average: np.ndarray
    stop: np.ndarray
