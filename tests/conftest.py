"""Shared fixtures (the real shipped weights, tiny test images), the two tiers, and one compilation cache.

Tiers: ``python -m pytest -q`` runs the fast tier; ``python -m pytest -q -m slow`` the slow tier (end-to-end
command runs in subprocesses, kill-and-resume, concurrent jobs, 8 simulated devices, the notebook);
``--slow`` runs both. A test joins the slow tier with ``@pytest.mark.slow``.

Every process of the run (this one and the commands the tests start) shares JAX's persistent compilation
cache in a temporary folder: a program compiled once is loaded, not compiled again, after the suite drops
its compiled programs, in a subprocess, or from another jitted function with the same computation.
"""

from __future__ import annotations

import os
import shutil
import tempfile

CACHE = tempfile.mkdtemp(prefix="jax_nst_test_xla_")
os.environ.pop("JAX_NST_NO_COMPILE_CACHE", None)
os.environ["JAX_NST_CACHE_DIR"] = CACHE  # the CLI's cache: runs in tests leave the user's cache alone
os.environ["JAX_COMPILATION_CACHE_DIR"] = CACHE  # library calls in child processes
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.2"

import pytest  # noqa: E402 - after the cache is chosen

from jax_nst import images, samples, vgg  # noqa: E402
from jax_nst.cli import enable_compile_cache  # noqa: E402
from jax_nst.optimize import memory_maps  # noqa: E402

enable_compile_cache()  # this process: the CLI's own switch, pointed at CACHE by $JAX_NST_CACHE_DIR

SLOW = "slow"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="run the slow tier too (alone: -m slow)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{SLOW}: the slow tier (subprocess runs, many devices, kill-and-resume); "
                                       "run with -m slow or --slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the slow tier out unless it was asked for (``--slow``, or a ``-m`` expression naming it)."""
    if config.getoption("--slow") or SLOW in (config.getoption("markexpr") or ""):
        return
    slow = [item for item in items if item.get_closest_marker(SLOW)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker(SLOW)]


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(CACHE, ignore_errors=True)


RELEASE_AT = 6_000
"""Memory maps after which a test's compiled programs are dropped: below the library's limit for long jobs, to
keep the run's memory down; a program needed again is loaded from the run's compilation cache."""


@pytest.fixture(autouse=True)
def _release_compiled_programs():
    """The suite compiles thousands of programs in one process: drop them once it holds many memory
    maps, as long jobs do (past Linux's map limit the next compilation would crash)."""
    yield
    memory_maps.release_when_crowded(RELEASE_AT)


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
