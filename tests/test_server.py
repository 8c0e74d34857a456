"""HTTP API and widget pages with the fake encoder: status codes, bodies, filters, caching, reload."""

import pytest
from fastapi.testclient import TestClient

from fixtures import FakeEncoder, make_corpus, write_jsonl
from similar.build import build_index
from similar.server.app import create_app


@pytest.fixture
def index_dir(tmp_path, corpus_file):
    dest = tmp_path / "index" / "web"
    build_index([corpus_file], dest, model=FakeEncoder(), progress=False)
    return dest


@pytest.fixture
def client(index_dir):
    return TestClient(create_app(index_dir))


def test_similar_api(client):
    r = client.get("/v1/papers/1000/similar?n=7")
    assert r.status_code == 200
    body = r.json()
    assert body["seed"]["pmid"] == "1000" and body["method"] == "hybrid" and body["build_id"]
    pmids = [n["pmid"] for n in body["neighbors"]]
    assert len(pmids) == 7 and "1000" not in pmids
    first = body["neighbors"][0]
    assert set(first) >= {"pmid", "title", "journal", "year", "score", "url"}
    assert first["url"] == f"https://pubmed.ncbi.nlm.nih.gov/{first['pmid']}/"
    assert "access-control-allow-origin" not in r.headers  # CORS headers answer cross-origin requests only
    cross = client.get("/v1/papers/1000/similar?n=7", headers={"Origin": "https://example.org"})
    assert cross.headers["access-control-allow-origin"] == "*"


def test_every_method_and_year_filters(client):
    for method in ("hybrid", "dense", "tfidf", "bm25", "pmra"):
        body = client.get(f"/v1/papers/1001/similar?n=5&method={method}&min_year=2000&max_year=2005").json()
        assert body["method"] == method
        if method == "pmra":  # 2 papers of the seed's topic pass; the rest share only words PMRA weighs 0: not listed
            assert len(body["neighbors"]) == 2 and "10 more pass the filters but share no term" in body["notes"][-1]
        else:
            assert len(body["neighbors"]) == 5
        assert all(2000 <= n["year"] <= 2005 for n in body["neighbors"])
        assert "1001" not in [n["pmid"] for n in body["neighbors"]]


@pytest.mark.parametrize(
    "url,status,message",
    [
        (
            "/v1/papers/4242/similar",
            404,
            "PMID 4242 is not in index web (40 papers): add it with `similar add`, or query with --text",
        ),
        ("/v1/papers/abc/similar", 422, "invalid pmid: String should match pattern '^[0-9]{1,9}$'"),
        ("/v1/papers/1000/similar?n=0", 422, "invalid n: Input should be greater than or equal to 1"),
        ("/v1/papers/1000/similar?n=101", 422, "invalid n: Input should be less than or equal to 100"),
        (
            "/v1/papers/1000/similar?n=x",
            422,
            "invalid n: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            "/v1/papers/1000/similar?method=magic",
            422,
            "invalid method: String should match pattern '^(hybrid|dense|tfidf|bm25|pmra)$'",
        ),
        (
            "/v1/papers/99999",
            404,
            "PMID 99999 is not in index web (40 papers): add it with `similar add`, or query with --text",
        ),
    ],
)
def test_errors_are_json_never_500(client, url, status, message):
    r = client.get(url)
    assert r.status_code == status
    assert r.json() == {"error": message, "status": status}


def test_paper_health_manifest_docs(client):
    assert client.get("/v1/papers/1002").json()["title"].startswith("Study 2 of")
    health = client.get("/v1/health").json()
    assert health["status"] == "ok" and health["papers"] == 40
    assert client.get("/v1/index").json()["count"] == 40
    assert client.get("/docs").status_code == 200
    assert "/v1/papers/{pmid}/similar" in client.get("/openapi.json").json()["paths"]


