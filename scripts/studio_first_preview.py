"""Seconds from pressing Start in ``jax-nst studio`` to the first picture on the page, with a cold and a warm
compile cache, and the programs a weight change makes (none expected).

Each studio runs in its own process (``python -m jax_nst studio --port 0``) sharing one compile-cache folder, as a
user's runs do: the first process compiles, the second loads. The job is the page's defaults (256 px, a picture
every 2 steps) on the bundled samples; the figure is the job's ``first_preview_s`` (Start → first picture).

    python scripts/studio_first_preview.py
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request

from jax_nst.studio.jobs import PAGE_DEFAULTS


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as r:
        return json.load(r)


def finished(url: str, job: str) -> dict:
    """The job's last state from its event stream."""
    last = None
    with urllib.request.urlopen(f"{url}api/jobs/{job}/events") as r:
        for line in r:
            if line.startswith(b"data:"):
                last = json.loads(line[5:])
    return last


def one_studio(cache: str, label: str) -> None:
    env = {**os.environ, "JAX_NST_CACHE_DIR": cache}
    proc = subprocess.Popen([sys.executable, "-m", "jax_nst", "studio", "--port", "0"], stdout=subprocess.PIPE,
                            text=True, env=env)
    try:
        url = re.search(r"http://[\d.]+:\d+/", proc.stdout.readline()).group(0)
        body = {"content": "sample-content", "styles": ["sample-style"], "options": {**PAGE_DEFAULTS, "steps": 10}}
        first = finished(url, post(f"{url}api/jobs", body)["id"])
        moved = finished(url, post(f"{url}api/jobs", {**body, "options": {**body["options"], "style_weight": 1e4}})["id"])
        print(json.dumps({"cache": label, "size": first["size"], "first_preview_s": round(first["first_preview_s"], 2),
                          "programs": first["compiled"], "weight_change_first_preview_s":
                          round(moved["first_preview_s"], 2), "weight_change_programs": moved["compiled"]}), flush=True)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        one_studio(cache, "cold")
        one_studio(cache, "warm")


if __name__ == "__main__":
    main()
