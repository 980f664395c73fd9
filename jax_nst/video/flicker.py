"""How much a stylized clip flickers: the temporal warping error of Ruder et al. (2016).

E = mean over t and over the consistent pixels p (c_t(p) = 1) of |out_t(p) − ω(out_{t−1})(p)|², with
ω the warp along the flow of the *input* frames (frame t → t−1), summed over the 3 channels. A clip that
moves exactly with its input has E = 0; frames stylized each on its own have E ≫ 0 where texture jumps.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..objective.terms.temporal import warp
from . import flow


def warping_error(outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray],
                  flows: Sequence[np.ndarray] | None = None) -> float:
    """E of stylized ``outputs`` for the clip ``inputs`` (each T frames (H, W, 3)); ``flows``: the true
    backward flows (T−1 of them) where known, else estimated from the inputs (:func:`flow.between`)."""
    errors = []
    for t in range(1, len(inputs)):
        backward, certainty = flow.between(inputs[t], inputs[t - 1])
        if flows is not None:
            backward = flows[t - 1]
        warped = np.asarray(warp(np.asarray(outputs[t - 1], np.float32), backward))
        sq = np.sum(np.square(np.asarray(outputs[t], np.float32) - warped), axis=-1)
        errors.append(float(np.sum(sq * certainty[..., 0]) / max(float(np.sum(certainty)), 1.0)))
    return float(np.mean(errors))
