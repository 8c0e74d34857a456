"""The web pages against an independent replay's findings (issue #23): exports and links keep the filters, the embed
snippet never echoes an untrusted Host, pages answer unknown addresses and methods with a page, nothing to search for
and not-a-PMID are one line, repeated parameters, the map's labels, legend, list and versions, and the minor ones."""

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from fixtures import FakeEncoder, web_corpus, write_jsonl
from similar.build import build_index
from similar.collection import recommend_collection
from similar.filters import Filters
from similar.server import web, webmap
from similar.server.app import create_app


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setattr("similar.index.queries.load_index_model", lambda spec: FakeEncoder())
    rows = web_corpus()
    rows.append({**rows[1], "pmid": "1041"})  # another version of 1001: the same title and abstract
    rows.append({**rows[0], "pmid": "1040"})  # another version of 1000 (and the same DOI)
    rows[7]["journal"] = ""  # a paper with no journal
    rows[9]["title"] = "Study " + "x" * 300 + " of heart failure"  # one long unbroken token
    dest = tmp_path / "index" / "web"
    build_index([write_jsonl(tmp_path / "c.jsonl", rows)], dest, model=FakeEncoder(), progress=False)
    return create_app(dest)


@pytest.fixture
def client(app):
    return TestClient(app, follow_redirects=False)


def listed(page: str) -> list[str]:
    part = page.split('<ol class="papers">', 1)[1].split("</ol>", 1)[0]
    return re.findall(r'<li data-pmid="([0-9]+)"', part)


def line(page: str) -> list[str]:
    return re.findall(r'<p class="(?:error|notice)" role="(?:alert|status)">(.*?)</p>', page)


def hrefs(page: str, text: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(rf'<a href="([^"]*)"[^>]*>{text}</a>', page)]


# --- 1. exports and the share link are the list on the screen, filters and all ----------------------------------------

FILTERS = "min_year=1995&max_year=2007&exclude_retracted=on&n=7"
API_FILTERS = "min_year=1995&max_year=2007&exclude_retracted=true"


@pytest.mark.parametrize(
    "url,prefix",
    [
        (f"/papers/1002?{FILTERS}", "/v1/papers/1002/similar?"),
        (f"/collection?positive=1002,1006&negative=1003&{FILTERS}", "/v1/recommendations?"),
        ("/papers/1002?type=journal-article", "/v1/papers/1002/similar?"),
    ],
)
def test_every_export_is_the_list_on_the_page(client, url, prefix):
    page = client.get(url).text
    shown = listed(page)
    assert shown
    for fmt in ("RIS", "BibTeX", "CSL-JSON", "CSV"):
        (href,) = hrefs(page, fmt)
        assert href.startswith(prefix), href
        assert (API_FILTERS in href) if "min_year" in url else ("type=journal-article" in href), href
    (href,) = hrefs(page, "CSV")
    exported = list(csv.DictReader(io.StringIO(client.get(href).text)))
    assert [r["pmid"] for r in exported] == shown


def test_collection_links_keep_the_filters(client):
    page = client.get(f"/collection?positive=1002,1006&negative=1003&type=&{FILTERS}").text
    keep = "min_year=1995&max_year=2007&exclude_retracted=on&n=7"
    (share,) = re.findall(r'<a id="share" href="([^"]*)"', page)
    assert share.replace("&amp;", "&") == f"/collection?positive=1002%2C1006&negative=1003&{keep}"
    assert hrefs(page, "remove")[0] == f"/collection?positive=1006&negative=1003&{keep}"
    assert hrefs(page, "not like this")[0] == f"/collection?positive=1006&negative=1003%2C1002&{keep}"
    shared = client.get(share.replace("&amp;", "&")).text
    assert listed(shared) == listed(page) and len(listed(page)) == 7
    typed = client.get("/collection?positive=1002&type=journal-article&type=review").text
    (share,) = re.findall(r'<a id="share" href="([^"]*)"', typed)
    assert share == "/collection?positive=1002&amp;type=journal-article&amp;type=review"


# --- 2. the embed snippet names the configured address or the server's own, never another Host ---------------------

EMBED = [
    # Host header, SIMILAR_PUBLIC_URL, X-Forwarded-Proto, the address in the snippet
    ("testserver", None, None, "http://testserver"),  # the address the connection came in on
    ("evil.example", None, None, web.PLACEHOLDER),
    ("testserver:8080", None, None, web.PLACEHOLDER),
    ('x"><script>alert(1)</script>', None, None, web.PLACEHOLDER),
    ("testserver", None, "https", "http://testserver"),  # a forwarded scheme is a client's word
    ("evil.example", "https://similar.example.org/", None, "https://similar.example.org"),
    ("testserver", "http://10.0.0.5:8000/similar", "https", "http://10.0.0.5:8000/similar"),
]


