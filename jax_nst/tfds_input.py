"""A tensorflow-datasets split as batch-job items: stylize e.g. ``imagenette`` ``train[:1000]``.

Needs the ``tfds`` extra (``pip install jax_nst[tfds]``: tensorflow-datasets and tensorflow-cpu);
the core package never imports it. Data are read from an existing ``data_dir`` (never downloaded).
Images are read still encoded and decoded by the job, so a bad example fails alone and examples of
other processes or already done are never decoded. Output names come from TFDS's per-example
``tfds_id`` (stable across split slicing), e.g. ``imagenette-train.tfrecord-00003-of-00016__41.png``.
"""

from __future__ import annotations

import argparse
import io
import pathlib
import re
import sys
from typing import Any, Iterator, Sequence

from PIL import Image

from . import cli, folder, hosts, jobs
from .errors import NSTError

PROG = "stylize_tfds.py"
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def import_tfds() -> Any:
    """tensorflow_datasets, with TensorFlow kept off any accelerator JAX uses."""
    try:
        import tensorflow as tf
        import tensorflow_datasets as tfds
    except ImportError:
        raise NSTError("tensorflow-datasets is not installed; pip install 'jax_nst[tfds]'") from None
    tf.config.set_visible_devices([], "GPU")
    return tfds


def open_split(name: str, split: str, data_dir: str | None, image_key: str = "image") -> tuple[Any, int | None]:
    """(numpy iterator over {tfds_id, image bytes}, number of examples or None) of a prepared split."""
    tfds = import_tfds()
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        ds = builder.as_dataset(
            split=split, shuffle_files=False, read_config=tfds.ReadConfig(add_tfds_id=True),
            decoders={image_key: tfds.decode.SkipDecoding()},
        )
    except (AssertionError, ValueError, KeyError) as e:  # not prepared, unknown name or split
        raise NSTError(f"cannot read TFDS {name} {split!r} from data_dir {data_dir}: {_first_line(e)}") from None
    return tfds.as_numpy(ds), _count(builder, split)


def _first_line(e: BaseException) -> str:
    """The first line of an error (TFDS appends long lists of dataset names)."""
    lines = str(e).strip().splitlines() or [type(e).__name__]
    return " ".join(lines[0].split())[:300]


def _count(builder: Any, split: str) -> int | None:
    """Examples in ``split`` as the builder's info tells, or None."""
    try:
        return int(builder.info.splits[split].num_examples) or None
    except Exception:  # noqa: BLE001 - unknown (e.g. mocked data): the bar has no total
        return None


def items(examples: Any, name: str, split: str, image_key: str = "image", ext: str = ".png") -> Iterator[jobs.Item]:
    """One job item per example; its output is named after its ``tfds_id`` (else split and index)."""
    for i, ex in enumerate(examples):
        if image_key not in ex:
            raise NSTError(f"TFDS {name} has no feature {image_key!r}; choose one of {', '.join(sorted(ex))} (--image-key)")
        ident = ex.get("tfds_id", b"")
        ident = ident.decode() if isinstance(ident, bytes) else str(ident)
        ident = ident or f"{name}-{split}-{i:08d}"
        data = ex[image_key]
        yield jobs.Item(name=f"{name}:{ident}", output=UNSAFE.sub("_", ident) + ext, load=lambda d=data: _decode(d))


def _decode(data: Any) -> Any:
    """Encoded bytes → a PIL image; an already decoded array is returned as it is."""
    return Image.open(io.BytesIO(data)) if isinstance(data, bytes) else data


def share_size(total: int | None) -> int | None:
    """How many of ``total`` items this process takes (index % N == k)."""
    if total is None:
        return None
    k, n = hosts.process()
    return len(range(k, total, n))


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``scripts/stylize_tfds.py``."""
    p = argparse.ArgumentParser(
        prog=PROG,
        argument_default=argparse.SUPPRESS,
        description="Stylize the images of a prepared tensorflow-datasets split with STYLE; write them and a "
                    "manifest to OUT_DIR. Resumable: a rerun skips images already done.",
    )
    p.add_argument("style", metavar="STYLE", help="style image")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder (created if missing)")
    p.add_argument("--dataset", required=True, metavar="NAME", help="TFDS dataset name, e.g. imagenette")
    p.add_argument("--split", default="train", metavar="SPLIT", help="TFDS split, e.g. 'train[:1000]' (default: train)")
    p.add_argument("--data-dir", default=None, metavar="DIR", help="TFDS data_dir holding the prepared dataset")
    p.add_argument("--image-key", default="image", metavar="KEY", help="image feature (default: image)")
    cli._add_settings(p)
    folder.add_job_options(p)
    return p


def run(args: dict[str, Any]) -> int:
    """Stylize this process's share of the split; print the summary."""
    folder.start_hosts(args)
    folder.check_styles([args["style"]])
    out_dir = pathlib.Path(args["out_dir"])
    job = folder.make_job(args, out_dir, args["style"])  # bad options fail before any data is read
    examples, total = open_split(args["dataset"], args["split"], args["data_dir"], args["image_key"])
    out_dir.mkdir(parents=True, exist_ok=True)
    mine = hosts.share(items(examples, args["dataset"], args["split"], args["image_key"], "." + args["ext"]))
    summary = jobs.run(mine, job, total=share_size(total), quiet=args["quiet"])
    print(f"{out_dir}: {summary.line()}")
    return folder.EXIT_SOME_FAILED if summary.failed else cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``scripts/stylize_tfds.py``; user errors print one line and return 1."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else cli.EXIT_ERROR
    try:
        return run(vars(args))
    except NSTError as e:
        print(f"{PROG}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return cli.EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
