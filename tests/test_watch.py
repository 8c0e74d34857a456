"""Watch lists: each add records the new papers in a watch's top k; Atom feeds read back by feedparser; CLI and HTTP."""

import pytest
from click.testing import CliRunner

from fixtures import MEDLINE
from medline_xml import write_medline
from similar.build import build_index
from similar.cli import main
from similar.collection import recommend_collection
from similar.errors import NotFound, SimilarError
from similar.index import Index
from similar.update import add_to_index
from similar.verify import verify_index
from similar.watch import add_watch, entries, feed, list_watches, record_new, watches_path

feedparser = pytest.importorskip("feedparser")

FIRST = ["2001", "2002", "3001", "3002"]
LATER = ["2003", "2004", "2005", "2010"]  # a trial, a retracted paper, its retraction notice, an animal study


@pytest.fixture
def ix(tmp_path, fake_encoder):
    build_index([write_medline(tmp_path / "first.xml", FIRST)], tmp_path / "ix", model=fake_encoder, progress=False)
    return tmp_path / "ix"


def test_an_add_records_the_new_papers_in_the_top_k_and_the_feed_reads_back(tmp_path, ix, fake_encoder):
    add_watch(ix, "aspirin", ["2001"], k=4)
    add_watch(ix, "top-two", ["2001"], k=2)
    report = add_to_index([write_medline(tmp_path / "later.xml", LATER)], ix, encoder=fake_encoder, progress=False)
    top_four = [n.pmid for n in Index.open(ix).similar("2001", n=4).neighbors]
    assert set(top_four) & set(LATER) == {"2003", "2004", "2010"}  # never the retraction notice 2005
    assert "watch aspirin: 3 new papers in its top 4" in report.notes
    recorded = entries(ix, "aspirin")
    assert {e.pmid for e in recorded} == {"2003", "2004", "2010"}
    top_two = [n.pmid for n in Index.open(ix).similar("2001", n=2).neighbors]
    assert [e.pmid for e in entries(ix, "top-two")] == [p for p in top_two if p in LATER]  # only what ranks within k
    parsed = feedparser.parse(feed(ix, "aspirin", "http://127.0.0.1:8000"))
    assert parsed.bozo == 0 and parsed.version == "atom10"
    assert parsed.feed.title == "New papers like PMID 2001 (aspirin)"
    assert {e.link for e in parsed.entries} == {
        f"https://pubmed.ncbi.nlm.nih.gov/{p}/" for p in ("2003", "2004", "2010")
    }
    titles = {e.id.rsplit(":", 1)[1]: e.title for e in parsed.entries}
    assert titles["2004"] == "[Retracted] Platelet aspirin effects on infarction size"
    summary = next(e.summary for e in parsed.entries if e.id.endswith(":2003"))
    assert summary.startswith("Gray B, Hill C · Trials in Cardiology · 2003. Rank ")


def test_watches_survive_the_atomic_publish_and_the_index_still_verifies(tmp_path, ix, fake_encoder):
    add_watch(ix, "aspirin", ["2001"], k=5)
    add_to_index([write_medline(tmp_path / "later.xml", LATER)], ix, encoder=fake_encoder, progress=False)
    add_to_index([write_medline(tmp_path / "more.xml", ["2006", "2008"])], ix, encoder=fake_encoder, progress=False)
    assert watches_path(ix) == ix.parent / "ix.watches.sqlite" and not (ix / "ix.watches.sqlite").exists()
    assert [w.name for w in list_watches(ix)] == ["aspirin"]
    assert {"2006", "2008"} <= {e.pmid for e in entries(ix, "aspirin")}
    assert verify_index(ix).ok


def test_a_paper_recorded_once_is_not_recorded_again(tmp_path, ix, fake_encoder):
    add_watch(ix, "aspirin", ["2001"], k=5)
    add_to_index([write_medline(tmp_path / "later.xml", ["2003"])], ix, encoder=fake_encoder, progress=False)
    first = entries(ix, "aspirin")
    revised = write_medline(
        tmp_path / "revised.xml", ["2003"], title="Aspirin after myocardial infarction: a randomized trial, revised"
    )
    report = add_to_index([revised], ix, encoder=fake_encoder, progress=False)
    assert entries(ix, "aspirin") == first and not any(n.startswith("watch aspirin") for n in report.notes)


def test_text_and_collection_watches(tmp_path, ix, fake_encoder):
    add_watch(ix, "text", text="aspirin cardiac infarction platelet", k=4)
    add_watch(ix, "both", ["2001", "2002"], k=3)
    add_to_index([write_medline(tmp_path / "later.xml", LATER)], ix, encoder=fake_encoder, progress=False)
    index = Index.open(ix, encoder=fake_encoder)
    text_top = {n.pmid for n in index.similar_text("aspirin cardiac infarction platelet", n=4).neighbors}
    both_top = {n.pmid for n in recommend_collection(index, ["2001", "2002"], n=3).neighbors}
    assert {e.pmid for e in entries(ix, "text")} == text_top & set(LATER) != set()
    assert {e.pmid for e in entries(ix, "both")} == both_top & set(LATER) != set()
    assert feedparser.parse(feed(ix, "text")).feed.title == "New papers like a text (text)"


