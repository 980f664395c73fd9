"""A registry of one module per entry (the style losses, the terms): what it knows before importing them.

Each entry module of a registry package assigns its record once, ``LOSS = StyleLoss(name=..., summary=...)``.
:func:`catalogue` reads the literal fields of that assignment from the module's source, so that option
checks, flags and ``--help`` list the entries without importing the modules (and JAX with them); :func:`load`
imports one entry when it runs. Both read the same assignment, so they cannot disagree.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import pathlib
import pkgutil
from typing import Any, Iterable, Mapping


def catalogue(path: Iterable[str], record: str, kind: type) -> dict[str, Mapping[str, Any]]:
    """{module name: {field: literal value}} of every module in ``path`` that assigns ``record = kind(...)``.

    Positional arguments are named by ``kind``'s dataclass fields, fields not given take its defaults, and
    fields given by anything but a literal (the functions) are left out. A module with no such assignment holds shared code, not an entry."""
    fields = [f.name for f in dataclasses.fields(kind)]
    defaults = {f.name: f.default for f in dataclasses.fields(kind) if f.default is not dataclasses.MISSING}
    found = {}
    for info in pkgutil.iter_modules(list(path)):
        spec = info.module_finder.find_spec(info.name, None)  # type: ignore[call-arg]
        call = _assigned_call(pathlib.Path(spec.origin).read_text(encoding="utf-8"), record, kind.__name__)
        if call is None:
            continue
        given = {**dict(zip(fields, call.args)), **{k.arg: k.value for k in call.keywords}}
        literals = {name: ast.literal_eval(node) for name, node in given.items() if _literal(node)}
        found[info.name] = {**{k: v for k, v in defaults.items() if k not in given}, **literals}
    return found


def load(package: str, name: str, record: str) -> Any:
    """The record of entry ``name`` of ``package``: its module imported."""
    return getattr(importlib.import_module(f"{package}.{name}"), record)


def _assigned_call(source: str, record: str, kind: str) -> ast.Call | None:
    """The ``kind(...)`` call assigned to ``record`` at the top level of ``source``."""
    for node in ast.parse(source).body:
        if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [record]
                and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == kind):
            return node.value
    return None


def _literal(node: ast.AST) -> bool:
    """Whether ``node`` is a Python literal (a string, number, bool, None or a container of them)."""
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True
