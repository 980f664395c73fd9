"""The terms of the objective, one module each: L_total = Σ_t w_t L_t = α L_content + β L_style + γ L_TV (+ λ L_temporal).

A term is one :class:`Term` record, the ``TERM`` of a module of this package: its name, the
:class:`jax_nst.settings.Settings` option that weighs it, its labels, and ``summand(program)``, the pure
function ``fn(features, image, targets, hyper, part)`` → scalar of the layers it reads (none: it reads the
image); ``part`` (:class:`jax_nst.vgg.row_bands.Part`) says which rows of each map are in hand and sums them. A feature term is a sum over its layers, so the objective may evaluate it block by block
(inside per-block remat). A term with ``input`` is on only when the run gives it its input
(``targets.inputs[name]``, e.g. the previous video frame), resized to each stage by ``fit``.

Shapes: a feature map F_l is (H_l, W_l, N_l) with N_l filters and M_l = H_l·W_l positions; an image is
(H, W, 3). Over bands of rows (``program.spatial`` devices, or ``program.bands`` windows one after another)
the terms are evaluated on each band: sums over positions go through ``part.total``.

Normalization "size" scales the terms that grow with the pixel count (L_content, L_TV) to their value for a
512² image, so the same α, β, γ give the same balance at every size; "paper" keeps the paper's plain sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple

from .. import registry

if TYPE_CHECKING:
    import jax

    from ...program import Program

REFERENCE_SIDE = 512
"""Normalization "size" gives L_content and L_TV their value at REFERENCE_SIDE² pixels."""


def size_factor(positions: Any, pools: int, normalization: str) -> Any:
    """"size": (R/2^pools)² / M, the factor that gives a sum over M = H·W positions its value at R² pixels."""
    if normalization == "paper":
        return 1.0
    side = REFERENCE_SIDE / 2**pools
    return side * side / positions


class Summand(NamedTuple):
    """A term in one program: ``fn(features, image, targets, hyper, part)`` → scalar, reading ``layers``."""

    name: str
    layers: tuple[str, ...]
    fn: Callable[[Mapping[str, jax.Array], jax.Array, Any, Any, Any], jax.Array]


@dataclass(frozen=True)
class Term:
    """One term of the objective.

    ``option``: the Settings field of its weight (traced: :attr:`jax_nst.settings.Hyper.weights` under ``name``);
    ``label`` names it in reports and plots, ``short`` on bitmap sheets (ASCII); ``order`` places it in reports;
    ``summand(program)``: the term in that program, or None when the program leaves it out (its layers are off);
    ``input``: on only when a run gives it an input, ``fit(input, (h, w), margin)`` being that input for an
    image of (h, w) grown by ``margin`` mirrored px; ``spatial``: exact with rows split over devices.
    """

    name: str
    option: str
    label: str
    short: str
    order: int
    summand: Callable[[Program], Summand | None]
    help: str
    input: bool = False
    fit: Callable[[Any, tuple[int, int], int], Any] | None = None
    spatial: bool = True


CATALOGUE = registry.catalogue(__path__, "TERM", Term)
"""Each term's literal fields (name, option, label, short, order, help, input, spatial), read without importing
it (:mod:`..registry`)."""
NAMES: tuple[str, ...] = tuple(sorted(CATALOGUE, key=lambda name: CATALOGUE[name]["order"]))
"""The terms by module name, in report order."""
OPTIONS: dict[str, str] = {name: CATALOGUE[name]["option"] for name in NAMES}
"""Each term's weighing Settings option, by term name."""


def get(name: str) -> Term:
    """The term called ``name``."""
    if name not in NAMES:
        raise KeyError(name)
    return registry.load(__name__, name, "TERM")


def __getattr__(name: str) -> Any:
    if name == "TERMS":  # every term imported, in report order: {name: Term}
        return {n: get(n) for n in NAMES}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def terms_of(program: Program) -> list[Summand]:
    """The summands of ``program``'s objective: every term it keeps (an input term only when its input is given)."""
    found = [get(n).summand(program) for n in NAMES if not CATALOGUE[n]["input"] or n in program.inputs]
    return [s for s in found if s is not None]
