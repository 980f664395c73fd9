"""``jax-nst studio``: serve the live studio (:mod:`jax_nst.studio`) until Ctrl-C."""

from __future__ import annotations

import argparse
from typing import Any

from . import EXIT_OK, PROG, flags


def port_number(text: str) -> int:
    """An argparse type for a TCP port: 0 (any free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is from 0 to 65535, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``jax-nst studio``."""
    from ..studio import HOST, PORT

    p = argparse.ArgumentParser(
        prog=f"{PROG} studio",
        description="A local web page to stylize and watch the picture paint: pick or drop pictures, choose the "
                    "settings, see the picture and loss curves update, change weights without compiling, run weight "
                    "grids, download the PNG and its jax-nst command line. Needs: pip install \"jax_nst[studio]\".")
    p.add_argument("--host", default=HOST, help="address to listen on (default: %(default)s, this machine only)")
    p.add_argument("--port", type=port_number, default=PORT, help="port (default: %(default)s; 0 picks a free one)")
    p.add_argument("--open", action="store_true", help="open the page in the browser")
    p.add_argument("--folder", metavar="DIR",
                   help="keep uploads and results here (default: a temporary folder removed when the studio stops)")
    flags.add_weights(p)
    return p


def main(args: dict[str, Any]) -> int:
    """Serve until Ctrl-C."""
    from .. import studio

    studio.serve(args["host"], args["port"], args["folder"], args["weights"], args["trust_weights"], args["open"])
    return EXIT_OK
