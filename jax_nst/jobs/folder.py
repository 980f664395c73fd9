"""The inputs of a folder job: image files under a folder and the output path of each.

OUT_DIR mirrors IN_DIR: ``IN_DIR/a/b.jpg`` → ``OUT_DIR/a/b.png`` (inputs that would share an
output keep their extension: ``b.jpg.png``); with several styles each gets ``OUT_DIR/STYLESTEM/``.
"""

from __future__ import annotations

import collections
import os
import pathlib
from typing import Sequence

from ..errors import NSTError
from .batch import Item

DEFAULT_GLOB = "**/*"


def list_inputs(in_dir: pathlib.Path, pattern: str = DEFAULT_GLOB, exclude: pathlib.Path | None = None) -> list[pathlib.Path]:
    """Files under ``in_dir`` matching ``pattern`` ("**" recurses), sorted; hidden ones and those under ``exclude`` left out.

    Broken and looping symbolic links are inputs too: they fail, counted and recorded, like unreadable files.
    """
    in_dir = pathlib.Path(in_dir)
    if not in_dir.is_dir():
        raise NSTError(f"input folder '{in_dir}' does not exist or is not a folder")
    if not pattern or os.path.isabs(pattern):
        raise NSTError(f"--glob must be a pattern relative to the input folder (e.g. '*.jpg'), got {pattern!r}")
    skip = exclude.resolve() if exclude is not None else None
    found = []
    try:
        matches = list(in_dir.glob(pattern))
    except ValueError as e:  # e.g. '**x': "**" must be a whole path component
        raise NSTError(f"--glob {pattern!r} is not a pattern: {e}") from None
    for path in matches:
        rel = path.relative_to(in_dir)
        if any(part.startswith(".") for part in rel.parts) or not (path.is_file() or _broken_link(path)):
            continue
        if skip is not None and pathlib.Path(os.path.realpath(path)).is_relative_to(skip):
            continue
        found.append(path)
    return sorted(found)


def _broken_link(path: pathlib.Path) -> bool:
    """A symbolic link to nothing or to itself: kept as an input, so that it is reported as failed."""
    return path.is_symlink() and not path.exists()


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


def make_items(inputs: Sequence[pathlib.Path], in_dir: pathlib.Path, folder: str, ext: str) -> list[Item]:
    """The job items of one style: every input with its output path under ``folder``."""
    names = output_names(inputs, in_dir, ext)
    return [
        Item(name=str(path), output=str(pathlib.PurePosixPath(folder, name)), load=lambda p=path: p)
        for path, name in zip(inputs, names)
    ]
