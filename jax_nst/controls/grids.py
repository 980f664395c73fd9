"""A grid of weights in one compiled call: every combination of the values given for some traced options.

Since α, β, γ, the learning rate and the EMA decay are traced inputs (:meth:`jax_nst.settings.Settings.hyper`),
the cells of a grid share one program: :func:`jax_nst.api.stylize_grid` runs them as one batch, each image
under its own weights, and :func:`sheet` lays the results out with their values.
"""

from __future__ import annotations

import itertools
from typing import Mapping, Sequence

import numpy as np
from PIL import Image

from .. import progress
from ..objective import terms
from ..errors import NSTError
from ..settings import Settings

TRACED = (*(terms.OPTIONS[n] for n in terms.NAMES if not terms.CATALOGUE[n]["input"]), "learning_rate", "average")
"""The options a grid may vary: those the compiled program takes as traced values."""

Grid = Mapping[str, Sequence[float]]


def parse(text: str) -> tuple[str, tuple[float, ...]]:
    """"style_weight=1e2,1e3,1e4" → ("style_weight", (100.0, 1000.0, 10000.0)); NSTError for anything else."""
    name, sep, values = text.partition("=")
    name = name.strip().replace("-", "_")
    try:
        numbers = tuple(float(v) for v in values.split(",") if v.strip())
    except ValueError:
        numbers = ()
    if not sep or not numbers:
        raise NSTError(f"a grid is NAME=V1,V2,… (e.g. style_weight=1e2,1e3,1e4), got {text!r}")
    return name, numbers


def cells(s: Settings, grid: Grid) -> list[Settings]:
    """The Settings of every cell: the first option varies fastest (along a row), the others down the rows."""
    if not grid:
        raise NSTError("a grid needs at least one option with values")
    if s.spatial > 1:
        raise NSTError(f"a grid runs its cells as one batch spread over the devices; spatial={s.spatial} splits one "
                       "image over them instead: leave spatial at 1 for a grid")
    for name, values in grid.items():
        if name not in TRACED:
            raise NSTError(f"a grid varies only {', '.join(TRACED)} (they share one compiled program), not {name!r}")
        if len(values) == 0:
            raise NSTError(f"the grid gives no values for {name}")
    found = [s.replace(**combo) for combo in _combos(grid, list(grid))]
    if len({c.program() for c in found}) > 1:
        raise NSTError("the grid's values change the compiled program (average 0 turns averaging off, a weight of 0 "
                       "drops a term): keep them all above 0")
    return found


def sheet(pictures: Sequence[np.ndarray], grid: Grid) -> Image.Image:
    """The cells' pictures in rows of the first option's values, labelled with every value."""
    names, first = list(grid), list(grid)[0]
    width = len(grid[first])
    rows = [list(pictures[i:i + width]) for i in range(0, len(pictures), width)]
    below = _combos(grid, names[1:])
    row_labels = [" ".join(f"{_short(k)}={v:g}" for k, v in r.items()) for r in below] if len(names) > 1 else None
    col_labels = [f"{_short(first)}={v:g}" for v in grid[first]]
    return progress.sheet(rows, row_labels, col_labels, tile=max(pictures[0].shape[:2]))


def _combos(grid: Grid, names: list[str]) -> list[dict[str, float]]:
    """Every combination of the values of ``names``, the first name varying fastest."""
    return [dict(zip(names, reversed(c))) for c in itertools.product(*(grid[n] for n in reversed(names)))]


def _short(name: str) -> str:
    """A label's option name in ASCII (the sheet's bitmap font has no Greek): style_weight → beta."""
    return {**{terms.OPTIONS[n]: terms.CATALOGUE[n]["short"] for n in terms.NAMES}, "learning_rate": "lr"}.get(name, name)