def test_etag_and_cors(client):
    r = client.get("/v1/papers/1000/similar", headers={"Origin": "https://example.org"})
    assert r.headers["access-control-allow-origin"] == "*"
    etag = r.headers["etag"]
    again = client.get("/v1/papers/1000/similar", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_widget_page_and_script(client):
    page = client.get("/widget/1000?n=4&theme=dark")
    assert page.status_code == 200 and page.text.count("<li ") == 4
    assert "https://pubmed.ncbi.nlm.nih.gov/" in page.text and "http://" not in page.text.replace("https://pubmed", "")
    assert "<script src=" not in page.text and "<link" not in page.text  # self-contained
    assert client.get("/widget/4242").status_code == 404
    js = client.get("/widget.js")
    assert js.headers["content-type"].startswith("application/javascript") and "data-similar-pmid" in js.text
    embed = client.get("/embed/1000").text
    assert "data-similar-pmid=&quot;1000&quot;" in embed and "/widget/1000" in embed and "Copy" in embed


def test_get_routes_never_change_state_and_reload_is_guarded(client, index_dir, monkeypatch, tmp_path):
    build = client.get("/v1/health").json()["build_id"]
    assert client.post("/admin/reload").status_code == 403
    monkeypatch.setenv("SIMILAR_ADMIN_TOKEN", "s3cret")
    assert client.post("/admin/reload", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/admin/reload").status_code == 405
    build_index([write_jsonl(tmp_path / "more.jsonl", make_corpus(44))], index_dir, model=FakeEncoder(), progress=False)
    assert client.get("/v1/health").json()["build_id"] == build  # nothing changes until asked
    r = client.post("/admin/reload", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200 and r.json()["papers"] == 44
    assert client.get("/v1/health").json()["build_id"] != build


def test_sighup_reloads_a_running_server(index_dir, tmp_path):
    """`similar serve` as a real process: SIGHUP swaps in the rebuilt index without a restart."""
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from browser import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "similar.cli", "serve", "--index", str(index_dir), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1/health"
    try:
        deadline = time.time() + 60
        while True:
            try:
                first = httpx.get(url, timeout=1).json()
                break
            except httpx.HTTPError:
                assert time.time() < deadline and proc.poll() is None, "server did not start"
                time.sleep(0.2)
        build_index(
            [write_jsonl(tmp_path / "more.jsonl", make_corpus(44))], index_dir, model=FakeEncoder(), progress=False
        )
        proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 30
        while httpx.get(url, timeout=2).json()["papers"] != 44:
            assert time.time() < deadline, "SIGHUP did not reload"
            time.sleep(0.2)
        assert httpx.get(url).json()["build_id"] != first["build_id"] and proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_docs_page_uses_local_assets_only(client):
    import re

    page = client.get("/docs")
    assert page.status_code == 200 and "http://" not in page.text and "https://" not in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets == [
        "/docs-assets/swagger-ui.css",
        "/docs-assets/favicon-32x32.png",
        "/docs-assets/swagger-ui-bundle.js",
    ]
    assert all(client.get(a).status_code == 200 for a in assets)
    assert client.get("/redoc").status_code == 404  # ReDoc comes only from a CDN: off


def test_widget_not_found_speaks_to_a_reader(client):
    r = client.get("/widget/4242")
    assert r.status_code == 404 and "No similar papers are available for this article yet." in r.text
    script = client.get("/widget.js").text
    for text in (r.text, script):
        assert "similar add" not in text and "--text" not in text
    assert "No similar papers are available for this article yet." in script


@pytest.mark.parametrize(
    "url, status, line",
    [
        ("/widget/abc", 422, "&#x27;abc&#x27; is not a PubMed ID: a PMID is a number, such as 7504954."),
        ("/widget/1000?n=0", 422, "The n parameter must be at least 1, not &#x27;0&#x27;."),
        ("/widget/1000?n=x", 422, "The n parameter must be a whole number, not &#x27;x&#x27;."),
        (
            "/widget/1000?theme=%3Cb%3E",
            422,
            "The theme parameter must be one of light, dark, not &#x27;&lt;b&gt;&#x27;.",
        ),
        ("/widget/1000?explain=maybe", 422, "The explain parameter must be true or false, not &#x27;maybe&#x27;."),
        ("/widget/4242", 404, "No similar papers are available for this article yet."),
        ("/widget/1000?type=nosuchtype", 422, "unknown publication type &#x27;nosuchtype&#x27;"),
        ("/widget/", 404, "There is no such page: the address should end in /widget/PMID or /embed/PMID."),
        ("/embed/abc%3Cscript%3E", 422, "&#x27;abc&lt;script&gt;&#x27; is not a PubMed ID"),
        ("/embed/4242", 404, "PMID 4242 is not in this index: there are no similar papers to embed yet."),
    ],
)
def test_reader_pages_answer_bad_input_with_a_page(client, url, status, line):
    r = client.get(url)
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    assert line in r.text and '<section class="similar-papers">' in r.text and "<script" not in r.text
    assert '"error"' not in r.text and "similar add" not in r.text


def test_reader_pages_keep_the_theme_and_the_api_stays_json(client):
    dark = client.get("/widget/abc?theme=dark").text
    assert "#15181d" in dark  # the dark widget's background
    assert client.post("/widget/1000").headers["content-type"].startswith("text/html")
    api = client.get("/v1/papers/abc/similar")
    assert api.status_code == 422 and api.json()["error"].startswith("invalid pmid")
    assert client.get("/widget.js").headers["content-type"].startswith("application/javascript")
    assert client.get("/widgets").json()["error"] == "no route /widgets: see /docs"


def test_filters_that_cannot_match_are_422_before_ranking(client, monkeypatch):
    from similar.index import Index

    def never(*args, **kwargs):
        raise AssertionError("ranked although the filters could not match")

    monkeypatch.setattr(Index, "similar", never)
    monkeypatch.setattr("similar.server.app.recommend_collection", never)
    for url in ("/v1/papers/1000/similar?type=nosuchtype", "/v1/recommendations?positive=1000&type=nosuchtype"):
        r = client.get(url)
        assert r.status_code == 422 and r.json()["error"] == (
            "unknown publication type 'nosuchtype'; index web records no publication types, so no type filter can match"
        )
    r = client.post("/v1/recommendations", json={"positive": ["1000"], "journal": ["No Such Journal"]})
    assert r.status_code == 422 and r.json()["error"].startswith("journal 'No Such Journal' has no paper in index web")
