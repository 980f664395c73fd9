"""The style losses E_l, one module each, found here by name: ``get("gram")``, :data:`NAMES`.

A style loss is one :class:`StyleLoss` record, the ``LOSS`` of a module of this package. Its pieces:
``statistics`` of one style image's features at a layer (compiled), ``blend`` of several styles'
statistics into the layer's target (on the host), ``layer_loss`` E_l of the image's features against
the target (pure: jit, vmap and grad safe), and for a random loss ``draw``, the target of one step.
Adding a loss is adding a module with a ``LOSS`` whose name is the module's; settings, the command line and the objective read
this registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    import jax

from .. import registry

Statistics = Any
"""What ``statistics`` returns for one style at one layer: a pytree of arrays."""


@dataclass(frozen=True)
class StyleLoss:
    """One style loss: its name, a line of help, and the functions the objective calls.

    ``statistics(F, part)``: F is one style's (H, W, N) features; ``blend(stats, w)``: the target of a layer
    from each style's statistics and blend weights w_k (Σ w_k = 1); ``layer_loss(F, target, part)``: E_l of
    the image's (H, W, N) features, which ``part`` (:class:`jax_nst.vgg.row_bands.Part`) may say are one band of
    rows of the map (every sum over positions goes through ``part.total``); ``draw(target, key)``: a random loss's
    target for one step; ``guided(F, targets, T, part)``: E_l with region masks, ``targets`` one per region stacked
    on a leading axis and T the (H, W, R) guidance channels (:mod:`jax_nst.objective.guided`); ``spatial``: exact
    when the image's rows are split into bands (over devices, or one after another on one); ``depth``: how many
    passes over bands taken one after another gather its sums (2 when a sum is taken about another, a covariance
    about the mean).
    """

    name: str
    summary: str
    statistics: Callable[..., Statistics]
    blend: Callable[[Sequence[Statistics], Sequence[float]], Any]
    layer_loss: Callable[[jax.Array, Any, Any], jax.Array]
    draw: Callable[[Any, jax.Array], Any] | None = None
    guided: Callable[[jax.Array, Any, jax.Array, Any], jax.Array] | None = None
    spatial: bool = False
    depth: int = 1

    @property
    def masks(self) -> bool:
        """Whether region masks can guide the loss (it has :attr:`guided`)."""
        return self.guided is not None

    @property
    def random(self) -> bool:
        """Whether the loss draws random numbers each step (its target comes from :attr:`draw`)."""
        return self.draw is not None


CATALOGUE = registry.catalogue(__path__, "LOSS", StyleLoss)
"""Each loss's literal fields (name, summary, spatial), read without importing it (:mod:`..registry`)."""
NAMES: tuple[str, ...] = tuple(sorted(CATALOGUE, key=lambda name: (name != "gram", name)))
"""The losses by module name, the paper's Gram loss first."""


def get(name: str) -> StyleLoss:
    """The style loss called ``name`` (KeyError for an unknown name; settings validate names first)."""
    if name not in NAMES:
        raise KeyError(name)
    return registry.load(__name__, name, "LOSS")


def __getattr__(name: str) -> Any:
    if name == "LOSSES":  # every loss imported: {name: StyleLoss}
        return {n: get(n) for n in NAMES}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
