"""The storefront page in headless Chromium (Debian's chromium + chromedriver, never a downloaded browser),
against the service on the real stack: shop cards, events attributed to what was shown, the view in the URL, and
screenshots compared with committed references.

Refresh the references after a deliberate change of the page (then look at them, and commit them):

    pytest tests/integration/ranker/service/test_storefront.py --update-screenshots
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.builders.service_stack import HEART_USER

pytestmark = pytest.mark.integration

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--lang=en-US",
    "--hide-scrollbars", "--force-device-scale-factor=1",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip
SHOTS = Path(__file__).parent / "screenshots"
HEARTS = "?q=heart+t-light+holder&user=" + HEART_USER


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
    driver.set_window_size(1280, 900)
    yield driver
    driver.quit()


def _wait(driver, condition, timeout=60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _open(driver, url: str) -> None:
    """Load ``url`` and wait until the page has both answers on it (``body[data-ready]``)."""
    driver.get(url)
    _ready(driver)


def _ready(driver) -> None:
    _wait(driver, lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def _cards(driver, list_id: str = "results") -> list:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, f"#{list_id} .card")


def _ids(driver, list_id: str = "results") -> list[str]:
    """The item ids of a list's cards, read at once (a list being re-rendered has no stale half)."""
    return driver.execute_script(f"return [...document.querySelectorAll('#{list_id} .card')].map((c) => c.dataset.id)")


def _state(driver) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(driver.current_url).query).items()}


def test_a_search_from_the_url_shows_shop_cards_without_ids_scores_or_capitals(stack, browser):
    from selenium.webdriver.common.by import By

    _open(browser, stack.url + "/" + HEARTS)
    assert browser.find_element(By.ID, "query").get_attribute("value") == "heart t-light holder"
    assert browser.find_element(By.ID, "user").get_attribute("value") == HEART_USER
    cards = _cards(browser)
    assert len(cards) == 12
    titles = [c.find_element(By.CSS_SELECTOR, ".title").text for c in cards]
    assert all(t and t != t.upper() for t in titles), titles  # readable case, not the catalog's ALL CAPS
    assert any("Heart T-Light Holder" in t for t in titles), titles
    assert all(c.find_element(By.CSS_SELECTOR, ".price").text.startswith("$") for c in cards)  # default currency
    assert all(c.find_element(By.CSS_SELECTOR, "svg") for c in cards)  # the generated placeholder image
    ids = _ids(browser)
    page = browser.find_element(By.TAG_NAME, "main").text
    assert not [i for i in ids if i in page] and "score" not in page and "personalized" not in page
    # The seeded test model's attention is uniform: its "strongest" item is a tie and says nothing.
    assert browser.find_elements(By.CSS_SELECTOR, "#results .why") == []
    # A shopper with history gets the recommended row, from its own answer.
    assert browser.find_element(By.ID, "recommend-section").is_displayed()
    assert len(_cards(browser, "recommendations")) == 6
    assert browser.find_element(By.ID, "status").text == ""

    # ?debug=1 shows what the engineer needs: ids, places, scores and why the order is what it is.
    _open(browser, stack.url + "/" + HEARTS + "&debug=1")
    debug = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#results .debug")]
    assert len(debug) == 12 and debug[0].startswith(_cards(browser)[0].get_attribute("data-id") + " · #1 · score")
    assert "personalized by model v" in browser.find_element(By.ID, "search-flag").text