def test_a_watch_whose_paper_was_deleted_says_so(tmp_path, ix, fake_encoder):
    add_watch(ix, "gone", ["3001"], k=2)
    report = add_to_index(
        [write_medline(tmp_path / "later.xml", ["2003"], deleted=["3001"])], ix, encoder=fake_encoder, progress=False
    )
    assert "watch gone not updated: PMID 3001 was deleted from this index (a DeleteCitation removed it)" in report.notes


@pytest.mark.parametrize(
    "name, pmids, kwargs, message",
    [
        (
            "bad name",
            ["2001"],
            {},
            "watch name 'bad name' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        ),
        (
            "-x",
            ["2001"],
            {},
            "watch name '-x' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        ),
        ("w", [], {}, "a watch needs at least one PMID or a --text"),
        ("w", ["2001"], {"k": 0}, "k must be between 1 and 1000, got 0"),
        ("w", ["9"], {}, "PMID 9 is not in index ix (4 papers): add it with `similar add`, or query with --text"),
        ("w", ["x1"], {}, "PMID must be a number, got 'x1'"),
    ],
)
def test_bad_watches_are_one_line_errors(ix, name, pmids, kwargs, message):
    with pytest.raises(SimilarError) as exc:
        add_watch(ix, name, pmids, **kwargs)
    assert str(exc.value) == message
    assert list_watches(ix) == []


def test_a_watch_name_is_taken_once_and_an_unknown_one_is_not_found(ix):
    add_watch(ix, "w", ["2001"])
    with pytest.raises(SimilarError) as exc:
        add_watch(ix, "w", ["2002"])
    assert str(exc.value) == "watch w exists: remove it first with `similar watch remove w`"
    with pytest.raises(NotFound) as exc:
        feed(ix, "nope")
    assert str(exc.value) == "no watch 'nope' on index ix: add one with `similar watch add nope PMID`"


def test_no_watches_costs_nothing(ix):
    assert record_new(ix, ["2001"]) == [] and not watches_path(ix).exists()


def test_cli_watch_add_list_feed_remove(tmp_path, ix, fake_encoder):
    run = lambda *args: CliRunner().invoke(main, [*args, "--index", str(ix)])  # noqa: E731
    out = run("watch", "add", "aspirin", "2001", "-k", "4")
    assert out.exit_code == 0 and out.output.startswith("watching aspirin: papers like 2001, top 4; kept in ")
    add_to_index([write_medline(tmp_path / "later.xml", LATER)], ix, encoder=fake_encoder, progress=False)
    listed = run("watch", "list")
    assert listed.output.split("\t")[:4] == ["aspirin", "2001", "-", "top 4"] and "\t3 new\t" in listed.output
    parsed = feedparser.parse(run("watch", "feed", "aspirin").output)
    assert parsed.bozo == 0 and len(parsed.entries) == 3
    missing = run("watch", "feed", "nope")
    assert missing.exit_code != 0 and missing.output.startswith("error: no watch 'nope'")
    assert run("watch", "remove", "aspirin").output == "removed watch aspirin\n" and list_watches(ix) == []


def test_http_feed(tmp_path, ix, fake_encoder):
    from fastapi.testclient import TestClient

    from similar.server.app import create_app

    add_watch(ix, "aspirin", ["2001"], k=4)
    add_to_index([write_medline(tmp_path / "later.xml", LATER)], ix, encoder=fake_encoder, progress=False)
    client = TestClient(create_app(ix, Index.open(ix)))
    r = client.get("/v1/watches/aspirin/feed.atom")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(r.text)
    assert parsed.bozo == 0 and len(parsed.entries) == 3
    assert parsed.feed.links[0].href == "http://testserver/v1/watches/aspirin/feed.atom"
    assert client.get("/v1/watches").json()["watches"][0]["pmids"] == ["2001"]
    missing = client.get("/v1/watches/nope/feed.atom")
    assert missing.status_code == 404 and missing.json()["error"].startswith("no watch 'nope'")


def test_a_watch_on_the_real_medline_file(tmp_path, fake_encoder):
    build_index([MEDLINE / "test_current_medline.xml.gz"], tmp_path / "ix", model=fake_encoder, progress=False)
    add_watch(tmp_path / "ix", "back-pain", ["36400559"], k=10)
    add_to_index([MEDLINE / "medline16n0902.xml.gz"], tmp_path / "ix", encoder=fake_encoder, progress=False)
    recorded = entries(tmp_path / "ix", "back-pain")
    assert len(recorded) == 10 and all(e.byline for e in recorded)
    assert feedparser.parse(feed(tmp_path / "ix", "back-pain")).bozo == 0
