"""Index logic with the fake encoder: queries, seeds, duplicates, filters, fallbacks, updates, corrupt folders."""

import json
import shutil

import numpy as np
import pytest

from fixtures import FakeEncoder, make_corpus, write_jsonl
from similar import store
from similar.build import build_index
from similar.errors import NotFound, SimilarError
from similar.index import Index
from similar.update import add_to_index


@pytest.fixture
def built(tmp_path, corpus_file, fake_encoder):
    dest = tmp_path / "index" / "t"
    build_index([corpus_file], dest, model=fake_encoder, progress=False)
    return dest


@pytest.mark.parametrize("method", ["hybrid", "dense", "tfidf", "bm25", "pmra"])
def test_every_paper_gets_n_neighbours_never_itself(built, method):
    index = Index.open(built)
    for pmid in index.pmids:
        result = index.similar(pmid, n=10, method=method)
        got = [n.pmid for n in result.neighbors]
        assert pmid not in got and len(set(got)) == len(got)
        # PMRA weighs a word in every paper 0: beyond its topic's 9 papers a paper shares nothing that counts
        assert len(got) == 10 or (method == "pmra" and len(got) == 9 and "share no term" in result.notes[-1])
        assert [n.rank for n in result.neighbors] == list(range(1, len(got) + 1))
        scores = [n.score for n in result.neighbors]
        assert scores == sorted(scores, reverse=True)
        assert result.method == method and result.seed.pmid == pmid


def test_precomputed_lists_equal_live_ranking(built):
    from similar.lists import TOP, TOP_MARGIN
    from similar.ranking import HybridParams, Query

    index = Index.open(built)
    tops = {"top": TOP, "margin": TOP_MARGIN}  # the rule of the top floors an add reads (lists.top_floors)
    assert index.manifest.precomputed == {
        "method": "hybrid",
        "k": 100,
        "params": HybridParams().describe(),
        "tops": tops,
        "exact": True,  # neighbours.exact.npy: every list holds its whole pool (an add takes it as the pool)
    }
    assert index.lists_current
    for pmid in index.pmids:
        looked_up = index.similar(pmid, n=10)
        scores, rows = index.ranker.search("hybrid", Query(row=index.row(pmid)), 10)
        assert [n.pmid for n in looked_up.neighbors] == index.pmids[rows].tolist()
        np.testing.assert_allclose([n.score for n in looked_up.neighbors], scores, atol=1e-6)


def test_neighbours_share_the_topic(built):
    index = Index.open(built)
    result = index.similar("1000", n=5)
    assert all(int(n.pmid) % 4 == 0 for n in result.neighbors)  # topic = index mod 4
    assert result.method == "hybrid" and result.build_id == index.manifest.build_id


def test_hybrid_search_equals_exhaustive_scoring(built):
    from similar.ranking import HybridParams, Query, Ranker

    index = Index.open(built)
    ranker = Ranker(index.ranker.dense, index.ranker.lexical, index.live, HybridParams(pool=1000))
    for row in range(0, 40, 7):
        others = np.array([r for r in range(len(index.pmids)) if r != row])
        fused = ranker.score("hybrid", Query(row=row), others)
        scores, rows = ranker.search("hybrid", Query(row=row), 10)
        assert row not in rows
        np.testing.assert_allclose(scores, np.sort(fused)[::-1][:10], rtol=1e-5)
        np.testing.assert_allclose(fused[np.searchsorted(others, rows)], scores, rtol=1e-5)


def test_hybrid_base_scores_are_scale_free(built):
    from similar.ranking import Query

    index = Index.open(built)
    block = index.ranker._block(Query(row=3), np.array([3, 5]), index.ranker.hybrid, seed_only=False)
    assert block.shape == (3, 2)
    assert block[0, 0] == pytest.approx(1.0, rel=1e-4)  # a paper against itself: cosine 1, normalized BM25 1
    assert block[2, 1] == pytest.approx(1.0, rel=1e-4)
    assert block[0, 1] == pytest.approx(block[1, 1], rel=1e-5)  # the seed's row is the seed's own row in the block


