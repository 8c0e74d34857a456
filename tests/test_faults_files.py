"""Fault table of damaged or tampered index files (issue 19, part 2): every file, garbled in the middle or the header,
truncated, emptied, given another dtype or a huge shape, swapped with another; the manifest's SHA-256 updated to match
(a tamperer can) and the index treated as large (no hashes on open). Every face ends with the one line naming the file:
CLI query by PMID and by text under each method, verify, add, HTTP; never a segfault, and the server serves on."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixtures import FakeEncoder, make_corpus, write_jsonl
from similar import checks, store
from similar.build import build_index
from similar.errors import CorruptIndex, SimilarError
from similar.index import Index
from similar.update import add_to_index
from similar.verify import verify_index

SRC = str(Path(__file__).resolve().parents[1] / "src")
METHODS = ("dense", "tfidf", "bm25", "pmra", "hybrid")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """40 papers, dense (fake encoder) + lexical + stored lists, built once for the module and copied per test."""
    root = tmp_path_factory.mktemp("built")
    dest = root / "index" / "d"
    build_index([write_jsonl(root / "base.jsonl", make_corpus(40))], dest, model=FakeEncoder(), progress=False)
    return dest


@pytest.fixture
def ix(built, tmp_path) -> Path:
    dest = tmp_path / "index" / "d"
    shutil.copytree(built, dest)
    return dest


def rehash(p: Path) -> None:
    """What a tamperer does after changing bytes: the manifest's sizes and SHA-256 made to match again."""
    m = json.loads((p / "manifest.json").read_text())
    m["files"] = {
        n: {"bytes": (p / n).stat().st_size, "sha256": hashlib.sha256((p / n).read_bytes()).hexdigest()}
        for n in m["files"]
    }
    (p / "manifest.json").write_text(json.dumps(m))


def _header_text(data: bytes) -> tuple[str, int]:
    end = data.index(b"\n") + 1
    return data[:end].decode("latin-1"), end


