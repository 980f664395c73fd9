"""``stylize`` and ``stylize_batch``: images in, stylized images out."""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import numpy as np

from . import images, objective, optimize, vgg
from .controls import color, presets, schedule, styles
from .controls import grid as grids
from .controls import masks as region_masks
from .errors import NSTError
from .objective import guided
from .optimize import memory, sharding, spatial
from .settings import INITS, Program, Settings


class Progress(NamedTuple):
    """What a callback receives every ``report_every`` steps and after the last step.

    ``losses`` maps "total", "content", "style", "tv" to floats (``stylize``) or to arrays with one
    value per image (``stylize_batch``); ``image`` is the current (H, W, 3) or (B, H, W, 3) image.
    """

    step: int
    steps: int
    evaluations: int
    losses: dict[str, Any]
    image: np.ndarray


Callback = Callable[[Progress], None]


def stylize(
    content: images.ImageSource,
    style: images.ImageSource | Sequence[images.ImageSource],
    *,
    weights: str | os.PathLike | None = None,
    init: Any = "content",
    callback: Callback | None = None,
    **options: Any,
) -> np.ndarray:
    """Stylize one content image; returns a float32 (H, W, 3) RGB numpy array in [0, 1].

    ``content``, ``style`` and an image ``init`` may be paths, PIL images, numpy or jax arrays.
    ``init`` is "content", "noise" (uniform, from ``seed``), "style" or an image. ``options`` are
    the fields of :class:`jax_nst.settings.Settings` (size, steps, optimizer, content_weight, …),
    plus ``masks``, ``preset`` and ``settings`` (see :func:`stylize_batch`); ``style`` may be a list of styles.
    """
    relay = None
    if callback is not None:
        relay = lambda p: callback(first(p))  # noqa: E731
    return stylize_batch([content], style, weights=weights, init=init, callback=relay, **options)[0]


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
    **options: Any,
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
    if settings is not None and (options or preset is not None):
        raise NSTError("give either settings or options and a preset, not both")
    s = settings or presets.resolve(preset, init, **options)
    return run(contents, style, s, weights=weights, init=init, callback=callback, masks=masks,
               trust_weights=trust_weights)


def stylize_grid(
    content: images.ImageSource, style: images.ImageSource | Sequence[images.ImageSource], grid: grids.Grid, *,
    weights: str | os.PathLike | None = None, init: Any = "content", callback: Callback | None = None,
    masks: Sequence[images.ImageSource] | None = None, preset: str | None = None, settings: Settings | None = None,
    trust_weights: bool = False, **options: Any,
) -> np.ndarray:
    """One content under every combination of ``grid``'s values, in one compiled batch: (G, H, W, 3).

    ``grid`` maps traced options (:data:`jax_nst.controls.grid.TRACED`: α, β, γ, learning rate, EMA decay) to
    values, e.g. ``{"style_weight": [1e2, 1e3, 1e4]}``; cells are ordered with the first option varying fastest
    (:func:`jax_nst.controls.grid.sheet` lays them out). Each cell equals ``stylize`` with its values.
    """
    if settings is not None and (options or preset is not None):
        raise NSTError("give either settings or options and a preset, not both")
    s = settings or presets.resolve(preset, init, **options)
    each = grids.cells(s, grid)
    return run([content] * len(each), style, s, weights=weights, init=init, callback=callback, masks=masks,
               trust_weights=trust_weights, cells=each)


