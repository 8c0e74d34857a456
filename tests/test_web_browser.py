"""The web pages in a real headless Chromium: content, map, links, buttons, the basket, the embed panel, escaping, no
CSP violation, a phone's width, and axe-core's check (no serious or critical violation, light and dark)."""

import pytest

from browser import MISSING, axe_core, chromium, running_server
from fixtures import HOSTILE, HOSTILE_TITLE, FakeEncoder, web_corpus, write_jsonl
from similar.build import build_index
from similar.server.app import create_app

pytestmark = pytest.mark.browser

missing = MISSING

LONG = "1050"  # a paper whose title is one long unbroken token
LABEL_PX = """var svg = document.querySelector("svg.map"), k = svg.getScreenCTM().a;
return Array.prototype.map.call(svg.querySelectorAll("text"), function (t) { return parseFloat(getComputedStyle(t).fontSize) * k; });"""
BASKET = "return JSON.parse(localStorage.getItem('similar-basket') || 'null');"
AXE_RUN = """var done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ["violations"]}).then(function (r) {
  done(r.violations.map(function (v) {
    return {id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(function (n) { return n.target.join(" "); })};
  }));
}, function (e) { done([{id: "axe-error", impact: "critical", help: String(e), nodes: []}]); });"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.setattr("similar.index.queries.load_index_model", lambda spec: FakeEncoder())
    rows = web_corpus() + [{"pmid": LONG, "title": "Cardiac " + "x" * 200 + " heart", "abstract": "cardiac heart"}]
    build_index([write_jsonl(tmp_path / "c.jsonl", rows)], tmp_path / "ix", model=FakeEncoder(), progress=False)
    app = create_app(tmp_path / "ix")
    with running_server(app) as url, chromium(tmp_path) as driver:
        driver.set_script_timeout(60)
        yield app, url, driver


def _wait(driver, check, seconds=15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(check)


def _csp_reports(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


@pytest.mark.skipif(missing is not None, reason=missing or "")
def test_pages_render_links_and_buttons_work(site):
    from selenium.webdriver.common.by import By

    app, url, driver = site
    index = app.state.holder.index
    css = lambda sel: driver.find_elements(By.CSS_SELECTOR, sel)
    driver.get(f"{url}/")
    box = driver.find_element(By.ID, "q")
    box.send_keys("1000")
    driver.find_element(By.CSS_SELECTOR, ".search button[type=submit]").click()
    _wait(driver, lambda d: len(css("ol.papers > li")) == 10)
    assert [e.get_attribute("data-pmid") for e in css("ol.papers > li")] == [
        n.pmid for n in index.similar("1000", n=10).neighbors
    ]
    css("ol.papers > li a.title")[0].click()  # a result opens its paper page
    first = index.similar("1000", n=1).neighbors[0]
    _wait(driver, lambda d: d.current_url.endswith(f"/papers/{first.pmid}"))
    assert driver.find_element(By.TAG_NAME, "h1").text == first.title

    driver.get(f"{url}/papers/1000")
    nodes = css("svg.map a[data-pmid]")
    assert 9 <= len(nodes) <= 30 and nodes[0].get_attribute("data-pmid") == "1000"
    target = nodes[3].get_attribute("data-pmid")
    nodes[3].click()  # a node opens that paper
    _wait(driver, lambda d: d.current_url.endswith(f"/papers/{target}"))

    from selenium.webdriver.common.keys import Keys

    driver.get(f"{url}/papers/1000")  # the keyboard: a map node takes focus, Enter opens it
    node = css("svg.map a[data-pmid]")[1]
    chosen = node.get_attribute("data-pmid")
    driver.execute_script("arguments[0].focus()", node)
    assert driver.switch_to.active_element == node
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    _wait(driver, lambda d: d.current_url.endswith(f"/papers/{chosen}"))
    assert _csp_reports(driver) == []


@pytest.mark.skipif(missing is not None, reason=missing or "")
def test_basket_collection_and_embed_panel(site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    app, url, driver = site
    css = lambda sel: driver.find_elements(By.CSS_SELECTOR, sel)
    driver.get(f"{url}/papers/1000")
    driver.find_element(By.CSS_SELECTOR, "article [data-basket-add='1000']").click()
    unlike = css("ol.papers > li [data-basket-unlike]")[0]
    negative = unlike.get_attribute("data-basket-unlike")
    unlike.click()
    _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "[data-basket-count]").text == "2")
    assert unlike.get_attribute("aria-pressed") == "true"
    driver.get(f"{url}/")  # kept in the browser
    link = driver.find_element(By.ID, "basket-link")
    assert link.get_attribute("href") == f"{url}/collection?positive=1000&negative={negative}"
    link.click()
    _wait(driver, lambda d: len(css("ol.papers > li")) == 10)
    listed = [e.get_attribute("data-pmid") for e in css("ol.papers > li")]
    assert "1000" not in listed and negative not in listed
    assert driver.find_element(By.ID, "share").get_attribute("href") == driver.current_url

    driver.get(f"{url}/papers/1000")
    assert driver.find_element(By.CSS_SELECTOR, "[data-no-js]").is_displayed() is False  # JS updates live
    Select(driver.find_element(By.NAME, "theme")).select_by_value("dark")
    count = driver.find_element(By.NAME, "count")
    count.clear()
    count.send_keys("3")
    _wait(driver, lambda d: "n=3&theme=dark" in d.find_element(By.ID, "preview").get_attribute("src"))
    assert 'data-similar-theme="dark"' in driver.find_element(By.ID, "snippet").text
    driver.find_element(By.CSS_SELECTOR, "input[name=embed][value=iframe]").click()
    assert driver.find_element(By.ID, "snippet").text.startswith(f'<iframe src="{url}/widget/1000?n=3&amp;theme=dark"')
    driver.find_element(By.ID, "copy").click()
    _wait(driver, lambda d: d.find_element(By.ID, "copied").text in ("Copied", "Select the snippet and copy it"))
    driver.switch_to.frame(driver.find_element(By.ID, "preview"))
    _wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "li a")) == 3)
    driver.switch_to.default_content()
    assert _csp_reports(driver) == []


@pytest.mark.skipif(missing is not None, reason=missing or "")
def test_hostile_record_is_text_not_markup(site):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    _, url, driver = site
    for page in (f"/papers/{HOSTILE}", "/papers/1000", f"/collection?positive={HOSTILE}"):
        driver.get(url + page)
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text
        assert driver.find_elements(By.CSS_SELECTOR, "main script, main img") == []
    driver.get(f"{url}/papers/{HOSTILE}")
    assert driver.find_element(By.TAG_NAME, "h1").text == HOSTILE_TITLE


@pytest.mark.skipif(missing is not None, reason=missing or "")
def test_axe_finds_no_serious_violation_light_dark_and_phone(site):
    axe, why = axe_core()
    if axe is None:
        pytest.skip(why)
    _, url, driver = site
    source = axe.read_text()
    pages = [
        "/",
        "/search?q=1000",
        "/papers/1000",
        "/papers/1000?why=1",
        "/collection?positive=1000,1004&negative=1001",
    ]
    pages.append("/papers/4242")  # an error page
    found = {}
    for scheme in ("light", "dark"):
        driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
        )
        for page in pages:
            driver.get(url + page)
            driver.execute_script(source)
            bad = [v for v in driver.execute_async_script(AXE_RUN) if v["impact"] in ("serious", "critical")]
            if bad:
                found[f"{scheme} {page}"] = bad
    assert found == {}
    driver.set_window_size(390, 844)  # a phone: nothing wider than the screen
    for page in pages[1:3]:
        driver.get(url + page)
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"), page


@pytest.mark.skipif(missing is not None, reason=missing or "")
def test_without_javascript_script_only_controls_are_not_displayed(site):
    from selenium.webdriver.common.by import By

    _, url, driver = site
    css = lambda sel: driver.find_elements(By.CSS_SELECTOR, sel)
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    for page in ("/papers/1000", "/search?q=1000", "/collection?positive=1000"):
        driver.get(url + page)
        baskets = css(".basket")
        assert len(baskets) >= 10 and not any(b.is_displayed() for b in baskets), page
        assert not any(b.is_displayed() for b in css("button[data-basket-add], button[data-copy]")), page
    driver.get(f"{url}/papers/1000")
    assert driver.find_element(By.CSS_SELECTOR, "[data-no-js]").is_displayed()  # the embed form's Update button
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


@pytest.mark.skipif(missing is not None, reason=missing or "")
def test_map_labels_are_readable_and_long_titles_wrap(site):
    from selenium.webdriver.common.by import By

    _, url, driver = site
    for width, height in ((900, 900), (375, 812)):
        driver.set_window_size(width, height)
        driver.get(f"{url}/papers/1000")
        nodes = driver.find_elements(By.CSS_SELECTOR, "svg.map a[data-pmid]")
        sizes = driver.execute_script(LABEL_PX)
        assert len(sizes) == len(nodes) >= 9 and min(sizes) >= 11, (width, min(sizes))
        listed = driver.find_elements(By.CSS_SELECTOR, ".map-list a")
        assert [a.get_attribute("href") for a in listed] == [
            f"{url}/papers/{a.get_attribute('data-pmid')}" for a in nodes
        ]
        for page in (f"/papers/{LONG}", "/search?q=cardiac+heart"):
            driver.get(url + page)
            assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"), page
    driver.set_window_size(900, 900)


@pytest.mark.skipif(missing is not None, reason=missing or "")
def test_a_collection_page_is_the_basket(site):
    from selenium.webdriver.common.by import By

    _, url, driver = site
    driver.get(f"{url}/collection?positive=1000,1004&negative=1001")
    _wait(driver, lambda d: d.execute_script(BASKET) == {"positive": ["1000", "1004"], "negative": ["1001"]})
    driver.find_element(By.CSS_SELECTOR, ".seeds li[data-pmid='1004']").find_element(By.LINK_TEXT, "remove").click()
    _wait(driver, lambda d: d.execute_script(BASKET) == {"positive": ["1000"], "negative": ["1001"]})
    assert driver.find_element(By.CSS_SELECTOR, "[data-basket-count]").text == "2"
    driver.find_element(By.CSS_SELECTOR, ".seeds li[data-pmid='1000']").find_element(By.LINK_TEXT, "remove").click()
    _wait(driver, lambda d: d.execute_script(BASKET) == {"positive": [], "negative": ["1001"]})
    assert (
        driver.find_element(By.CSS_SELECTOR, "p.notice").text == "Add at least one paper you like; 1 marked not-like."
    )
    assert driver.find_element(By.ID, "basket-link").get_attribute("href") == f"{url}/collection?negative=1001"