@pytest.mark.parametrize("host,public,proto,base", EMBED)
def test_embed_snippets_never_echo_an_untrusted_host(app, monkeypatch, host, public, proto, base):
    if public:
        monkeypatch.setenv("SIMILAR_PUBLIC_URL", public)
    headers = {"Host": host, **({"X-Forwarded-Proto": proto} if proto else {})}
    client = TestClient(app)
    page = client.get("/papers/1000", headers=headers).text
    (snippet,) = re.findall(r'<code id="snippet">(.*?)</code>', page, re.S)
    assert str(escape(f'<script src="{base}/widget.js" async></script>')) in snippet
    assert ('id="public-url"' in page) == (base == web.PLACEHOLDER)
    assert "evil" not in snippet and "<script>alert" not in page and "https://testserver" not in page
    embed = client.get("/embed/1000", headers=headers).text
    assert f"{base}/widget.js" in embed and "evil" not in embed
    assert ('id="public-url"' in embed) == (base == web.PLACEHOLDER)
    iframe = client.get("/papers/1000?embed=iframe", headers=headers).text
    assert str(escape(f'<iframe src="{base}/widget/1000?n=5&amp;theme=light"')) in iframe


# --- 4, 5, 6, 7, 10: bad addresses and inputs, one line each on a page ------------------------------------------------

NO_WORDS = "There are no words to search for: give a PMID, a DOI or some text."
ALLOW = "This page answers GET and HEAD, not {}."
NOT_PMID = "{!r} is not a PubMed ID: a PMID is a number, such as 7504954."
BAD = [
    ("GET", "/nothere", 404, "There is no page at this address."),
    ("GET", "/papers/..%2F..", 404, "There is no page at this address."),
    ("GET", "/%00", 404, "There is no page at this address."),
    ("GET", "/papers/1000/x", 404, "There is no page at this address."),
    ("GET", "/static/nothere.css", 404, "There is no page at this address."),
    ("POST", "/", 405, ALLOW.format("POST")),
    ("PUT", "/papers/1000", 405, ALLOW.format("PUT")),
    ("OPTIONS", "/collection", 405, ALLOW.format("OPTIONS")),
    ("DELETE", "/search", 405, ALLOW.format("DELETE")),
    ("GET", "/search?q=%00", 422, NO_WORDS),
    ("GET", "/search?q=%E2%80%8B", 422, NO_WORDS),  # a zero-width space
    ("GET", "/search?q=%FF%FE", 422, NO_WORDS),
    ("GET", "/search?q=%C3%28%80", 422, NO_WORDS),  # invalid UTF-8
    ("GET", "/search?q=%E2%80%AE%1b", 422, NO_WORDS),
    ("GET", "/search?q=doi:", 422, "'doi:' is not a DOI: a DOI looks like 10.1234/abcd."),
    ("GET", "/search?q=10.", 422, "'10.' is not a DOI: a DOI looks like 10.1234/abcd."),
    ("GET", "/search?q=https://doi.org/", 422, "'https://doi.org/' is not a DOI: a DOI looks like 10.1234/abcd."),
    ("GET", "/search?q=PMID", 422, NOT_PMID.format("PMID")),
    ("GET", "/search?q=pmid:abc", 422, NOT_PMID.format("pmid:abc")),
    ("GET", "/search?q=-5", 422, NOT_PMID.format("-5")),
    ("GET", "/search?q=" + "1" * 30, 422, NOT_PMID.format("1" * 30)),
    ("GET", "/search?q=0", 422, NOT_PMID.format("0")),
    ("GET", "/search?q=https://pubmed.ncbi.nlm.nih.gov/0/", 422, NOT_PMID.format("https://pubmed.ncbi.nlm.nih.gov/0/")),
    ("GET", "/papers/0", 422, NOT_PMID.format("0")),
    ("GET", "/papers/-1", 422, NOT_PMID.format("-1")),
    ("GET", "/papers/" + "9" * 30, 422, NOT_PMID.format("9" * 30)),
    ("GET", "/search?q=a&q=b", 422, "Give one search (q), not 2."),
    (
        "GET",
        "/search?q=1000&exclude_retracted=maybe",
        422,
        "The exclude_retracted parameter must be true or false, not 'maybe'.",
    ),
    (
        "GET",
        "/collection?positive=0",
        422,
        "The positive papers must be PMIDs separated by commas, such as 7504954,8011234.",
    ),
    ("GET", "/collection?negative=1001", 200, "Add at least one paper you like; 1 marked not-like."),
    (
        "GET",
        "/collection?positive=&negative=1001&negative=1003",
        200,
        "Add at least one paper you like; 2 marked not-like.",
    ),
]


@pytest.mark.parametrize("method,url,status,message", BAD)
def test_bad_addresses_and_inputs_are_one_line_on_a_page(client, method, url, status, message):
    r = client.request(method, url)
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == web.CSP
    assert line(r.text) == [str(escape(message))]
    assert r.headers.get("allow") == ("GET, HEAD" if status == 405 else None)
    assert '<ol class="papers">' not in r.text


