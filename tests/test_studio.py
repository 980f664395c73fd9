"""The studio's web API as the page uses it: pictures checked like the command line's, jobs that stream their
pictures, a weight change that compiles nothing, stop / continue / grids, and the equivalent command line."""

from __future__ import annotations

import io
import json
import shlex
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette")
pytest.importorskip("httpx")
from starlette.testclient import TestClient  # noqa: E402

import jax_nst  # noqa: E402
from jax_nst import samples  # noqa: E402
from jax_nst.cli import run as cli_run, stylize as cli_stylize  # noqa: E402
from jax_nst.cli.flags import command_line  # noqa: E402
from jax_nst.controls import presets  # noqa: E402
from jax_nst.studio import jobs  # noqa: E402
from jax_nst.studio.server import make_app  # noqa: E402

import tiny  # noqa: E402

SMALL = {"size": 32, "steps": 6, "report_every": 2, **tiny.STYLIZING}
BODY = {"content": "sample-content", "styles": ["sample-style"], "options": SMALL}


@pytest.fixture
def client(tmp_path):
    studio = jobs.Studio(tmp_path)
    with TestClient(make_app(studio)) as c:
        c.studio = studio
        yield c
    studio.close()


def png_bytes(h: int = 40, w: int = 60) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), np.uint8)).save(out, "PNG")
    return out.getvalue()


def events(c, job_id: str) -> list[dict]:
    """Every state the job's event stream sends until it is finished."""
    seen = []
    with c.stream("GET", f"/api/jobs/{job_id}/events") as s:
        for line in s.iter_lines():
            if line.startswith("data:"):
                seen.append(json.loads(line[5:]))
    return seen


def finish(c, body: dict) -> dict:
    r = c.post("/api/jobs", json=body)
    assert r.status_code == 200, r.text
    return events(c, r.json()["id"])[-1]


def test_a_job_streams_its_pictures_and_a_weight_change_compiles_nothing(client):
    assert client.post("/api/compiles", json=BODY).json() == {"compiles": True}
    r = client.post("/api/jobs", json=BODY)
    seen = events(client, r.json()["id"])
    pictures = [e for e in seen if e["has_picture"] and e["state"] == "running"]
    assert [e["step"] for e in pictures] == [2, 4, 6]
    assert len({e["version"] for e in pictures}) == 3 and seen[-1]["state"] == "done"
    assert seen[-1]["losses"][-1]["total"][0] < seen[-1]["losses"][0]["total"][0]
    assert seen[-1]["compiled"] >= 0 and seen[-1]["first_preview_s"] > 0  # programs of this shape may be in memory
    picture = client.get(f"/api/jobs/{r.json()['id']}/picture", params={"cell": 0})
    assert Image.open(io.BytesIO(picture.content)).size == (32, 21)

    heavier = {**BODY, "options": {**SMALL, "style_weight": 1e6, "content_weight": 2.0}}
    assert client.post("/api/compiles", json=heavier).json() == {"compiles": False}
    again = finish(client, heavier)
    assert again["state"] == "done" and again["compiled"] == 0  # traced weights: no program made
    bigger = {**BODY, "options": {**SMALL, "size": 40}}
    assert client.post("/api/compiles", json=bigger).json() == {"compiles": True}
    download = client.get(f"/api/jobs/{again['id']}/download")
    assert download.headers["content-disposition"].endswith(f'jax-nst-{again["id"]}.png"')
    a, b = (np.asarray(Image.open(io.BytesIO(x))) for x in (picture.content, download.content))
    assert a.shape == b.shape and np.abs(a.astype(int) - b).mean() > 0.5  # β = 1e6 painted another picture


def test_uploads_are_checked_as_the_command_line_checks_files(client, tmp_path):
    bad = client.post("/api/pictures", params={"name": "holiday.jpg"}, content=b"not a picture" * 20)
    assert bad.status_code == 400 and bad.json() == {"error": "cannot read image 'holiday.jpg': not a recognised "
                                                              "image file"}
    assert client.post("/api/pictures", params={"name": "e.png"}, content=b"").json()["error"] == "e.png is empty"
    too_big = b"\0" * (jobs.MAX_UPLOAD_BYTES + 1)
    assert "larger than 64 MiB" in client.post("/api/pictures", params={"name": "x.png"}, content=too_big).json()["error"]
    good = client.post("/api/pictures", params={"name": "../../etc/passwd"}, content=png_bytes()).json()
    assert good["name"] == "passwd" and (good["width"], good["height"]) == (60, 40)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{good['id']}.upload"]  # only in its own folder
    assert client.get("/api/pictures/..%2F..%2Fetc%2Fpasswd").status_code in (400, 404)
    assert client.post("/api/jobs", json={**BODY, "content": "/etc/passwd"}).json()["error"].startswith("no picture")
    assert client.get(f"/api/pictures/{good['id']}").headers["content-type"] == "image/png"