def run(
    contents: Sequence[images.ImageSource], style: images.ImageSource | Sequence[images.ImageSource], s: Settings, *,
    weights: str | os.PathLike | None = None, init: Any = "content", callback: Callback | None = None,
    masks: Sequence[images.ImageSource] | None = None, trust_weights: bool = False,
    inputs: Mapping[str, Any] | None = None, cells: Sequence[Settings] | None = None,
) -> np.ndarray:
    """:func:`stylize_batch` under resolved settings ``s``; ``inputs`` gives the terms that take one their input by
    term name, at the content's size (``{"temporal": Temporal(...)}`` ties a video frame to the previous stylized
    frame: :mod:`jax_nst.objective.terms.temporal`); ``cells``
    gives each content its own traced values (a weight grid: one Settings per content, one program)."""
    if len(contents) == 0:
        raise NSTError("no content images given")
    if s.spatial > 1:
        spatial.check(s, len(contents), inputs or {})
    raw = [images.load_image(c, at_least=s.size) for c in contents]
    shapes = {tuple(d + 2 * s.margin for d in images.fit_long_side(*r.shape[:2], s.size)) for r in raw}
    per_device = 1 if s.spatial > 1 else -(-len(raw) // jax.local_device_count())
    memory.check_fits(max(shapes), s, per_device)  # before any large array is made
    batch = np.stack(_same_shape([images.load_image(r, s.size) for r in raw]))
    _check_size(batch.shape[1:3], s)
    style_imgs = styles.load_styles(style, s)
    _check_scales(s, batch.shape[1:3], style_imgs)
    if masks is not None and s.style_blend_weights is not None:
        raise NSTError("style_blend_weights and masks exclude each other: with masks each style has its region")
    if masks is not None and not objective.style_losses.get(s.style_loss).masks:
        raise NSTError(f"masks guide Gram matrices; style_loss {s.style_loss!r} does not take masks (use gram)")
    mask = None if masks is None else region_masks.load_masks(masks, batch.shape[1:3], len(style_imgs))
    params = _params(*_weights_key(weights, s.model), trust_weights)
    seen, seen_styles = color.prepare(s.preserve_colors, batch, style_imgs)
    blend = None if mask is not None else styles.blend_weights(s, len(style_imgs))
    x, relay = None, None if callback is None else schedule.Relay(callback, schedule.total_steps(s))
    per_cell = None if cells is None else list(zip(*(schedule.plan(c) for c in cells)))  # [scale][cell]
    for j, k in enumerate(schedule.plan(s)):
        hw = schedule.shape_at(batch.shape[1:3], k.size)
        program = k.program(masked=mask is not None, inputs=list(inputs or {}))
        batch_k, styles_k = schedule.resize_batch(seen, hw), styles.at_scale(seen_styles, s, k.size)
        x = _initial(init, k, batch_k, styles_k[0]) if x is None else schedule.resize_batch(x, hw)
        m = round(s.margin * k.size / s.size)  # mirrored margin, cropped after
        batch_k, x = grow(batch_k, m), grow(np.asarray(x), m)
        mask_k = None if mask is None else grow(region_masks.at_size(mask, hw)[None], m)
        tall = spatial.padded_height(hw[0] + 2 * m, program)  # spatial sharding: rows mirrored below, cropped after
        batch_k, x = spatial.pad_rows(batch_k, tall), spatial.pad_rows(x, tall)
        mask_k = None if mask_k is None else spatial.pad_rows(mask_k, tall)[0]
        targets = objective.targets.build(params, batch_k, styles_k, program, blend, mask_k, s.seed)
        if inputs:
            targets = targets._replace(inputs={n: objective.terms.get(n).fit(v, hw, m) for n, v in inputs.items()})
        try:
            hyper = None if cells is None else optimize.stack([c.hyper() for c in per_cell[j]])
            x = _optimize(params, _start(x, targets, s), targets, program, k, relay, hw[0] + 2 * m, hyper, m)
        except Exception as e:  # noqa: BLE001 - XLA's RESOURCE_EXHAUSTED becomes one line with a size that fits
            if memory.out_of_memory(e) and not isinstance(e, NSTError):
                raise memory.out_of_memory_error(hw, program, len(raw)) from None
            raise
        if relay is not None:
            relay.next_scale()
    if mask is not None:
        x = np.asarray(guided.composite(x, seen, guided.keep_map(mask)))
    return color.finish(s.preserve_colors, x, batch)


def _start(x: np.ndarray, targets: objective.Targets, s: Settings) -> np.ndarray:
    """x⁽⁰⁾ made grey for luminance-only transfer and equal to the content where masks keep it."""
    if s.preserve_colors == "luminance":
        x = color.grey(color.luminance(x))
    if targets.keep is not None:
        x = guided.composite(x, targets.pixels, targets.keep)
    return np.asarray(x, np.float32)


def grow(batch: np.ndarray, m: int) -> np.ndarray:
    """(B, H, W, C) images with ``m`` px mirrored onto every side (``margin``: the picture's edges are then
    inside the network's maps); :func:`_optimize` crops them off."""
    return batch if m == 0 else np.pad(batch, ((0, 0), (m, m), (m, m), (0, 0)), mode="symmetric")


def _optimize(params, x, targets, program: Program, s: Settings, callback: Callback | None,
              height: int | None = None, hyper: Any = None, margin: int = 0) -> np.ndarray:
    """Run ``s.steps`` steps in device-side chunks of ``s.report_every``; report after each.

    ``height``: the rows to report and return (spatial sharding's mirrored rows below it are dropped), of
    which ``margin`` px on every side are cropped off too;
    ``hyper``: each image's traced values (batched), default ``s.hyper()`` for all.

    A batch of one runs unbatched, a larger one under ``vmap`` (L-BFGS on CPU: image by image, ``loop.one_by_one_default``).
    A larger batch is sharded over the local devices (padded to a multiple of them; padding dropped);
    one image with ``program.spatial`` > 1 has its rows split over the devices.
    """
    b = x.shape[0]
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
    while done < s.steps:
        n = min(s.report_every, s.steps - done)
        x, state, ev = loop.run(params, x, state, targets, hyper, n)
        done, evals = done + n, evals + int(np.max(ev))
        parts = {k: np.atleast_1d(np.asarray(v))[:b] for k, v in loop.losses(params, x, targets, hyper).items()}
        _check_progress(first, (parts["total"], _saturated(x)[:b] if done >= s.steps else None), done, s)
        if callback is not None:
            callback(Progress(done, s.steps, evals, parts, _picture(x, state, program, b, height, margin)))
    return _picture(x, state, program, b, height, margin)


def _picture(x: Any, state: Any, program: Program, b: int, height: int | None, margin: int) -> np.ndarray:
    """The (b, H, W, 3) pictures of a run's state: the first ``height`` rows, less ``margin`` px on every side."""
    out = optimize.output_image(x, state, program.average).reshape(-1, *x.shape[-3:])[:b, :height]
    return out[:, margin:out.shape[1] - margin, margin:out.shape[2] - margin]


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


def _initial(init: Any, s: Settings, batch: jax.Array, style: jax.Array) -> jax.Array:
    """The starting image(s) x⁽⁰⁾ for each content in ``batch``."""
    b, h, w, _ = batch.shape
    if not _is_mode(init):
        start = images.resize(images.load_image(init), h, w)
    elif init == "content":
        return batch
    elif init == "noise":
        start = _noise(s.seed, h, w)
    else:
        start = images.resize(np.asarray(style), h, w)
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


def _check_size(hw: Sequence[int], s: Settings, what: str = "content image") -> None:
    need = vgg.min_side(s.layers, s.model)
    if min(hw) < need:
        raise NSTError(
            f"{what} is {hw[1]}×{hw[0]} px; layers up to {s.layers[-1]} need at least {need} px per side"
        )


def _check_scales(s: Settings, hw: Sequence[int], style_imgs: list[np.ndarray]) -> None:
    """Every scale's content and style images are large enough for the layers."""
    for k in schedule.plan(s):
        where = "" if k.size == s.size else f" at scale {k.size} px"
        _check_size(schedule.shape_at(hw, k.size), k, "content image" + where)
        for img in style_imgs:
            _check_size(schedule.shape_at(img.shape[:2], styles.style_side(s, k.size)), k, "style image" + where)


def first(p: Progress) -> Progress:
    """The single-image view of a batch progress report (its first image)."""
    return p._replace(losses={k: float(v[0]) for k, v in p.losses.items()}, image=p.image[0])
