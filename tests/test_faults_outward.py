"""Fault table for what leaves the program (issue 19, items 3 and 5): every export, feed and page stays valid for its
format whatever a record holds; CSV formulas are defused; request bodies are limited and JSON only; CORS is open to
the widget's reads only; every SIMILAR_* value is checked at start; a damaged watches database is one line naming it,
and an add that could not record its watches says so and is caught up by a rerun. Each row asserts its exact outcome,
read back by a real parser (xml.etree, feedparser, rispy, bibtexparser, json, csv)."""

import csv
import io
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from fixtures import make_corpus, write_jsonl
from similar.build import build_index
from similar.cli import main
from similar.exports import export
from similar.index import Neighbor, SimilarList
from similar.outward import clean, csv_cell
from similar.server.app import create_app
from similar.watch import add_watch, entries, feed, watches_path

SRC = str(Path(__file__).resolve().parents[1] / "src")
XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def assert_watches_unavailable(ix, path, reason):
    """Both watch routes answer 503 with the one line naming the watches file (its name, not the machine's folders)."""
    client = TestClient(create_app(ix), raise_server_exceptions=False)
    for url in ("/v1/watches", "/v1/watches/w/feed.atom"):
        r = client.get(url)
        assert r.status_code == 503 and r.json() == {
            "error": f"watches are unavailable: {path.name}: {reason}",
            "status": 503,
        }
        assert str(path.parent) not in r.text


def run(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, env=env)


# --- hostile text: what a record may hold, straight from a JSON line or an old index ---------------------------------