def test_bad_settings_are_one_line_and_the_studio_keeps_serving(client):
    for options, message in [({"size": -3}, "size must be a positive integer"),
                             ({"bands": 3}, "the studio does not set bands"),
                             ({"style_loss": "nope"}, "unknown style_loss")]:
        r = client.post("/api/jobs", json={**BODY, "options": {**SMALL, **options}})
        assert r.status_code == 400 and r.json()["error"].startswith(message), r.json()
    tiny_picture = client.post("/api/pictures", params={"name": "t.png"}, content=png_bytes(8, 8)).json()
    paper_layers = {"size": 32, "steps": 2, "style_size": 8}  # conv5_1 needs 16 px: refused before compiling
    failed = finish(client, {**BODY, "styles": [tiny_picture["id"]], "options": paper_layers})
    assert failed["state"] == "failed" and "style image is 8×8 px" in failed["message"], failed
    assert client.post("/api/compiles", json={**BODY, "styles": [tiny_picture["id"]], "options": paper_layers}).json() \
        == {"compiles": True}  # a job refused before compiling made no programs
    assert finish(client, BODY)["state"] == "done"  # the worker goes on after a failed job


def test_stop_keeps_the_picture_and_continue_starts_from_it(client):
    r = client.post("/api/jobs", json={**BODY, "options": {**SMALL, "steps": 400, "stop_tol": 0}}).json()
    with client.stream("GET", f"/api/jobs/{r['id']}/events") as s:
        for line in s.iter_lines():
            if line.startswith("data:") and json.loads(line[5:])["has_picture"]:
                client.post(f"/api/jobs/{r['id']}/stop")
                break
    while (stopped := client.get(f"/api/jobs/{r['id']}").json())["state"] == "running":
        time.sleep(0.05)
    assert stopped["state"] == "stopped" and 0 < stopped["step"] < 400
    assert Image.open(io.BytesIO(client.get(f"/api/jobs/{r['id']}/download").content)).size == (32, 21)
    later = finish(client, {**BODY, "options": {**SMALL, "steps": 2}, "continue": {"job": r["id"]}})
    assert later["state"] == "done"
    command = client.get(f"/api/jobs/{later['id']}/command").json()["command"]
    assert command.endswith(f"--init jax-nst-{r['id']}.png")
    stopped_picture = client.studio.job(r["id"]).pictures[0]
    alone = jax_nst.stylize(samples.CONTENT, samples.STYLE, init=stopped_picture, **{**SMALL, "steps": 2})
    np.testing.assert_allclose(client.studio.job(later["id"]).pictures[0], alone, atol=1e-5)


def test_a_grid_runs_as_one_job_and_a_cell_continues_with_its_values(client):
    grid = finish(client, {**BODY, "grid": {"style_weight": [1e3, 1e6]}})
    assert grid["state"] == "done" and grid["cells"] == [{"style_weight": 1e3}, {"style_weight": 1e6}]
    sheet = Image.open(io.BytesIO(client.get(f"/api/jobs/{grid['id']}/download").content))
    assert sheet.size[0] > 2 * 32  # the labelled contact sheet
    cell = client.get(f"/api/jobs/{grid['id']}/download", params={"cell": 1})
    assert cell.headers["content-disposition"].endswith(f'jax-nst-{grid["id"]}-1.png"')
    options = {k: v for k, v in SMALL.items() if k != "style_weight"}
    more = finish(client, {**BODY, "options": {**options, "size": 48}, "continue": {"job": grid["id"], "cell": 1}})
    assert more["state"] == "done" and more["size"] == 48
    assert "--style-weight 1e+06" in client.get(f"/api/jobs/{more['id']}/command").json()["command"]


@pytest.mark.parametrize("preset, options", [
    (None, {}),
    ("gatys2016", {"style_weight": 2e3, "size": 256, "scales": (128,), "init": "noise"}),
    (None, {"style_layers": "conv1_1:0.7,conv3_1", "learning_rate": 0.5, "report_every": 5, "tv_weight": 1e-3}),
])
def test_the_command_line_makes_the_same_settings(preset, options):
    s = presets.resolve(preset, **options)
    argv = command_line(s, "my photo.jpg", ["a.png", "b.png"], "out.png")
    args = vars(cli_stylize.build_parser().parse_args(shlex.split(shlex.join(argv))[1:]))
    assert args["content"] == "my photo.jpg" and args["style"] == ["a.png", "b.png"]
    assert cli_run.settings_of(args, init=args.get("init") or "content") == s


def test_the_form_is_built_from_the_typed_options(client):
    form = client.get("/api/config").json()
    fields = {f["name"]: f for f in form["options"]}
    assert list(fields) == list(jobs.PAGE_OPTIONS)
    assert fields["style_loss"]["choices"] and fields["style_loss"]["default"] == "mean_cov"
    assert fields["style_weight"]["traced"] and not fields["size"]["traced"]
    assert fields["size"]["flag"] == "--size" and fields["size"]["help"]
    assert "gatys2016" in form["presets"] and {p["id"] for p in form["pictures"]} == set(jobs.SAMPLES)
    page = client.get("/")
    assert page.status_code == 200 and "/static/studio.js" in page.text


def test_inline_serves_the_page_beside_a_notebook(capsys):
    import urllib.request

    from jax_nst import studio

    server = studio.inline(port=0)  # outside a notebook IPython prints the iframe instead of showing it
    try:
        with urllib.request.urlopen(studio.url(server) + "api/config") as r:
            assert r.status == 200 and json.load(r)["presets"]
        assert "IFrame" in capsys.readouterr().out
    finally:
        server.kept_open.__exit__(None, None, None)
    assert server.should_exit
