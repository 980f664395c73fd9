"""The README's picture of the studio (docs/studio.png): a 256 px run of the bundled samples, in headless Chromium.

    python scripts/studio_screenshot.py [--out docs/studio.png] [--steps 40]

Needs the studio and test extras and Debian's chromium and chromium-driver.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=pathlib.Path, default=ROOT / "docs" / "studio.png")
    p.add_argument("--steps", default="40")
    args = p.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    proc = subprocess.Popen([sys.executable, "-m", "jax_nst", "studio", "--port", "0"], stdout=subprocess.PIPE, text=True)
    options = Options()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1150"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(re.search(r"http://[\d.]+:\d+/", proc.stdout.readline()).group(0))
        time.sleep(1)
        steps = driver.find_element(By.ID, "opt-steps")
        steps.clear()
        steps.send_keys(args.steps)
        driver.find_element(By.ID, "start").click()
        status = driver.find_element(By.ID, "status")
        while status.get_attribute("data-state") not in ("done", "stopped", "failed"):
            time.sleep(0.5)
        time.sleep(1)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(args.out))
        print(status.text)
    finally:
        driver.quit()
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


if __name__ == "__main__":
    main()
