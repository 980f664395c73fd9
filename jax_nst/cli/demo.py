"""``jax-nst demo``: stylize the bundled sample photo with the bundled style image, offline."""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

from .. import images, samples
from . import run

DEMO: dict[str, Any] = {"size": 256, "steps": 70, "optimizer": "lbfgs", "report_every": 5}
"""Settings of the demo over the defaults (what a user gets with no options): about 2 minutes on a 2-core CPU,
compilation included."""
DEMO_OUTPUT = "jax_nst_demo.png"


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``jax-nst demo``."""
    p = argparse.ArgumentParser(
        prog=f"{run.PROG} demo",
        description="Stylize the bundled sample photo with the bundled style image; runs offline. "
                    f"Writes {DEMO_OUTPUT} in the current directory unless -o says otherwise.",
    )
    p.add_argument("-o", "--output", default=DEMO_OUTPUT, metavar="OUT", help="output image (default: %(default)s)")
    p.add_argument("--size", type=int, default=DEMO["size"], metavar="PX", help="long side (default: %(default)s)")
    p.add_argument("--steps", type=int, default=DEMO["steps"], metavar="N", help="steps (default: %(default)s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(args: dict[str, Any]) -> int:
    """The bundled samples with :data:`DEMO` settings, written to ``--output`` (absolute path printed)."""
    out = pathlib.Path(args["output"]).absolute()
    options = {**DEMO, "size": args["size"], "steps": args["steps"]}
    report = min(DEMO["report_every"], max(args["steps"], 1))
    settings = run.settings_of({}, {**options, "report_every": report})
    run.check_outputs({**args, "output": out})
    content, style = images.load_image(samples.CONTENT), images.load_image(samples.STYLE)
    return run.run_one({**args, "output": out}, content, style, settings, "content")
