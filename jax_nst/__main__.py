"""``python -m jax_nst``: the ``jax-nst`` command."""

from .cli import entry

entry()
