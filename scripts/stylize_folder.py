"""Stylize every image under a folder: the same as ``jax-nst folder IN_DIR STYLE [STYLE ...] OUT_DIR``.

    python scripts/stylize_folder.py photos/ style.jpg out/ --size 512 --steps 300 --batch-size 8

See ``--help`` and the README section "Folders, datasets and several hosts".
"""

from __future__ import annotations

import sys

from jax_nst import cli

if __name__ == "__main__":
    sys.exit(cli.main(["folder", *sys.argv[1:]]))
