"""The page at ``/`` in a real headless Chromium, with every host but the server unreachable:
the form is built from the bundle, files preview, and the answer shown equals the library's.

Skipped (with the reason) where Chromium, its driver or selenium is missing; ``.ci/run`` installs
them. Set ``POLYFUSE_SCREENSHOTS=DIR`` to keep the screenshots.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import LiveServer

from polyfuse import Predictor
from polyfuse.serving import ServeSettings, create_app

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
if CHROMIUM is None or DRIVER is None:
    pytest.skip(
        "Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium that can reach 127.0.0.1 only (so the page must work offline)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--use-fake-device-for-media-stream",  # a synthetic microphone (a beep), allowed without asking
        "--use-fake-ui-for-media-stream",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def live(loaded: Predictor, trained: Any) -> Iterator[LiveServer]:
    with LiveServer(create_app(loaded, ServeSettings(bundle_dir=trained.bundle))) as server:
        yield server


def _screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    driver.save_screenshot(str(path))
    keep = os.environ.get("POLYFUSE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / name)
    return path


def test_page_predicts_like_the_library(
    browser: Any, live: LiveServer, loaded: Predictor, demo_rows: pd.DataFrame, trained: Any, tmp_path: Path
) -> None:
    wait = WebDriverWait(browser, 30)
    browser.get(live.url + "/")
    wait.until(expected_conditions.element_to_be_clickable((By.ID, "submit")))
    boxes = browser.find_elements(By.CSS_SELECTOR, ".field[data-column]")
    assert [(b.get_attribute("data-column"), b.get_attribute("data-kind")) for b in boxes] == [
        ("description", "text"),
        ("photo", "image"),
        ("sound", "audio"),
        ("weight", "numeric"),
        ("region", "categorical"),
    ]
    assert browser.find_element(By.ID, "title").text == "multiclass on “label”"
    fields = {b.get_attribute("data-column"): b for b in boxes}
    assert fields["photo"].find_element(By.TAG_NAME, "input").get_attribute("accept") == "image/*"
    assert fields["sound"].find_element(By.TAG_NAME, "button").text == "Record"
    region = Select(fields["region"].find_element(By.TAG_NAME, "select"))
    assert [o.text for o in region.options] == ["(empty)", "east", "north", "south", "west"]

    record = demo_rows.iloc[7].to_dict()
    fields["description"].find_element(By.TAG_NAME, "textarea").send_keys(record["description"])
    fields["photo"].find_element(By.TAG_NAME, "input").send_keys(str(trained.data_dir / record["photo"]))
    fields["sound"].find_element(By.TAG_NAME, "input").send_keys(str(trained.data_dir / record["sound"]))
    fields["weight"].find_element(By.TAG_NAME, "input").send_keys(str(record["weight"]))
    region.select_by_visible_text(record["region"])
    preview = fields["photo"].find_element(By.CSS_SELECTOR, "img.preview")
    wait.until(
        lambda _: (
            preview.is_displayed()
            and browser.execute_script("return arguments[0].naturalWidth", preview) == 16
        )
    )
    browser.find_element(By.ID, "submit").click()
    shown = wait.until(expected_conditions.visibility_of_element_located((By.ID, "prediction")))

    expected = loaded.predict(
        pd.DataFrame([record]).drop(columns="label"), proba=True, base_dir=trained.data_dir
    )
    assert shown.text == expected["prediction"][0]
    bars = browser.find_elements(By.CSS_SELECTOR, ".bar")
    values = {b.get_attribute("data-label"): float(b.get_attribute("data-value")) for b in bars}
    assert values == pytest.approx(
        {c: float(expected[f"proba_{c}"][0]) for c in ("alpha", "beta", "gamma")}, abs=1e-6
    )
    assert list(values.values()) == sorted(values.values(), reverse=True)  # largest first
    assert bars[0].get_attribute("class") == "bar top" and bars[0].get_attribute("data-label") == shown.text
    width = bars[0].find_element(By.CLASS_NAME, "fill").value_of_css_property("width")
    track = bars[0].find_element(By.CLASS_NAME, "track").value_of_css_property("width")
    assert float(width[:-2]) / float(track[:-2]) == pytest.approx(max(values.values()), abs=0.01)

    shot = _screenshot(browser, tmp_path, "page-answer.png")
    assert shot.stat().st_size > 10_000
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []  # no failed request (an external URL would fail: the resolver knows none)


def test_page_shows_a_rows_error(browser: Any, live: LiveServer, tmp_path: Path) -> None:
    wait = WebDriverWait(browser, 30)
    browser.get(live.url + "/")
    wait.until(expected_conditions.element_to_be_clickable((By.ID, "submit")))
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"this is text, not a PNG")
    browser.find_element(By.CSS_SELECTOR, '.field[data-column="photo"] input').send_keys(str(bad))
    browser.find_element(By.ID, "submit").click()
    error = wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "#result .error")))
    assert error.text == "column 'photo': not a readable image (unknown or corrupt format)"
    _screenshot(browser, tmp_path, "page-error.png")


def test_docs_render_offline_with_the_bundles_fields(browser: Any, live: LiveServer, tmp_path: Path) -> None:
    wait = WebDriverWait(browser, 30)
    browser.get_log("browser")  # drop the earlier tests' entries
    browser.get(live.url + "/docs")
    wait.until(
        expected_conditions.visibility_of_element_located(
            (By.CSS_SELECTOR, "#operations-default-predict_predict_post")
        )
    )
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/predict", "/health", "/ready", "/metadata", "/metrics"} <= paths
    models = browser.find_element(By.CSS_SELECTOR, "section.models")
    browser.execute_script("arguments[0].scrollIntoView()", models)
    assert "Row" in models.text and "PredictRequest" in models.text
    _screenshot(browser, tmp_path, "docs.png")
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_recording_from_the_microphone_is_predicted(browser: Any, live: LiveServer, tmp_path: Path) -> None:
    wait = WebDriverWait(browser, 30)
    browser.get(live.url + "/")
    wait.until(expected_conditions.element_to_be_clickable((By.ID, "submit")))
    record = browser.find_element(By.CSS_SELECTOR, '.field[data-column="sound"] button')
    record.click()
    wait.until(lambda _: record.text == "Stop")
    browser.execute_script("return new Promise((resolve) => setTimeout(resolve, 600))")
    record.click()
    preview = browser.find_element(By.CSS_SELECTOR, '.field[data-column="sound"] audio')
    wait.until(lambda _: record.text == "Record" and preview.is_displayed())
    browser.find_element(By.ID, "submit").click()
    shown = wait.until(expected_conditions.visibility_of_element_located((By.ID, "prediction")))
    assert shown.text in {"alpha", "beta", "gamma"}  # the recorded WAV was read and predicted
    assert browser.find_elements(By.CSS_SELECTOR, "#result .error") == []


def test_page_asks_for_the_api_key(browser: Any, loaded: Predictor, tmp_path: Path) -> None:
    wait = WebDriverWait(browser, 30)
    with LiveServer(create_app(loaded, ServeSettings(api_key="s3cret", warmup=False))) as server:
        browser.get(server.url + "/")
        key_box = wait.until(expected_conditions.visibility_of_element_located((By.ID, "api-key")))
        assert browser.find_elements(By.CSS_SELECTOR, ".field[data-column]") == []
        key_box.send_keys("s3cret")
        browser.find_element(By.ID, "submit").click()  # loads the form with the key
        wait.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, ".field[data-column]")) == 5)
        browser.find_element(By.CSS_SELECTOR, '.field[data-column="description"] textarea').send_keys("calm")
        browser.find_element(By.ID, "submit").click()
        shown = wait.until(expected_conditions.visibility_of_element_located((By.ID, "prediction")))
        assert shown.text in {"alpha", "beta", "gamma"}
        _screenshot(browser, tmp_path, "page-key.png")
