"""The widget in a real headless Chromium: a host page on another origin with the script snippet, and one with the iframe."""

import pytest

from browser import MISSING, chromium, host_pages, running_server, static_site
from fixtures import FakeEncoder
from similar.build import build_index
from similar.server.app import create_app

pytestmark = pytest.mark.browser

missing = MISSING


@pytest.mark.skipif(missing is not None, reason=missing or "")
def test_script_and_iframe_snippets_render_the_list(tmp_path, corpus_file):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    build_index([corpus_file], tmp_path / "ix", model=FakeEncoder(), progress=False)
    app = create_app(tmp_path / "ix")
    expected = [n.title for n in app.state.holder.index.similar("1000", n=5).neighbors]
    with running_server(app) as api:
        host_pages(tmp_path / "site", api, "1000")
        with static_site(tmp_path / "site") as site, chromium(tmp_path) as driver:
            driver.get(f"{site}/script.html")
            WebDriverWait(driver, 15).until(
                lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-similar-pmid] li")) == 5
            )
            titles = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "[data-similar-pmid] li a")]
            assert titles == expected
            links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "[data-similar-pmid] li a")]
            assert all(h.startswith("https://pubmed.ncbi.nlm.nih.gov/") for h in links)

            driver.get(f"{site}/iframe.html")
            driver.switch_to.frame(driver.find_element(By.ID, "w"))
            WebDriverWait(driver, 15).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "li a")) == 5)
            assert [a.text for a in driver.find_elements(By.CSS_SELECTOR, "li a")] == expected


@pytest.mark.skipif(missing is not None, reason=missing or "")
def test_docs_render_offline_from_local_assets(tmp_path, corpus_file):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    build_index([corpus_file], tmp_path / "ix", model=FakeEncoder(), progress=False)
    with running_server(create_app(tmp_path / "ix")) as api, chromium(tmp_path) as driver:
        driver.get(f"{api}/docs")
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock"))
        assert "similar" in driver.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
        paths = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")]
        assert "/v1/papers/{pmid}/similar" in [p.replace("\u200b", "") for p in paths]
        loaded = driver.execute_script(
            "return performance.getEntriesByType('resource').map(function (e) { return e.name; })"
        )
        assert loaded and all(url.startswith(api) for url in loaded), loaded  # nothing from a CDN
