"""Filters, versions and MEDLINE details through the CLI, HTTP and the widget (page, script and a real Chromium)."""

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from browser import CHROMEDRIVER, CHROMIUM, chromium, running_server, static_site
from fixtures import write_jsonl
from medline_xml import write_medline
from similar.build import build_index
from similar.cli import main
from similar.index import Index
from similar.server.app import create_app
from similar.server.pages import WIDGET_JS

EVIL = {
    "pmid": "66",
    "title": "Aspirin cardiac infarction <script>alert(1)</script>",
    "abstract": "aspirin cardiac infarction heart",
    "journal": "J <i>x</i>",
    "year": 2019,
    "authors": ["<b>Bad</b> A"],
    "publication_types": ["Retracted Publication"],
}


@pytest.fixture
def ix(tmp_path, fake_encoder):
    build_index(
        [write_medline(tmp_path / "m.xml"), write_jsonl(tmp_path / "evil.jsonl", [EVIL])],
        tmp_path / "ix",
        model=fake_encoder,
        progress=False,
    )
    return tmp_path / "ix"


@pytest.fixture
def client(ix):
    return TestClient(create_app(ix, Index.open(ix)))


def _cli(ix, *args):
    return CliRunner().invoke(main, ["query", *args, "--index", str(ix)])


def test_cli_filters_and_their_note(ix):
    out = _cli(ix, "2001", "--type", "review", "--type", "clinical-trial", "--json", "-n", "5")
    assert out.exit_code == 0, out.output
    lines = out.output.strip().splitlines()
    assert lines[0] == "note: only 2 of the 5 papers asked for pass the filters (type review or clinical-trial)"
    assert {json.loads(x)["pmid"] for x in lines[1:]} == {"2002", "2003"}
    row = json.loads(lines[1])
    assert set(row) >= {"authors", "authors_short", "doi", "pmc", "types", "language", "retracted", "versions"}


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--language", "english"],
            "error: language must be a 3-letter MEDLINE code such as eng, fre, ger; got 'english'",
        ),
        (["--mesh", "D12"], "error: MeSH UI 'D12' is malformed: D followed by 6 to 9 digits, e.g. D006801"),
        (["--min-year", "2010", "--max-year", "2000"], "error: min_year 2010 is after max_year 2000"),
    ],
)
def test_cli_bad_filters_are_one_line_errors(ix, args, message):
    out = _cli(ix, "2001", *args)
    assert out.exit_code == 1 and out.output == message + "\n"


def test_cli_table_shows_authors_versions_and_the_retracted_mark(ix):
    out = _cli(ix, "2001", "-n", "20")
    assert out.exit_code == 0
    assert "its other versions, not listed: PMID 2013" in out.output
    assert "[RETRACTED]" in next(line for line in out.output.splitlines() if " 2004 " in line)
    assert "Gray B, Hill C · Trials in Cardiology  (also PMID 2011)" in out.output
    everything = _cli(ix, "2001", "-n", "20", "--all-versions", "--exclude-retracted", "--json")
    pmids = [json.loads(x)["pmid"] for x in everything.output.splitlines() if not x.startswith("note: ")]
    assert "2013" in pmids and "2011" in pmids and "2004" not in pmids and "66" not in pmids


def test_http_filters_paper_details_and_errors(client):
    body = client.get("/v1/papers/2001/similar?n=10&species=animals&language=fre").json()
    assert [n["pmid"] for n in body["neighbors"]] == ["2010"]
    assert body["notes"] == ["only 1 of the 10 papers asked for pass the filters (language fre; animals)"]
    assert body["filters"] == {"language": ["fre"], "species": "animals"}
    body = client.get("/v1/papers/2001/similar?n=10&mesh=D009203").json()
    assert [n["pmid"] for n in body["neighbors"]] == ["2003"] and body["neighbors"][0]["versions"] == []
    body = client.get("/v1/papers/2001/similar?n=20&exclude_retracted=true").json()
    assert not any(n["retracted"] for n in body["neighbors"]) and body["seed"]["versions"] == ["2013"]
    paper = client.get("/v1/papers/2003").json()
    assert (
        paper["authors_short"] == "Gray B, Hill C" and paper["doi"] == "10.1000/t2003" and paper["retracted"] is False
    )
    bad = client.get("/v1/papers/2001/similar?language=english")
    assert (
        bad.status_code == 422
        and bad.json()["error"] == "language must be a 3-letter MEDLINE code such as eng, fre, ger; got 'english'"
    )
    assert client.get("/v1/papers/2001/similar?species=plants").json()["error"].startswith("invalid species")
    rec = client.post(
        "/v1/recommendations", json={"positive": ["2001", "2002"], "n": 5, "type": ["clinical-trial"]}
    ).json()
    assert [n["pmid"] for n in rec["neighbors"]] == ["2003"] and rec["notes"]
    rec = client.get("/v1/recommendations?positive=2001,2002&n=20").json()
    assert "2013" not in [n["pmid"] for n in rec["neighbors"]]  # a positive's own versions are never listed
    rec = client.get("/v1/recommendations?positive=2001,2002&n=20&all_versions=true").json()
    assert "2013" in [n["pmid"] for n in rec["neighbors"]]


