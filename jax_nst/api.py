"""``stylize`` and ``stylize_batch``: images in, stylized images out."""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import images, optimize, vgg
from .errors import NSTError
from .settings import INITS, Settings


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
    style: images.ImageSource,
    *,
    weights: str | os.PathLike | None = None,
    init: Any = "content",
    callback: Callback | None = None,
    **options: Any,
) -> np.ndarray:
    """Stylize one content image; returns a float32 (H, W, 3) RGB numpy array in [0, 1].

    ``content``, ``style`` and an image ``init`` may be paths, PIL images, numpy or jax arrays.
    ``init`` is "content", "noise" (uniform, from ``seed``), "style" or an image. ``options`` are
    the fields of :class:`jax_nst.settings.Settings` (size, steps, optimizer, content_weight, …).
    """
    relay = None
    if callback is not None:
        relay = lambda p: callback(_first(p))  # noqa: E731
    return stylize_batch([content], style, weights=weights, init=init, callback=relay, **options)[0]


def stylize_batch(
    contents: Sequence[images.ImageSource],
    style: images.ImageSource,
    *,
    weights: str | os.PathLike | None = None,
    init: Any = "content",
    callback: Callback | None = None,
    **options: Any,
) -> np.ndarray:
    """Stylize several contents in one ``vmap``-ed computation; returns (B, H, W, 3) float32 in [0, 1].

    All contents must have the same shape once resized to ``size``. Each image gets exactly the
    result ``stylize`` would give it alone with the same settings (noise init uses ``seed`` for all).
    """
    s = Settings(init=init if _is_mode(init) else "content", **options)
    if len(contents) == 0:
        raise NSTError("no content images given")
    batch = jnp.stack(_same_shape([images.load_image(c, s.size) for c in contents]))
    _check_size(batch.shape[1:3], s)
    style_img = jnp.asarray(images.load_image(style, s.style_size or s.size))
    _check_size(style_img.shape[:2], s, "style image")
    params = jax.device_put(vgg.load_params(weights, model=s.model))
    targets = optimize.Targets(
        content=optimize.content_targets(params, batch, s), style=optimize.style_targets(params, style_img, s)
    )
    x = _initial(init, s, batch, style_img)
    return _optimize(params, x, targets, s, callback)


def _optimize(params, x, targets, s: Settings, callback: Callback | None) -> np.ndarray:
    """Run ``s.steps`` steps in device-side chunks of ``s.report_every``; report after each.

    A batch of one runs unbatched: under ``vmap`` the line search's branches would both execute.
    """
    batched = x.shape[0] > 1
    if not batched:
        x, targets = x[0], targets._replace(content={l: f[0] for l, f in targets.content.items()})
    loop = _loop(_loop_key(s), batched)
    state, done, evals = loop.init(params, x, targets), 0, 1 if s.optimizer == "lbfgs" else 0
    while done < s.steps:
        n = min(s.report_every, s.steps - done)
        x, state, ev = loop.run(params, x, state, targets, n)
        done, evals = done + n, evals + int(jnp.max(ev))
        parts = {k: np.atleast_1d(np.asarray(v)) for k, v in loop.losses(params, x, targets).items()}
        if not np.all(np.isfinite(parts["total"])):
            raise NSTError(f"the loss became NaN or infinite by step {done}; lower the learning rate or the weights")
        if callback is not None:
            image = np.asarray(jnp.clip(x, 0.0, 1.0)).reshape(-1, *x.shape[-3:])
            callback(Progress(done, s.steps, evals, parts, image))
    return np.asarray(jnp.clip(x, 0.0, 1.0)).reshape(-1, *x.shape[-3:])


@functools.lru_cache(maxsize=8)
def _loop(key: Settings, batched: bool) -> optimize.Loop:
    """Compiled loops, reused across calls with the same objective and optimizer."""
    return optimize.make_loop(key, batched)


def _loop_key(s: Settings) -> Settings:
    """``s`` with the fields that do not change the compiled loop set to fixed values."""
    return s.replace(size=1, style_size=None, steps=1, init="content", seed=0, report_every=1)


def _initial(init: Any, s: Settings, batch: jax.Array, style: jax.Array) -> jax.Array:
    """The starting image(s) x⁽⁰⁾ for each content in ``batch``."""
    b, h, w, _ = batch.shape
    if not _is_mode(init):
        start = images.resize(images.load_image(init), h, w)
    elif init == "content":
        return batch
    elif init == "noise":
        start = jax.random.uniform(jax.random.PRNGKey(s.seed), (h, w, 3))
    else:
        start = images.resize(np.asarray(style), h, w)
    return jnp.broadcast_to(jnp.asarray(start, jnp.float32), (b, h, w, 3))


def _is_mode(init: Any) -> bool:
    return isinstance(init, str) and init in INITS


def _same_shape(arrays: list[np.ndarray]) -> list[np.ndarray]:
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise NSTError(f"content images differ in shape after resizing ({sorted(shapes)}); batch equal shapes")
    return arrays


def _check_size(hw: Sequence[int], s: Settings, what: str = "content image") -> None:
    need = vgg.min_side(s.layers)
    if min(hw) < need:
        raise NSTError(
            f"{what} is {hw[1]}×{hw[0]} px; layers up to {s.layers[-1]} need at least {need} px per side"
        )


def _first(p: Progress) -> Progress:
    """The single-image view of a batch-of-one progress report."""
    return p._replace(losses={k: float(v[0]) for k, v in p.losses.items()}, image=p.image[0])
