"""``jax-nst doctor``: a table of this machine's speed, FLOP use, batch scaling and largest size (:mod:`jax_nst.doctor`)."""

from __future__ import annotations

import argparse
from typing import Any

from .. import vgg
from ..errors import NSTError
from ..program import CONTENT_LAYERS, STYLE_LAYERS
from . import flags, run


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``jax-nst doctor``."""
    p = argparse.ArgumentParser(
        prog=f"{run.PROG} doctor",
        description="Measure jax_nst on this machine's devices: ms per evaluation and L-BFGS step in float32 and "
                    "bfloat16, FLOP/s and % of peak, images/s of batches, the largest size that fits. Prints one "
                    "Markdown table to paste in an issue.")
    p.add_argument("--size", type=flags.positive_int, default=512, metavar="PX", help="image side (default: %(default)s)")
    p.add_argument("--steps", type=flags.positive_int, default=2, metavar="N", help="steps per timing (default: %(default)s)")
    p.add_argument("--repeats", type=flags.positive_int, default=2, metavar="N",
                   help="timings per figure, the fastest kept (default: %(default)s)")
    p.add_argument("--batches", type=flags.number_list(int), default=(1, 2, 4, 8), metavar="B,B",
                   help="batch sizes to time (default: 1,2,4,8)")
    return p


def main(args: dict[str, Any]) -> int:
    """Print the table."""
    from .. import doctor

    need = vgg.min_side(STYLE_LAYERS + CONTENT_LAYERS)
    if args["size"] < need:
        raise NSTError(f"--size must be at least {need} px: the doctor times the default layers up to conv5_1")
    if not args["batches"] or any(b < 1 for b in args["batches"]):
        raise NSTError(f"--batches must be sizes >= 1, got {','.join(map(str, args['batches']))}")
    from ..optimize import memory
    from ..settings import Settings

    memory.check_fits((args["size"], args["size"]), Settings(size=args["size"]), max(args["batches"]))
    print(doctor.table(args["size"], args["steps"], args["repeats"], args["batches"]), flush=True)
    return run.EXIT_OK