def test_widget_page_shows_authors_journal_year_and_an_escaped_retracted_mark(client):
    page = client.get("/widget/2001?n=20").text
    assert "Gray B, Hill C · Trials in Cardiology · 2003 · PMID 2003" in page
    item = page[page.index('data-pmid="2004"') :].split("</li>")[0]
    assert '<span class="retracted">Retracted</span>' in item
    evil = page[page.index('data-pmid="66"') :].split("</li>")[0]
    assert (
        "&lt;b&gt;Bad&lt;/b&gt; A · J &lt;i&gt;x&lt;/i&gt; · 2019" in evil
        and "<script>" not in evil
        and "<b>" not in evil
    )
    assert '<span class="retracted">Retracted</span>' in evil
    filtered = client.get("/widget/2001?n=20&type=review").text
    assert filtered.count("<li ") == 1 and 'data-pmid="2002"' in filtered
    assert 'getAttribute("data-similar-" + f[0])' in WIDGET_JS and "exclude_retracted=true" in WIDGET_JS


browser_missing = None if CHROMIUM and CHROMEDRIVER else "Debian's chromium and chromium-driver are not installed"


@pytest.mark.browser
@pytest.mark.skipif(browser_missing is not None, reason=browser_missing or "")
def test_the_script_widget_in_chromium_shows_bylines_marks_and_takes_filter_attributes(tmp_path, ix):
    pytest.importorskip("selenium")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    app = create_app(ix)
    with running_server(app) as api:
        site = tmp_path / "site"
        site.mkdir()
        (site / "page.html").write_text(
            "<!doctype html><html><body>"
            '<div id="all" data-similar-pmid="2001" data-similar-n="20"></div>'
            '<div id="some" data-similar-pmid="2001" data-similar-n="20" data-similar-type="review;clinical-trial" '
            "data-similar-exclude-retracted></div>"
            f'<script src="{api}/widget.js" async></script></body></html>'
        )
        with static_site(site) as host, chromium(tmp_path) as driver:
            driver.get(f"{host}/page.html")
            WebDriverWait(driver, 15).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#some li") and d.find_elements(By.CSS_SELECTOR, "#all li")
            )
            some = [li.get_attribute("data-pmid") for li in driver.find_elements(By.CSS_SELECTOR, "#some li")]
            assert sorted(some) == ["2002", "2003"]
            item = driver.find_element(By.CSS_SELECTOR, '#all li[data-pmid="2003"]')
            assert "Gray B, Hill C · Trials in Cardiology · 2003 · PMID 2003" in item.text
            retracted = driver.find_element(By.CSS_SELECTOR, '#all li[data-pmid="2004"] .retracted')
            assert retracted.text == "Retracted"
            evil = driver.find_element(By.CSS_SELECTOR, '#all li[data-pmid="66"]')
            assert "<b>Bad</b> A · J <i>x</i> · 2019" in evil.text and not evil.find_elements(
                By.CSS_SELECTOR, "b, i, script"
            )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"types": "nosuchtype"},
            "unknown publication type 'nosuchtype' (nearest: journal-article); types in index ix: journal-article, "
            "preprint, published-erratum, randomized-controlled-trial, retracted-publication, "
            "retraction-of-publication, review",
        ),
        ({"types": "reviw"}, "unknown publication type 'reviw' (nearest: review); types in index ix: "),
        ({"types": "meta-analysis"}, "no paper in index ix has publication type meta-analysis; types in index ix: "),
        ({"language": "xyz"}, "unknown language code 'xyz' (nearest: "),
        ({"language": "spa"}, "no paper in index ix is in language spa; languages in index ix: eng, fre"),
        (
            {"mesh": "Myocardial Infarctio"},
            "MeSH 'Myocardial Infarctio' is on no paper in index ix; nearest names present: Myocardial Infarction",
        ),
        ({"mesh": "D000001"}, "MeSH 'D000001' is on no paper in index ix"),
        (
            {"journal": "trials in cardiolgy"},
            "journal 'trials in cardiolgy' has no paper in index ix; nearest present: Trials in Cardiology",
        ),
        ({"types": ["review", "trial"], "mesh": "humans", "journal": "HEART JOURNAL", "language": "fre"}, None),
        ({"species": "animals", "min_year": 1900}, None),
    ],
)
def test_filters_that_cannot_match_say_so_with_the_nearest_values(ix, kwargs, message):
    from similar.errors import SimilarError
    from similar.filters import Filters, check_against

    index = Index.open(ix)
    if message is None:
        check_against(index.facts, Filters.of(**kwargs), index.path.name, live=index.live)
        return
    with pytest.raises(SimilarError) as info:
        check_against(index.facts, Filters.of(**kwargs), index.path.name, live=index.live)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_a_check_tag_no_paper_carries_is_an_error(tmp_path, fake_encoder):
    from similar.errors import SimilarError
    from similar.filters import Filters, check_against

    build_index([write_jsonl(tmp_path / "a.jsonl", [EVIL])], tmp_path / "ix", model=fake_encoder, progress=False)
    index = Index.open(tmp_path / "ix")
    with pytest.raises(
        SimilarError, match=r"^no paper in index ix carries the MeSH check tag Humans \(index ix records no MeSH\)$"
    ):
        check_against(index.facts, Filters.of(species="humans"), index.path.name, live=index.live)


def test_cli_filters_that_cannot_match_fail_before_ranking(ix, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("ranked although the filters could not match")

    monkeypatch.setattr(Index, "similar", never)
    out = _cli(ix, "2001", "--type", "reviw")
    assert out.exit_code == 1 and out.output.startswith(
        "error: unknown publication type 'reviw' (nearest: review); types in index ix: journal-article, "
    )
    out = _cli(ix, "2001", "--journal", "Trials in Cardiolgy")
    assert out.exit_code == 1 and out.output == (
        "error: journal 'Trials in Cardiolgy' has no paper in index ix; "
        "nearest present: Trials in Cardiology, Cardiology Today, Revue Cardiaque\n"
    )