def test_exact_duplicates_are_marked(tmp_path, fake_encoder):
    rows = make_corpus(12)
    rows.append({**rows[3], "pmid": "9999"})
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    build_index([path], tmp_path / "ix", model=fake_encoder, progress=False)
    index = Index.open(tmp_path / "ix")
    result = index.similar(rows[3]["pmid"], n=3, method="dense", versions=False)
    assert result.neighbors[0].pmid == "9999" and result.neighbors[0].duplicate
    assert not any(n.duplicate for n in result.neighbors[1:])
    marked = {n.pmid: n.duplicate for n in index.similar(rows[3]["pmid"], n=12, versions=False).neighbors}
    assert marked["9999"] and sum(marked.values()) == 1
    one_per_work = index.similar(
        rows[3]["pmid"], n=3, method="dense"
    )  # the default: the seed's own versions never appear
    assert "9999" not in [n.pmid for n in one_per_work.neighbors] and one_per_work.versions == ("9999",)
    assert len(one_per_work.neighbors) == 3


def test_year_filters_over_fetch(built):
    index = Index.open(built)
    result = index.similar("1000", n=5, min_year=2005, max_year=2009)
    assert len(result.neighbors) == 5
    assert all(2005 <= n.year <= 2009 for n in result.neighbors)


def test_text_query(built, fake_encoder):
    index = Index.open(built, encoder=fake_encoder)
    for method in ("hybrid", "dense", "tfidf", "bm25", "pmra"):
        result = index.similar_text("neuron synaptic plasticity in the hippocampus", n=3, method=method)
        assert result.seed is None and all(int(n.pmid) % 4 == 1 for n in result.neighbors), method


def test_text_query_falls_back_to_tfidf_without_a_model(built, monkeypatch):
    monkeypatch.setenv("SIMILAR_NO_MODEL", "1")
    index = Index.open(built)  # built with the fake encoder; no model can be loaded for the text
    result = index.similar_text("neuron synaptic plasticity in the hippocampus", n=3)
    assert result.method == "tfidf" and result.notes[0].startswith(
        "answered with tfidf: the index's model fake-hash is not available here"
    )
    assert all(int(n.pmid) % 4 == 1 for n in result.neighbors)
    with pytest.raises(SimilarError, match="^the index's model fake-hash is not available here"):
        index.similar_text("neuron", n=3, method="dense")
    assert len(index.similar("1000", n=10).neighbors) == 10  # queries by PMID need no model


def test_tfidf_only_when_models_are_switched_off(tmp_path, corpus_file, monkeypatch):
    monkeypatch.setenv("SIMILAR_NO_MODEL", "1")
    report = build_index([corpus_file], tmp_path / "ix", progress=False)
    assert report.method == "tfidf"
    index = Index.open(tmp_path / "ix")
    assert index.manifest.model is None and not (tmp_path / "ix" / store.VECTORS).exists()
    assert index.default_method == "tfidf" and "dense" not in index.methods
    assert len(index.similar("1001").neighbors) == 10
    with pytest.raises(SimilarError, match="^method dense needs an embedding model, and index ix is TF-IDF only"):
        index.similar("1001", method="dense")


def test_manifest_describes_the_index(built, corpus_file):
    m = json.loads((built / "manifest.json").read_text())
    assert m["count"] == m["live"] == 40 and m["dense"]["dim"] == 64 and m["dense"]["type"] == "flat"
    assert m["model"]["name"] == "fake-hash" and m["inputs"][0]["sha256"] == store.file_sha256(corpus_file)
    assert m["records"] == {"read": 40, "kept": 40, "skipped": 0, "deleted": 0, "replaced": 0, "unchanged": 0}
    assert set(m["versions"]) >= {"faiss-cpu", "numpy", "scikit-learn"}
    assert (built / "rows.txt").read_text().split()[:2] == ["1000", "1001"]
    assert [p.name for p in built.parent.glob(".t.*")] == [
        ".t.lock"
    ]  # no temp or work folders left behind, only the lock file


def test_bad_records_are_counted_not_fatal(tmp_path, fake_encoder):
    good = make_corpus(6)
    lines = [json.dumps(r) for r in good] + ['{"pmid": "x1", "title": "t"}', json.dumps(good[0]), "{broken"]
    path = write_jsonl(tmp_path / "c.jsonl", lines)
    report = build_index([path], tmp_path / "ix", model=fake_encoder, progress=False)
    assert report.kept == 6 and report.skipped == 3
    assert report.problems == [
        "c.jsonl:7: non-numeric PMID 'x1'",
        "c.jsonl:8: duplicate PMID 1000",
        "c.jsonl:9: invalid JSON (Expecting property name enclosed in double quotes)",
    ]


