"""The storefront page in headless Chromium (Debian's chromium + chromedriver, never a downloaded browser),
against the service on the real stack."""

from __future__ import annotations

import shutil

import pytest

from tests.builders.service_stack import HEART_USER

pytestmark = pytest.mark.integration

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    assert shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER), "run scripts/setup (installs chromium)"
    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver, condition, timeout=60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def test_storefront_search_with_explanations_and_recommendations(stack, browser):
    from selenium.webdriver.common.by import By

    browser.get(stack.url + "/")
    assert "https://doi.org/10.24432/C5BW33" in browser.find_element(By.ID, "attribution").text
    # The user picker is filled from the events.
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#user-list option")) >= 2)
    users = [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#user-list option")]
    assert HEART_USER in users

    browser.find_element(By.ID, "query").send_keys("heart t-light holder")
    browser.find_element(By.ID, "user").send_keys(HEART_USER)
    browser.find_element(By.ID, "search-button").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#results li.item"))
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#results li.item .title")]
    assert len(titles) == 10 and any("HEART" in t for t in titles)
    assert "personalized by model v" in browser.find_element(By.ID, "search-flag").text
    reasons = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#results .why")]
    assert reasons and all(r.startswith("Because you bought") for r in reasons)

    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#recommendations li.item"))
    assert browser.find_element(By.ID, "recommend-section").is_displayed()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#recommendations li.item")) == 5
    assert browser.find_element(By.ID, "status").text == ""


def test_storefront_marks_anonymous_results_as_search_order(stack, browser):
    from selenium.webdriver.common.by import By

    browser.get(stack.url + "/")
    browser.find_element(By.ID, "query").send_keys("coffee mug")
    browser.find_element(By.ID, "search-button").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#results li.item"))
    assert browser.find_element(By.ID, "search-flag").text == "search order (anonymous)"
    assert not browser.find_element(By.ID, "recommend-section").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#results .why") == []
