"""Shared fixtures: the real shipped weights (loaded once) and tiny test images."""

from __future__ import annotations

import os

import numpy as np
import pytest

from jax_nst import images, samples, vgg
from jax_nst.optimize import programs

os.environ.setdefault("JAX_NST_NO_COMPILE_CACHE", "1")  # CLI runs in tests leave the user's cache alone


@pytest.fixture(autouse=True)
def _release_compiled_programs():
    """The suite compiles thousands of programs in one process: drop them once it holds many memory
    maps, as long jobs do (past Linux's map limit the next compilation would crash)."""
    yield
    programs.release_when_crowded()


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

