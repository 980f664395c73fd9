"""Stylize a tensorflow-datasets split read from an existing data_dir (needs ``pip install jax_nst[tfds]``).

    python scripts/stylize_tfds.py style.jpg out/ --dataset imagenette --split "train[:1000]" \
        --data-dir ~/tensorflow_datasets --size 256 --steps 100 --batch-size 8

Writes OUT_DIR/<tfds_id>.png and OUT_DIR/manifest.jsonl; a rerun skips images already done.
Exit codes: 0 every image done, 1 error, 2 usage, 3 some images failed.
"""

from __future__ import annotations

import sys

from jax_nst import cli

if __name__ == "__main__":
    sys.exit(cli.main(["tfds", *sys.argv[1:]]))
