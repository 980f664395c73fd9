"""Shared fixtures: the real shipped weights (loaded once) and tiny test images."""

from __future__ import annotations

import gc
import os
import pathlib

import jax
import numpy as np
import pytest

from jax_nst import images, samples, vgg

os.environ.setdefault("JAX_NST_NO_COMPILE_CACHE", "1")  # CLI runs in tests leave the user's cache alone

MAPS = pathlib.Path("/proc/self/maps")
MAPS_BEFORE_CLEARING = 20_000  # Linux refuses a process more than vm.max_map_count (65530) memory maps


@pytest.fixture(autouse=True)
def _release_compiled_programs():
    """Drop JAX's compiled programs after a test once the process holds many memory maps.

    XLA:CPU maps each compiled kernel separately (a stylize call at a new size adds ~3,500 maps), and the
    suite compiles thousands of programs in one process: past Linux's map limit the next compilation
    crashes with a segmentation fault.
    """
    yield
    if MAPS.exists() and sum(1 for _ in MAPS.open()) > MAPS_BEFORE_CLEARING:
        jax.clear_caches()
        gc.collect()


@pytest.fixture(scope="session")
def params():
    """The real VGG-19 params shipped with the package."""
    return vgg.load_params()


@pytest.fixture(scope="session")
def content_small():
    """The sample content photo at long side 48 px."""
    return images.load_image(samples.CONTENT, 48)


@pytest.fixture(scope="session")
def style_small():
    """The sample style image at long side 48 px."""
    return images.load_image(samples.STYLE, 48)

