"""``jax-nst folder IN_DIR STYLE [STYLE ...] OUT_DIR``: stylize every image file under a folder.

OUT_DIR mirrors IN_DIR: ``IN_DIR/a/b.jpg`` → ``OUT_DIR/a/b.png`` (inputs that would share an
output keep their extension: ``b.jpg.png``); with several styles each gets ``OUT_DIR/STYLESTEM/``.
Exit codes: 0 every image done, 1 error, 2 usage, 3 finished but some images failed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import sys
from typing import Any, Sequence

import jax

from . import buckets, cli, hosts, images, jobs
from .errors import NSTError
from .settings import INITS

PROG = f"{cli.PROG} folder"
DEFAULT_GLOB = "**/*"
EXIT_SOME_FAILED = 3


def list_inputs(in_dir: pathlib.Path, pattern: str = DEFAULT_GLOB, exclude: pathlib.Path | None = None) -> list[pathlib.Path]:
    """Files under ``in_dir`` matching ``pattern`` ("**" recurses), sorted; hidden ones and those under ``exclude`` left out."""
    in_dir = pathlib.Path(in_dir)
    if not in_dir.is_dir():
        raise NSTError(f"input folder '{in_dir}' does not exist or is not a folder")
    skip = exclude.resolve() if exclude is not None else None
    found = []
    for path in in_dir.glob(pattern):
        rel = path.relative_to(in_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if skip is not None and path.resolve().is_relative_to(skip):
            continue
        found.append(path)
    return sorted(found)


def output_names(inputs: Sequence[pathlib.Path], in_dir: pathlib.Path, ext: str = ".png") -> list[str]:
    """Each input's output path relative to the output folder (see the module docstring)."""
    rels = [path.relative_to(in_dir) for path in inputs]
    plain = [rel.with_suffix(ext).as_posix() for rel in rels]
    taken = collections.Counter(plain)
    return [name if taken[name] == 1 else rel.as_posix() + ext for name, rel in zip(plain, rels)]


def style_folders(styles: Sequence[str]) -> list[str]:
    """The sub-folder of each style's outputs: none for one style, else the style's file stem."""
    if len(styles) == 1:
        return [""]
    stems = [pathlib.Path(s).stem for s in styles]
    dupes = sorted(s for s, n in collections.Counter(stems).items() if n > 1)
    if dupes:
        raise NSTError(f"styles must have different file names (their outputs go to OUT_DIR/NAME/): {', '.join(dupes)}")
    return stems


def make_items(inputs: Sequence[pathlib.Path], in_dir: pathlib.Path, folder: str, ext: str) -> list[jobs.Item]:
    """The job items of one style: every input with its output path under ``folder``."""
    names = output_names(inputs, in_dir, ext)
    return [
        jobs.Item(name=str(path), output=str(pathlib.PurePosixPath(folder, name)), load=lambda p=path: p)
        for path, name in zip(inputs, names)
    ]


# --- command line --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``jax-nst folder``; Settings options left out are absent from the namespace."""
    p = argparse.ArgumentParser(
        prog=PROG,
        argument_default=argparse.SUPPRESS,
        description="Stylize every image file under IN_DIR (recursively) with each STYLE; write to OUT_DIR. "
                    "Resumable: a rerun skips images already done with the same settings.",
        epilog=f"Exit codes: 0 every image done, 1 error, 2 usage, {EXIT_SOME_FAILED} some images failed, "
               "130 interrupted. Images of other sizes: see --resize.",
    )
    p.add_argument("in_dir", metavar="IN_DIR", help="folder of content images")
    p.add_argument("style", metavar="STYLE", nargs="+", help="style image(s); several → OUT_DIR/STYLESTEM/")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder (created if missing)")
    p.add_argument("--glob", default=DEFAULT_GLOB, metavar="PATTERN",
                   help="files to take, relative to IN_DIR; '**' recurses (default: every file, %(default)s)")
    cli._add_settings(p)
    add_job_options(p)
    return p