def test_add_to_cart_buy_and_open_post_events_attributed_to_their_place(stack, browser):
    from selenium.webdriver.common.by import By

    from core.store import open_store
    from ranker.feedback import StoreImpressions, attribute

    user = "u-storefront-cart"  # a shopper of its own: these events change no other test's profiles
    _open(browser, f"{stack.url}/?q=heart+t-light+holder&user={user}&page=2")
    cards = _cards(browser)
    third, fifth = cards[2].get_attribute("data-id"), cards[4].get_attribute("data-id")
    cards[2].find_element(By.CSS_SELECTOR, ".add").click()
    _wait(browser, lambda d: d.find_element(By.ID, "cart-count").text == "1")
    cards[4].find_element(By.CSS_SELECTOR, ".buy").click()
    _wait(browser, lambda d: "ordered" in d.find_element(By.ID, "status").text)
    cards[4].find_element(By.CSS_SELECTOR, ".title a").click()  # opens the product: a click
    _wait(browser, lambda d: d.find_element(By.ID, "detail").is_displayed())
    assert browser.find_element(By.ID, "detail-title").text == cards[4].find_element(By.CSS_SELECTOR, ".title").text

    engine = open_store(stack.settings.store)
    assert stack.server.config.app.state.deps.impressions.flush(30)
    done, deadline = [], time.monotonic() + 30
    while len(done) < 3 and time.monotonic() < deadline:  # the click is posted without waiting for its answer
        done = [e for e in attribute(engine, StoreImpressions(lambda: engine)).events if e.user_id == user]
        time.sleep(0.2)
    got = sorted((e.type, e.item_id, e.position) for e in done)
    # Page 2 of 12 per page: the third card is place 15, the fifth place 17; all three carry the page's query_id.
    assert got == sorted([("add_to_cart", third, 15), ("purchase", fifth, 17), ("click", fifth, 17)])
    assert len({e.query_id for e in done}) == 1 and all(e.placed_by == "retrieval" for e in done)


