"""``stylize`` and ``stylize_batch``: images in, stylized images out."""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np

from . import images, objective, optimize, vgg
from .controls import coarse_to_fine, color, grids, presets, region_masks, styles
from .errors import NSTError
from .objective import guided
from .progress import Callback, Progress
from .optimize import memory, memory_maps, sharding, spatial
from .optimize.loop import host_blas
from .program import Program
from .settings import INITS, Options, Settings, Unpack, with_options




@with_options
def stylize(
    content: images.ImageSource,
    style: images.ImageSource | Sequence[images.ImageSource],
    *,
    weights: str | os.PathLike | None = None,
    init: Any = "content",
    callback: Callback | None = None,
    masks: Sequence[images.ImageSource] | None = None,
    preset: str | None = None,
    settings: Settings | None = None,
    trust_weights: bool = False,
    **options: Unpack[Options],
) -> np.ndarray:
    """Stylize one content image; returns a float32 (H, W, 3) RGB numpy array in [0, 1].

    ``content``, ``style`` and an image ``init`` may be paths, PIL images, numpy or jax arrays.
    ``init`` is "content", "noise" (uniform, from ``seed``), "style" or an image; ``style`` may be a list of
    styles. ``masks``, ``preset``, ``settings`` and ``trust_weights`` are as for :func:`stylize_batch`.
    """
    relay = None
    if callback is not None:
        relay = lambda p: callback(first(p))  # noqa: E731
    return stylize_batch([content], style, weights=weights, init=init, callback=relay, masks=masks, preset=preset,
                         settings=settings, trust_weights=trust_weights, **options)[0]


@with_options
def stylize_batch(
    contents: Sequence[images.ImageSource],
    style: images.ImageSource | Sequence[images.ImageSource],
    *,
    weights: str | os.PathLike | None = None,
    init: Any = "content",
    callback: Callback | None = None,
    masks: Sequence[images.ImageSource] | None = None,
    preset: str | None = None,
    settings: Settings | None = None,
    trust_weights: bool = False,
    **options: Unpack[Options],
) -> np.ndarray:
    """Stylize several contents in one compiled computation; returns (B, H, W, 3) float32 in [0, 1].

    All contents must have the same shape once resized to ``size``. Each image gets exactly the
    result ``stylize`` would give it alone with the same settings (noise init uses ``seed`` for all).
    ``style`` may be a list: the styles are blended by ``style_blend_weights`` (Gram level), or, with
    ``masks`` (one per style, white = there), each applies where its mask is and the content stays
    where none is. ``preset`` names settings of the paper (:data:`jax_nst.controls.presets.PRESETS`);
    ``settings`` is a ready :class:`Settings` (then give no other options). ``trust_weights`` accepts a
    weights file that records no tensor digest (see :func:`jax_nst.vgg.load_params`).
    With several local devices the batch is sharded over them (:mod:`jax_nst.optimize.sharding`);
    with ``spatial`` = D > 1 one content image's rows are split over D devices instead
    (:mod:`jax_nst.optimize.spatial`: the same result, ~1/D of the memory per device).
    Loss weights and the learning rate are traced: calls that differ only in them compile nothing new.
    """
    s = presets.chosen(settings, preset, init, options)
    return run(contents, style, s, weights=weights, init=init, callback=callback, masks=masks,
               trust_weights=trust_weights)


@with_options
def stylize_grid(
    content: images.ImageSource, style: images.ImageSource | Sequence[images.ImageSource], grid: grids.Grid, *,
    weights: str | os.PathLike | None = None, init: Any = "content", callback: Callback | None = None,
    masks: Sequence[images.ImageSource] | None = None, preset: str | None = None, settings: Settings | None = None,
    trust_weights: bool = False, **options: Unpack[Options],
) -> np.ndarray:
    """One content under every combination of ``grid``'s values, in one compiled batch: (G, H, W, 3).

    ``grid`` maps traced options (:data:`jax_nst.controls.grids.TRACED`: α, β, γ, learning rate, EMA decay) to
    values, e.g. ``{"style_weight": [1e2, 1e3, 1e4]}``; cells are ordered with the first option varying fastest
    (:func:`jax_nst.controls.grids.sheet` lays them out). Each cell equals ``stylize`` with its values.
    """
    s = presets.chosen(settings, preset, init, options)
    each = grids.cells(s, grid)
    return run([content] * len(each), style, s, weights=weights, init=init, callback=callback, masks=masks,
               trust_weights=trust_weights, cells=each)


