"""Every option of a stylization in one validated, hashable record, and the two views the loop takes of it
(:class:`jax_nst.program.Program`, :class:`jax_nst.program.Hyper`).

``Settings`` holds what a user sets. ``Settings.program()`` is what the compiled program depends on
(layers, pooling, model, optimizer kind, precision, remat, normalization): a change compiles again.
``Settings.hyper()`` holds the traced values (α, β, γ, per-layer weights w_l, learning rate, EMA
decay): a change compiles nothing. The rest (size, steps, seed, reporting, scales, colours) is run on the host.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import textwrap
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence, TypedDict, Union

import numpy as np

if sys.version_info >= (3, 11):
    from typing import Unpack  # noqa: F401 (re-exported with Options)
else:  # pragma: no cover
    from typing_extensions import Unpack  # noqa: F401 (re-exported with Options)

from . import vgg
from .objective import style_losses, terms
from .program import CONTENT_LAYERS, LBFGS_MEMORY, STYLE_LAYERS, Hyper, Program
from .errors import NSTError

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style")  # or an image, given to stylize
DEFAULT_LR = {"adam": 0.02, "lbfgs": 1.0}
MAX_LR = {"adam": 1.0, "lbfgs": 10.0}
"""The largest learning rate accepted: an Adam step moves each pixel (in [0, 1]) by about lr; L-BFGS scales its step."""
PRESERVE_COLORS = ("luminance", "histogram")
PRECISIONS = ("float32", "bfloat16")  # compute dtype of the VGG pass
NORMALIZATIONS = ("size", "paper")
"""How L_content and L_TV scale with the image: "size" = as for 512² pixels at every size, "paper" = plain sums."""
PADDINGS = tuple(vgg.PADDINGS)
"""Border of the first convolution: "zero" (VGG's), "replicate" or "reflect" (edges not special)."""
REMATS = ("auto", "on", "off")  # recompute activations in the backward pass ("auto": when memory is short)

TEMPORAL_WEIGHT = 1e13
"""Default weight λ of L_temporal in video stylization (:mod:`jax_nst.objective.terms.temporal`): L_temporal is a mean
squared difference of [0, 1] pixels (~1e-3) where L_content is ~1e10; chosen by ``scripts/video_study.py``."""

STOP_TOL = 1.5e-3
"""The default tolerance of the stopping rule (:class:`jax_nst.optimize.loop.Watched`): a scale ends once the loss
falls by less than this fraction per step, ln L averaged over ~10 steps (0: every step runs). Chosen by
``scripts/stop_study.py`` (QUALITY.md): on six pairs at 256 px the picture there is within 0.3–4.3 % of the one 100
steps into the scale by the judges (content LPIPS, VGG-16 style SW) on five, and the finer scales of a
coarse-to-fine run, whose pixels move less per step, are not cut short (a rule on the pixel change stopped
them after 10–15 steps)."""


def auto_scales(size: int) -> tuple[int, ...]:
    """The default coarse scales of a picture of long side S: S/2 and S/√2, those of at least :data:`AUTO_SMALLEST` px
    (QUALITY.md: on six pairs at 256 px 1.14–1.37× closer to the style than one scale, with a tenth to a
    quarter of its off-palette pixels, and finished in 0.42–0.77× the time of the paper's 300 steps)."""
    return tuple(k for k in (round(size / 2), round(size / 2**0.5)) if k >= AUTO_SMALLEST)


AUTO_SMALLEST = 128
"""The smallest long side ``scales="auto"`` starts from: below it the deep layers' maps are a few cells wide."""


def scales_word(value: object) -> str | tuple | None:
    """``scales`` given as a word: "auto" for "auto", () for "none" (any case and spacing); None for anything else."""
    word = value.strip().lower() if isinstance(value, str) else None
    return {"auto": "auto", "none": ()}.get(word)

ADDED = {"spatial": 1, "temporal_weight": TEMPORAL_WEIGHT, "padding": "zero", "style_loss": "gram", "margin": 0,
         "stop_tol": 0.0, "bands": "auto"}
"""Fields added after jobs began recording digests, with the value that does what runs did before the field existed:
left out of the digest at that value, so that finished outputs of earlier runs still count as done (and those of
another value do not)."""

Layers = Union[Sequence[str], Mapping[str, float]]


def layer_weights(layers: Layers, what: str, model: str = "vgg19") -> dict[str, float]:
    """{layer: w_l} from one grammar: "conv1_1:0.5,conv2_1", a list of such names, or a mapping.

    Entries without a weight get the equal share w_l = 1/L of the L entries; a mapping is taken as given.
    """
    if isinstance(layers, str):
        layers = [item for item in layers.split(",") if item.strip()]
    if not isinstance(layers, Mapping):
        layers = dict(_layer_entry(str(item), 1.0 / max(len(layers), 1), what) for item in layers)
    weights = {str(k).strip(): _weight(v, what, k) for k, v in layers.items()}
    if not weights:
        raise NSTError(f"no {what} layers given")
    vgg.check_layers(list(weights), model)
    for name, w in weights.items():
        if not 0 <= w < float("inf"):
            raise NSTError(f"{what} layer weight for {name} must be a finite number >= 0, got {w}")
    return weights


def _layer_entry(item: str, share: float, what: str) -> tuple[str, float]:
    """"name" → (name, share); "name:w" → (name, w)."""
    name, sep, weight = item.partition(":")
    if not name.strip():
        raise NSTError(f"{what} layer entry {item!r} has no layer name")
    return name.strip(), _weight(weight, what, name) if sep else share


def _weight(value: object, what: str, name: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise NSTError(f"{what} layer weight for {str(name).strip()} must be a number, got {value!r}") from None


@dataclass(frozen=True)
class Settings:
    """Options of ``stylize``; α = content_weight, β = style_weight, γ = tv_weight.

    The defaults are the best picture QUALITY.md measured: the paper's network, layers and weights (content
    conv4_2, style conv1_1…conv5_1 with equal weights, average pooling, L-BFGS, α/β = 1e-3 with L_content
    normalized as for a 512² image, ``normalization`` "size", so the same weights give the same balance at
    every size), with the W2 style loss (``style_loss`` "mean_cov"; "gram" is the paper's), a ``margin`` of 16
    px of mirrored content stylized around the picture and cropped off (no frame along its edges), coarse-to-fine
    from half the size (``scales`` "auto": S/2, S/√2, then S), and each scale stopped once its loss has
    stopped falling (``stop_tol``; ``steps`` is a cap per scale). The paper's own
    recipe is ``preset="gatys2016"``. ``learning_rate`` None is the optimizer's default (:data:`DEFAULT_LR`,
    see :attr:`lr`). ``spatial`` = D > 1 splits one image's rows over D local devices (spatial sharding,
    :mod:`jax_nst.optimize.spatial`); ``bands`` = K > 1 evaluates the objective over K bands of rows one after
    another (:mod:`jax_nst.objective.banded`: the same result with one band's activations in memory; with
    ``spatial`` the devices share the bands), "auto" as many as the memory needs (1 when the image fits).
    """

    size: int = 512
    style_size: int | None = None
    steps: int = 300
    optimizer: str = "lbfgs"
    learning_rate: float | None = None
    content_weight: float = 1.0
    style_weight: float = 1e3
    tv_weight: float = 0.0
    content_layers: Layers = CONTENT_LAYERS
    style_layers: Layers = STYLE_LAYERS
    init: str = "content"
    pooling: str = "avg"
    seed: int = 0
    report_every: int = 50
    lbfgs_memory: int = LBFGS_MEMORY
    model: str = "vgg19"
    scales: Sequence[int] | str = "auto"
    scale_steps: Sequence[int] | None = None
    style_blend_weights: Sequence[float] | None = None
    style_scale: float = 1.0
    preserve_colors: str | None = None
    average: float = 0.0
    precision: str = "float32"
    remat: str = "auto"
    normalization: str = "size"
    spatial: int = 1
    temporal_weight: float = TEMPORAL_WEIGHT
    padding: str = "zero"
    style_loss: str = "mean_cov"
    margin: int = 16
    stop_tol: float = STOP_TOL
    bands: int | str = "auto"

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        _choice("model", self.model, tuple(vgg.MODELS))
        set_("content_layers", layer_weights(self.content_layers, "content", self.model))
        set_("style_layers", layer_weights(self.style_layers, "style", self.model))
        for name in terms.OPTIONS.values():
            value = float(getattr(self, name))
            if not value >= 0 or value == float("inf"):
                raise NSTError(f"{name} must be a finite number >= 0, got {value}")
            set_(name, value)
        for name in ("size", "steps", "report_every", "lbfgs_memory", "spatial"):
            _positive_int(name, getattr(self, name))
        if self.style_size is not None:
            _positive_int("style_size", self.style_size)
        if not 0 <= float(self.stop_tol) < float("inf"):
            raise NSTError(f"stop_tol must be a finite number >= 0, got {self.stop_tol}")
        set_("stop_tol", float(self.stop_tol))
        set_("bands", bands_value(self.bands))
        if not isinstance(self.margin, int) or self.margin < 0:
            raise NSTError(f"margin must be a whole number of pixels >= 0, got {self.margin!r}")
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("init", self.init, INITS)
        _choice("pooling", self.pooling, vgg.POOLINGS)
        if self.learning_rate is not None:
            top = MAX_LR[self.optimizer]
            if not 0 < float(self.learning_rate) <= top:
                raise NSTError(f"learning_rate must be a number > 0 and <= {top:g} for {self.optimizer} "
                               f"(pixels are in [0, 1]), got {self.learning_rate}")
            set_("learning_rate", float(self.learning_rate))
        if not isinstance(self.seed, int):
            raise NSTError(f"seed must be an integer, got {self.seed!r}")
        _check_controls(self, set_)
        _choice("precision", self.precision, PRECISIONS)
        _choice("remat", self.remat, REMATS)
        _choice("normalization", self.normalization, NORMALIZATIONS)
        _choice("padding", self.padding, PADDINGS)
        _choice("style_loss", self.style_loss, style_losses.NAMES)

    @property
    def coarse_scales(self) -> tuple[int, ...]:
        """The long sides optimized before ``size`` (coarse-to-fine): ``scales``, or for "auto" :func:`auto_scales`."""
        return auto_scales(self.size) if self.scales == "auto" else tuple(self.scales)

    @property
    def lr(self) -> float:
        """The learning rate: the one given, else the optimizer's default."""
        return DEFAULT_LR[self.optimizer] if self.learning_rate is None else self.learning_rate

    @property
    def active_content_layers(self) -> dict[str, float]:
        """Content layers, or none when α = 0."""
        return dict(self.content_layers) if self.content_weight else {}

    @property
    def active_style_layers(self) -> dict[str, float]:
        """Style layers, or none when β = 0."""
        return dict(self.style_layers) if self.style_weight else {}

    @property
    def layers(self) -> list[str]:
        """Every layer the weighted losses need, in network order (conv1_1 if none)."""
        return self.program().layers

    def program(self, masked: bool = False, inputs: Sequence[str] = ()) -> "Program":
        """What the compiled loop depends on; ``masked``: style by guided Grams (masks given); ``inputs``: the
        terms given an input (e.g. "temporal": a video frame tied to the previous one)."""
        return Program(
            model=self.model, pooling=self.pooling, precision=self.precision, remat=self.remat,
            optimizer=self.optimizer, lbfgs_memory=self.lbfgs_memory, normalization=self.normalization,
            content_layers=self._in_order(self.active_content_layers), style_layers=self._in_order(self.active_style_layers),
            masked=masked, average=bool(self.average), spatial=self.spatial, inputs=tuple(sorted(inputs)), padding=self.padding,
            style_loss=self.style_loss, bands=self.bands,
            stochastic=style_losses.get(self.style_loss).random and bool(self.active_style_layers),
        )

    def _in_order(self, layers: Mapping[str, float]) -> tuple[str, ...]:
        """Layer names in network order (the program does not depend on the order they were given in)."""
        return tuple(sorted(layers, key=vgg.layer_names(self.model).index))

    def hyper(self) -> "Hyper":
        """The traced values of the loop as float32 arrays."""
        f32 = np.float32
        return Hyper(
            weights={n: f32(getattr(self, option)) for n, option in terms.OPTIONS.items()},
            content_layers={k: f32(w) for k, w in self.active_content_layers.items()},
            style_layers={k: f32(w) for k, w in self.active_style_layers.items()},
            learning_rate=f32(self.lr), average=f32(self.average), stop=f32(self.stop_tol),
        )

    def replace(self, **changes) -> "Settings":
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def __hash__(self) -> int:
        return hash(self.digest())

    def digest(self) -> str:
        """Short SHA-256 of the settings, for manifests and caches (fields of :data:`ADDED` count when not at their default)."""
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if ADDED.get(f.name, object()) != getattr(self, f.name)}
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


OPTION_DOCS: dict[str, str] = {
    "size": "long side of the output in px",
    "style_size": "long side the style image is resized to (None: the output's)",
    "steps": "optimization steps at size (the coarse scales take scale_steps)",
    "optimizer": "lbfgs (L-BFGS with a strong-Wolfe line search) or adam",
    "learning_rate": "learning rate (L-BFGS: the line search's first step; None: 1 for L-BFGS, 0.02 for Adam)",
    **{terms.OPTIONS[n]: terms.CATALOGUE[n]["help"] for n in terms.NAMES},
    "content_layers": "content layers, each optionally name:weight (\"conv4_2,conv5_2:0.5\", a list, or {layer: w})",
    "style_layers": "style layers, each optionally name:weight (a name without a weight gets 1/L)",
    "init": "starting image: content, noise, style or an image (./content for a file named like one of those)",
    "pooling": "pooling between VGG blocks: avg (the paper's) or max",
    "seed": "random seed of the noise init and of random style losses",
    "report_every": "steps between progress reports (each costs one forward pass)",
    "lbfgs_memory": "L-BFGS history length",
    "model": "backbone, each with its own weights: vgg19 or vgg16",
    "scales": "coarse-to-fine: optimize at these long sides first, then at size (auto: size/2 and size/√2, those of "
              f"at least {AUTO_SMALLEST} px; none: size only)",
    "scale_steps": "steps at each of scales (None: steps each)",
    "style_blend_weights": "weights of several style images, mixed at the Gram level (None: equal)",
    "style_scale": "style image size relative to the output; small = finer texture",
    "preserve_colors": "keep the content's colours: luminance (luminance-only transfer) or histogram (colour matching)",
    "average": "return the exponential moving average of the image over steps, e.g. 0.9 (0: off)",
    "precision": "compute dtype of the VGG pass: float32, or bfloat16 with float32 accumulation",
    "remat": "recompute activations in the backward pass: auto (when memory would not suffice), on, off",
    "normalization": "size: weights mean the same at every size (as for 512² px); paper: the paper's plain sums",
    "spatial": "split one image's rows over D local devices: the same result with ~1/D of the memory per device",
    "padding": "border of the first convolution: zero (VGG's, edges come out special), replicate or reflect",
    "style_loss": "the style term: " + "; ".join(f"{n} ({style_losses.CATALOGUE[n]['summary']})" for n in style_losses.NAMES),
    "margin": "stylize this many px of mirrored content around the image and crop them off: no frame along the edges",
    "stop_tol": "end a scale early once the loss falls by less than this fraction per step (averaged over ~10 steps); "
                "steps is then a cap (0: run every step)",
    "bands": "evaluate the picture in K bands of rows one after another: the same result in less memory; auto: as "
             "many as memory needs (1 when it fits)",
}
"""One line on each option of :class:`Settings`: the command line's help and the API's docstrings read it."""


class Options(TypedDict, total=False):
    """The options of ``stylize`` and its siblings as keyword arguments: every :class:`Settings` field but ``init``
    (which ``stylize`` takes as an image too), with its type; a test keeps the two equal."""

    size: int
    style_size: int | None
    steps: int
    optimizer: str
    learning_rate: float | None
    content_weight: float
    style_weight: float
    tv_weight: float
    content_layers: Layers
    style_layers: Layers
    pooling: str
    seed: int
    report_every: int
    lbfgs_memory: int
    model: str
    scales: Sequence[int] | str
    scale_steps: Sequence[int] | None
    style_blend_weights: Sequence[float] | None
    style_scale: float
    preserve_colors: str | None
    average: float
    precision: str
    remat: str
    normalization: str
    spatial: int
    temporal_weight: float
    padding: str
    style_loss: str
    margin: int
    stop_tol: float
    bands: int | str


def options_doc() -> str:
    """Every option with its type, default and meaning, as a docstring section (:func:`with_options`)."""
    lines = ["Options (keyword arguments; the fields of :class:`jax_nst.settings.Settings`, validated once):", ""]
    for f in dataclasses.fields(Settings):
        if f.name in Options.__annotations__:
            lines.append(f"    {f.name}: {f.type} = {f.default!r}")
            lines.append(f"        {OPTION_DOCS[f.name]}")
    return "\n".join(lines)


def with_options(fn: Callable) -> Callable:
    """``fn`` with :func:`options_doc` appended to its docstring, so ``help(fn)`` lists every option."""
    fn.__doc__ = f"{fn.__doc__.rstrip()}\n\n" + textwrap.indent(options_doc(), "    ")
    return fn


def _check_controls(s: Settings, set_) -> None:
    """Validate (and normalize to tuples) the creative controls: scales, blending, colour, averaging."""
    word = scales_word(s.scales)
    set_("scales", _numbers(s.scales, int) if word is None else word)
    scales = s.coarse_scales
    for size in scales:
        _positive_int("scales entry", size)
    if list(scales) != sorted(set(scales)) or (scales and scales[-1] >= s.size):
        raise NSTError(f"scales must increase and stay below size {s.size}, got {list(scales)}")
    if s.scale_steps is not None:
        set_("scale_steps", _numbers(s.scale_steps, int))
        for n in s.scale_steps:
            _positive_int("scale_steps entry", n)
        if len(s.scale_steps) != len(scales):
            raise NSTError(f"give one scale_steps entry per scale: {len(scales)} scales "
                           f"({list(scales)}), {len(s.scale_steps)} entries")
    if s.style_blend_weights is not None:
        set_("style_blend_weights", _numbers(s.style_blend_weights, float))
        if not all(0 <= w < float("inf") for w in s.style_blend_weights) or not sum(s.style_blend_weights) > 0:
            raise NSTError(f"style_blend_weights must be finite, >= 0 and not all 0, got {list(s.style_blend_weights)}")
    if not 0 < float(s.style_scale) < float("inf"):
        raise NSTError(f"style_scale must be a finite number > 0, got {s.style_scale}")
    set_("style_scale", float(s.style_scale))
    if s.preserve_colors is not None:
        _choice("preserve_colors", s.preserve_colors, PRESERVE_COLORS)
    if not 0 <= float(s.average) < 1:
        raise NSTError(f"average (the EMA decay) must be in [0, 1), got {s.average}")
    set_("average", float(s.average))


def _numbers(values: object, kind: type) -> tuple:
    """A tuple from a sequence or a comma-separated string ("64,128"); strings are converted to ``kind``."""
    if isinstance(values, str):
        try:
            return tuple(kind(v) for v in values.split(",") if v.strip())
        except ValueError:
            raise NSTError(f"expected comma-separated numbers, got {values!r}") from None
    return tuple(values)


MAX_COUNT = 2**31 - 1
"""The largest count (steps, sizes, history) a compiled program takes: its loop counters are int32."""


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
        raise NSTError(f"{name} must be a positive integer up to {MAX_COUNT}, got {value!r}")


def bands_value(value: object) -> int | str:
    """``bands`` as "auto" or a positive int (NSTError otherwise); "4" is 4."""
    if value == "auto":
        return "auto"
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
        raise NSTError(f"bands must be auto or a positive integer up to {MAX_COUNT}, got {value!r}")
    return value


def _choice(name: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise NSTError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