def test_medline_deletion_and_title_only_records(tmp_path, fake_encoder):
    from fixtures import MEDLINE

    report = build_index([MEDLINE / "medline16n0902.xml.gz"], tmp_path / "ix", model=fake_encoder, progress=False)
    assert report.kept == 604 and report.deleted == 0
    index = Index.open(tmp_path / "ix")
    with pytest.raises(NotFound, match="^PMID 26432306 was deleted from this index"):
        index.similar("26432306")


# --- add -----------------------------------------------------------------------------------------------------


def test_add_new_changed_unchanged_and_deleted(tmp_path, built):
    enc = FakeEncoder()
    corpus = make_corpus()
    update = [
        {
            "pmid": "5000",
            "title": "Cardiac heart failure and myocardial infarction",
            "abstract": "We report cardiac heart failure myocardial infarction ventricular ejection findings in heart research.",
        },
        {**corpus[1], "title": corpus[1]["title"] + " (revised)"},
        corpus[2],
    ]
    path = write_jsonl(tmp_path / "update.jsonl", update)
    report = add_to_index([path], built, encoder=enc, progress=False)
    assert (report.kept, report.replaced, report.unchanged) == (2, 1, 1)
    assert enc.encoded == 2  # the unchanged record cost nothing
    index = Index.open(built)
    assert len(index) == 41 and index.manifest.count == 42
    assert index.paper("1001").title.endswith("(revised)")
    assert "5000" in {n.pmid for n in index.similar("1000", n=5, method="tfidf").neighbors}
    assert "5000" in {n.pmid for n in index.similar("1000", n=10).neighbors}  # lists were recomputed after the add
    assert "1001" in {
        n.pmid for n in index.similar("1005", n=39).neighbors
    }  # the revised paper is listed under its new row
    assert all(n.pmid != "1001" or n.title.endswith("(revised)") for n in index.similar("1005", n=39).neighbors)
    # the same file again is a no-op
    again = add_to_index([path], built, encoder=enc, progress=False)
    assert again.files_skipped == [str(path)] and enc.encoded == 2
    assert Index.open(built).build_id == index.build_id


def test_add_applies_medline_deletions(tmp_path, fake_encoder):
    from fixtures import MEDLINE

    rows = [{"pmid": "26432306", "title": "To be withdrawn", "abstract": "x"}] + make_corpus(5)
    base = write_jsonl(tmp_path / "base.jsonl", rows)
    build_index([base], tmp_path / "ix", model=fake_encoder, progress=False)
    report = add_to_index([MEDLINE / "medline16n0902.xml.gz"], tmp_path / "ix", encoder=fake_encoder, progress=False)
    assert report.deleted == 1 and report.kept == 604
    index = Index.open(tmp_path / "ix")
    with pytest.raises(NotFound, match="deleted"):
        index.paper("26432306")
    assert all(n.pmid != "26432306" for n in index.similar("1000", n=50).neighbors)
    assert [e["name"] for e in index.manifest.inputs] == ["base.jsonl", "medline16n0902.xml.gz"]
    # the same update file again changes nothing: same build, same rows, nothing embedded
    before = (tmp_path / "ix" / "rows.txt").read_text()
    encoded = fake_encoder.encoded
    again = add_to_index([MEDLINE / "medline16n0902.xml.gz"], tmp_path / "ix", encoder=fake_encoder, progress=False)
    assert again.files_skipped and again.kept == 0 and fake_encoder.encoded == encoded
    assert (tmp_path / "ix" / "rows.txt").read_text() == before
    assert Index.open(tmp_path / "ix").build_id == index.build_id


def test_add_refuses_another_model(tmp_path, built):
    other = FakeEncoder()
    other.fingerprint = "different"
    path = write_jsonl(tmp_path / "u.jsonl", [{"pmid": "7", "title": "t"}])
    with pytest.raises(SimilarError, match="differs from the one that built it"):
        add_to_index([path], built, encoder=other, progress=False)


# --- corrupt folders: one line each ----------------------------------------------------------------------------


def _truncate_rows(p):
    (p / "rows.txt").write_text("\n".join((p / "rows.txt").read_text().split()[:-1]) + "\n")