def run(
    contents: Sequence[images.ImageSource], style: images.ImageSource | Sequence[images.ImageSource], s: Settings, *,
    weights: str | os.PathLike | None = None, init: Any = "content", callback: Callback | None = None,
    masks: Sequence[images.ImageSource] | None = None, trust_weights: bool = False,
    inputs: Mapping[str, Any] | None = None, cells: Sequence[Settings] | None = None,
    optimize: StageOptimizer | None = None,
) -> np.ndarray:
    """:func:`stylize_batch` under resolved settings ``s``: load and check the pictures, build the stages once
    (:func:`jax_nst.controls.coarse_to_fine.stages`), optimize stage by stage.

    ``inputs`` gives the terms that take one their input by term name, at the content's size
    (``{"temporal": Temporal(...)}`` ties a video frame to the previous stylized frame:
    :mod:`jax_nst.objective.terms.temporal`); ``cells`` gives each content its own traced values (a weight
    grid: one Settings per content, one program). ``optimize`` optimizes one stage (default :func:`optimize_stage`;
    another optimizer, or a fake in tests, takes its place here).
    """
    inputs = dict(inputs or {})
    batch, style_images, mask = load(contents, style, s, masks, inputs)
    seen, seen_styles = color.prepare(s.preserve_colors, batch, style_images)
    plan = coarse_to_fine.stages(s, batch.shape[1:3], seen_styles, mask, list(inputs), cells)
    _check_sizes(plan)
    params = load_params(weights, s.model, trust_weights)
    blend = None if mask is not None else styles.blend_weights(s, len(style_images))
    relay = None if callback is None else coarse_to_fine.Relay(callback, sum(k.settings.steps for k in plan))
    x = None
    for k in plan:
        memory_maps.release_when_crowded()  # many shapes in one process: stay under its limit on memory maps
        content = k.fit(seen)
        x = k.fit(_initial(init, k, seen) if x is None else x)
        k = k._replace(program=memory.resolve(k.program, x.shape))  # bands and remat "auto" decided for this size
        with memory.guard(k.shape, k.program, len(batch)), host_blas():
            targets = objective.targets.build(params, content, k.styles, k.program, blend, k.masks, s.seed)
            if inputs:
                targets = targets._replace(inputs={n: objective.terms.get(n).fit(v, k.shape, k.margin)
                                                   for n, v in inputs.items()})
            x = (optimize or optimize_stage)(params, _start(x, targets, s), targets, k, relay)
        if relay is not None:
            relay.next_scale()
    if mask is not None:
        x = np.asarray(guided.composite(x, seen, guided.keep_map(mask)))
    return color.finish(s.preserve_colors, x, batch)


