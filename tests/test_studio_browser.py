"""``jax-nst studio`` in a real browser (Debian's headless Chromium driven by Selenium): upload pictures, run a
64 px stylization and watch the preview change, move a weight and see nothing compile, download the PNG, see a
corrupt upload's message, reload and reattach, and stop the server with Ctrl-C."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from PIL import Image

from jax_nst import samples

pytestmark = pytest.mark.slow
pytest.importorskip("starlette")
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOT_ENV = "JAX_NST_STUDIO_SCREENSHOT"
"""Where to save a screenshot of the page after the first run (the README's picture), when set."""


@pytest.fixture
def server(tmp_path):
    """``jax-nst studio --port 0`` in a process of its own; yields (process, address)."""
    proc = subprocess.Popen([sys.executable, "-m", "jax_nst", "studio", "--port", "0", "--folder", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    found = re.search(r"http://[\d.]+:\d+/", line)
    assert found, line + proc.stderr.read()
    yield proc, found.group(0)
    if proc.poll() is None:
        proc.kill()


@pytest.fixture
def browser():
    if not (CHROMIUM and DRIVER):
        message = "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def wait(condition, timeout: float = 180.0, every: float = 0.05):
    """Poll ``condition()`` until it is truthy; returns its value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s")


def set_field(driver, name: str, value: str) -> None:
    box = driver.find_element(By.ID, f"opt-{name}")
    box.clear()
    box.send_keys(value)


def run_to_end(driver) -> set[str]:
    """Press Start and collect every preview address shown until the job is done."""
    status = driver.find_element(By.ID, "status")
    driver.find_element(By.ID, "start").click()
    wait(lambda: status.get_attribute("data-state") in ("queued", "running"), 30)
    shown = set()
    while status.get_attribute("data-state") not in ("done", "stopped", "failed"):
        src = driver.find_element(By.ID, "preview").get_attribute("src")
        if src and "v=" in src:
            shown.add(src)
        time.sleep(0.05)
    assert status.get_attribute("data-state") == "done", driver.find_element(By.ID, "job-message").text
    return shown


def test_the_studio_in_a_browser(server, browser, tmp_path):
    proc, address = server
    d = browser
    d.get(address)
    wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#content-list img")) == 2, 30)

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a picture" * 10)
    d.find_element(By.ID, "file").send_keys(str(broken))
    assert wait(lambda: "broken.png" in d.find_element(By.ID, "upload-message").text, 30)
    assert "cannot read image 'broken.png'" in d.find_element(By.ID, "upload-message").text
    d.find_element(By.ID, "file").send_keys(f"{samples.CONTENT}\n{samples.STYLE}")
    wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#content-list img")) == 4, 30)
    d.find_elements(By.CSS_SELECTOR, "#content-list img")[2].click()  # the uploaded photo as the content

    for name, value in {"size": "64", "steps": "12", "report_every": "2", "stop_tol": "0",
                        "style_layers": "conv1_1,conv2_1", "content_layers": "conv2_2"}.items():
        set_field(d, name, value)
    assert len(run_to_end(d)) >= 2  # the picture changed on the page at least twice
    status = d.find_element(By.ID, "status")
    assert int(status.get_attribute("data-compiled")) > 0
    if os.environ.get(SCREENSHOT_ENV):
        d.save_screenshot(os.environ[SCREENSHOT_ENV])

    d.execute_script("const s = document.getElementById('opt-style_weight'); s.value = 5; "
                     "s.dispatchEvent(new Event('input', {bubbles: true}));")
    assert wait(lambda: "compiles nothing" in d.find_element(By.ID, "compile-note").text, 30)
    run_to_end(d)
    assert status.get_attribute("data-compiled") == "0"  # a weight moved: no program made

    href = d.find_element(By.ID, "download").get_attribute("href")
    with urllib.request.urlopen(href) as r:
        assert Image.open(io.BytesIO(r.read())).size == (64, 43)
    assert d.find_element(By.ID, "command").text.startswith("jax-nst content.jpg style.png -o out.png --size 64")

    d.refresh()  # a reload reattaches to the job in the address
    wait(lambda: d.find_element(By.ID, "status").get_attribute("data-state") == "done", 30)
    assert d.find_element(By.ID, "preview").get_attribute("src")
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE" and "status of 400" not in e["message"]]
    assert not errors, errors

    proc.send_signal(signal.SIGINT)  # Ctrl-C stops the server in order
    assert proc.wait(20) in (0, 130)
    rest = proc.stderr.read()
    assert "Traceback" not in rest, rest