CORRUPTIONS = [
    (lambda p: shutil.rmtree(p), "no index at {p}: build one with `similar build INPUT --index {p}`"),
    (
        lambda p: (p / "manifest.json").unlink(),
        "{p} is not a similar index (no manifest.json): rebuild it with `similar build`",
    ),
    (
        lambda p: (p / "manifest.json").write_text("{oops"),
        "corrupt index {p}: manifest.json is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1)); rebuild it",
    ),
    (_truncate_rows, "corrupt index {p}: rows.txt has 39 rows, the manifest says 40; rebuild it"),
    (lambda p: (p / "rows.txt").unlink(), "corrupt index {p}: rows.txt is missing; rebuild it"),
    (lambda p: (p / "vectors.faiss").write_bytes(b"junk"), None),
    (lambda p: (p / "lexical.json").unlink(), None),
    (lambda p: (p / "lexical.tfidf.rows.data.npy").unlink(), None),
    (lambda p: (p / "neighbours.rows.npy").write_bytes(b"junk"), None),
]


@pytest.mark.parametrize("corrupt,message", CORRUPTIONS)
def test_corrupt_index_is_one_line(built, corrupt, message):
    corrupt(built)
    with pytest.raises(SimilarError) as exc:
        Index.open(built)
    text = str(exc.value)
    assert "\n" not in text
    if message:
        assert text == message.format(p=built)
    else:
        assert text.startswith(f"corrupt index {built}: ") and text.endswith("; rebuild it")


def test_add_grows_the_vocabulary_like_one_build(tmp_path, fake_encoder):
    """Words first seen in an added paper count as they would in one build over every text: same lexical lists."""
    first = make_corpus(20)
    later = [
        {
            "pmid": "7001",
            "title": "Latent tuberculosis infection screening",
            "abstract": "LTBI tuberculosis screening in foreign-born persons with interferon gamma assays.",
        },
        {"pmid": "7002", "title": "Tuberculosis treatment adherence", "abstract": "Tuberculosis LTBI therapy."},
    ]
    write_jsonl(tmp_path / "a.jsonl", first)
    write_jsonl(tmp_path / "b.jsonl", later)
    build_index([tmp_path / "a.jsonl"], tmp_path / "ix" / "grown", model=fake_encoder, progress=False)
    add_to_index([tmp_path / "b.jsonl"], tmp_path / "ix" / "grown", encoder=fake_encoder, progress=False)
    build_index(
        [tmp_path / "a.jsonl", tmp_path / "b.jsonl"], tmp_path / "ix" / "once", model=fake_encoder, progress=False
    )
    grown, once = Index.open(tmp_path / "ix" / "grown"), Index.open(tmp_path / "ix" / "once")
    assert "tuberculosis" in grown.ranker.lexical.vocabulary
    assert grown.manifest.lexical["vocabulary"] == once.manifest.lexical["vocabulary"]
    for method in ("bm25", "tfidf", "pmra"):
        for pmid in ("7001", "1000"):
            a, b = grown.similar(pmid, n=5, method=method), once.similar(pmid, n=5, method=method)
            assert [n.pmid for n in a.neighbors] == [n.pmid for n in b.neighbors], (method, pmid)
            np.testing.assert_allclose([n.score for n in a.neighbors], [n.score for n in b.neighbors], rtol=1e-5)
        text = grown.similar_text("latent tuberculosis LTBI", n=2, method=method)
        assert [n.pmid for n in text.neighbors] == [
            n.pmid for n in once.similar_text("latent tuberculosis LTBI", n=2, method=method).neighbors
        ]


def _histone_index(tmp_path, fake_encoder, method="auto"):
    """The corpus (years 1990-2009, sharing no word with the seed), a histone seed and one histone paper from 2010,
    and 3 unrelated papers with years: under --min-year 2000 only the histone paper shares a term with the seed."""
    extra = [
        {
            "pmid": "7504954",
            "title": "Histone acetylation",
            "abstract": "Chromatin remodelling by acetylases.",
            "year": 2001,
        },
        {"pmid": "7600001", "title": "Histone chromatin marks", "abstract": "Acetylation of chromatin.", "year": 2010},
        {"pmid": "7600002", "title": "Zinc supplementation", "abstract": "Depression trial of zinc.", "year": 2003},
        {"pmid": "7600003", "title": "Statin therapy", "abstract": "Cholesterol lowering drugs.", "year": 2004},
        {"pmid": "7600004", "title": "Vitamin D", "abstract": "Bone density in adults.", "year": 2005},
    ]
    dest = tmp_path / "index" / "h"
    path = write_jsonl(tmp_path / "h.jsonl", make_corpus() + extra)
    build_index([path], dest, model=None if method == "tfidf" else fake_encoder, method=method, progress=False)
    return Index.open(dest, encoder=fake_encoder)


