"""Explanations with the fake encoder: exact term shares, terms in both papers, shared MeSH, best sentence pairs."""

import json
import sqlite3

import numpy as np
import pytest

from fixtures import FakeEncoder, make_corpus, write_jsonl
from similar import store
from similar.backends.terms import make_vectorizer
from similar.build import build_index
from similar.collection import recommend_collection
from similar.explain import explain_list, sentences
from similar.index import Index

MESH = {0: ["Heart Failure", "Humans", "Myocardium"], 1: ["Neurons", "Humans"], 2: ["Gene Expression"], 3: []}


@pytest.fixture
def corpus():
    rows = make_corpus()
    for i, r in enumerate(rows):
        r["mesh"] = MESH[i % 4] + ([f"Extra {i % 3}"] if MESH[i % 4] else [])
        r["abstract"] += f" Second sentence about {r['title'].split(' of ')[1]}. A third one on method {i}."
    return rows


@pytest.fixture
def index(tmp_path, corpus):
    dest = tmp_path / "index" / "e"
    build_index([write_jsonl(tmp_path / "c.jsonl", corpus)], dest, model=FakeEncoder(), progress=False)
    return Index.open(dest, encoder=FakeEncoder())


def words(record) -> set[str]:
    analyze = make_vectorizer().build_analyzer()
    return set(analyze(record["title"])) | set(analyze(record["abstract"]))


@pytest.mark.parametrize("method", ["hybrid", "tfidf", "bm25", "pmra"])
def test_shares_add_up_to_the_lexical_score(index, method):
    lexical = index.ranker.lexical
    for seed in ("1000", "1001", "1013"):
        result = explain_list(index, index.similar(seed, n=6, method=method))
        for n in result.neighbors:
            why = n.why
            assert why.against == seed and why.method == ("bm25" if method == "hybrid" else method)
            exact = lexical.score_rows(
                why.method, lexical.query_rows(why.method, [index.row(seed)]), np.array([index.row(n.pmid)])
            )[0]
            assert why.score == pytest.approx(float(exact), rel=1e-5)
            assert sum(t.score for t in why.terms) + why.rest == pytest.approx(why.score, abs=1e-9)
            scores = [t.score for t in why.terms]
            assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
            if why.rest == 0:
                assert sum(t.share for t in why.terms) == pytest.approx(1.0, abs=1e-9)


def test_terms_are_in_both_papers(index, corpus):
    by_pmid = {r["pmid"]: r for r in corpus}
    checked = 0
    for seed in ("1000", "1002", "1007"):
        for n in explain_list(index, index.similar(seed, n=10, method="tfidf")).neighbors:
            for t in n.why.terms:
                assert t.term in words(by_pmid[seed]) and t.term in words(by_pmid[n.pmid]), (seed, n.pmid, t.term)
                checked += 1
    assert checked > 30


def test_shared_mesh_only_when_both_carry_it(index, corpus):
    by_pmid = {r["pmid"]: r for r in corpus}
    result = explain_list(index, index.similar("1000", n=10, method="tfidf"))
    for n in result.neighbors:
        mine, theirs = by_pmid["1000"]["mesh"], by_pmid[n.pmid]["mesh"]
        if not theirs:
            assert n.why.mesh is None
        else:
            assert list(n.why.mesh) == [d for d in theirs if d in mine]
    assert any(n.why.mesh and "Heart Failure" in n.why.mesh for n in result.neighbors)


def test_sentences_are_the_closest_pair_under_the_encoder(index, corpus):
    by_pmid = {r["pmid"]: r for r in corpus}
    enc = FakeEncoder()
    for n in explain_list(index, index.similar("1004", n=5)).neighbors:
        a = sentences(by_pmid["1004"]["title"], by_pmid["1004"]["abstract"])
        b = sentences(by_pmid[n.pmid]["title"], by_pmid[n.pmid]["abstract"])
        sims = enc.encode(a) @ enc.encode(b).T
        assert n.why.sentence_similarity == pytest.approx(float(sims.max()), abs=1e-4)
        assert n.why.seed_sentence in a and n.why.sentence in b


def test_collections_explain_against_the_closest_positive_and_text(index):
    result = recommend_collection(index, ["1000", "1001"], ["1006"], n=6, explain=True)
    for n in result.neighbors:
        assert n.why.against == n.closest
    text = recommend_collection(index, text="cardiac heart failure", n=3, explain=True)
    for n in text.neighbors:
        assert n.why.against == "text" and {t.term for t in n.why.terms} <= {"cardiac", "heart", "failure"}
        assert n.why.seed_sentence == "cardiac heart failure"
    plain = index.similar_text("neuron cortex", n=2)
    assert explain_list(index, plain, text="neuron cortex").neighbors[0].why.against == "text"


def test_index_without_stored_abstracts_explains_without_sentences(index, tmp_path):
    with sqlite3.connect(index.path / "papers.sqlite") as conn:
        conn.execute("DROP TABLE abstracts")
    manifest = json.loads((index.path / "manifest.json").read_text())  # an older index: its checksums match its files
    store.write_json_atomic(index.path / "manifest.json", {**manifest, "files": store.describe_files(index.path)})
    old = Index.open(index.path, encoder=FakeEncoder())
    why = explain_list(old, old.similar("1000", n=2)).neighbors[0].why
    assert why.sentence is None and why.seed_sentence is None and why.terms


def test_plain_lists_keep_their_shape(index):
    assert "why" not in index.similar("1000", n=2).to_dict()["neighbors"][0]
    assert "closest" not in index.similar("1000", n=2).to_dict()["neighbors"][0]
    explained = explain_list(index, index.similar("1000", n=2)).to_dict()["neighbors"][0]["why"]
    assert set(explained) == {
        "against",
        "method",
        "score",
        "terms",
        "rest",
        "mesh",
        "seed_sentence",
        "sentence",
        "sentence_similarity",
    }
