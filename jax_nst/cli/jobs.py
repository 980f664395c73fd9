"""``jax-nst folder IN_DIR STYLE [STYLE ...] OUT_DIR`` and ``jax-nst tfds STYLE OUT_DIR --dataset NAME``.

folder: OUT_DIR mirrors IN_DIR: ``IN_DIR/a/b.jpg`` → ``OUT_DIR/a/b.png`` (inputs that would share an
output keep their extension: ``b.jpg.png``); with several styles each gets ``OUT_DIR/STYLESTEM/``.
tfds: a prepared tensorflow-datasets split (``pip install 'jax_nst[tfds]'``), read from --data-dir.
Exit codes: 0 every image done, 1 error, 2 usage, 3 finished but some images failed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import functools
import pathlib
from typing import Any, Callable

from .. import images
from ..errors import NSTError
from ..jobs import batch, folder, hosts, tfds
from ..settings import INITS
from . import flags, run

EXIT_SOME_FAILED = 3
EPILOG = (f"Exit codes: 0 every image done, 1 error, 2 usage, {EXIT_SOME_FAILED} some images failed, "
          "130 interrupted. Resumable: a rerun skips images already done with the same settings.")


def build_folder_parser() -> argparse.ArgumentParser:
    """The parser of ``jax-nst folder``."""
    p = argparse.ArgumentParser(
        prog=f"{run.PROG} folder", argument_default=argparse.SUPPRESS, epilog=EPILOG + " Other sizes: see --resize.",
        description="Stylize every image file under IN_DIR (recursively) with each STYLE; write to OUT_DIR.",
    )
    p.add_argument("in_dir", metavar="IN_DIR", help="folder of content images")
    p.add_argument("style", metavar="STYLE", nargs="+", help="style image(s); several → OUT_DIR/STYLESTEM/")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder (created if missing)")
    p.add_argument("--glob", default=folder.DEFAULT_GLOB, metavar="PATTERN",
                   help="files to take, relative to IN_DIR; '**' recurses (default: every file, %(default)s)")
    flags.add_job_options(p)
    flags.add_settings(p)
    return p


def build_tfds_parser() -> argparse.ArgumentParser:
    """The parser of ``jax-nst tfds``."""
    p = argparse.ArgumentParser(
        prog=f"{run.PROG} tfds", argument_default=argparse.SUPPRESS, epilog=EPILOG,
        description="Stylize the images of a prepared tensorflow-datasets split with STYLE; write them and a "
                    "manifest to OUT_DIR.",
    )
    p.add_argument("style", metavar="STYLE", help="style image")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder (created if missing)")
    p.add_argument("--dataset", required=True, metavar="NAME", help="TFDS dataset name, e.g. imagenette")
    p.add_argument("--split", default="train", metavar="SPLIT", help="TFDS split, e.g. 'train[:1000]' (default: train)")
    p.add_argument("--data-dir", default=None, metavar="DIR", help="TFDS data_dir holding the prepared dataset")
    p.add_argument("--image-key", default="image", metavar="KEY", help="image feature (default: image)")
    flags.add_job_options(p)
    flags.add_settings(p)
    return p


def on_hosts(job: Callable[[dict[str, Any]], int]) -> Callable[[dict[str, Any]], int]:
    """Run ``job`` after joining the other processes when ``--distributed`` is given, and leave them in order."""

    @functools.wraps(job)
    def run_job(args: dict[str, Any]) -> int:
        if not args["distributed"]:
            return job(args)
        hosts.initialize(args["coordinator"], args["num_processes"], args["process_id"])
        try:
            return job(args)
        finally:
            hosts.finish()

    return run_job


def make_output_folder(out_dir: pathlib.Path) -> None:
    """Make the job's output folder (and its parents); NSTError in one line when it cannot be a folder."""
    if out_dir.exists() and not out_dir.is_dir():
        raise NSTError(f"the output folder '{out_dir}' is a file; give a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NSTError(f"cannot make the output folder '{out_dir}': {e.strerror or e}") from None


def make_job(args: dict[str, Any], out_dir: pathlib.Path, style: str) -> batch.Job:
    """The job of one style; one progress report per run (at the end) unless --report-every says otherwise."""
    import jax  # here, not at the top: the parsers import no JAX

    from ..optimize import spatial

    init = args.get("init", "content")
    if init not in INITS:
        images.load_image(init)  # a bad init image fails before any work
    images.load_image(style)  # a bad style is an error of the whole job
    options = flags.settings_options(args)
    options.setdefault("report_every", options.get("steps", flags.FIELDS["steps"]))
    settings = run.settings_of({}, options, init=init)
    if settings.spatial > 1:
        spatial.check(settings, 1)  # refused once, before any image, rather than failing each one
    return batch.Job(
        out_dir=out_dir, style=style, settings=settings, weights=args["weights"], trust_weights=args.get("trust_weights", False), init=init,
        batch_size=args["batch_size"] or (1 if settings.spatial > 1 else jax.local_device_count()), policy=args["resize"], step=args["bucket"],
    )


@on_hosts
def folder_main(args: dict[str, Any]) -> int:
    """Run the folder job for each style; print a summary line per style."""
    in_dir, out_dir = pathlib.Path(args["in_dir"]), pathlib.Path(args["out_dir"])
    folders = folder.style_folders(args["style"])
    todo = [make_job(args, out_dir, style) for style in args["style"]]  # bad options fail here
    inputs = folder.list_inputs(in_dir, args["glob"], exclude=out_dir)
    if not inputs:
        raise NSTError(f"no files under '{in_dir}' match {args['glob']!r}")
    make_output_folder(out_dir)
    failed = 0
    for job, sub in zip(todo, folders):
        mine = list(hosts.share(folder.make_items(inputs, in_dir, sub, "." + args["ext"])))
        summary = batch.run(mine, job, total=len(mine), quiet=args["quiet"])
        failed += summary.failed
        print(f"{sub or out_dir}: {summary.line()}")
    return EXIT_SOME_FAILED if failed else run.EXIT_OK


@on_hosts
def tfds_main(args: dict[str, Any]) -> int:
    """Stylize this process's share of the split; print the summary."""
    out_dir = pathlib.Path(args["out_dir"])
    job = make_job(args, out_dir, args["style"])  # bad options fail before any data is read
    examples, total = tfds.open_split(args["dataset"], args["split"], args["data_dir"], args["image_key"])
    make_output_folder(out_dir)
    mine = hosts.share(tfds.items(examples, args["dataset"], args["split"], args["image_key"], "." + args["ext"]))
    summary = batch.run(mine, job, total=tfds.share_size(total), quiet=args["quiet"])
    print(f"{out_dir}: {summary.line()}")
    return EXIT_SOME_FAILED if summary.failed else run.EXIT_OK
