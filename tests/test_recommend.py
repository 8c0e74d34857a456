"""Collections with the fake encoder: every method's invariants, oracles against brute force, negatives, bad inputs."""

import numpy as np
import pytest

from fixtures import FakeEncoder
from similar.build import build_index
from similar.collection import recommend_collection
from similar.errors import NotFound, SimilarError
from similar.index import Index
from similar.ranking import Query
from similar.recommend import CollectionParams, recommend

METHODS = ["fused", "centroid", "linear", "rocchio"]
HEART = ["1000", "1004", "1008"]  # topic = (pmid - 1000) mod 4: 0 heart, 1 brain, 2 gene, 3 virus


@pytest.fixture
def index(tmp_path, corpus_file):
    dest = tmp_path / "index" / "c"
    build_index([corpus_file], dest, model=FakeEncoder(), progress=False)
    return Index.open(dest, encoder=FakeEncoder())


def topic(pmid: str) -> int:
    return (int(pmid) - 1000) % 4


@pytest.mark.parametrize("method", METHODS)
def test_examples_never_listed_and_lists_are_ranked(index, method):
    result = recommend_collection(index, HEART, ["1001", "1005"], n=15, method=method)
    got = [n.pmid for n in result.neighbors]
    assert len(got) == 15 and len(set(got)) == 15
    assert not set(got) & set(HEART + ["1001", "1005"])
    assert [n.rank for n in result.neighbors] == list(range(1, 16))
    scores = [n.score for n in result.neighbors]
    assert scores == sorted(scores, reverse=True)
    assert result.method == method and result.positive == HEART and result.negative == ["1001", "1005"]
    assert {n.closest for n in result.neighbors} <= set(HEART)


@pytest.mark.parametrize("method", METHODS)
def test_a_topic_collection_lists_its_topic_first(index, method):
    result = recommend_collection(index, HEART, n=5, method=method)
    assert [topic(n.pmid) for n in result.neighbors] == [0] * 5


@pytest.mark.parametrize("method", METHODS)
def test_closest_names_the_nearer_seed(index, method):
    result = recommend_collection(index, ["1000", "1001"], n=8, method=method)  # a heart paper and a brain paper
    for n in result.neighbors:
        assert topic(n.closest) == topic(n.pmid), (n.pmid, n.closest)


@pytest.mark.parametrize(
    "method", ["centroid", "linear", "rocchio"]
)  # fused: test_fused_demotes_papers_closer_to_a_negative
def test_negatives_push_their_topic_down(index, method):
    mixed = ["1000", "1001"]
    plain = recommend_collection(index, mixed, n=10, method=method)
    unlike = recommend_collection(index, mixed, ["1005", "1009", "1013"], n=10, method=method)
    brain = lambda r: sum(topic(n.pmid) == 1 for n in r.neighbors)
    assert brain(unlike) < brain(plain)


def test_fused_with_one_seed_is_the_seeds_own_list(index):
    for pmid in ("1000", "1003", "1017"):
        single = index.similar(pmid, n=10)
        fused = recommend_collection(index, [pmid], n=10, method="fused")
        assert [n.pmid for n in fused.neighbors] == [n.pmid for n in single.neighbors]
        np.testing.assert_allclose([n.score for n in fused.neighbors], [n.score for n in single.neighbors], atol=1e-6)


def test_centroid_equals_brute_force(index):
    pos, neg = [index.row(p) for p in HEART], [index.row("1001")]
    vecs = index.ranker.dense.vectors(np.arange(len(index.pmids)))
    q = vecs[pos].mean(axis=0)
    q = q / np.linalg.norm(q) - 0.5 * vecs[neg].mean(axis=0)
    scores = vecs @ q
    scores[pos + neg] = -np.inf
    expected = np.lexsort((np.arange(len(scores)), -scores))[:10]
    picks = recommend(index.ranker, [Query(row=r) for r in pos], [Query(row=r) for r in neg], 10, "centroid")
    assert picks.rows.tolist() == expected.tolist()
    np.testing.assert_allclose(picks.scores, scores[expected], atol=1e-5)


def test_rocchio_equals_brute_force(index):
    pos, neg = [index.row(p) for p in HEART], [index.row("1002")]
    w = index.ranker.lexical.weights("tfidf").toarray()
    q = np.maximum(w[pos].mean(axis=0) - 0.5 * w[neg].mean(axis=0), 0)
    scores = w @ q
    scores[pos + neg] = -np.inf
    expected = np.lexsort((np.arange(len(scores)), -scores))[:10]
    picks = recommend(index.ranker, [Query(row=r) for r in pos], [Query(row=r) for r in neg], 10, "rocchio")
    np.testing.assert_allclose(
        picks.scores, scores[expected], atol=1e-5
    )  # the same best scores (rows may swap within float ties)
    np.testing.assert_allclose(scores[picks.rows], picks.scores, atol=1e-5)