def load(contents: Sequence[images.ImageSource], style: images.ImageSource | Sequence[images.ImageSource],
         s: Settings, masks: Sequence[images.ImageSource] | None = None, inputs: Mapping[str, Any] | None = None,
         ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None]:
    """The contents as one batch (B, H, W, 3) at ``s.size``, the style images and the masks (H, W, R) or None,
    checked against ``s``; a run that would not fit in memory is refused before any large array is made."""
    if len(contents) == 0:
        raise NSTError("no content images given")
    if s.spatial > 1:
        spatial.check(s, len(contents), list(inputs or {}))
    raw = [images.load_image(c, at_least=s.size) for c in contents]
    shapes = {tuple(d + 2 * s.margin for d in images.fit_long_side(*r.shape[:2], s.size)) for r in raw}
    per_device = 1 if s.spatial > 1 else -(-len(raw) // jax.local_device_count())
    memory.check_fits(max(shapes), s, per_device)
    batch = np.stack(_same_shape([images.load_image(r, s.size) for r in raw]))
    memory.check_style_side(styles.style_side(s, s.size), s)
    style_images = styles.load_styles(style, s)
    if vgg.windows.chosen(s.bands) > 1 and not objective.banded.splits(s):
        splits = ", ".join(n for n in objective.style_losses.NAMES if objective.style_losses.CATALOGUE[n]["spatial"])
        raise NSTError(f"style_loss {s.style_loss!r} is not split into bands of rows (it needs every position's "
                       f"features at once); use {splits} with bands")
    if masks is not None and s.style_blend_weights is not None:
        raise NSTError("style_blend_weights and masks exclude each other: with masks each style has its region")
    if masks is not None and not objective.style_losses.get(s.style_loss).masks:
        guided = ", ".join(n for n, loss in objective.style_losses.LOSSES.items() if loss.masks)
        raise NSTError(f"style_loss {s.style_loss!r} does not take masks (it compares all positions at once); "
                       f"use {guided}")
    mask = None if masks is None else region_masks.load_masks(masks, batch.shape[1:3], len(style_images))
    return batch, style_images, mask


def _start(x: np.ndarray, targets: objective.Targets, s: Settings) -> np.ndarray:
    """x⁽⁰⁾ in the space the optimizer works in (:func:`jax_nst.controls.color.working`) and equal to the content
    where masks keep it."""
    x = color.working(s.preserve_colors, x)
    if targets.keep is not None:
        x = guided.composite(x, targets.pixels, targets.keep)
    return np.asarray(x, np.float32)


StageOptimizer = Callable[[vgg.Params, np.ndarray, objective.Targets, coarse_to_fine.Stage, "Callback | None"],
                         np.ndarray]
"""What optimizes one stage: (params, x (B, height, w + 2m, 3), targets, stage, callback) → (B, h, w, 3) pictures."""


def optimize_stage(params: vgg.Params, x: np.ndarray, targets: objective.Targets, stage: coarse_to_fine.Stage,
                   callback: Callback | None = None) -> np.ndarray:
    """Optimize the batch ``x`` (B, height, w + 2m, 3) for ``stage.settings.steps`` steps in device-side chunks of
    ``report_every``, reporting after each; returns the (B, h, w, 3) pictures, padding and margin cropped off.
    Each image stops once its loss has stopped falling (``stop_tol``, :class:`jax_nst.optimize.loop.Watched`), exactly
    as it would alone; the stage ends when all have.

    A batch of one runs unbatched, a larger one under ``vmap`` (on CPU: image by image,
    ``loop.one_by_one_default``), sharded over the local devices; one image with ``program.spatial`` > 1 has its
    rows split over the devices.
    """
    s, program, hyper, b = stage.settings, stage.program, stage.hyper, x.shape[0]
    batched = b > 1
    if not batched:
        x, targets = x[0], objective.first_image(targets)
        hyper = s.hyper() if hyper is None else jax.tree.map(lambda a: a[0], hyper)
    loop = _loop(memory.resolve(program, x.shape), batched)  # remat "auto" decided for this batch and size
    if batched:
        hyper = optimize.per_image(s.hyper(), b) if hyper is None else hyper
        loop, params, x, targets, hyper = sharding.data_parallel(loop, params, x, targets, hyper, objective.BATCHED)
    elif program.spatial > 1:
        params, x, targets = spatial.place(params, x, targets, program)
    state, done, evals = loop.init(params, x, targets, hyper), 0, 1 if s.optimizer == "lbfgs" else 0
    first = np.atleast_1d(np.asarray(loop.losses(params, x, targets, hyper)["total"]))[:b], _saturated(x)[:b]
    picture = lambda: stage.crop(optimize.output_image(x, state, program.average).reshape(-1, *x.shape[-3:])[:b])  # noqa: E731
    stopped = False
    while done < s.steps and not stopped:
        n = min(s.report_every, s.steps - done)
        x, state, ev = loop.run(params, x, state, targets, hyper, n)
        done, evals = int(np.max(np.asarray(state.count))), evals + int(np.max(ev))  # the batch's most steps
        stopped = done < s.steps and bool(np.all(np.atleast_1d(state.stopped(np.asarray(hyper.stop), np))[:b]))
        parts = {k: np.atleast_1d(np.asarray(v))[:b] for k, v in loop.losses(params, x, targets, hyper).items()}
        end = done >= s.steps or stopped
        _check_progress(first, (parts["total"], _saturated(x)[:b] if end else None), done, s)
        if callback is not None:
            change = np.atleast_1d(state.mean_change(np))[:b]
            callback(Progress(done, s.steps, evals, parts, picture(), change, stopped))
    return picture()


SATURATED = 0.5
"""A scale that ends with its loss above the start and this fraction more of the pixels at 0 or 1 has diverged."""


def _saturated(x: Any) -> np.ndarray:
    """Per image, the fraction of pixel values at the box's bounds 0 and 1."""
    x = np.asarray(x)
    x = x.reshape(-1, *x.shape[-3:])
    return np.mean((x <= 0.0) | (x >= 1.0), axis=(1, 2, 3))


def _check_progress(first: tuple, now: tuple, step: int, s: Settings) -> None:
    """Stop with an error when the loss is NaN/infinite, or when a scale ends diverged: its loss above the
    start and half the pixels pushed to 0 or 1 (``now[1]`` is given at the end only; Adam may rise on the way)."""
    (loss0, sat0), (loss, sat) = first, now
    advice = f"lower the learning rate (now {s.lr:g}) or the loss weights"
    if not np.all(np.isfinite(loss)):
        raise NSTError(f"the loss became NaN or infinite by step {step}; {advice}")
    bad = np.flatnonzero((loss > loss0) & (sat - sat0 > SATURATED)) if sat is not None else []
    if len(bad):
        i = bad[0]
        raise NSTError(f"the optimization diverged: the loss rose from {loss0[i]:.4g} to {loss[i]:.4g} by step {step} "
                       f"and {sat[i]:.0%} of the pixel values are at 0 or 1; {advice}")


def load_params(weights: str | os.PathLike | None = None, model: str = "vgg19", trust: bool = False) -> vgg.Params:
    """The checked VGG params of ``weights`` (default: the shipped file of ``model``) on the device; loaded once per
    file version, so batch jobs and studies that call this often read the file once."""
    return _params(*_weights_key(weights, model), trust)


def _weights_key(weights: str | os.PathLike | None, model: str) -> tuple[str, int, int, str]:
    """(path, mtime, size, model) of the weights file: a changed or replaced file is loaded again."""
    path = vgg.resolve_weights(weights, model)
    try:
        st = path.stat()
    except OSError:
        return str(path), -1, -1, model  # load_params reports the missing file
    return str(path), st.st_mtime_ns, st.st_size, model


@functools.lru_cache(maxsize=2)
def _params(path: str, mtime_ns: int, size: int, model: str, trust: bool = False) -> vgg.Params:
    """The checked params of a weights file on the device, loaded once per file version (batch jobs call often)."""
    return jax.device_put(vgg.load_params(path, model=model, trust=trust))


@functools.lru_cache(maxsize=8)
def _loop(program: Program, batched: bool) -> optimize.Loop:
    """Compiled loops, reused across calls with the same program (weights and learning rate are traced)."""
    return optimize.make_loop(program, batched)


def _initial(init: Any, stage: coarse_to_fine.Stage, batch: np.ndarray) -> np.ndarray:
    """The starting image(s) x⁽⁰⁾ for each content of ``batch`` (B, H, W, 3), at ``batch``'s or the stage's shape."""
    b, (h, w) = batch.shape[0], stage.shape
    if not _is_mode(init):
        start = images.resize(images.load_image(init), h, w)
    elif init == "content":
        return batch
    elif init == "noise":
        start = _noise(stage.settings.seed, h, w)
    else:
        start = images.resize(np.asarray(stage.styles[0]), h, w)
    return np.broadcast_to(np.asarray(start, np.float32), (b, h, w, 3))


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _noise(seed: int, h: int, w: int) -> jax.Array:
    """Uniform noise in [0, 1) of shape (h, w, 3) from ``seed`` (one compiled program per shape)."""
    return jax.random.uniform(jax.random.PRNGKey(seed), (h, w, 3))


def _is_mode(init: Any) -> bool:
    return isinstance(init, str) and init in INITS


def _same_shape(arrays: list[np.ndarray]) -> list[np.ndarray]:
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise NSTError(f"content images differ in shape after resizing ({sorted(shapes)}); batch equal shapes")
    return arrays


def _check_sizes(plan: Sequence[coarse_to_fine.Stage]) -> None:
    """Every stage's content and style images are large enough for its layers."""
    for k in plan:
        where = "" if k is plan[-1] else f" at scale {k.settings.size} px"
        need = vgg.min_side(k.settings.layers, k.settings.model)
        for what, (h, w) in [("content image", k.shape), *(("style image", i.shape[:2]) for i in k.styles)]:
            if min(h, w) < need:
                raise NSTError(f"{what}{where} is {w}×{h} px; layers up to {k.settings.layers[-1]} need at least "
                               f"{need} px per side")


def first(p: Progress) -> Progress:
    """The single-image view of a batch progress report (its first image)."""
    change = None if p.change is None else float(np.ravel(p.change)[0])
    return p._replace(losses={k: float(v[0]) for k, v in p.losses.items()}, image=p.image[0], change=change)
