"""The web pages with the fake encoder: what each page lists (against the query layer), the map against the stored
lists, escaping of hostile records, the strict CSP, and a table of bad inputs with their exact one-line answers."""

import re

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from fixtures import HOSTILE, HOSTILE_AUTHOR, HOSTILE_TITLE, FakeEncoder, web_corpus, write_jsonl
from similar.build import build_index
from similar.collection import recommend_collection
from similar.filters import Filters
from similar.server import web, webmap
from similar.server.app import create_app


@pytest.fixture
def index_dir(tmp_path, monkeypatch):
    monkeypatch.setattr("similar.index.queries.load_index_model", lambda spec: FakeEncoder())
    dest = tmp_path / "index" / "web"
    build_index([write_jsonl(tmp_path / "c.jsonl", web_corpus())], dest, model=FakeEncoder(), progress=False)
    return dest


@pytest.fixture
def app(index_dir):
    return create_app(index_dir)


@pytest.fixture
def client(app):
    return TestClient(app)


def listed(page: str) -> list[str]:
    """The PMIDs of the ranked list on a page, in order."""
    part = page.split('<ol class="papers">', 1)[1].split("</ol>", 1)[0]
    return re.findall(r'<li data-pmid="([0-9]+)"', part)


def test_search_by_pmid_doi_and_text_lists_what_the_index_answers(app, client):
    index = app.state.holder.index
    expected = [n.pmid for n in index.similar("1000", n=10).neighbors]
    for q in ("1000", "PMID: 1000", "10.1234/heart.2001", "https://doi.org/10.1234/HEART.2001"):
        r = client.get("/search", params={"q": q})
        assert r.status_code == 200 and listed(r.text) == expected, q
    text = "cardiac heart failure myocardial"
    r = client.get("/", params={"q": text})
    assert listed(r.text) == [n.pmid for n in index.similar_text(text, n=10).neighbors]
    assert "Papers similar to your text" in r.text
    filtered = client.get("/search", params={"q": "1000", "exclude_retracted": "on", "min_year": "1995"})
    assert listed(filtered.text) == [
        n.pmid for n in index.similar("1000", n=10, min_year=1995, filters=Filters.of(exclude_retracted=True)).neighbors
    ]


def test_home_without_query_is_a_search_form(client):
    r = client.get("/")
    assert r.status_code == 200 and '<form class="search" action="/search" method="get"' in r.text
    assert 'name="q"' in r.text and 'name="min_year"' in r.text and 'name="exclude_retracted"' in r.text
    assert '<option value="review">review</option>' in r.text  # the index's publication types, from its facts
    assert '<ol class="papers">' not in r.text


def test_paper_page_shows_the_paper_its_list_exports_and_embed_panel(app, client):
    index = app.state.holder.index
    r = client.get("/papers/1000")
    assert r.status_code == 200
    page = r.text
    for part in (
        "Study 0 of cardiac heart failure",
        "Smith J, Lee K",
        "Journal of Heart",
        "1990",
        "Journal Article, Review",
        "We report cardiac heart failure",
        'href="https://pubmed.ncbi.nlm.nih.gov/1000/"',
        'href="https://doi.org/10.1234/heart.2001"',
        'href="/v1/papers/1000/similar?n=10&amp;format=ris" download>RIS',
        'href="/v1/papers/1000/similar?n=10&amp;format=csl-json" download>CSL-JSON',
        "Embed this widget",
        "free, no account required",
        'src="/widget/1000?n=5&amp;theme=light"',
        str(escape('<div data-similar-pmid="1000" data-similar-n="5"></div>')),
    ):
        assert part in page, part
    assert listed(page) == [n.pmid for n in index.similar("1000", n=10).neighbors]
    dark = client.get("/papers/1000", params={"embed": "iframe", "theme": "dark", "count": "7"}).text
    assert "/widget/1000?n=7&amp;amp;theme=dark" in dark and 'src="/widget/1000?n=7&amp;theme=dark"' in dark


def test_retracted_paper_is_marked_on_its_page_and_in_lists(client):
    assert '<strong class="retracted">Retracted</strong>' in client.get("/papers/1008").text
    page = client.get("/papers/1000").text
    item = page.split('<li data-pmid="1008">', 1)[1].split("</li>", 1)[0]
    assert "Retracted" in item


def test_why_on_demand(client):
    plain = client.get("/papers/1000").text
    assert '<details class="why">' not in plain and 'href="/papers/1000?why=1#similar"' in plain
    why = client.get("/papers/1000?why=1").text
    assert why.count('<details class="why">') == 10 and "shared terms" in why and "Closest sentences" in why


def test_pages_carry_a_strict_csp_and_load_nothing_from_another_origin(client):
    for url in ("/", "/search?q=1000", "/papers/1000", "/collection?positive=1000", "/papers/4242"):
        r = client.get(url)
        assert r.headers["content-security-policy"] == web.CSP, url
        assert "'unsafe-inline'" not in web.CSP and "default-src 'none'" in web.CSP
        assert "<style" not in r.text and " style=" not in r.text.split('<pre class="snippet">')[0], url
        assert not re.search(r"<script>", r.text), url  # no inline script: the one script is /static/web.js
        for attr in re.findall(r'(?:src|action)="([^"]*)"', r.text) + re.findall(r'<link[^>]*href="([^"]*)"', r.text):
            assert attr.startswith("/"), (url, attr)
    assert client.get("/static/web.js").status_code == 200 and client.get("/static/web.css").status_code == 200


