"""Collections and explanations through the CLI and HTTP: shapes, exact one-line errors, the widget's shared terms."""

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from fixtures import FakeEncoder
from similar.build import build_index
from similar.cli import main
from similar.server.app import create_app
from similar.server.pages import WIDGET_JS


@pytest.fixture
def index_dir(tmp_path, corpus_file, monkeypatch):
    monkeypatch.setattr(
        "similar.index.queries.load_index_model", lambda spec: FakeEncoder()
    )  # the sentence matching's model
    dest = tmp_path / "index" / "default"
    build_index([corpus_file], dest, model=FakeEncoder(), progress=False)
    return dest


@pytest.fixture
def client(index_dir):
    return TestClient(create_app(index_dir))


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_collection_table_and_json(index_dir):
    res = run("query", "1000", "1004", "--not", "1001", "-n", "3")
    lines = res.output.splitlines()
    assert (
        res.exit_code == 0
        and lines[0] == "Papers like 1000, 1004; not like 1001"
        and lines[1].startswith("method: fused")
    )
    assert len(lines) == 6 and all("(closest to 100" in line for line in lines[3:])
    rows = [
        json.loads(x) for x in run("query", "1000", "1004", "--not", "1001", "-n", "4", "--json").output.splitlines()
    ]
    assert len(rows) == 4 and rows[0]["positive"] == ["1000", "1004"] and rows[0]["negative"] == ["1001"]
    assert not {r["pmid"] for r in rows} & {"1000", "1004", "1001"}


def test_cli_explain(index_dir):
    res = run("query", "1002", "-n", "2", "--explain", "--method", "tfidf")
    lines = res.output.splitlines()
    assert res.exit_code == 0 and lines[4].strip().startswith("tfidf ") and " vs 1002: " in lines[4]
    assert json.loads(run("query", "1002", "-n", "1", "--explain", "--json").output)["why"]["against"] == "1002"


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["query", "1000", "1004", "--method", "bm25"],
            "error: --method ranks one seed; for a collection use --collection-method",
        ),
        (
            ["query", "1000", "--collection-method", "linear"],
            "error: --collection-method needs a collection: several PMIDs, --not PMID, or PMIDs with --text",
        ),
        (["query", "1000", "--not", "1000"], "error: PMID 1000 is both a positive and a negative example"),
        (
            ["query", "1000", "--not", "4242"],
            "error: PMID 4242 is not in index default (40 papers): add it with `similar add`, or query with --text",
        ),
    ],
)
def test_cli_collection_errors(index_dir, args, message):
    res = run(*args)
    assert res.exit_code != 0 and res.output.strip() == message


def test_http_post_and_get(client):
    body = client.post(
        "/v1/recommendations", json={"positive": ["1000", "1004"], "negative": ["1001"], "n": 5, "explain": True}
    ).json()
    pmids = [n["pmid"] for n in body["neighbors"]]
    assert body["positive"] == ["1000", "1004"] and body["negative"] == ["1001"] and body["method"] == "fused"
    assert len(pmids) == 5 and not set(pmids) & {"1000", "1004", "1001"}
    assert all(n["closest"] in ("1000", "1004") and n["why"]["against"] == n["closest"] for n in body["neighbors"])
    got = client.get("/v1/recommendations?positive=1000,1004&negative=1001&n=5")
    assert got.status_code == 200 and [n["pmid"] for n in got.json()["neighbors"]] == pmids and got.headers["etag"]
    text = client.post(
        "/v1/recommendations", json={"text": "cardiac heart failure", "n": 2, "method": "centroid"}
    ).json()
    assert text["text"] is True and len(text["neighbors"]) == 2


def test_http_explain_on_similar(client):
    n = client.get("/v1/papers/1000/similar?n=3&explain=true").json()["neighbors"][0]
    assert (
        n["why"]["against"] == "1000"
        and n["why"]["terms"]
        and "why" not in client.get("/v1/papers/1000/similar?n=3").json()["neighbors"][0]
    )


@pytest.mark.parametrize(
    "body,status,message",
    [
        ({"positive": ["1000"], "negative": ["1000"]}, 422, "PMID 1000 is both a positive and a negative example"),
        (
            {"positive": ["4242"]},
            404,
            "PMID 4242 is not in index default (40 papers): add it with `similar add`, or query with --text",
        ),
        ({}, 422, "a collection needs at least one positive PMID or a text"),
        ({"positive": ["12x"]}, 422, "invalid positive.0: String should match pattern '^[0-9]{1,9}$'"),
        ({"positive": ["1000"], "n": 101}, 422, "invalid n: Input should be less than or equal to 100"),
        (
            {"positive": ["1000"], "method": "magic"},
            422,
            "invalid method: String should match pattern '^(fused|centroid|linear|rocchio)$'",
        ),
        ({"positive": ["1000"], "colour": "red"}, 422, "invalid colour: Extra inputs are not permitted"),
    ],
)
def test_http_errors(client, body, status, message):
    r = client.post("/v1/recommendations", json=body)
    assert r.status_code == status and r.json() == {"error": message, "status": status}


def test_http_get_errors(client):
    r = client.get("/v1/recommendations?positive=1000,abc")
    assert (
        r.status_code == 422
        and r.json()["error"] == "invalid positive: String should match pattern '^[0-9]{1,9}(,[0-9]{1,9})*$'"
    )


def test_widget_shows_shared_terms(client):
    page = client.get("/widget/1000?n=3&explain=true").text
    assert page.count('<div class="why">shared terms: ') == 3
    assert 'class="why"' not in client.get("/widget/1000?n=3").text
    assert "data-similar-explain" in WIDGET_JS and "&explain=true" in WIDGET_JS and "shared terms: " in WIDGET_JS