def test_the_api_keeps_its_json_errors_and_pages_answer_head(client):
    assert client.get("/v1/nothere").json() == {"error": "no route /v1/nothere: see /docs", "status": 404}
    assert client.post("/v1/health").headers["allow"] == "GET"
    assert client.head("/").status_code == 200 and client.head("/papers/1000").status_code == 200
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert client.get("/static/favicon.svg").text == icon.text
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in client.get("/").text


@pytest.mark.parametrize(
    "q",
    [
        "1000",
        "01000",
        "\uff11\uff10\uff10\uff10",  # full-width digits
        "https://pubmed.ncbi.nlm.nih.gov/1000/",
        "pubmed.ncbi.nlm.nih.gov/1000",
        "https://www.ncbi.nlm.nih.gov/pubmed/1000?dopt=Abstract",
        " PMID: 1000 ",
    ],
)
def test_every_form_of_a_pmid_lists_that_paper(app, client, q):
    expected = [n.pmid for n in app.state.holder.index.similar("1000", n=10).neighbors]
    r = client.get("/search", params={"q": q})
    assert r.status_code == 200 and listed(r.text) == expected and "(PMID match, PMID 1000)" in r.text


@pytest.mark.parametrize(
    "url,location",
    [
        ("/papers/01000", "/papers/1000"),
        ("/papers/0001000?why=1&type=review", "/papers/1000?why=1&type=review"),
        ("/papers/%EF%BC%91%EF%BC%90%EF%BC%90%EF%BC%90", "/papers/1000"),
    ],
)
def test_a_paper_has_one_address(client, url, location):
    r = client.get(url)
    assert r.status_code == 308 and r.headers["location"] == location


def test_spaces_only_is_the_home_page(client):
    r = client.get("/search?q=%20%20")
    assert r.status_code == 200 and "<title>Search · similar</title>" in r.text and line(r.text) == []


@pytest.mark.parametrize(
    "query",
    [
        "positive=1002&positive=1006&negative=1003",
        "positive=1002,1006&negative=1003",
        "positive=1002&positive=1006,1002&negative=1003",
        "positive=1002&negative=1003&positive=1006",
    ],
)
def test_repeated_and_comma_separated_seeds_are_all_kept(app, client, query):
    page = client.get(f"/collection?{query}").text
    expected = recommend_collection(app.state.holder.index, ["1002", "1006"], ["1003"], n=10)
    assert listed(page) == [n.pmid for n in expected.neighbors]
    assert '<a id="share" href="/collection?positive=1002%2C1006&amp;negative=1003">' in page
    assert 'data-positive="1002,1006" data-negative="1003"' in page  # what the script keeps as the basket


# --- 8. the map: one node per work, a label each, a legend, the papers as a list -----------------------------------


def test_map_folds_versions_labels_every_node_and_lists_its_papers(app, client):
    index = app.state.holder.index
    result = index.similar("1000", n=10)
    drawn = webmap.neighbourhood(index, result)
    pmids = [n.pmid for n in drawn.nodes]
    works = [int(index.groups[index.row(p)]) for p in pmids]
    assert "1040" not in pmids and len(works) == len(set(works)) and not {"1001", "1041"} <= set(pmids)
    for n in drawn.nodes:
        short = str(n.year) if n.year else n.pmid
        assert n.label == (f"{n.rank} · {short}" if n.hop == 1 else short), n
    svg_part = client.get("/papers/1000").text.split('<svg class="map"', 1)[1]
    svg, after = svg_part.split("</svg>", 1)[0], svg_part.split('<ul class="legend"', 1)[1]
    assert re.findall(r"<text [^>]*>([^<]*)</text>", svg) == [str(escape(n.label)) for n in drawn.nodes]
    assert "larger: more similar" in after and "a line: one paper has the other among the first 5" in after
    items = after.split('<ol class="map-list"', 1)[1].split("</ol>", 1)[0]
    assert re.findall(r'<li data-pmid="([0-9]+)">', items) == pmids
    assert all(f'<a href="/papers/{p}">' in items for p in pmids)


# --- 10. the minor ones ----------------------------------------------------------------------------------------------


def test_no_empty_parts_and_the_embed_count_is_clamped_as_the_script_does(client):
    page = client.get("/papers/1007").text
    assert "<bdi></bdi>" not in page and '<p class="meta"><bdi>1997</bdi></p>' in page
    for given, count in (("999", 20), ("0", 1), ("-3", 1), ("7", 7), ("abc", 5), ("", 5)):
        r = client.get("/papers/1000", params={"count": given})
        assert f'src="/widget/1000?n={count}&amp;theme=light"' in r.text, given
    filtered = client.get("/search?q=1000&exclude_retracted=yes").text
    assert listed(filtered) == [
        n.pmid
        for n in client.app.state.holder.index.similar("1000", filters=Filters.of(exclude_retracted=True)).neighbors
    ]