def test_the_view_lives_in_the_url_reload_next_and_back_restore_it(stack, browser):
    from selenium.webdriver.common.by import By

    _open(browser, stack.url + "/")
    assert browser.find_element(By.ID, "welcome").is_displayed()
    # The user picker is filled from the events (the demo service is open: every scope).
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#user-list option")) >= 2)
    users = [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#user-list option")]
    assert HEART_USER in users

    browser.find_element(By.ID, "query").send_keys("heart t-light holder")
    browser.find_element(By.ID, "user").send_keys(HEART_USER)
    browser.execute_script("document.body.dataset.ready = ''")
    browser.find_element(By.ID, "search-button").click()
    _ready(browser)
    assert _state(browser) == {"q": "heart t-light holder", "user": HEART_USER}
    first_page = _ids(browser)

    browser.find_element(By.ID, "next").click()
    _wait(browser, lambda d: _state(d).get("page") == "2")
    _ready(browser)
    second_page = _ids(browser)
    assert not set(first_page) & set(second_page)
    assert _cards(browser)[0].get_attribute("data-position") == "13"

    browser.refresh()
    _ready(browser)
    assert browser.find_element(By.ID, "query").get_attribute("value") == "heart t-light holder"
    assert browser.find_element(By.ID, "user").get_attribute("value") == HEART_USER
    assert browser.find_element(By.ID, "page-info").text.startswith("Page 2 of")
    assert _ids(browser) == second_page

    browser.back()
    _wait(browser, lambda d: "page" not in _state(d))
    _wait(browser, lambda d: _ids(d) == first_page)


def test_an_anonymous_search_has_no_recommended_row_and_no_explanations(stack, browser):
    from selenium.webdriver.common.by import By

    _open(browser, stack.url + "/?q=coffee+mug&debug=1")
    assert _cards(browser)
    assert browser.find_element(By.ID, "search-flag").text == "search order (anonymous)"
    assert not browser.find_element(By.ID, "recommend-section").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#results .why") == []


def _result(item: str, *weights: tuple[str, float]) -> dict:
    return {"id": item, "explanations": [{"item_id": h, "title": h.upper(), "weight": w, "type": "purchase"}
                                         for h, w in weights]}  # fmt: skip


def test_explanations_are_shown_only_where_they_say_something(stack, browser):
    _open(browser, stack.url + "/")
    reasons = lambda results: browser.execute_script("return reasons(arguments[0])", results)  # noqa: E731

    # The same strongest item under every card: never shown, however strong.
    assert reasons([_result(f"i{n}", ("mug", 0.9), ("jar", 0.1)) for n in range(4)]) == [""] * 4
    # A tie at the top names an item by chance: not shown.
    assert reasons([_result("i1", ("mug", 0.4), ("jar", 0.4)), _result("i2", ("cup", 0.6), ("jar", 0.4))]) == [
        "", "Because you bought Cup"]  # fmt: skip
    # An item that is the strongest of most results says nothing unless the model looked mostly at it.
    most = [_result(f"i{n}", ("mug", 0.3), ("jar", 0.2)) for n in range(4)]
    most += [_result("i5", ("heart candle holder", 0.35), ("jar", 0.2)), _result("i6", ("mug", 0.7), ("jar", 0.1))]
    assert reasons(most) == ["", "", "", "", "Because you bought Heart Candle Holder", "Because you bought Mug"]
    assert reasons([_result("i1")]) == [""]


# ---------------------------------------------------------------- screenshots

#: Pixels (on an 8x smaller gray copy, where text is a blur) that may differ by more than PIXEL_STEP gray levels:
#: fonts and their hinting differ between machines; a changed layout, colour scheme or card moves far more.
PIXEL_STEP, MAX_CHANGED = 32, 0.12


def _layout(driver) -> dict:
    """What must match exactly: cards per list, grid columns, and that the grid spans the width of the page."""
    return driver.execute_script("""
        const boxes = (sel) => [...document.querySelectorAll(sel)].map((e) => e.getBoundingClientRect());
        const cards = boxes('#results .card'), row = boxes('#recommendations .card');
        const main = document.querySelector('main').getBoundingClientRect();
        const right = Math.max(...cards.map((b) => b.right));
        const columns = (bs) => new Set(bs.map((b) => Math.round(b.left))).size;
        return {cards: cards.length, row_cards: row.length, columns: columns(cards), row_columns: columns(row),
                full_width: right > main.right - 60, titles_in_caps: [...document.querySelectorAll('.card .title')]
                  .filter((e) => e.textContent === e.textContent.toUpperCase()).length};
    """)  # fmt: skip


def _changed(reference: Path, shot: Path) -> float:
    """The share of pixels that differ by more than PIXEL_STEP between two screenshots, compared 8x smaller."""
    import numpy as np
    from PIL import Image

    a, b = (Image.open(p).convert("L") for p in (reference, shot))
    # Browsers of other releases keep a few pixels more or less of the window for themselves: the common part.
    assert abs(a.width - b.width) <= 32 and abs(a.height - b.height) <= 160, f"{shot}: {b.size}, reference {a.size}"
    box = (0, 0, min(a.width, b.width), min(a.height, b.height))
    a, b = a.crop(box), b.crop(box)
    small = (a.width // 8, a.height // 8)
    a, b = (np.asarray(i.resize(small, Image.Resampling.BOX), dtype=np.int16) for i in (a, b))
    return float((np.abs(a - b) > PIXEL_STEP).mean())


@pytest.mark.parametrize(("name", "width", "height"), [("wide", 1280, 900), ("narrow", 420, 900)])
def test_screenshots_match_the_references(stack, browser, request, tmp_path, name, width, height):
    browser.set_window_size(width, height)
    _open(browser, stack.url + "/" + HEARTS)
    browser.execute_script("document.activeElement.blur()")  # no caret blinking into the picture
    shot, reference = tmp_path / f"storefront-{name}.png", SHOTS / f"storefront-{name}.png"
    layout_file = SHOTS / f"storefront-{name}.json"
    assert browser.save_screenshot(str(shot))
    layout = _layout(browser)
    assert layout["titles_in_caps"] == 0 and layout["full_width"]
    if request.config.getoption("--update-screenshots"):
        SHOTS.mkdir(exist_ok=True)
        shutil.copy(shot, reference)
        layout_file.write_text(json.dumps(layout, indent=1, sort_keys=True) + "\n")
    assert layout == json.loads(layout_file.read_text()), f"the page's layout changed ({shot}): see the module doc"
    changed = _changed(reference, shot)
    assert changed <= MAX_CHANGED, f"{changed:.1%} of {shot} differs from {reference}: see the module doc"


def test_the_screenshot_check_sees_another_page(stack, browser, tmp_path):
    """The pixel check is loose enough for fonts, not so loose that another page passes (other products in the same
    layout do: the layout features catch the rest)."""
    _open(browser, stack.url + "/")
    shot = tmp_path / "other.png"
    browser.save_screenshot(str(shot))
    assert _changed(SHOTS / "storefront-wide.png", shot) > MAX_CHANGED
