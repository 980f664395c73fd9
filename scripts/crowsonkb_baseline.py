"""crowsonkb/style-transfer-pytorch's recipe, run with its own code on jax_nst's VGG-19 weights.

Setup, once (its code is MIT, Katherine Crowson; not bundled here)::

    pip install torch==2.13.0
    git clone https://github.com/crowsonkb/style-transfer-pytorch   # measured at commit e7e2c71

    python scripts/crowsonkb_baseline.py CONTENT STYLE -o out.png --size 512 --repo style-transfer-pytorch

Their ``style_transfer/style_transfer.py`` (and ``sqrtm.py``) run unchanged: the W2 style loss with its
Newton–Schulz square root, style layers weighted 256 : 64 : 16 : 4 : 1, content at relu4_2, the scales
from 128 px up by √2, Adam (lr 0.02) with an EMA of the iterate (0.99), their TV term, max pooling,
replicate padding in the first convolution, 1000 steps at the first scale and 500 at each later one.
Their package's ``__init__`` (its web interface) is not imported.

Their code takes VGG-19 from torchvision, whose wheels need a torch of their own (beside torch 2.13.0 they
fail to load). VGG-19 itself needs none of torchvision's compiled operators, so a small ``torchvision``
module is put in its place (:func:`install_torchvision`): ``models.vgg19().features`` is torchvision's
layer layout (conv, ReLU, max pool at the same indices) holding ``jax_nst.vgg.load_params()``'s kernels,
and ``transforms.Normalize`` applies those weights' own preprocessing (the Caffe model's: BGR, 0–255, mean
subtracted) instead of torchvision's ImageNet mean and std. Both libraries then see the same network.
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import sys
import time
import types
from typing import Callable, NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import nn

from jax_nst import vgg

COMMIT = "e7e2c71"
"""The commit of crowsonkb/style-transfer-pytorch these figures were measured with."""
FIRST_STEPS, LATER_STEPS = 1000, 500
"""Their defaults: steps at the first scale (``initial_iterations``) and at each later one (``iterations``)."""


class Result(NamedTuple):
    """The averaged picture (H, W, 3) in [0, 1], wall seconds from the first step, steps per scale."""

    picture: np.ndarray
    seconds: float
    steps: dict[int, int]


def vgg19_features(params: vgg.Params) -> nn.Sequential:
    """torchvision's ``vgg19().features`` layout (indices of convs, ReLUs and max pools) with jax_nst's kernels."""
    layers: list[nn.Module] = []
    for block, count in enumerate(vgg.MODELS["vgg19"], 1):
        for i in range(1, count + 1):
            p = params[f"conv{block}_{i}"]
            kernel = np.asarray(p["kernel"], np.float32)  # HWIO → OIHW
            conv = nn.Conv2d(kernel.shape[2], kernel.shape[3], 3, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))))
                conv.bias.copy_(torch.from_numpy(np.asarray(p["bias"], np.float32)))
            layers += [conv, nn.ReLU(inplace=True)]
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


class Preprocess(nn.Module):
    """RGB [0, 1] → the weights' input (``params["input"]``: x·K + b per pixel, a 1×1 convolution)."""

    def __init__(self, params: vgg.Params) -> None:
        super().__init__()
        k, b = (np.asarray(params["input"][n], np.float32) for n in ("kernel", "bias"))
        self.register_buffer("weight", torch.from_numpy(np.ascontiguousarray(k.T[:, :, None, None])))
        self.register_buffer("bias", torch.from_numpy(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.weight, self.bias)


def install_torchvision(params: vgg.Params) -> None:
    """Put a ``torchvision`` module with what their code uses (VGG-19, Normalize, PIL ↔ tensor) in sys.modules."""
    models = types.ModuleType("torchvision.models")
    models.VGG19_Weights = types.SimpleNamespace(IMAGENET1K_V1="jax_nst")
    models.vgg19 = lambda weights=None: types.SimpleNamespace(features=vgg19_features(params))
    transforms = types.ModuleType("torchvision.transforms")
    transforms.Normalize = lambda mean, std: Preprocess(params)
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.to_tensor = lambda im: torch.from_numpy(np.asarray(im, np.float32).transpose(2, 0, 1) / 255.0)
    functional.to_pil_image = lambda t: Image.fromarray(np.uint8(np.round(t.numpy().transpose(1, 2, 0) * 255)))
    transforms.functional = functional
    tv = types.ModuleType("torchvision")
    tv.models, tv.transforms = models, transforms
    sys.modules.update({"torchvision": tv, "torchvision.models": models, "torchvision.transforms": transforms,
                        "torchvision.transforms.functional": functional})


def load_their_code(repo: pathlib.Path, params: vgg.Params) -> types.ModuleType:
    """Their ``style_transfer.style_transfer`` module, imported from a clone without the package's ``__init__``."""
    source = pathlib.Path(repo) / "style_transfer"
    if not (source / "style_transfer.py").exists():
        raise SystemExit(f"no style_transfer/style_transfer.py under {repo}: clone crowsonkb/style-transfer-pytorch")
    install_torchvision(params)
    package = types.ModuleType("style_transfer")
    package.__path__ = [str(source)]
    sys.modules["style_transfer"] = package
    return importlib.import_module("style_transfer.style_transfer")


def default_steps(scales: int) -> int:
    """Their steps over ``scales`` scales at their defaults."""
    return FIRST_STEPS + LATER_STEPS * (scales - 1)


def stylize(module: types.ModuleType, content: Image.Image, style: Image.Image, size: int, *, seed: int = 0,
            scale_steps: float = 1.0, callback: Callable | None = None) -> Result:
    """Their ``StyleTransfer().stylize`` at ``end_scale=size`` with their defaults; ``scale_steps`` multiplies their
    step counts (1000 at the first scale, 500 after) for an equal-time budget."""
    torch.manual_seed(seed)
    st = module.StyleTransfer(devices=["cpu"], pooling="max")
    steps: dict[int, int] = {}

    def seen(it) -> None:
        steps[max(it.w, it.h)] = it.i
        if callback is not None:
            callback(it)

    start = time.perf_counter()
    st.stylize(content, [style], end_scale=size, iterations=max(1, round(LATER_STEPS * scale_steps)),
               initial_iterations=max(1, round(FIRST_STEPS * scale_steps)), callback=seen)
    seconds = time.perf_counter() - start
    return Result(st.get_image_tensor().numpy().transpose(1, 2, 0), seconds, steps)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("content")
    p.add_argument("style")
    p.add_argument("-o", "--output", default="crowsonkb.png")
    p.add_argument("--size", type=int, default=512, help="their end_scale: the output's long side")
    p.add_argument("--repo", type=pathlib.Path, required=True, help="a clone of crowsonkb/style-transfer-pytorch")
    p.add_argument("--scale-steps", type=float, default=1.0, help="multiply their steps per scale by this")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: every core)")
    args = p.parse_args()
    torch.set_num_threads(args.threads or torch.get_num_threads())
    module = load_their_code(args.repo, vgg.load_params())
    load = lambda path: Image.open(path).convert("RGB")  # noqa: E731
    r = stylize(module, load(args.content), load(args.style), args.size, scale_steps=args.scale_steps)
    Image.fromarray(np.uint8(np.round(np.clip(r.picture, 0, 1) * 255))).save(args.output)
    print(f"{args.output}: {r.picture.shape[1]}x{r.picture.shape[0]} in {r.seconds:.1f} s, steps per scale {r.steps}")


if __name__ == "__main__":
    main()
