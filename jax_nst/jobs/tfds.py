"""A tensorflow-datasets split as batch-job items: stylize e.g. ``imagenette`` ``train[:1000]``.

Needs the ``tfds`` extra (``pip install jax_nst[tfds]``: tensorflow-datasets and tensorflow-cpu);
the core package never imports it. Data are read from an existing ``data_dir`` (never downloaded).
Images are read still encoded and decoded by the job, so a bad example fails alone and examples of
other processes or already done are never decoded. Output names come from TFDS's per-example
``tfds_id`` (stable across split slicing), e.g. ``imagenette-train.tfrecord-00003-of-00016__41.png``.
"""

from __future__ import annotations

import io
import re
from typing import Any, Iterator

from PIL import Image

from . import hosts
from .batch import Item
from ..errors import NSTError

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


def items(examples: Any, name: str, split: str, image_key: str = "image", ext: str = ".png") -> Iterator[Item]:
    """One job item per example; its output is named after its ``tfds_id`` (else split and index)."""
    for i, ex in enumerate(examples):
        if image_key not in ex:
            raise NSTError(f"TFDS {name} has no feature {image_key!r}; choose one of {', '.join(sorted(ex))} (--image-key)")
        ident = ex.get("tfds_id", b"")
        ident = ident.decode() if isinstance(ident, bytes) else str(ident)
        ident = ident or f"{name}-{split}-{i:08d}"
        data = ex[image_key]
        yield Item(name=f"{name}:{ident}", output=UNSAFE.sub("_", ident) + ext, load=lambda d=data: _decode(d))


def _decode(data: Any) -> Any:
    """Encoded bytes → a PIL image; an already decoded array is returned as it is."""
    return Image.open(io.BytesIO(data)) if isinstance(data, bytes) else data


def share_size(total: int | None) -> int | None:
    """How many of ``total`` items this process takes (index % N == k)."""
    if total is None:
        return None
    k, n = hosts.process()
    return len(range(k, total, n))
