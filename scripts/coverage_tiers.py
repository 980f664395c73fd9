"""Line coverage of ``jax_nst/`` by the fast tier and by the whole suite (fast + slow), module by module.

    python scripts/coverage_tiers.py [--markdown] [pytest args…]

Runs ``pytest`` twice under pytest-cov (the ``test`` extra): the fast tier, then the slow tier appended to it;
child processes are measured too (``[tool.coverage.run] patch = ["subprocess"]`` in pyproject.toml). Exits 1
when the fast tier is more than ``GAP`` points below the whole suite or leaves a module unreached.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
GAP = 5.0


def measure(data: pathlib.Path, tier: list[str], extra: list[str], append: bool) -> dict:
    """Run one tier under pytest-cov into ``data``; returns coverage's JSON report of all data so far."""
    report = data.with_name("report.json")  # not "<data file>.*": coverage combines those
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cov=jax_nst", "--cov-report=",
            f"--cov-report=json:{report}", *(["--cov-append"] if append else []),
            *tier, *extra]
    subprocess.run(argv, cwd=ROOT, env={**os.environ, "COVERAGE_FILE": str(data)}, check=False)
    return json.loads(report.read_text())


def percent(files: dict, name: str) -> float:
    return files[name]["summary"]["percent_covered"] if name in files else 0.0


def table(fast: dict, full: dict) -> list[str]:
    """One row per module: lines, fast-tier and whole-suite coverage."""
    rows = ["| module | lines | fast tier | fast + slow |", "| --- | ---: | ---: | ---: |"]
    for name in sorted(full["files"]):
        lines = full["files"][name]["summary"]["num_statements"]
        rows.append(f"| `{name}` | {lines} | {percent(fast['files'], name):.0f} % | {percent(full['files'], name):.0f} % |")
    rows.append(f"| **total** | {full['totals']['num_statements']} | **{fast['totals']['percent_covered']:.1f} %** "
                f"| **{full['totals']['percent_covered']:.1f} %** |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the per-module table")
    args, extra = parser.parse_known_args()
    folder = pathlib.Path(tempfile.mkdtemp(prefix="jax_nst_cov_"))
    try:
        data = folder / "coverage"
        fast = measure(data, [], extra, append=False)
        full = measure(data, ["-m", "slow"], extra, append=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.markdown:
        print("\n".join(table(fast, full)))
    f, a = fast["totals"]["percent_covered"], full["totals"]["percent_covered"]
    unreached = sorted(n for n, v in full["files"].items() if v["summary"]["num_statements"]
                       and fast["files"].get(n, {}).get("summary", {}).get("covered_lines", 0) == 0)
    print(f"line coverage of jax_nst/: fast tier {f:.1f} %, fast + slow {a:.1f} % (gap {a - f:.1f} points, "
          f"at most {GAP:g}); modules the fast tier does not reach: {', '.join(unreached) or 'none'}")
    return 0 if a - f <= GAP and not unreached else 1


if __name__ == "__main__":
    sys.exit(main())