def damage(p: Path, name: str, kind: str) -> None:
    f = p / name
    b = bytearray(f.read_bytes())
    rng = np.random.default_rng(0)
    if kind == "middle":  # 64 bytes garbled inside the data
        mid = len(b) // 2
        b[mid : mid + 64] = rng.bytes(min(64, len(b) - mid))
    elif kind == "values":  # one element of the data set to a value out of any range
        header, end = _header_text(bytes(b))
        dtype = np.dtype(re.search(r"'descr': '([^']+)'", header).group(1))
        arr = np.frombuffer(bytes(b[end:]), dtype=dtype).copy()
        arr.reshape(-1)[len(arr.reshape(-1)) // 2] = np.nan if dtype.kind == "f" else 10**9
        b[end:] = arr.tobytes()
    elif kind == "pages":  # everything after SQLite's first page
        b[4096:] = rng.bytes(len(b) - 4096)
    elif kind == "magic":
        b[:64] = rng.bytes(64)
    elif kind == "header":  # the header's dict garbled, magic kept
        b[10:60] = rng.bytes(50)
    elif kind == "truncated":
        b = b[: len(b) // 2]
    elif kind == "empty":
        b = bytearray()
    elif kind in ("huge", "dtype"):
        header, end = _header_text(bytes(b))
        if kind == "huge":
            new = re.sub(r"'shape': \((\d+)", lambda m: f"'shape': ({int(m.group(1)) * 10**6}", header, count=1)
        else:
            new = header.replace("<i4", "<f4", 1) if "<i4" in header else header.replace("<f4", "<i4", 1)
        new = new.rstrip("\n").rstrip(" ")
        b[:end] = (new + " " * (end - 1 - len(new)) + "\n").encode("latin-1")
    f.write_bytes(bytes(b))


def swap(p: Path, a: str, b: str) -> None:
    da, db = (p / a).read_bytes(), (p / b).read_bytes()
    (p / a).write_bytes(db)
    (p / b).write_bytes(da)


def outcome(fn) -> str:
    try:
        fn()
    except SimilarError as exc:
        return str(exc)
    return "ok"


def every_face(p: Path) -> dict[str, str]:
    """Each method by PMID (stored list and live), by text; verify; an add onto the index."""
    out = {}
    for m in METHODS:
        out[f"{m} pmid"] = outcome(lambda: Index.open(p, encoder=FakeEncoder()).similar("1001", 5, method=m))
        out[f"{m} live"] = outcome(lambda: Index.open(p).live_only().similar("1001", 5, method=m))
        out[f"{m} text"] = outcome(
            lambda: Index.open(p, encoder=FakeEncoder()).similar_text("cardiac heart neuron cortex", 5, method=m)
        )

    def verify():
        found = verify_index(p).problems
        if found:
            raise CorruptIndex(found[0])

    out["verify"] = outcome(verify)
    extra = write_jsonl(p.parent / "extra.jsonl", [{"pmid": "5000", "title": "extra cardiac paper", "abstract": "x"}])
    out["add"] = outcome(lambda: add_to_index([extra], p, encoder=FakeEncoder(), progress=False))
    return out


L = "lexical."
FACES = {f"{m} {how}" for m in METHODS for how in ("pmid", "live", "text")} | {"verify", "add"}
QUERIES = FACES - {"add"}  # an add recomputes the row table from papers.sqlite: it never reads the damaged one
BM25 = {"bm25 live", "bm25 pmid"}
# file, damage, the line after "corrupt index {p}: " (a regex), and exactly which faces fail with it (the others
# answer: they never read the damaged bytes; an add rewrites every lexical array from the counts)
TABLE = [
    # the issue's case: 64 garbled bytes inside the BM25 rows' indices, the manifest's hash updated
    (
        L + "bm25.rows.indices.npy",
        "middle",
        r"lexical\.bm25\.rows\.indices\.npy holds indices outside 0\.\.71",
        {"hybrid live", "hybrid text", "verify"},  # a BM25 query reads the counts and the postings, not these
    ),
    (
        L + "bm25.postings.indices.npy",
        "values",
        r"lexical\.bm25\.postings\.indices\.npy holds indices outside 0\.\.39",
        BM25 | {"bm25 text", "verify"},
    ),  # every BM25 search, exact or pruned, reads the postings of the query's terms
    (
        L + "tfidf.rows.indptr.npy",
        "values",
        r"lexical\.tfidf\.rows\.indptr\.npy is not monotone",
        {"tfidf live", "tfidf pmid", "hybrid live", "verify"},  # a text query reads the postings, not the rows
    ),
    (
        L + "pmra.rows.data.npy",
        "values",
        r"lexical\.pmra\.rows\.data\.npy holds non-finite values",
        {"pmra live", "pmra pmid", "verify"},
    ),
    (
        L + "abstract.data.npy",
        "values",
        r"lexical\.abstract\.data\.npy holds non-finite values",
        BM25 | {"hybrid live", "verify", "add"},
    ),
    (
        L + "title.indices.npy",
        "values",
        r"lexical\.title\.indices\.npy holds indices outside 0\.\.71",
        BM25 | {"hybrid live", "verify", "add"},
    ),
    (L + "bm25.self.npy", "values", r"lexical\.bm25\.self\.npy holds non-finite values", {"hybrid live", "verify"}),
    # headers, sizes, dtypes: seen on open, whatever the method
    (
        L + "bm25.rows.indices.npy",
        "magic",
        r"lexical\.bm25\.rows\.indices\.npy cannot be read \(ValueError: the magic string is not correct; .+\)",
        FACES,
    ),
    (
        L + "tfidf.postings.data.npy",
        "header",
        r"lexical\.tfidf\.postings\.data\.npy cannot be read \(ValueError: .+\)",
        FACES,
    ),
    (
        L + "pmra.postings.indptr.npy",
        "truncated",
        r"lexical\.pmra\.postings\.indptr\.npy is 210 bytes, its header says 420",
        FACES,
    ),
    (
        L + "title.indptr.npy",
        "empty",
        r"lexical\.title\.indptr\.npy cannot be read \(ValueError: EOF: reading magic string, expected 8 bytes got 0\)",
        FACES,
    ),
    (
        L + "abstract.indices.npy",
        "huge",
        r"lexical\.abstract\.indices\.npy holds int32 x \(470000000,\), expected int32 x \(470,\)",
        FACES,
    ),
    (L + "bm25.idf.npy", "dtype", r"lexical\.bm25\.idf\.npy holds int32 x \(72,\), expected float32 x \(72,\)", FACES),
    (L + "json", "magic", r"lexical\.json cannot be read \((JSONDecodeError|UnicodeDecodeError): .+\)", FACES),
    (
        L + "vocabulary.txt",
        "truncated",
        r"lexical\.vocabulary\.txt holds \d+ terms, the lexical matrices 72",
        {"bm25 text", "hybrid text", "pmra text", "tfidf text", "verify", "add"},
    ),
    (
        "neighbours.rows.npy",
        "values",
        r"neighbours\.rows\.npy holds rows outside 0\.\.39",
        {"verify", "add"},
    ),  # row 20's list: a query by PMID checks the one list it reads (see below)
    (
        "neighbours.scores.npy",
        "values",
        r"neighbours\.scores\.npy holds non-finite scores in row 1's list|neighbours\.scores\.npy holds non-finite values",
        {"verify", "add"},
    ),
    ("neighbours.floors.npy", "values", r"neighbours\.floors\.npy holds NaN or \+inf", {"add", "verify"}),
    ("neighbours.tops.npy", "values", r"neighbours\.tops\.npy holds NaN or \+inf", {"add", "verify"}),
    # the exact marks: read by an add (its pools) and verify only, never by a query
    (
        "neighbours.exact.npy",
        "huge",
        r"neighbours\.exact\.npy holds bool x \(40000000,\), expected bool x \(40,\)",
        {"add", "verify"},
    ),
    (
        "neighbours.exact.npy",
        "truncated",  # a 40-byte array: the cut falls inside the header
        r"neighbours\.exact\.npy cannot be read \(ValueError: EOF: reading array header, expected \d+ bytes got \d+\)",
        {"add", "verify"},
    ),
    ("neighbours.exact.npy", "header", r"neighbours\.exact\.npy cannot be read \(ValueError: .+\)", {"add", "verify"}),
    ("neighbours.rows.npy", "huge", r"neighbours\.rows\.npy is 16128 bytes, its header says \d+", FACES),
    ("neighbours.floors.npy", "header", r"neighbours\.floors\.npy cannot be read \(ValueError: .+\)", FACES),
    (
        "neighbours.scores.npy",
        "dtype",
        r"neighbours\.scores\.npy holds int32 x \(40, 100\), expected float32 x \(40, 100\)",
        FACES,
    ),
    ("rowtable.npy", "header", r"rowtable\.npy cannot be read \(ValueError: .+\)", QUERIES),
    (
        "rowtable.npy",
        "huge",
        r"rowtable\.npy holds records of 7 fields x \(40000000,\), expected records of 7 fields x \(40,\)",
        QUERIES,
    ),
    ("rowtable.npy", "truncated", r"rowtable\.npy is 528 bytes, its header says 1056", QUERIES),
    (
        "vectors.faiss",
        "magic",
        r"vectors\.faiss (does not start like a FAISS index|holds -?\d+ vectors of dimension -?\d+, the manifest says 40 of 64)",
        FACES,
    ),
    ("vectors.faiss", "truncated", r"vectors\.faiss is 5142 bytes, 40 vectors of dimension 64 take 10285", FACES),
    ("vectors.faiss", "empty", r"vectors\.faiss is 0 bytes, too short for a FAISS index", FACES),
    (
        "papers.sqlite",
        "pages",
        r"papers\.sqlite cannot be read \(DatabaseError: database disk image is malformed\)",
        FACES,
    ),
]
IDS = [f"{name}-{kind}" for name, kind, _, _ in TABLE]


@pytest.mark.parametrize("name,kind,message,seen", TABLE, ids=IDS)
def test_tampered_file_is_one_line_naming_it_on_every_face(ix, monkeypatch, name, kind, message, seen):
    """The manifest's hash updated to match, and the index treated as large (no hashes on open)."""
    damage(ix, name, kind)
    rehash(ix)
    monkeypatch.setattr(store, "HASH_ON_OPEN_LIMIT", 0)
    got = every_face(ix)
    expected = "corrupt index " + re.escape(str(ix)) + ": (" + message + "); rebuild it"
    failed = {face for face, line in got.items() if line != "ok"}
    assert failed == seen, got
    for face in failed:
        assert re.fullmatch(expected, got[face]), (face, got[face])


@pytest.mark.parametrize(
    "a,b,message",
    [
        (
            L + "bm25.rows.indices.npy",
            L + "bm25.rows.data.npy",
            r"lexical\.bm25\.rows\.data\.npy holds int32 x \(\d+,\), expected float32 x \(\d+,\)",
        ),
        (
            L + "title.indptr.npy",
            L + "bm25.postings.indptr.npy",
            r"lexical\.title\.indptr\.npy holds int32 x \(73,\), expected int32 x \(41,\)",
        ),
        (
            "neighbours.rows.npy",
            "neighbours.scores.npy",
            r"neighbours\.rows\.npy holds float32 x \(40, 100\), expected int32 x \(None, None\)|neighbours\.rows\.npy holds float32 x \(40, 100\), expected int32 x \(40, 100\)",
        ),
        ("rowtable.npy", "neighbours.floors.npy", r"rowtable\.npy holds .+, expected .+"),
    ],
)
def test_swapped_files_name_the_first_one_read(ix, a, b, message):
    swap(ix, a, b)
    rehash(ix)
    with pytest.raises(CorruptIndex) as err:
        Index.open(ix)
    assert re.fullmatch("corrupt index " + re.escape(str(ix)) + ": (" + message + "); rebuild it", str(err.value))


@pytest.mark.parametrize("rehashed", [True, False])
def test_the_issue_case_never_segfaults_cli_or_server(ix, rehashed, monkeypatch):
    """64 garbled bytes inside the BM25 index a BM25 query reads (its postings; the issue's case was its rows, which
    it read then): `similar query --method bm25` as a real process (it died by SIGSEGV), and one HTTP request (it
    killed the server); hashed on open or not."""
    damage(ix, L + "bm25.postings.indices.npy", "middle")
    if rehashed:
        rehash(ix)
    env = {**os.environ, "PYTHONPATH": SRC}
    line = (
        f"error: corrupt index {ix}: lexical.bm25.postings.indices.npy holds indices outside 0..39; rebuild it"
        if rehashed
        else f"error: corrupt index {ix}: lexical.bm25.postings.indices.npy does not match its SHA-256 in the manifest; rebuild it"
    )
    for args in (["1000", "--method", "bm25"], ["--text", "cardiac heart failure", "--method", "bm25"]):
        proc = subprocess.run(
            [sys.executable, "-m", "similar.cli", "query", *args, "--index", str(ix)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 1, (proc.returncode, proc.stderr)
        assert (proc.stdout + proc.stderr).strip() == line

    from fastapi.testclient import TestClient

    from similar.server.app import create_app

    if not rehashed:
        return  # the server would refuse to open it at all
    client = TestClient(create_app(ix), raise_server_exceptions=False)
    r = client.get("/v1/papers/1001/similar?method=bm25&n=3")
    assert r.status_code == 500 and r.json() == {"error": line.removeprefix("error: "), "status": 500}
    r = client.get("/v1/papers/1001/similar?method=bm25&n=3")  # again: the same line, checked once, remembered
    assert r.status_code == 500 and r.json()["error"] == line.removeprefix("error: ")
    assert client.get("/v1/papers/1001/similar?method=tfidf&n=3").status_code == 200
    assert client.get("/v1/papers/1001/similar?n=3").status_code == 200
    assert client.get("/v1/health").json()["papers"] == 40


def test_a_garbled_sqlite_page_fails_the_request_not_the_server(ix):
    """papers.sqlite garbled past its header, hash updated: open reads it whole on a small index, so the check runs on
    a query of a large one; either way the line names the file. Garbled in place under a server, the file's changed
    mtime answers first (503, the server's fingerprints); an open index reading the page says it is damaged."""
    from fastapi.testclient import TestClient

    from similar.server.app import create_app

    client = TestClient(create_app(ix), raise_server_exceptions=False)
    index = Index.open(ix)
    db = ix / "papers.sqlite"
    data = bytearray(db.read_bytes())
    data[4096:] = np.random.default_rng(0).bytes(len(data) - 4096)
    db.write_bytes(bytes(data))
    r = client.get("/v1/papers/1001/similar?n=3&method=tfidf")
    assert (r.status_code, r.json()) == (
        503,
        {"error": "index files changed under the server (papers.sqlite); reload", "status": 503},
    )
    assert client.get("/v1/health").status_code == 200
    with pytest.raises(SimilarError) as caught:
        index.similar("1001", 3, method="tfidf")
    assert re.fullmatch(
        rf"corrupt index {re.escape(str(ix))}: papers\.sqlite cannot be read \(DatabaseError: .+\); rebuild it",
        str(caught.value),
    )
    index.close()


def test_checks_run_once_per_array_and_are_remembered(ix, monkeypatch):
    calls = []
    real = checks.in_range
    monkeypatch.setattr(checks, "in_range", lambda *a, **k: calls.append(1) or real(*a, **k))
    index = Index.open(ix)
    index.live_only().similar("1001", 3, method="bm25")
    first = len(calls)
    index.live_only().similar("1002", 3, method="bm25")
    assert first > 0 and len(calls) == first  # the second query checks nothing again


def test_check_helpers_on_edge_cases():
    assert checks.monotone(np.array([0, 0, 1, 5], np.int32)) and not checks.monotone(np.array([0, 2, 1], np.int32))
    assert checks.monotone(np.array([], np.int32)) and checks.monotone(np.array([3], np.int32))
    assert checks.in_range(np.array([0, 9], np.int32), 0, 10) and not checks.in_range(np.array([-1], np.int32), 0, 10)
    assert checks.finite(np.array([1e38, 1e38], np.float32)) and not checks.finite(np.array([1, np.inf], np.float32))
    assert not checks.finite(np.array([np.nan], np.float32)) and checks.finite(np.array([], np.float32))
    for chunk in (1, 2, 3):
        assert not checks.monotone(np.array([0, 1, 2, 1, 3], np.int32), chunk=chunk)


def test_an_unreadable_lexical_description_is_not_blamed_on_an_array(ix):
    info = json.loads((ix / "lexical.json").read_text())
    (ix / "lexical.json").write_text(json.dumps({**info, "terms": 10**9}))
    rehash(ix)
    with pytest.raises(SimilarError, match=re.escape("lexical.json describes 40 rows x 1000000000 terms, not 40 x 72")):
        Index.open(ix)


@pytest.mark.parametrize(
    "name,value,line",
    [
        ("neighbours.rows.npy", 10**9, "neighbours.rows.npy holds a row outside 0..39 in row 1's list"),
        ("neighbours.rows.npy", -7, "neighbours.rows.npy holds a row outside 0..39 in row 1's list"),
        ("neighbours.scores.npy", np.nan, "neighbours.scores.npy holds non-finite scores in row 1's list"),
    ],
)
def test_a_query_by_pmid_checks_the_stored_list_it_reads(ix, monkeypatch, name, value, line):
    """Stored lists are not read whole on open (400 MB at 1M papers): each query checks the one row it reads."""
    arr = np.load(ix / name)
    arr[1, 0] = value
    np.save(ix / name, arr)
    rehash(ix)
    monkeypatch.setattr(store, "HASH_ON_OPEN_LIMIT", 0)
    index = Index.open(ix)
    with pytest.raises(CorruptIndex) as err:
        index.similar("1001", 5)
    assert str(err.value) == f"corrupt index {ix}: {line}; rebuild it"
    assert index.similar("1002", 5).neighbors  # the other lists answer


def test_http_reload_onto_a_tampered_index_is_409_naming_the_file_and_the_old_one_serves(ix, monkeypatch):
    from fastapi.testclient import TestClient

    from similar.server.app import create_app

    monkeypatch.setenv("SIMILAR_ADMIN_TOKEN", "s3cret")
    client = TestClient(create_app(ix), raise_server_exceptions=False)
    fresh = ix.parent / "fresh"
    shutil.copytree(ix, fresh)
    damage(fresh, L + "bm25.idf.npy", "dtype")
    rehash(fresh)
    ix.rename(ix.parent / "served")
    fresh.rename(ix)
    r = client.post("/admin/reload", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 409 and r.json()["error"] == (
        f"reload failed, still serving the previous index: corrupt index {ix}: lexical.bm25.idf.npy holds int32 x "
        "(72,), expected float32 x (72,); rebuild it"
    )
    assert client.get("/v1/papers/1001/similar?method=bm25&n=3").status_code == 200


# --- a file truncated in place under the running server (issue 19 replay, 3) ------------------------------------------


def _get(port: int, path: str) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _until(check, seconds: float = 30.0):
    import time

    deadline = time.time() + seconds
    while not (got := check()):
        assert time.time() < deadline
        time.sleep(0.2)
    return got


def test_a_file_truncated_under_the_server_is_503_and_the_server_lives(tmp_path):
    """A memory-mapped file truncated in place kills a process with SIGBUS on its next access (the replay's server
    died, rc 135). The server fingerprints its files at open and checks them before each request: 503 naming the
    file, /v1/health says it, a reload (SIGHUP) of a still-broken folder leaves it so, one of the restored folder
    serves again."""
    import signal
    import socket
    import time

    from browser import free_port

    dest = tmp_path / "index" / "d"
    build_index([write_jsonl(tmp_path / "base.jsonl", make_corpus(40))], dest, method="tfidf", progress=False)
    port = free_port()
    with open(tmp_path / "server.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "similar.cli", "serve", "--index", str(dest), "--port", str(port)],
            env={**os.environ, "PYTHONPATH": SRC, "SIMILAR_HOME": str(tmp_path)},
            stdout=log,
            stderr=log,
        )
    try:

        def up() -> bool:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        _until(up, 60)
        ask = "/v1/papers/1000/similar?method=bm25&n=3"
        assert _get(port, ask)[0] == 200
        target = dest / (L + "bm25.rows.indices.npy")
        good = target.read_bytes()
        os.truncate(target, 200)  # in place: the mapped inode shrinks
        changed = "index files changed under the server (lexical.bm25.rows.indices.npy); reload"
        for path in (ask, "/v1/papers/1000", "/v1/papers/1000/similar?method=tfidf"):
            assert _get(port, path) == (503, {"error": changed, "status": 503}), path
        assert proc.poll() is None
        status, health = _get(port, "/v1/health")
        assert status == 200 and health["status"] == changed and health["reloads"] == 0
        proc.send_signal(signal.SIGHUP)  # the folder is still broken: the reload fails, the old index stays refused
        time.sleep(2)
        assert proc.poll() is None and _get(port, ask) == (503, {"error": changed, "status": 503})
        with open(target, "r+b") as f:  # restored in place: the same inode, a new mtime, so still "changed"
            f.write(good)
        assert _get(port, ask)[0] == 503
        proc.send_signal(signal.SIGHUP)
        _until(lambda: _get(port, "/v1/health")[1]["reloads"] == 1)
        assert _get(port, ask)[0] == 200 and _get(port, "/v1/health")[1]["status"] == "ok"
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(30)


def test_every_file_of_the_index_is_held_for_the_per_request_check(ix):
    index = Index.open(ix, guard=True)
    try:
        held = {name for name, _ in index.files.files}
        assert {"manifest.json", "papers.sqlite", "rowtable.npy", "lexical.bm25.rows.indices.npy"} <= held, held
        index.check_files()  # an untouched index passes
    finally:
        index.close()


def test_a_closed_index_checks_nothing(ix):
    index = Index.open(ix, guard=True)
    index.close()
    index.check_files()  # nothing held: nothing to check
    assert index.files is not None and index.files.files == []


# --- tampered manifest.json (it has no checksum), JSON files and papers.sqlite rows, hashes updated to match -------------


def _manifest(change):
    def tamper(p: Path) -> None:
        m = json.loads((p / "manifest.json").read_text())
        change(m)
        (p / "manifest.json").write_text(json.dumps(m))

    return tamper


def _sql(script: str):
    def tamper(p: Path) -> None:
        import sqlite3

        conn = sqlite3.connect(p / "papers.sqlite")
        conn.executescript(script)
        conn.commit()
        conn.close()
        rehash(p)

    return tamper


def _deep(name: str):
    def tamper(p: Path) -> None:
        (p / name).write_text("[" * 100_000 + "]" * 100_000)
        if name != "manifest.json":
            rehash(p)

    return tamper


# tamper, the line after "corrupt index {p}: ", and the CLI commands that must end with it (Q: query by PMID, T: query
# by text under --method dense, J: --format json, V: verify, A: add). A small index checks papers.sqlite on open: a
# large one on add and verify, and each value a query reads (the HTTP test below); stored details are parsed where read
M = "manifest.json "
P = "papers.sqlite "
FILE_TABLE = [
    ("manifest-deep", _deep("manifest.json"), M + "cannot be read (nested too deeply)", "QTJVA"),
    ("manifest-model-null", _manifest(lambda m: m.update(model=None)), M + "describes vectors but no 'model'", "QTVA"),
    ("manifest-model-name-int", _manifest(lambda m: m["model"].update(name=5)), M + "has no valid 'model.name'", "TA"),
    ("manifest-model-list", _manifest(lambda m: m.update(model=["x"])), M + "has no valid 'model'", "QA"),
    ("manifest-dim-str", _manifest(lambda m: m["dense"].update(dim="64")), M + "has no valid 'dense.dim'", "QV"),
    (
        "manifest-precomputed-bogus",
        _manifest(lambda m: m["precomputed"].update(method="bogus")),
        M + "names an unknown method 'bogus' as 'precomputed.method'",
        "QVA",
    ),
    ("manifest-k-zero", _manifest(lambda m: m["precomputed"].update(k=0)), M + "has no valid 'precomputed.k'", "QA"),
    ("manifest-k-bool", _manifest(lambda m: m["precomputed"].update(k=True)), M + "has no valid 'precomputed.k'", "Q"),
    ("manifest-count-str", _manifest(lambda m: m.update(count="40")), M + "has no valid 'count'", "QA"),
    ("manifest-count-huge", _manifest(lambda m: m.update(count=10**30)), M + "has no valid 'count'", "QV"),
    ("manifest-live-negative", _manifest(lambda m: m.update(live=-1)), M + "has no valid 'live'", "QA"),
    ("manifest-live-over-count", _manifest(lambda m: m.update(live=41)), M + "says 41 live rows of 40", "Q"),
    ("manifest-files-list", _manifest(lambda m: m.update(files=[])), M + "has no valid 'files'", "QV"),
    (
        "manifest-files-escape",
        _manifest(lambda m: m["files"].update({"../x": {"bytes": 1, "sha256": "0" * 64}})),
        M + "has no valid 'files' entry '../x'",
        "V",
    ),
    ("manifest-inputs-entry", _manifest(lambda m: m["inputs"].append(5)), M + "has no valid 'inputs' entry 1", "A"),
    (
        "manifest-default-method",
        _manifest(lambda m: m.update(default_method="nope")),
        M + "names an unknown method 'nope' as 'default_method'",
        "J",
    ),
    ("lexical-deep", _deep("lexical.json"), "lexical.json cannot be read (nested too deeply)", "QVA"),
    (
        "papers-year-huge",
        _sql("UPDATE papers SET year = 99999999999 WHERE row = 3"),
        P + "holds a year that is not a whole number from 0 to 9999",
        "QJVA",
    ),
    (
        "papers-year-text",
        _sql("UPDATE papers SET year = 'abc' WHERE row = 3"),
        P + "holds a year that is not a whole number from 0 to 9999",
        "QJVA",
    ),
    (
        "papers-title-blob",
        _sql("UPDATE papers SET title = x'0001' WHERE row = 1"),
        P + "holds a title that is not text",
        "QJVA",
    ),
    ("papers-row-deleted", _sql("DELETE FROM papers WHERE row = 5"), P + "holds 39 rows, the manifest says 40", "VA"),
    (
        "papers-row-extra",
        _sql("INSERT INTO papers (row, pmid, title, text_hash) VALUES (40, '9999', 'x', 'h')"),
        P + "holds 41 rows, the manifest says 40",
        "QJVA",
    ),
    (
        "papers-row-renumbered",
        _sql("UPDATE papers SET row = 77 WHERE row = 5"),
        P + "rows are not numbered 0..39",
        "QJVA",
    ),
    (
        "papers-view",
        _sql("ALTER TABLE papers RENAME TO p2; CREATE VIEW papers AS SELECT * FROM p2;"),
        P + "has no table 'papers'",
        "QJVA",
    ),
    (
        "papers-pmid-text",
        _sql("UPDATE papers SET pmid = 'abc' WHERE row = 2"),
        P + "holds a PMID that is not a number",
        "QJVA",
    ),
    (
        "papers-status",
        _sql("UPDATE papers SET status = 'zombie' WHERE row = 2"),
        P + "holds an unknown row status",
        "QJVA",
    ),
    (
        "papers-mesh-blob",
        _sql("UPDATE papers SET mesh = x'00' WHERE row = 1"),
        P + "holds MeSH terms that are not text",
        "QJVA",
    ),
    (
        "papers-abstract-blob",
        _sql("UPDATE abstracts SET abstract = x'00' WHERE row = 1"),
        P + "holds abstracts that are not text",
        "QJVA",
    ),
    (
        "papers-details-garbled",
        _sql("INSERT OR REPLACE INTO details (row, data) VALUES (1, '[[[')"),
        P + "holds details that are not the JSON similar writes",
        "VA",
    ),
    (
        "papers-details-authors-int",
        _sql("""INSERT OR REPLACE INTO details (row, data) VALUES (1, '{"authors":[5]}')"""),
        P + "holds details that are not the JSON similar writes",
        "VA",
    ),
]
CLI = {
    "Q": ["query", "1001", "--method", "bm25"],
    "T": ["query", "--text", "cancer", "--method", "dense"],
    "J": ["query", "1001", "--format", "json"],
    "V": ["verify"],
    "A": ["add", "EXTRA"],
}
# the CLI as a process, with the fake encoder standing in for the index's model (which a test machine lacks)
RUN = (
    "import sys; from fixtures import FakeEncoder; import similar.encoders as e; "
    "e.load_index_model = lambda m: FakeEncoder(); e.load_encoder = lambda *a, **k: FakeEncoder(); "
    "from similar.cli import main; sys.argv = ['similar', *sys.argv[1:]]; main()"
)


@pytest.mark.parametrize("tamper,line,faces", [row[1:] for row in FILE_TABLE], ids=[row[0] for row in FILE_TABLE])
def test_tampered_manifest_json_and_sqlite_rows_are_one_line_naming_the_file(ix, tamper, line, faces):
    tamper(ix)
    extra = write_jsonl(ix.parent / "extra.jsonl", [{"pmid": "5000", "title": "extra cardiac paper", "abstract": "x"}])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, str(Path(__file__).parent)])}
    want = f"error: corrupt index {ix}: {line}; rebuild it"
    for face in faces:
        args = [str(extra) if a == "EXTRA" else a for a in CLI[face]]
        proc = subprocess.run(
            [sys.executable, "-c", RUN, *args, "--index", str(ix)], env=env, capture_output=True, text=True, timeout=120
        )
        out = (proc.stdout + proc.stderr).strip()
        assert proc.returncode == 1 and out == want, (face, proc.returncode, out)


def test_a_title_of_the_wrong_type_fails_the_request_not_the_server(ix, monkeypatch):
    """A title stored as a BLOB, hash updated, in a large index: a 500 naming papers.sqlite (it was a TypeError), and the
    server serves on."""
    from fastapi.testclient import TestClient

    from similar.server.app import create_app

    monkeypatch.setattr(store, "HASH_ON_OPEN_LIMIT", 0)  # "large": open checks sizes and structure, not every value
    _sql("UPDATE papers SET title = x'0001' WHERE row = 1")(ix)
    client = TestClient(create_app(ix), raise_server_exceptions=False)
    line = f"corrupt index {ix}: papers.sqlite holds a value of the wrong type in row 1; rebuild it"
    for url in ("/v1/papers/1001", "/v1/papers/1000/similar?n=39&method=tfidf"):
        r = client.get(url)
        assert r.status_code == 500 and r.json() == {"error": line, "status": 500}, (url, r.text)
    assert client.get("/v1/papers/1002").status_code == 200
    assert client.get("/v1/health").status_code == 200


@pytest.mark.parametrize(
    "script,url,line",
    [
        (
            "UPDATE papers SET year = 99999999999 WHERE row = 1",
            "/v1/papers/1001",
            "holds a value of the wrong type in row 1",
        ),
        (
            "UPDATE papers SET journal = x'00' WHERE row = 2",
            "/v1/papers/1001/similar?journal=x",
            "holds a journal that is not text",
        ),
    ],
)
def test_values_a_request_reads_are_checked_on_a_large_index(ix, monkeypatch, script, url, line):
    """papers.sqlite tampered (hash updated) in an index too large to check whole on open: the value a request reads
    is checked, one line naming the file, a 500; the server serves on."""
    from fastapi.testclient import TestClient

    from similar.server.app import create_app

    monkeypatch.setattr(store, "HASH_ON_OPEN_LIMIT", 0)  # "large": open checks sizes and structure, not every value
    _sql(script)(ix)
    client = TestClient(create_app(ix), raise_server_exceptions=False)
    r = client.get(url)
    assert r.status_code == 500 and r.json()["error"] == f"corrupt index {ix}: papers.sqlite {line}; rebuild it", r.text
    assert client.get("/v1/papers/1003").status_code == 200


def test_a_year_out_of_range_is_named_when_an_index_without_a_row_table_opens(ix):
    """An index written before rowtable.npy gathers the table from papers.sqlite, checked first (an OverflowError)."""
    (ix / "rowtable.npy").unlink()
    m = json.loads((ix / "manifest.json").read_text())
    del m["files"]["rowtable.npy"]
    (ix / "manifest.json").write_text(json.dumps(m))
    _sql("UPDATE papers SET year = 99999999999 WHERE row = 3")(ix)
    with pytest.raises(SimilarError, match=r"papers\.sqlite holds a year that is not a whole number from 0 to 9999"):
        Index.open(ix)


# --- a file of the index replaced by a FIFO (or another non-regular file): one line, never a hang (replay, 3-9) -------

FIFO_FILES = [
    "manifest.json",
    "rows.txt",
    "rowtable.npy",
    "papers.sqlite",
    "vectors.faiss",
    "lexical.json",
    L + "bm25.rows.indices.npy",
    "neighbours.rows.npy",
]


@pytest.mark.parametrize("name", FIFO_FILES)
@pytest.mark.parametrize("command", [["query", "1000", "--method", "bm25"], ["verify"]], ids=["query", "verify"])
def test_an_index_file_that_is_a_fifo_is_one_line_never_a_hang(ix, name, command):
    (ix / name).unlink()
    os.mkfifo(ix / name)
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run(
        [sys.executable, "-m", "similar.cli", *command, "--index", str(ix)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # a hang (reading a FIFO nobody writes) fails here
    )
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 1 and len(out.splitlines()) == 1, (proc.returncode, out)
    assert name in out and "FIFO" in out and "unexpected" not in out, out
