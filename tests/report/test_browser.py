"""The report in a real headless browser (Debian's chromium + chromedriver, driven by selenium).

Every figure must load (``naturalWidth > 0``) and the console must stay free of errors. Skipped when
chromium, chromedriver or selenium is missing, unless ATTNBENCH_REQUIRE_BROWSER=1 (CI), then it fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "reports" / "quick" / "index.html"


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = _find("chromium", "chromium-browser"), _find("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None
    if not (chromium and driver_path and webdriver):
        missing = "selenium" if webdriver is None else ("chromium" if not chromium else "chromedriver")
        if os.environ.get("ATTNBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ATTNBENCH_REQUIRE_BROWSER=1 but {missing} is missing")
        pytest.skip(f"{missing} is not installed (apt-get install chromium chromium-driver; pip install selenium)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def open_page(driver, index: Path) -> tuple[list[dict], list[str]]:
    """Load ``index``; return its images (src, complete, naturalWidth) and the console errors."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(index.resolve().as_uri())
    images = driver.execute_script(
        "return Array.from(document.images).map(i => ({src: i.getAttribute('src'), complete: i.complete,"
        " width: i.naturalWidth}));"
    )
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return images, errors


def assert_renders(driver, index: Path) -> None:
    images, errors = open_page(driver, index)
    assert images, f"{index} shows no figure"
    broken = [i["src"] for i in images if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"broken images: {broken}"
    assert not errors, f"console errors: {errors}"
    assert len(images) == len(list((index.parent / "figures").glob("*.png")))


def test_fixture_report_loads_every_figure_without_console_errors(browser, sweep_report):
    assert_renders(browser, sweep_report)


def test_the_check_catches_a_broken_image(browser, tmp_path):
    page = tmp_path / "index.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body><img src="gone.png"></body></html>'
    )
    images, errors = open_page(browser, page)
    assert images[0]["width"] == 0 and any("gone.png" in e for e in errors)


@pytest.mark.skipif(
    not EXAMPLE.exists(), reason="reports/quick not generated: attnbench report results/quick -o reports/quick"
)
def test_example_report_in_the_repository_renders(browser):
    assert_renders(browser, EXAMPLE)
