"""The code's layout: no module reaches into another's private names, no import cycles, every package ships, the
README's layout table matches the tree."""

from __future__ import annotations

import ast
import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "jax_nst").rglob("*.py"), *(ROOT / "tests").glob("*.py"), *(ROOT / "scripts").glob("*.py")])


NAMEDTUPLE = ("_fields", "_replace", "_asdict", "_make", "_field_defaults")
"""A named tuple's public methods, which begin with an underscore so as not to clash with field names."""


def _project_names(tree: ast.Module) -> set[str]:
    """Names a file binds by importing from jax_nst (or relatively, inside the package), or the test helpers."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] in ("jax_nst", "tiny")}
        elif isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("jax_nst")):
            names |= {a.asname or a.name for a in node.names}
    return names


def _private_uses(path: pathlib.Path) -> list[str]:
    """``name._private`` where ``name`` came from a jax_nst import, ``from … import _private``, and
    ``setattr(…, "_private", …)`` (monkeypatching a private name)."""
    tree = ast.parse(path.read_text(), str(path))
    imported, found = _project_names(tree), []
    private = lambda name: name.startswith("_") and not name.startswith("__") and name not in NAMEDTUPLE  # noqa: E731
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in imported:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("jax_nst")):
            found += [f"{path.relative_to(ROOT)}:{node.lineno}: import {a.name}" for a in node.names if private(a.name)]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "setattr"
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str) and private(node.args[1].value)):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: setattr {node.args[1].value}")
    return found


def test_no_module_test_or_script_uses_another_modules_private_names():
    assert [use for path in SOURCES for use in _private_uses(path)] == []


def test_the_private_name_check_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from jax_nst import api\nfrom jax_nst.api import _loop\nimport jax_nst\n"
                   "api._params()\njax_nst.api._loop\nmonkeypatch.setattr(api, '_optimize', None)\nself._mine = 1\n")
    global ROOT
    root, ROOT = ROOT, tmp_path
    try:
        assert sorted(u.split(": ", 1)[1] for u in _private_uses(bad)) == [
            "api._params", "import _loop", "jax_nst.api._loop", "setattr _optimize"]
    finally:
        ROOT = root


def _imports(path: pathlib.Path, modules: set[str]) -> set[str]:
    """The jax_nst modules ``path`` imports (type-checking imports included), and the packages they sit in."""
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(here[:len(here) - node.level + 1] + [node.module or ""]).strip(".") if node.level else node.module
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    parents = {".".join(m.split(".")[:i]) for m in found for i in range(2, m.count(".") + 1)}
    return {m for m in found | parents if m in modules and m != name and not name.startswith(m + ".")}


def test_the_package_has_no_import_cycles():
    paths = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (ROOT / "jax_nst").rglob("*.py")}
    graph = {m: _imports(p, set(paths)) for m, p in paths.items()}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(d):] + [d]))
            if d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_every_package_is_listed_for_the_wheel():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "jax_nst").rglob("__init__.py")}
    assert found <= listed


def test_the_readme_layout_table_names_every_module_and_only_modules_that_exist():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in table.splitlines() if line.startswith("| `")]
    named: set[pathlib.Path] = set()
    for place, holds in rows:
        paths = [ROOT / p for p in re.findall(r"`([^`]+)`", place)]
        for path in paths:
            assert path.exists(), f"the layout table names {path.relative_to(ROOT)}, which does not exist"
        folder = paths[0] if paths[0].is_dir() else paths[0].parent
        named |= {p for p in paths if p.suffix == ".py"}
        named |= {folder / f"{m}.py" for m in re.findall(r"`(\w+)`", holds) if (folder / f"{m}.py").exists()}
        named |= {folder / m for m in re.findall(r"`(\w+)/`", holds) if (folder / m).is_dir()}
    modules = {p for p in (ROOT / "jax_nst").rglob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    missing = {p for p in modules if p not in named and not any(d in named for d in p.parents)}
    assert sorted(str(p.relative_to(ROOT)) for p in missing) == []


def test_help_and_option_checks_import_no_jax():
    """``jax-nst --help`` and every subcommand's help answer at once: parsers, flags, settings and registries load
    without JAX."""
    import subprocess
    import sys

    script = ("import sys\nfrom jax_nst.cli import COMMANDS, main\nfrom jax_nst import settings\n"
              "for argv in (['--help'], *([c, '-h'] for c in COMMANDS if c)):\n    main(argv)\n"
              "settings.Settings(style_loss='mean_cov')\n"
              "print(sorted(m for m in ('jax', 'flax', 'optax') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_each_registry_knows_its_modules_records_before_importing_them():
    """The catalogue read from source equals the imported records' literal fields, and names are module names."""
    import dataclasses

    from jax_nst.objective import style_losses, terms

    for registry, get in ((style_losses, style_losses.get), (terms, terms.get)):
        for name in registry.NAMES:
            record = get(name)
            assert record.name == name
            known = registry.CATALOGUE[name]
            assert known == {k: getattr(record, k) for k in known}
            literal = {f.name for f in dataclasses.fields(record) if not callable(getattr(record, f.name))}
            assert literal <= set(known)