@pytest.mark.parametrize("method", ["tfidf", "bm25", "pmra"])
def test_lists_never_pad_with_papers_that_share_nothing(tmp_path, fake_encoder, method):
    index = _histone_index(tmp_path, fake_encoder)
    live = index.live_only()
    for ix in (index, live):
        result = ix.similar("7504954", n=5, method=method, min_year=2000)
        assert [n.pmid for n in result.neighbors] == ["7600001"] and result.neighbors[0].score > 0
        assert result.notes[-1] == (
            "1 paper shares terms with the seed and passes the filters; 23 more pass the filters but share no term "
            "with it (year 2000-...)"
        )
        text = ix.similar_text("histone acetylation", n=5, method=method, min_year=2000)
        assert [n.pmid for n in text.neighbors] == ["7504954", "7600001"]
        assert any("share no term with it" in note for note in text.notes)
    unfiltered = index.similar("7504954", n=10, method=method)
    assert [n.pmid for n in unfiltered.neighbors] == ["7600001"]
    assert any("are in the index but share no term" in note for note in unfiltered.notes)


def test_stored_lists_never_list_a_score_of_zero(built):
    index = Index.open(built)
    method, rows, scores = index.precomputed
    row = index.row("1000")
    scores = np.array(scores)
    scores[row, 3:] = 0.0  # the stored list reaches papers that share nothing with the seed
    index.precomputed = (method, rows, scores)
    index.ranker.search = None  # answered from the stored list alone, never ranked live
    result = index.similar("1000", n=10)
    assert len(result.neighbors) == 3 and all(n.score > 0 for n in result.neighbors)
    assert result.notes == [
        "3 papers score above 0 against the seed and are in the index; 36 more are in the index but score 0 or less "
        "under hybrid"
    ]


@pytest.mark.parametrize("method", ["dense", "hybrid"])
def test_dense_lists_hold_only_positive_scores(tmp_path, fake_encoder, method):
    from similar.ranking import Query

    index = _histone_index(tmp_path, fake_encoder)
    for ix in (index, index.live_only()):
        for query, result in (
            (Query(row=ix.row("7504954")), ix.similar("7504954", n=40, method=method)),
            (
                Query(vector=fake_encoder.encode(["histone"])[0], abstract="histone"),
                ix.similar_text("histone", n=40, method=method),
            ),
        ):
            rows = [ix.row(n.pmid) for n in result.neighbors]
            assert rows and (ix.ranker.score(method, query, np.array(rows)) > 0).all()


@pytest.mark.parametrize("method", ["rocchio", "fused"])
def test_collections_never_pad_with_papers_that_share_nothing(tmp_path, fake_encoder, method, monkeypatch):
    from similar.collection import recommend_collection

    monkeypatch.setenv("SIMILAR_NO_MODEL", "1")
    index = _histone_index(tmp_path, fake_encoder, method="tfidf")  # fused ranks each example with tfidf here
    result = recommend_collection(index, positive=["7504954"], n=5, method=method, min_year=2000)
    assert [n.pmid for n in result.neighbors] == ["7600001"] and result.neighbors[0].score > 0


def test_warming_reads_the_stored_lists_and_metadata_once_and_answers_the_same(built):
    """warm() reads the stored lists through (every byte) and the metadata tables ahead; lists after it are the same,
    and a missing file is left to the queries' own reads."""
    from similar.backends import read_through

    index = Index.open(built)
    before = index.similar(index.pmids[3], 5)
    lists = [built / store.NEIGHBOURS, built / store.NEIGHBOUR_SCORES]
    assert read_through([*lists, built / "no-such-file.npy"]) == sum(p.stat().st_size for p in lists)
    assert index.warm() is index
    assert index.similar(index.pmids[3], 5) == before