def add_job_options(p: argparse.ArgumentParser) -> None:
    """Options shared by the folder and TFDS jobs."""
    p.add_argument("--batch-size", type=cli.positive_int, metavar="B", default=None,
                   help="images per batch, spread over the local devices (default: the local device count)")
    p.add_argument("--resize", choices=buckets.POLICIES, default="bucket",
                   help="bucket: long side --size, short side rounded to --bucket px; square: --size × --size; "
                        "outputs keep the input's aspect ratio either way (default: %(default)s)")
    p.add_argument("--bucket", type=cli.positive_int, metavar="PX", default=buckets.DEFAULT_STEP,
                   help="rounding of the short side under --resize bucket; 1 = exact (default: %(default)s)")
    p.add_argument("--ext", default="png", choices=sorted(e.lstrip(".") for e in images.SAVE_FORMATS),
                   help="output format (default: %(default)s)")
    p.add_argument("--weights", metavar="PATH", default=None, help="VGG weights file (default: the shipped ones)")
    p.add_argument("-q", "--quiet", action="store_true", default=False, help="no progress bar")
    g = p.add_argument_group("several hosts (jax.distributed)")
    g.add_argument("--distributed", action="store_true", default=False,
                   help="call jax.distributed.initialize(); process k of N takes the inputs with index %% N == k")
    g.add_argument("--coordinator", metavar="HOST:PORT", default=None, help="coordinator address (default: detected)")
    g.add_argument("--num-processes", type=cli.positive_int, metavar="N", default=None)
    g.add_argument("--process-id", type=int, metavar="K", default=None)


def job_options(args: dict[str, Any]) -> dict[str, Any]:
    """Settings fields given on the command line; one progress report per run (at the end)."""
    options = cli.settings_options(args)
    options.setdefault("report_every", options.get("steps", cli.FIELDS["steps"]))
    return options


def start_hosts(args: dict[str, Any]) -> None:
    """Join the other processes when ``--distributed`` is given."""
    if args["distributed"]:
        hosts.initialize(args["coordinator"], args["num_processes"], args["process_id"])


def make_job(args: dict[str, Any], out_dir: pathlib.Path, style: str) -> jobs.Job:
    """The job of one style from the parsed arguments."""
    init = args.get("init", "content")
    if init not in INITS:
        images.load_image(init)  # a bad init image fails before any work
    return jobs.Job(
        out_dir=out_dir, style=style, options=job_options(args), weights=args["weights"], init=init,
        batch_size=args["batch_size"] or jax.local_device_count(), policy=args["resize"], step=args["bucket"],
    )


def check_styles(styles: Sequence[str]) -> None:
    """Every style image loads (a bad style is an error of the whole job)."""
    for style in styles:
        images.load_image(style)


def run(args: dict[str, Any]) -> int:
    """Run the job for each style; print a summary line per style."""
    start_hosts(args)
    in_dir, out_dir = pathlib.Path(args["in_dir"]), pathlib.Path(args["out_dir"])
    styles = args["style"]
    folders = style_folders(styles)
    check_styles(styles)
    todo = [make_job(args, out_dir, style) for style in styles]  # bad options fail here
    inputs = list_inputs(in_dir, args["glob"], exclude=out_dir)
    if not inputs:
        raise NSTError(f"no files under '{in_dir}' match {args['glob']!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for job, folder in zip(todo, folders):
        mine = list(hosts.share(make_items(inputs, in_dir, folder, "." + args["ext"])))
        summary = jobs.run(mine, job, total=len(mine), quiet=args["quiet"])
        failed += summary.failed
        print(f"{folder or out_dir}: {summary.line()}")
    return EXIT_SOME_FAILED if failed else cli.EXIT_OK


def main(argv: Sequence[str]) -> int:
    """``jax-nst folder …`` (errors are reported by :func:`jax_nst.cli.main`)."""
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else cli.EXIT_ERROR
    return run(vars(args))


if __name__ == "__main__":
    sys.exit(cli.main(["folder", *sys.argv[1:]]))
