"""The PyTorch baseline of the benchmark: the PyTorch tutorial's recipe on jax_nst's objective.

Same VGG-19 weights (``jax_nst.vgg.load_params()``, kernels HWIO → OIHW, preprocessing from
params["input"]), same layers, losses, weights α/β/γ, average pooling, content init and [0, 1]
handling (the loss sees clamp(x)), optimized as users write it: ``torch.optim.LBFGS(max_iter=N,
max_eval=N, line_search_fn="strong_wolfe")`` and one ``.step(closure)`` call, with no clamping in
the loop (:func:`run_lbfgs`); ``tutorial=True`` is the variant copied from the PyTorch tutorial,
which clamps x in place inside the closure. The trace records the loss of every evaluation. Imported by
``scripts/benchmark.py``; needs torch (the library itself never imports it).
"""

from __future__ import annotations

import os
import time
from typing import Any, Mapping, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from jax_nst import vgg
from jax_nst.objective.terms import size_factor
from jax_nst.settings import Settings


class Trace(NamedTuple):
    """Loss of each accepted iterate: wall seconds since the start, evaluations so far, L_total."""

    seconds: list[float]
    evals: list[int]
    loss: list[float]


def setup_threads(threads: int | None = None) -> int:
    """Use ``threads`` intra-op threads (default: every core, as XLA:CPU does); returns the count."""
    torch.set_num_threads(threads or os.cpu_count() or 1)
    return torch.get_num_threads()


def torch_params(params: Mapping[str, Any]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """jax_nst params → {layer: (OIHW kernel, bias)} and "input": (1×1 conv kernel, bias) float32."""
    out = {}
    for name, p in params.items():
        kernel, bias = np.asarray(p["kernel"], np.float32), np.asarray(p["bias"], np.float32)
        if name == "input":  # RGB·K + b as a 1×1 convolution: weight[o, i] = K[i, o]
            kernel = kernel.T[:, :, None, None]
        else:  # HWIO → OIHW
            kernel = kernel.transpose(3, 2, 0, 1)
        out[name] = (torch.from_numpy(np.ascontiguousarray(kernel)), torch.from_numpy(bias))
    return out


def features(tp: Mapping, x: torch.Tensor, layers: list[str], pooling: str = "avg") -> dict[str, torch.Tensor]:
    """NCHW activations of ``layers`` for an RGB [0, 1] batch, computing nothing past the deepest."""
    pool = F.avg_pool2d if pooling == "avg" else F.max_pool2d
    h, out, last = F.conv2d(x, *tp["input"]), {}, max(layers, key=vgg.LAYERS.index)
    for b, n in enumerate(vgg.MODELS["vgg19"], 1):
        if b > 1:
            h = pool(h, 2, 2)
        for i in range(1, n + 1):
            name = f"conv{b}_{i}"
            h = F.relu(F.conv2d(h, *tp[name], padding=1))
            if name in layers:
                out[name] = h
            if name == last:
                return out
    return out


def gram(f: torch.Tensor) -> torch.Tensor:
    """G/M for one (1, N, H, W) feature map: (N, N)."""
    flat = f.flatten(2)[0]
    return flat @ flat.T / flat.shape[1]


class Objective:
    """L_total(x) = α Σ w_l ½Σ(F−P)² + β Σ w_l Σ(G/M − A/M)²/(4N²) + γ L_TV, at clamp(x, 0, 1).

    L_content and L_TV carry jax_nst's ``normalization`` factor (:func:`jax_nst.objective.terms.size_factor`).
    """

    def __init__(self, tp: Mapping, content: np.ndarray, style: np.ndarray, s: Settings) -> None:
        self.tp, self.s = tp, s
        with torch.no_grad():
            c = features(tp, nchw(content), list(s.active_content_layers), s.pooling) if s.active_content_layers else {}
            st = features(tp, nchw(style), list(s.active_style_layers), s.pooling) if s.active_style_layers else {}
        self.content = c
        self.grams = {l: gram(f) for l, f in st.items()}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        s, x = self.s, x.clamp(0.0, 1.0)
        feats = features(self.tp, x, self.s.layers, s.pooling)
        norm = lambda l, hw: size_factor(tuple(hw), vgg.layer(l).pools if l else 0, s.normalization)  # noqa: E731
        content = sum((w * norm(l, feats[l].shape[2:]) * 0.5 * (feats[l] - self.content[l]).square().sum()
                       for l, w in s.active_content_layers.items()), torch.zeros(()))
        style = sum((w * (gram(feats[l]) - self.grams[l]).square().sum() / (4.0 * feats[l].shape[1] ** 2)
                     for l, w in s.active_style_layers.items()), torch.zeros(()))
        tv = norm(None, x.shape[2:]) * ((x[:, :, 1:] - x[:, :, :-1]).square().sum() + (x[..., 1:] - x[..., :-1]).square().sum())
        return s.content_weight * content + s.style_weight * style + s.tv_weight * tv


def nchw(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) float numpy → (1, 3, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(image, np.float32).transpose(2, 0, 1)[None]))


class Closure:
    """The LBFGS closure: f and ∇f at x, each call one evaluation, its loss and time recorded.

    ``tutorial``: clamp x into [0, 1] in place first, as the PyTorch tutorial's closure does.
    """

    def __init__(self, objective: Objective, x: torch.Tensor, tutorial: bool = False) -> None:
        self.objective, self.x, self.tutorial = objective, x, tutorial
        self.trace, self.start = Trace([], [], []), time.perf_counter()

    def __call__(self) -> torch.Tensor:
        if self.tutorial:
            with torch.no_grad():
                self.x.clamp_(0.0, 1.0)
        self.x.grad = None
        loss = self.objective(self.x)
        loss.backward()
        self.trace.seconds.append(time.perf_counter() - self.start)
        self.trace.evals.append(len(self.trace.evals) + 1)
        self.trace.loss.append(float(loss))
        return loss


def run_lbfgs(tp: Mapping, content: np.ndarray, style: np.ndarray, s: Settings, max_evals: int,
              tutorial: bool = False) -> Trace:
    """One ``LBFGS(max_iter=N, max_eval=N, line_search_fn="strong_wolfe").step(closure)`` from the content
    image, N = ``max_evals``; returns the loss of every evaluation and when it was made."""
    return lbfgs(tp, content, style, s, max_evals, tutorial)[0]


def lbfgs(tp: Mapping, content: np.ndarray, style: np.ndarray, s: Settings, max_evals: int,
          tutorial: bool = False) -> tuple[Trace, np.ndarray]:
    """:func:`run_lbfgs`'s trace and the picture it ends with, clamp(x, 0, 1) as (H, W, 3)."""
    objective = Objective(tp, content, style, s)
    x = nchw(content).requires_grad_(True)
    closure = Closure(objective, x, tutorial)
    opt = torch.optim.LBFGS([x], lr=s.lr, max_iter=max_evals, max_eval=max_evals, history_size=s.lbfgs_memory,
                            line_search_fn="strong_wolfe")
    closure.start = time.perf_counter()
    opt.step(closure)
    return closure.trace, x.detach().clamp(0.0, 1.0)[0].numpy().transpose(1, 2, 0)


def time_eval(tp: Mapping, content: np.ndarray, style: np.ndarray, s: Settings, repeats: int) -> list[float]:
    """Seconds of ``repeats`` loss + input-gradient evaluations at the content image (after one warm-up)."""
    objective, times = Objective(tp, content, style, s), []
    for _ in range(repeats + 1):
        x = nchw(content).requires_grad_(True)
        start = time.perf_counter()
        objective(x).backward()
        times.append(time.perf_counter() - start)
    return times[1:]