HOSTILE = [
    # id, title, its CSV cell
    ("c0-soh", "bad \x01 control", "bad \ufffd control"),
    ("c0-esc", "ansi \x1b[31mred\x1b[0m", "ansi \ufffd[31mred\ufffd[0m"),
    ("nonchar-fffe", "bad \ufffe nonchar", "bad \ufffd nonchar"),
    ("nonchar-ffff", "bad \uffff nonchar", "bad \ufffd nonchar"),
    ("lone-surrogate", "lone \ud800 half", "lone \ufffd half"),
    ("del-c1", "del \x7f c1 \x85\x9b", "del   c1   "),
    ("hyperlink", '=HYPERLINK("http://evil.example","click")', '\'=HYPERLINK("http://evil.example","click")'),
    ("at-sum", "@SUM(1+1)", "'@SUM(1+1)"),
    ("dde", "+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("minus", "-2+3", "'-2+3"),
    ("only-equals", "=", "'="),
    ("tab-first", "\t=1+1", "' =1+1"),
    ("cr-first", "\r=1+1", "' =1+1"),
    ("space-then-formula", "  =1+1", "'  =1+1"),
    ("fullwidth-equals", "\uff1d1+1", "'\uff1d1+1"),
    ("multi-line-ris", "first line\nER  - \nTY  - JOUR\nTI  - injected", "first line ER  -  TY  - JOUR TI  - injected"),
    ("crlf-and-separators", "a\r\nb\u2028c\u2029d", "a  b c d"),
    ("bidi-override", "\u202eevil title", "evil title"),
    ("bidi-isolate", "x\u2067y\u2069z", "xyz"),
    ("html", "<script>alert(1)</script> & \"q\" 'a'", "<script>alert(1)</script> & \"q\" 'a'"),
    ("bibtex-escape", "}, title = {pwned", "}, title = {pwned"),
    ("plain", "Aspirin and the heart", "Aspirin and the heart"),
]


def hostile_list(title: str, **fields) -> SimilarList:
    n = Neighbor(
        rank=1,
        pmid="42",
        score=0.5,
        title=title,
        journal=fields.get("journal", title),
        year=2020,
        authors=(title, "Smith JA"),
        doi=fields.get("doi", "10.1/x"),
        pmc=fields.get("pmc", ""),
        types=(title,),
        language=fields.get("language", title),
    )
    return SimilarList(
        "hybrid", [n, Neighbor(rank=2, pmid="43", score=0.4, title="Second paper", journal="", year=None)]
    )


@pytest.mark.parametrize("title,cell", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_every_export_of_a_hostile_title_is_valid_for_its_format(title, cell):
    rispy = pytest.importorskip("rispy")
    bibtexparser = pytest.importorskip("bibtexparser")
    result = hostile_list(title, language=title, pmc=title)
    # CSV: two records plus the header, the title cell defused exactly, every text column too
    rows = list(csv.reader(io.StringIO(export(result, "csv"))))
    assert len(rows) == 3 and rows[1][3] == cell and rows[1][5] == cell and rows[1][10] == cell
    assert rows[1][4] == csv_cell(f"{title}; Smith JA")
    # RIS: exactly two records, the title one line
    ris = rispy.loads(export(result, "ris"))
    assert len(ris) == 2 and ris[0]["title"] == clean(title).strip() and ris[1]["title"] == "Second paper"
    # BibTeX: two entries, nothing left over, the title's braces balanced
    library = bibtexparser.parse_string(export(result, "bibtex"))
    assert len(library.entries) == 2 and not library.failed_blocks
    assert {e.key for e in library.entries} == {"pmid42", "pmid43"}
    # CSL-JSON: two items, the title cleaned
    items = json.loads(export(result, "csl-json"))
    assert len(items) == 2 and items[0]["title"] == clean(title) and items[0]["language"] == clean(title)
    for fmt in ("csv", "ris", "bibtex", "csl-json"):
        text = export(result, fmt)
        text.encode("utf-8")  # no lone surrogate reaches the bytes
        assert not XML_ILLEGAL.search(text) and not BIDI.search(text) and "\x1b" not in text, fmt


def test_csv_rule_leaves_numbers_and_plain_text_alone():
    assert [csv_cell(v) for v in ("Aspirin", "3", "", "a=b", "e-mail", "x@y")] == [
        "Aspirin",
        "3",
        "",
        "a=b",
        "e-mail",
        "x@y",
    ]
    rows = list(csv.reader(io.StringIO(export(hostile_list("-1"), "csv"))))
    assert rows[1][:3] == ["1", "42", "0.500000"] and rows[1][3] == "'-1"


# --- the same titles through an index: the feed, the pages, the table, CLI and HTTP CSV -------------------------------

# what a JSON line can still carry after the reader (it folds whitespace and refuses lone surrogates)
INDEXED = {
    "5000": "bad \x01 control cardiac heart",
    "5001": "bad \ufffe nonchar cardiac heart",
    "5002": '=HYPERLINK("http://evil.example","cardiac heart")',
    "5003": "@SUM(1+1) cardiac heart",
    "5004": "+cmd|' /C calc'!A0 cardiac heart",
    "5005": "=",
    "5006": "\u202eevil cardiac heart",
    "5007": "ansi \x1b[2J cardiac heart",
    "5008": "<b>bold</b> cardiac heart \uffff",
}


@pytest.fixture
def hostile_ix(tmp_path):
    rows = make_corpus(12) + [
        {"pmid": p, "title": t, "abstract": "cardiac heart failure myocardial infarction", "journal": t}
        for p, t in INDEXED.items()
    ]
    dest = tmp_path / "index" / "h"
    build_index([write_jsonl(tmp_path / "h.jsonl", rows[:12])], dest, method="tfidf", progress=False)
    add_watch(dest, "w", ["1000"], k=30)
    from similar.update import add_to_index

    report = add_to_index([write_jsonl(tmp_path / "more.jsonl", rows[12:])], dest, progress=False)
    assert not report.watch_error and report.notes == ["watch w: 9 new papers in its top 30"]
    return dest


def test_atom_feed_of_hostile_titles_is_well_formed_in_cli_and_http(hostile_ix):
    feedparser = pytest.importorskip("feedparser")
    recorded = {e.pmid: e.title for e in entries(hostile_ix, "w")}
    assert recorded["5000"] == INDEXED["5000"]  # the database keeps what the record said; the feed cleans it
    res = run("watch", "feed", "w", "--index", hostile_ix)
    http = TestClient(create_app(hostile_ix)).get("/v1/watches/w/feed.atom")
    assert res.exit_code == 0 and http.status_code == 200
    for text in (res.output, http.text, feed(hostile_ix, "w")):
        root = ET.fromstring(text.encode("utf-8"))  # well-formed: was "not well-formed (invalid token)"
        titles = [t.text for t in root.iter("{http://www.w3.org/2005/Atom}title")]
        assert "bad \ufffd control cardiac heart" in titles and "evil cardiac heart" in titles
        parsed = feedparser.parse(text)
        assert parsed.bozo == 0 and len(parsed.entries) == 9
        assert not XML_ILLEGAL.search(text) and not BIDI.search(text)


def test_csv_export_is_defused_the_same_in_cli_and_http(hostile_ix):
    cli = run("query", "1000", "-n", "30", "--format", "csv", "--index", hostile_ix)
    http = TestClient(create_app(hostile_ix)).get("/v1/papers/1000/similar?n=30&format=csv")
    assert cli.exit_code == 0 and http.status_code == 200
    for text in (cli.output, http.text):
        cells = {r[1]: r[3] for r in csv.reader(io.StringIO(text))}
        assert cells["5002"] == "'" + INDEXED["5002"] and cells["5003"] == "'" + INDEXED["5003"]
        assert cells["5004"] == "'" + INDEXED["5004"] and cells["5005"] == "'="
        assert cells["5006"] == "evil cardiac heart" and cells["5000"] == "bad \ufffd control cardiac heart"
        assert not any(c.startswith(("=", "+", "-", "@")) for c in cells.values())


def test_pages_and_table_escape_clean_and_isolate_hostile_titles(hostile_ix):
    client = TestClient(create_app(hostile_ix))
    pages = [client.get("/widget/1000?n=30").text] + [client.get(f"/embed/{p}").text for p in INDEXED]
    for page in pages:
        assert not XML_ILLEGAL.search(page) and not BIDI.search(page) and "<b>bold</b>" not in page
    assert "<bdi>&lt;b&gt;bold&lt;/b&gt; cardiac heart \ufffd</bdi>" in pages[0]
    assert "<bdi>evil cardiac heart</bdi>" in pages[0]
    js = client.get("/widget.js").text
    assert "<bdi>' + esc(n.title) + '</bdi>" in js  # the script isolates what the JSON API returns as stored
    body = client.get("/v1/papers/1000/similar?n=30").json()  # JSON is data: kept as stored, escaped by JSON itself
    assert {n["pmid"]: n["title"] for n in body["neighbors"]}["5000"] == INDEXED["5000"]
    table = run("query", "1000", "-n", "30", "--index", hostile_ix).output
    assert "\x1b" not in table and "\x01" not in table and not BIDI.search(table)


def test_embed_page_escapes_a_hostile_host_header(hostile_ix):
    page = TestClient(create_app(hostile_ix)).get("/embed/1000", headers={"Host": 'x"><script>alert(1)</script>'}).text
    assert page.startswith("<!doctype html>") and "<script>alert" not in page and '"><script' not in page


# --- request bodies: a limit read as the body streams, JSON only -----------------------------------------------------


@pytest.fixture
def tfidf_ix(tmp_path):
    dest = tmp_path / "index" / "t"
    build_index([write_jsonl(tmp_path / "base.jsonl", make_corpus(20))], dest, method="tfidf", progress=False)
    return dest


@pytest.fixture
def client(tfidf_ix, monkeypatch):
    monkeypatch.setenv("SIMILAR_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("SIMILAR_ADMIN_TOKEN", "s3cret")
    return TestClient(create_app(tfidf_ix), raise_server_exceptions=False)


JSON = {"content-type": "application/json"}
BODIES = [
    # id, path, body, headers, status, error
    ("ok", "/v1/recommendations", b'{"positive": ["1000"], "n": 3}', JSON, 200, None),
    (
        "ok-charset",
        "/v1/recommendations",
        b'{"positive": ["1000"]}',
        {"content-type": "application/json; charset=utf-8"},
        200,
        None,
    ),
    (
        "over-limit",
        "/v1/recommendations",
        b'{"text": "' + b"a" * 4000 + b'"}',
        JSON,
        413,
        "request body too large: 4012 bytes, the limit is 2048 bytes (set SIMILAR_MAX_BODY_BYTES on the server)",
    ),
    (
        "over-limit-admin",
        "/admin/reload",
        b"x" * 3000,
        JSON,
        413,
        "request body too large: 3000 bytes, the limit is 2048 bytes (set SIMILAR_MAX_BODY_BYTES on the server)",
    ),
    (
        "over-limit-unknown-route",
        "/v1/nope",
        b"x" * 3000,
        JSON,
        413,
        "request body too large: 3000 bytes, the limit is 2048 bytes (set SIMILAR_MAX_BODY_BYTES on the server)",
    ),
    (
        "malformed",
        "/v1/recommendations",
        b'{"positive": [',
        JSON,
        422,
        "invalid JSON body at character 14: Expecting value",
    ),
    (
        "trailing-garbage",
        "/v1/recommendations",
        b'{"positive": ["1000"]} x',
        JSON,
        422,
        "invalid JSON body at character 23: Extra data",
    ),
    (
        "too-deep",
        "/v1/recommendations",
        b"[" * 1000 + b"]" * 1000,
        JSON,
        400,
        "invalid JSON body: it could not be parsed (nested too deeply?)",
    ),
    (
        "array",
        "/v1/recommendations",
        b"[1, 2]",
        JSON,
        422,
        "invalid request: Input should be a valid dictionary or object to extract fields from",
    ),
    (
        "text-plain",
        "/v1/recommendations",
        b'{"positive": ["1000"]}',
        {"content-type": "text/plain"},
        415,
        "the body must be JSON, sent with Content-Type: application/json (got text/plain)",
    ),
    (
        "form",
        "/v1/recommendations",
        b"positive=1000",
        {"content-type": "application/x-www-form-urlencoded"},
        415,
        "the body must be JSON, sent with Content-Type: application/json (got application/x-www-form-urlencoded)",
    ),
    (
        "multipart",
        "/v1/recommendations",
        b"--b\r\n\r\n--b--",
        {"content-type": "multipart/form-data; boundary=b"},
        415,
        "the body must be JSON, sent with Content-Type: application/json (got multipart/form-data)",
    ),
    (
        "no-type",
        "/v1/recommendations",
        b'{"positive": ["1000"]}',
        {},
        415,
        "the body must be JSON, sent with Content-Type: application/json (none was given)",
    ),
    (
        "lone-surrogate",
        "/v1/recommendations",
        b'{"positive": ["1000"], "text": "\\ud800"}',
        JSON,
        422,
        "invalid text: Input should be a valid string, unable to parse raw data as a unicode string",
    ),
    ("reload-without-body", "/admin/reload", b"", {"authorization": "Bearer s3cret"}, 200, None),
]


@pytest.mark.parametrize("path,body,headers,status,error", [b[1:] for b in BODIES], ids=[b[0] for b in BODIES])
def test_request_bodies(client, path, body, headers, status, error):
    r = client.post(path, content=body, headers=headers)
    assert r.status_code == status, r.text
    if error is not None:
        assert r.json() == {"error": error, "status": status}


def test_a_bad_body_limit_or_timeout_is_refused_by_create_app(tfidf_ix, monkeypatch):
    from similar.config import ConfigError

    monkeypatch.setenv("SIMILAR_MAX_BODY_BYTES", "1e6")
    with pytest.raises(ConfigError, match=r"^SIMILAR_MAX_BODY_BYTES='1e6' is not a number: give a whole number"):
        create_app(tfidf_ix)


def _start(index: Path, env: dict):
    from browser import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "similar.cli", "serve", "--index", str(index), "--port", str(port)],
        env={**os.environ, "PYTHONPATH": SRC, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            assert time.time() < deadline and proc.poll() is None, "server did not start"
            time.sleep(0.2)


def _exchange(port: int, head: bytes, chunks, pause: float = 0.0) -> tuple[bytes, float, int]:
    """Send the head, then chunks until the server answers or closes; returns (answer, seconds, bytes sent)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        started = time.time()
        s.sendall(head)
        s.setblocking(False)
        answer = b""
        for chunk in chunks:
            try:
                answer += s.recv(65536)
            except BlockingIOError:
                pass
            if answer:
                break
            try:
                s.sendall(chunk)
                sent += len(chunk)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                break
            if pause:
                time.sleep(pause)
        s.setblocking(True)
        s.settimeout(10)
        try:
            while not answer.endswith(b"}"):
                more = s.recv(65536)
                if not more:
                    break
                answer += more
        except (ConnectionResetError, TimeoutError):
            pass
        return answer, time.time() - started, sent


def test_the_server_refuses_a_huge_body_without_reading_it(tfidf_ix):
    proc, port = _start(tfidf_ix, {"SIMILAR_MAX_BODY_BYTES": "65536"})
    try:
        # a 300 MB Content-Length and a little data: 413 at once, from the header alone
        head = (
            b"POST /v1/recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 300000000\r\n\r\n"
        )
        answer, seconds, _ = _exchange(port, head, [b"{" + b" " * 1023])
        assert answer.startswith(b"HTTP/1.1 413 ") and seconds < 3, answer[:200]
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert body == {
            "error": "request body too large: 300000000 bytes, the limit is 65536 bytes "
            "(set SIMILAR_MAX_BODY_BYTES on the server)",
            "status": 413,
        }
        # a client that waits for "100 Continue" gets the 413 instead, and never sends the body
        expect = head.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n")
        answer, seconds, _ = _exchange(port, expect, [])
        assert answer.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in answer and seconds < 3, answer[:200]
        # chunked, no length: counted as it streams, refused once past the limit, long before 300 MB
        head = (
            b"POST /v1/recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"
        answer, seconds, sent = _exchange(port, head, (chunk for _ in range(300_000_000 // 0x4000)), pause=0.005)
        assert answer.startswith(b"HTTP/1.1 413 ") and seconds < 10, answer[:200]
        assert b"over 65536 bytes sent chunked" in answer and sent < 2_000_000
        # the server serves on; a chunked body under the limit is read whole
        small = b'{"positive": ["1000"], "n": 2}'
        answer, _, _ = _exchange(port, head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(small), small), [])
        assert answer.startswith(b"HTTP/1.1 200 ") and b'"neighbors"' in answer
        assert proc.poll() is None
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "Traceback" not in err, err


# --- CORS: the widget's reads only ---------------------------------------------------------------------------------

EVIL = "https://evil.example"
CORS = [
    # id, method, path, extra headers, status, allow-origin, allow-headers
    (
        "preflight-admin-authorization",
        "OPTIONS",
        "/admin/reload",
        {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
        403,
        None,
        None,
    ),
    ("preflight-admin-get", "OPTIONS", "/admin/reload", {"Access-Control-Request-Method": "GET"}, 403, None, None),
    (
        "preflight-post-recommendations",
        "OPTIONS",
        "/v1/recommendations",
        {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
        403,
        None,
        None,
    ),
    (
        "preflight-get-with-authorization",
        "OPTIONS",
        "/v1/papers/1000/similar",
        {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"},
        403,
        None,
        None,
    ),
    (
        "preflight-get-custom-header",
        "OPTIONS",
        "/v1/papers/1000/similar",
        {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-token"},
        403,
        None,
        None,
    ),
    ("preflight-delete", "OPTIONS", "/v1/papers/1000", {"Access-Control-Request-Method": "DELETE"}, 403, None, None),
    ("preflight-docs", "OPTIONS", "/openapi.json", {"Access-Control-Request-Method": "GET"}, 403, None, None),
    (
        "preflight-get-similar",
        "OPTIONS",
        "/v1/papers/1000/similar",
        {"Access-Control-Request-Method": "GET"},
        204,
        "*",
        None,
    ),
    (
        "preflight-get-if-none-match",
        "OPTIONS",
        "/v1/papers/1000/similar",
        {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match"},
        204,
        "*",
        "if-none-match",
    ),
    ("get-similar", "GET", "/v1/papers/1000/similar?n=2", {}, 200, "*", None),
    ("head-similar", "HEAD", "/v1/papers/1000/similar?n=2", {}, 200, "*", None),
    ("get-widget", "GET", "/widget/1000", {}, 200, "*", None),
    ("get-widget-js", "GET", "/widget.js", {}, 200, "*", None),
    ("get-feed-list", "GET", "/v1/watches", {}, 200, "*", None),
    ("post-recommendations", "POST", "/v1/recommendations", {"content-type": "application/json"}, 200, None, None),
    ("post-admin", "POST", "/admin/reload", {"authorization": "Bearer s3cret"}, 200, None, None),
    ("get-admin", "GET", "/admin/reload", {}, 405, None, None),
    ("get-docs", "GET", "/openapi.json", {}, 200, None, None),
]


@pytest.mark.parametrize("method,path,headers,status,origin,allowed", [c[1:] for c in CORS], ids=[c[0] for c in CORS])
def test_cors_is_open_to_the_widgets_reads_only(client, method, path, headers, status, origin, allowed):
    body = b'{"positive": ["1000"]}' if method == "POST" and "recommendations" in path else None
    r = client.request(method, path, headers={"Origin": EVIL, **headers}, content=body)
    assert r.status_code == status, r.text
    assert r.headers.get("access-control-allow-origin") == origin
    assert r.headers.get("access-control-allow-headers") == allowed
    assert "access-control-allow-credentials" not in r.headers
    assert "authorization" not in r.headers.get("access-control-allow-headers", "").lower()
    if status == 403:
        assert r.json()["status"] == 403 and r.json()["error"].startswith("cross-origin ")
        assert not any(k.startswith("access-control-") for k in r.headers)


# --- configuration from the environment: checked at start, one line naming the variable ------------------------------

CONFIG = [
    # id, variable, value, the message after "error: "
    (
        "timeout-zero",
        "SIMILAR_HEADER_TIMEOUT",
        "0",
        "SIMILAR_HEADER_TIMEOUT='0' is out of range: give seconds from 0.1 to 3600",
    ),
    (
        "timeout-negative",
        "SIMILAR_HEADER_TIMEOUT",
        "-1",
        "SIMILAR_HEADER_TIMEOUT='-1' is out of range: give seconds from 0.1 to 3600",
    ),
    (
        "timeout-text",
        "SIMILAR_HEADER_TIMEOUT",
        "abc",
        "SIMILAR_HEADER_TIMEOUT='abc' is not a number: give seconds from 0.1 to 3600",
    ),
    (
        "timeout-nan",
        "SIMILAR_HEADER_TIMEOUT",
        "nan",
        "SIMILAR_HEADER_TIMEOUT='nan' is out of range: give seconds from 0.1 to 3600",
    ),
    (
        "timeout-inf",
        "SIMILAR_HEADER_TIMEOUT",
        "inf",
        "SIMILAR_HEADER_TIMEOUT='inf' is out of range: give seconds from 0.1 to 3600",
    ),
    (
        "timeout-huge",
        "SIMILAR_HEADER_TIMEOUT",
        "1e308",
        "SIMILAR_HEADER_TIMEOUT='1e308' is out of range: give seconds from 0.1 to 3600",
    ),
    (
        "body-zero",
        "SIMILAR_MAX_BODY_BYTES",
        "0",
        "SIMILAR_MAX_BODY_BYTES='0' is out of range: give a whole number of bytes from 1024 to 1.07374e+09",
    ),
    (
        "body-negative",
        "SIMILAR_MAX_BODY_BYTES",
        "-5",
        "SIMILAR_MAX_BODY_BYTES='-5' is out of range: give a whole number of bytes from 1024 to 1.07374e+09",
    ),
    (
        "body-float",
        "SIMILAR_MAX_BODY_BYTES",
        "1.5",
        "SIMILAR_MAX_BODY_BYTES='1.5' is not a number: give a whole number of bytes from 1024 to 1.07374e+09",
    ),
    (
        "body-units",
        "SIMILAR_MAX_BODY_BYTES",
        "1MB",
        "SIMILAR_MAX_BODY_BYTES='1MB' is not a number: give a whole number of bytes from 1024 to 1.07374e+09",
    ),
    (
        "body-huge",
        "SIMILAR_MAX_BODY_BYTES",
        "9" * 40,
        f"SIMILAR_MAX_BODY_BYTES='{'9' * 40}' is out of range: give a whole number of bytes from 1024 to 1.07374e+09",
    ),
    (
        "token-spaces",
        "SIMILAR_ADMIN_TOKEN",
        " s3cret ",
        "SIMILAR_ADMIN_TOKEN has spaces around it or control characters: give the bare token",
    ),
    (
        "public-url-no-scheme",
        "SIMILAR_PUBLIC_URL",
        "similar.example.org",
        "SIMILAR_PUBLIC_URL='similar.example.org' is not a web address: give http(s)://host[:port][/path], such as "
        "https://similar.example.org",
    ),
    (
        "public-url-ftp",
        "SIMILAR_PUBLIC_URL",
        "ftp://similar.example.org",
        "SIMILAR_PUBLIC_URL='ftp://similar.example.org' is not a web address: give http(s)://host[:port][/path]",
    ),
    (
        "public-url-query",
        "SIMILAR_PUBLIC_URL",
        "https://similar.example.org/?x=1",
        "SIMILAR_PUBLIC_URL='https://similar.example.org/?x=1' is not a web address",
    ),
    (
        "public-url-user",
        "SIMILAR_PUBLIC_URL",
        "https://me:pw@similar.example.org",
        "SIMILAR_PUBLIC_URL='https://me:pw@similar.example.org' is not a web address",
    ),
    (
        "public-url-port",
        "SIMILAR_PUBLIC_URL",
        "https://similar.example.org:http",
        "SIMILAR_PUBLIC_URL='https://similar.example.org:http' is not a web address",
    ),
    (
        "public-url-quote",
        "SIMILAR_PUBLIC_URL",
        'https://similar.example.org/"><script>',
        "SIMILAR_PUBLIC_URL='https://similar.example.org/\"><script>' is not a web address",
    ),
    (
        "no-model-word",
        "SIMILAR_NO_MODEL",
        "maybe",
        "SIMILAR_NO_MODEL='maybe' is not a yes/no value: give 1 or 0 (true/false, yes/no, on/off)",
    ),
]


@pytest.mark.parametrize("name,value,message", [c[1:] for c in CONFIG], ids=[c[0] for c in CONFIG])
def test_serve_refuses_a_bad_setting_before_it_says_serving(tfidf_ix, name, value, message):
    res = CliRunner().invoke(main, ["serve", "--index", str(tfidf_ix)], env={name: value})
    assert res.exit_code == 78, res.output
    lines = res.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}") and "serving" not in res.output
    if "TOKEN" in name:
        assert "s3cret" not in res.output  # a secret is never echoed


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("SIMILAR_NO_MODEL", "2", "SIMILAR_NO_MODEL='2' is not a yes/no value"),
        ("SIMILAR_HOME", "FILE", "SIMILAR_HOME='FILE' is a file: give a folder"),
        ("SIMILAR_INDEX_DIR", "FILE", "SIMILAR_INDEX_DIR='FILE' is a file: give a folder"),
        ("SIMILAR_CACHE", "FILE", "SIMILAR_CACHE='FILE' is a file: give a folder"),
        ("SIMILAR_MODELS_DIR", "FILE", "SIMILAR_MODELS_DIR='FILE' is a file: give a folder"),
    ],
)
def test_every_command_checks_its_settings_first(tmp_path, tfidf_ix, name, value, message):
    afile = tmp_path / "afile"
    afile.write_text("x")
    value, message = value.replace("FILE", str(afile)), message.replace("FILE", str(afile))
    res = run("query", "1000", "--index", tfidf_ix, env={name: value})
    assert res.exit_code == 78 and res.output.startswith(f"error: {message}") and len(res.output.splitlines()) == 1


@pytest.mark.parametrize("value", ["", "0", "false", "No", "OFF", "1", "true", "yes", "on"])
def test_good_flag_values_pass(tfidf_ix, value):
    assert run("query", "1000", "-n", "2", "--index", tfidf_ix, env={"SIMILAR_NO_MODEL": value}).exit_code == 0


def test_a_real_serve_with_a_zero_timeout_exits_at_once(tfidf_ix):
    done = subprocess.run(
        [sys.executable, "-m", "similar.cli", "serve", "--index", str(tfidf_ix), "--port", "1"],
        env={**os.environ, "PYTHONPATH": SRC, "SIMILAR_HEADER_TIMEOUT": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 78 and done.stdout == ""
    assert done.stderr.startswith("error: SIMILAR_HEADER_TIMEOUT='0' is out of range: give seconds from 0.1 to 3600")


# --- watches: a damaged database is one line naming it; a partial add says so and a rerun catches up -------------------


def _garbage(p: Path) -> None:
    p.write_bytes(b"not a database at all " * 200)


def _folder(p: Path) -> None:
    p.unlink()
    p.mkdir()


def _foreign(p: Path) -> None:
    p.unlink()
    conn = sqlite3.connect(p)
    conn.execute("CREATE TABLE other (x)")
    conn.commit()
    conn.close()


def _half(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:3000])


NOT_WATCHES = "it is not a watches database (damaged, or another file): restore it, or move it away to start afresh"
DAMAGE = [
    # id, damage, the reason every operation gives
    ("garbled", _garbage, NOT_WATCHES),
    ("foreign-sqlite", _foreign, NOT_WATCHES),
    ("a-folder", _folder, "it is a folder, not a database: move it away"),
]


@pytest.fixture
def watched(tmp_path, tfidf_ix):
    add_watch(tfidf_ix, "w", ["1000"], k=30)
    more = [{"pmid": "7001", "title": "cardiac heart failure ventricular", "abstract": "heart failure myocardial"}]
    return tfidf_ix, write_jsonl(tmp_path / "more.jsonl", more)


@pytest.mark.parametrize("damage,reason", [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_a_damaged_watches_database_is_one_line_everywhere_and_a_rerun_catches_up(watched, damage, reason):
    ix, more = watched
    path = watches_path(ix)
    good = path.read_bytes()
    damage(path)
    first = run("add", more, "--index", ix)
    assert first.exit_code == 4
    assert first.output.splitlines()[-1] == (
        f"error: the index was updated (1 papers added or revised, 0 deleted), but its watches could not be recorded "
        f"in {path} because {reason}; once that is fixed, rerun the same `similar add`: the applied files are "
        "skipped and the watches catch up"
    )
    assert run("query", "7001", "-n", "1", "--index", ix).exit_code == 0  # the index has the paper
    again = run("add", more, "--index", ix)
    assert (
        again.exit_code == 4 and "error: the index is unchanged (every input was applied before), but" in again.output
    )
    for args, doing in (
        (("watch", "list"), "read"),
        (("watch", "feed", "w"), "read"),
        (("watch", "add", "x", "1001"), "write"),
    ):
        res = run(*args, "--index", ix)
        assert res.exit_code == 1 and res.output == f"error: cannot {doing} the watches database {path}: {reason}\n"
    assert_watches_unavailable(ix, path, reason)
    # the file restored: the rerun records what the first add could not, and only once
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    path.write_bytes(good)
    third = run("add", more, "--index", ix)
    assert third.exit_code == 0 and "note: watch w: 1 new paper in its top 30" in third.output
    assert [e.pmid for e in entries(ix, "w")] == ["7001"]
    fourth = run("add", more, "--index", ix)
    assert fourth.exit_code == 0 and "watch w" not in fourth.output


def test_a_watches_database_moved_away_starts_afresh(watched):
    ix, more = watched
    path = watches_path(ix)
    _garbage(path)
    assert run("add", more, "--index", ix).exit_code == 4
    path.rename(path.with_suffix(".broken"))
    assert run("add", more, "--index", ix).exit_code == 0
    assert run("watch", "list", "--index", ix).output == ""


def test_a_zero_length_watches_database_reads_as_none_and_is_written_afresh(watched):
    ix, more = watched
    path = watches_path(ix)
    path.write_bytes(b"")
    assert run("watch", "list", "--index", ix).output == ""
    assert TestClient(create_app(ix)).get("/v1/watches").json() == {"watches": []}
    assert run("add", more, "--index", ix).exit_code == 0
    assert run("watch", "add", "x", "1000", "--index", ix).exit_code == 0


@pytest.mark.parametrize("keep", [3000, 100])
def test_a_truncated_watches_database_is_one_line(watched, keep):
    ix, more = watched
    path = watches_path(ix)
    path.write_bytes(path.read_bytes()[:keep])
    reason = "it is damaged (database disk image is malformed): restore it, or move it away to start afresh"
    res = run("watch", "list", "--index", ix)
    assert res.exit_code == 1 and res.output == f"error: cannot read the watches database {path}: {reason}\n"
    res = run("add", more, "--index", ix)
    assert res.exit_code == 4 and f"because {reason};" in res.output


def test_a_locked_watches_database_is_one_line(watched, monkeypatch):
    from similar import watch

    ix, more = watched
    monkeypatch.setattr(watch, "READ_TIMEOUT", 0.2)
    monkeypatch.setattr(watch, "WRITE_TIMEOUT", 0.2)
    holder = sqlite3.connect(watches_path(ix))
    holder.execute("BEGIN EXCLUSIVE")
    try:
        reason = "another process holds it locked: retry when it is done"
        res = run("watch", "list", "--index", ix)
        assert res.output == f"error: cannot read the watches database {watches_path(ix)}: {reason}\n"
        res = run("add", more, "--index", ix)
        assert res.exit_code == 4 and f"because {reason};" in res.output
    finally:
        holder.rollback()
        holder.close()
    assert run("add", more, "--index", ix).exit_code == 0
    assert [e.pmid for e in entries(ix, "w")] == ["7001"]


def test_a_watch_on_a_read_only_data_folder_names_the_database(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only filesystem needs root to mount a tmpfs")
    mnt = tmp_path / "ro"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        ix = mnt / "ix"
        build_index([write_jsonl(tmp_path / "b.jsonl", make_corpus(12))], ix, method="tfidf", progress=False)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        res = run("watch", "add", "w", "1000", "--index", ix)
        assert res.exit_code == 1
        assert (
            res.output
            == f"error: cannot write the watches database {mnt}/ix.watches.sqlite: its folder {mnt} is not writable\n"
        )
        assert run("watch", "list", "--index", ix).output == ""
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_watch_text_that_is_not_utf8_is_one_line(tfidf_ix):
    from similar.errors import SimilarError

    with pytest.raises(SimilarError, match="not valid UTF-8"):
        add_watch(tfidf_ix, "w", text="heart \udcff")


def test_a_rebuilt_index_is_not_new_papers(tmp_path, watched):
    ix, more = watched
    build_index([write_jsonl(tmp_path / "re.jsonl", make_corpus(30))], ix, method="tfidf", progress=False)
    res = run("add", more, "--index", ix)
    assert res.exit_code == 0
    assert "note: watch w: the index was rebuilt; it records papers added from now on" in res.output
    assert entries(ix, "w") == []


# --- watches: a valid database whose rows hold the wrong types (issue 19 replay, 22-25) --------------------------------

FIX_ROW = "fix or delete that row, or move the database away to start afresh"
BAD_WATCH_ROWS = [
    # id, SET clause, the reason every operation gives
    ("k-text", "k='abc'", f"watch 'w' has k='abc', not a whole number from 1 to 1000: {FIX_ROW}"),
    ("k-zero", "k=0", f"watch 'w' has k=0, not a whole number from 1 to 1000: {FIX_ROW}"),
    ("seen-text", "seen='x'", f"watch 'w' has seen='x', not a whole number: {FIX_ROW}"),
    ("text-blob", "text=x'ff00'", f"watch 'w' has text=b'\\xff\\x00', not text: {FIX_ROW}"),
    ("pmids-number", "pmids=12.5", f"watch 'w' has pmids='12.5', not PMIDs separated by spaces: {FIX_ROW}"),
]


@pytest.mark.parametrize("change,reason", [b[1:] for b in BAD_WATCH_ROWS], ids=[b[0] for b in BAD_WATCH_ROWS])
def test_a_watch_row_of_the_wrong_type_is_one_line_everywhere(watched, change, reason):
    ix, more = watched
    path = watches_path(ix)
    conn = sqlite3.connect(path)
    conn.execute(f"UPDATE watches SET {change}")
    conn.commit()
    conn.close()
    first = run("add", more, "--index", ix)
    assert first.exit_code == 4
    assert first.output.splitlines()[-1] == (
        f"error: the index was updated (1 papers added or revised, 0 deleted), but its watches could not be recorded "
        f"in {path} because {reason}; once that is fixed, rerun the same `similar add`: the applied files are "
        "skipped and the watches catch up"
    )
    assert "unexpected" not in first.output
    if change.startswith("seen"):  # only an add reads how far a watch has looked: reading the watch still works
        assert run("watch", "list", "--index", ix).output.startswith("w")
        return
    for args in (("watch", "list"), ("watch", "feed", "w")):
        res = run(*args, "--index", ix)
        assert res.exit_code == 1 and res.output == f"error: cannot read the watches database {path}: {reason}\n"
    assert_watches_unavailable(ix, path, reason)


BAD_ENTRY_ROWS = [
    ("score-nan-text", "score='NaN'", "score='NaN', not a finite number"),
    ("score-blob", "score=x'00'", "score=b'\\x00', not a finite number"),
    ("rank-text", "rank='first'", "rank='first', not a whole number"),
    ("title-blob", "title=x'c0'", "title=b'\\xc0', not text"),
    ("added-null", "added=NULL", "added=None, not text"),
]


@pytest.mark.parametrize("change,wrong", [b[1:] for b in BAD_ENTRY_ROWS], ids=[b[0] for b in BAD_ENTRY_ROWS])
def test_an_entry_row_of_the_wrong_type_is_one_line_in_the_feed(watched, change, wrong):
    ix, more = watched
    assert run("add", more, "--index", ix).exit_code == 0
    path = watches_path(ix)
    conn = sqlite3.connect(path)
    if "NULL" in change:  # NOT NULL holds in SQLite: a NULL can only come from a table made without it
        conn.executescript(
            "CREATE TABLE e2 AS SELECT * FROM entries; DROP TABLE entries; ALTER TABLE e2 RENAME TO entries;"
        )
    conn.execute(f"UPDATE entries SET {change}")
    conn.commit()
    conn.close()
    reason = f"an entry of watch 'w' (PMID '7001') has {wrong}: {FIX_ROW}"
    res = run("watch", "feed", "w", "--index", ix)
    assert res.exit_code == 1 and res.output == f"error: cannot read the watches database {path}: {reason}\n"
    client = TestClient(create_app(ix), raise_server_exceptions=False)
    r = client.get("/v1/watches/w/feed.atom")
    assert r.status_code == 503 and r.json() == {
        "error": f"watches are unavailable: {path.name}: {reason}",
        "status": 503,
    }


@pytest.mark.parametrize("var", ["SIMILAR_HOME", "SIMILAR_CACHE"])
@pytest.mark.parametrize("kind", ["a-file", "too-long"])
def test_a_bad_home_or_cache_is_one_line_78_not_an_import_traceback(tmp_path, var, kind):
    """keep_out_of_home runs on `import similar`: a bad value is left to the start-up check (issue 19 replay 4, 5)."""
    value = tmp_path / ("afile" if kind == "a-file" else "a" * 300)
    if kind == "a-file":
        value.write_text("mine")
    env = {**os.environ, "PYTHONPATH": SRC, var: str(value)}
    res = subprocess.run(
        [sys.executable, "-m", "similar.cli", "info"], env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 78, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr
    what = "is a file: give a folder" if kind == "a-file" else "is too long a path"
    assert lines[0].startswith(f"error: {var}='{value}' {what}")
