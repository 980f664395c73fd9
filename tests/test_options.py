"""The typed public API: every option of Settings is a typed keyword of stylize and its siblings, documented with
its default in help(), and one line of text serves the API and the command line."""

from __future__ import annotations

import dataclasses
import pydoc
import typing

import pytest

import jax_nst
from jax_nst import settings
from jax_nst.cli import stylize as cli_stylize
from jax_nst.settings import Settings
from jax_nst.video import stylize_video

PUBLIC = [jax_nst.stylize, jax_nst.stylize_batch, jax_nst.stylize_grid, stylize_video,
          jax_nst.reconstruct, jax_nst.synthesize]
FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def test_options_are_the_settings_fields_with_their_types():
    hints, fields = typing.get_type_hints(settings.Options), typing.get_type_hints(Settings)
    assert set(hints) | {"init"} == set(fields)  # init: stylize takes an image too, as its own parameter
    assert {k: hints[k] for k in hints} == {k: fields[k] for k in hints}
    assert set(settings.OPTION_DOCS) == set(FIELDS)


@pytest.mark.parametrize("fn", PUBLIC, ids=lambda f: f.__name__)
def test_help_lists_every_option_with_its_type_and_default(fn):
    assert typing.get_type_hints(fn)["options"] == typing.Unpack[settings.Options]
    text = pydoc.render_doc(fn, renderer=pydoc.plaintext)
    for name, f in FIELDS.items():
        if name != "init":
            assert f"{name}: {f.type} = {f.default!r}" in text
            assert " ".join(settings.OPTION_DOCS[name].split()) in " ".join(text.split())


def test_the_command_line_help_reads_the_same_lines():
    text = " ".join(cli_stylize.build_parser().format_help().split())
    for name in ("size", "style_loss", "margin", "style_weight"):
        assert " ".join(settings.OPTION_DOCS[name].split()) in text