def test_fused_equals_brute_force_over_lists(index):
    pos = [index.row(p) for p in HEART]
    depth = 6
    lists = {r: index.ranker.search("hybrid", Query(row=r), depth) for r in pos}
    pool = sorted({x for s, rows in lists.values() for x in rows.tolist()} - set(pos))
    total = {}
    for c in pool:
        parts = []
        for s, rows in lists.values():
            parts.append(float(s[rows.tolist().index(c)]) if c in rows.tolist() else float(s[-1]))
        total[c] = sum(parts) / len(parts)
    expected = sorted(pool, key=lambda c: (-total[c], c))[:5]
    picks = recommend(index.ranker, [Query(row=r) for r in pos], [], 5, "fused", params=CollectionParams(depth=depth))
    assert picks.rows.tolist() == expected
    np.testing.assert_allclose(picks.scores, [total[c] for c in expected], atol=1e-6)


def test_fused_demotes_papers_closer_to_a_negative(index):
    pos, neg = index.row("1000"), index.row("1001")
    p = CollectionParams(depth=40)
    picks = recommend(index.ranker, [Query(row=pos)], [Query(row=neg)], 38, "fused", params=p)
    s_pos, r_pos = index.ranker.search("hybrid", Query(row=pos), 40)
    s_neg, r_neg = index.ranker.search("hybrid", Query(row=neg), 40)
    pos_score = dict(zip(r_pos.tolist(), s_pos.tolist()))
    neg_score = dict(zip(r_neg.tolist(), s_neg.tolist()))
    demoted = [r for r in picks.rows.tolist() if neg_score.get(r, -1) > pos_score.get(r, s_pos[-1])]
    kept = [r for r in picks.rows.tolist() if r not in demoted]
    assert (
        demoted and kept and picks.rows.tolist().index(demoted[0]) > picks.rows.tolist().index(kept[-1]) - len(demoted)
    )
    # the negative's topic is pushed down whole; nothing of the positive's own topic is
    assert {r for r in picks.rows.tolist() if topic(index.pmids[r]) == 1} <= set(demoted)
    assert not any(topic(index.pmids[r]) == 0 for r in demoted)


def test_year_filters_and_text_positive(index):
    result = recommend_collection(index, ["1000"], n=5, text="cardiac heart failure", min_year=2000, max_year=2009)
    assert all(2000 <= n.year <= 2009 for n in result.neighbors) and result.text
    assert {n.closest for n in result.neighbors} <= {"1000", "text"}
    only_text = recommend_collection(index, text="neuron cortex synaptic", n=4, method="centroid")
    assert [topic(n.pmid) for n in only_text.neighbors] == [1] * 4 and only_text.to_dict()["text"] is True


def test_tfidf_only_index(tmp_path, corpus_file, monkeypatch):
    monkeypatch.setenv("SIMILAR_NO_MODEL", "1")
    build_index([corpus_file], tmp_path / "t", method="tfidf", progress=False)
    index = Index.open(tmp_path / "t")
    for method in ("fused", "rocchio"):
        assert [topic(n.pmid) for n in recommend_collection(index, HEART, n=3, method=method).neighbors] == [0, 0, 0]
    with pytest.raises(SimilarError) as err:
        recommend_collection(index, HEART, method="linear")
    assert (
        str(err.value)
        == "collection method linear needs an embedding model, and index t is TF-IDF only: use rocchio or fused"
    )


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({}, SimilarError, "a collection needs at least one positive PMID or a text"),
        (
            {"positive": ["1000"], "negative": ["1004", "1000"]},
            SimilarError,
            "PMID 1000 is both a positive and a negative example",
        ),
        (
            {"positive": ["4242"]},
            NotFound,
            "PMID 4242 is not in index c (40 papers): add it with `similar add`, or query with --text",
        ),
        ({"positive": ["1000"], "negative": ["12x"]}, SimilarError, "PMID must be a number, got '12x'"),
        (
            {"positive": ["1000"], "method": "magic"},
            SimilarError,
            "unknown collection method 'magic': use one of fused, centroid, linear, rocchio",
        ),
        ({"positive": ["1000"], "n": 0}, SimilarError, "n must be between 1 and 1000, got 0"),
        ({"positive": [str(i) for i in range(1001)]}, SimilarError, "at most 1000 positive PMIDs, got 1001"),
        ({"positive": ["1000"], "text": "   "}, None, None),
    ],
)
def test_bad_inputs(index, kwargs, error, message):
    if error is None:
        assert len(recommend_collection(index, **kwargs).neighbors) == 10  # a blank text is no text
        return
    with pytest.raises(error) as err:
        recommend_collection(index, **kwargs)
    assert str(err.value) == message


def test_repeated_pmids_count_once(index):
    result = recommend_collection(index, ["1000", "01000", "1004"], n=3)
    assert result.positive == ["1000", "1004"]