def test_hostile_titles_and_authors_are_escaped(client):
    pages = [
        client.get(u).text for u in ("/papers/1004", "/papers/1000", "/search?q=1000", "/collection?positive=1004")
    ]
    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page
    assert escape(HOSTILE_TITLE) in pages[0]
    assert escape(HOSTILE_AUTHOR) in pages[0]
    assert f'<a href="/papers/{HOSTILE}" data-pmid="{HOSTILE}"' in pages[1]  # on the map, its title escaped in <title>
    assert f"<title>{escape(HOSTILE_TITLE)} (1994)</title>" in pages[1]


def test_map_nodes_and_edges_against_the_stored_lists(app, client):
    index = app.state.holder.index
    result = index.similar("1000", n=10)
    drawn = webmap.neighbourhood(index, result)
    pmids = [n.pmid for n in drawn.nodes]
    assert pmids[0] == "1000" and pmids[1:9] == [n.pmid for n in result.neighbors[:8]]
    assert len(pmids) == len(set(pmids)) <= webmap.LIMIT
    top = {p: {n.pmid for n in index.similar(p, n=webmap.EDGE_K).neighbors} for p in pmids}  # brute force
    expected = {tuple(sorted((a, b))) for a in pmids for b in top[a] if b in pmids}
    assert {tuple(sorted((e.a.pmid, e.b.pmid))) for e in drawn.edges} == expected
    for i, a in enumerate(drawn.nodes):
        assert a.r <= a.x <= drawn.width - a.r and a.r <= a.y <= drawn.height - a.r
        for b in drawn.nodes[i + 1 :]:
            assert (a.x - b.x) ** 2 + (a.y - b.y) ** 2 > (a.r + b.r) ** 2, (a.pmid, b.pmid)
    page = client.get("/papers/1000").text
    assert re.findall(r'<a href="/papers/([0-9]+)" data-pmid="\1" class="node', page) == pmids
    assert page.split('<svg class="map"', 1)[1].split("</svg>", 1)[0].count("<line ") == len(drawn.edges)
    assert client.get("/papers/1000").text == page  # deterministic


def test_collection_page_lists_what_the_api_answers(app, client):
    index = app.state.holder.index
    r = client.get("/collection", params={"positive": "1000,1004", "negative": "1001"})
    assert r.status_code == 200
    expected = recommend_collection(index, ["1000", "1004"], ["1001"], n=10)
    assert listed(r.text) == [n.pmid for n in expected.neighbors] and expected.method == "fused"
    api = client.get("/v1/recommendations?positive=1000,1004&negative=1001&n=10").json()
    assert listed(r.text) == [n["pmid"] for n in api["neighbors"]]
    assert 'href="/collection?positive=1004&amp;negative=1001%2C1000"' in r.text  # "not like this" on 1000
    assert 'href="/collection?positive=1000%2C1004"' in r.text  # remove 1001
    assert 'href="/v1/recommendations?positive=1000%2C1004&amp;negative=1001&amp;n=10&amp;format=bibtex"' in r.text
    empty = client.get("/collection")
    assert empty.status_code == 200 and "Your collection is empty" in empty.text


@pytest.mark.parametrize(
    "url,status,message",
    [
        ("/papers/abc", 422, "'abc' is not a PubMed ID: a PMID is a number, such as 7504954."),
        ("/papers/4242", 404, "PMID 4242 is not in this index."),
        ("/search?q=4242", 404, "PMID 4242 is not in this index."),
        ("/search?q=10.9999/none", 404, "No paper with DOI 10.9999/none is in this index."),
        ("/search?q=1000&min_year=abc", 422, "The min year must be a year such as 2010, not 'abc'."),
        ("/search?q=1000&max_year=99999", 422, "The max year must be a year such as 2010, not '99999'."),
        ("/search?q=1000&min_year=2005&max_year=2000", 422, "min_year 2005 is after max_year 2000"),
        ("/search?q=1000&n=0", 422, "The number of papers must be from 1 to 50, not '0'."),
        ("/search?q=1000&species=plants", 422, "species must be humans or animals, got 'plants'"),
        (
            "/search?q=1000&language=english",
            422,
            "language must be a 3-letter MEDLINE code such as eng, fre, ger; got 'english'",
        ),
        (
            "/collection?positive=abc",
            422,
            "The positive papers must be PMIDs separated by commas, such as 7504954,8011234.",
        ),
        ("/collection?positive=1000&negative=1000", 422, "PMID 1000 is both a positive and a negative example"),
        ("/collection?positive=4242", 404, "PMID 4242 is not in this index."),
    ],
)
def test_bad_inputs_are_one_line_on_a_page(client, url, status, message):
    r = client.get(url)
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    assert re.findall(r'<p class="error" role="alert">(.*?)</p>', r.text) == [str(escape(message))]


def test_templates_and_static_files_are_package_data():
    from importlib.resources import files

    folder = files("similar.server")
    for name in ("base.html", "macros.html", "search.html", "paper.html", "collection.html", "error.html"):
        assert folder.joinpath("templates", name).is_file(), name
    for name in ("web.css", "web.js"):
        assert folder.joinpath("static", name).is_file(), name
    assert web.env.autoescape is True


@pytest.mark.parametrize("error,status", [("changed", 503), ("corrupt", 500)])
def test_an_index_changed_or_damaged_under_the_server_is_a_page_saying_unavailable(
    app, client, monkeypatch, error, status
):
    from similar.errors import CorruptIndex, IndexChanged

    exc = IndexChanged("index files changed under the server") if error == "changed" else CorruptIndex("papers.sqlite")

    def fail():
        raise exc

    monkeypatch.setattr(app.state.holder.served, "check_files", fail)
    for url in ("/", "/papers/1000", "/collection?positive=1000"):
        r = client.get(url)
        assert r.status_code == status and r.headers["content-security-policy"] == web.CSP
        assert re.findall(r'<p class="error" role="alert">(.*?)</p>', r.text) == [
            "Similar papers are unavailable right now."
        ]
