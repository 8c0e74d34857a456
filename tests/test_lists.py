"""Stored lists computed in batches equal the per-seed ranking (Ranker.rank_pool), on fake and real vectors."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from fixtures import TREC, FakeEncoder, make_corpus
from similar import lists
from similar.backends.dense import DenseBackend
from similar.backends.lexical import LexicalBackend
from similar.bench.scale import StandInEncoder
from similar.lists import TOP_MARGIN, pair_base, precompute, top_floors
from similar.ranking import HybridParams, Query, Ranker


def per_seed(ranker: Ranker, seeds: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The oracle: each seed's dense pool by brute force, ranked alone by Ranker.rank_pool."""
    vectors = ranker.dense.vectors(np.arange(ranker.dense.count))
    pool_size = max(k, ranker.hybrid.pool)
    rows, scores = np.full((len(seeds), k), -1), np.zeros((len(seeds), k), np.float32)
    for i, seed in enumerate(seeds.tolist()):
        dense = vectors @ vectors[seed]
        dense[seed], dense[~ranker.live] = -np.inf, -np.inf
        pool = np.argsort(-dense, kind="stable")[:pool_size]
        s, r = ranker.rank_pool(Query(row=seed), pool, k)
        rows[i, : len(r)], scores[i, : len(s)] = r, s
    return rows, scores


def assert_same_lists(got: tuple, want: tuple) -> None:
    """Scores equal to 1e-6; rows equal, but where two neighbouring scores are within 1e-6 (a tie broken by
    float rounding rather than by row)."""
    (rows, scores), (want_rows, want_scores) = got, want
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)
    near = np.zeros_like(scores, dtype=bool)
    near[:, 1:] |= np.abs(np.diff(want_scores, axis=1)) < 1e-6
    near[:, :-1] |= near[:, 1:].copy()
    assert (rows == want_rows)[~near].all()
    assert np.mean(rows == want_rows) > 0.999
    assert (np.sort(rows, axis=1) == np.sort(want_rows, axis=1)).all()


pytestmark = pytest.mark.skipif(not (TREC / "corpus.jsonl.gz").exists(), reason="needs ../shared/data/trec2005-d2d")


def trec(n: int) -> list[dict]:
    """Real titles and abstracts: a synthetic corpus (make_corpus) has exact score ties, and which of two tied papers
    votes in the expansion is arbitrary in the per-seed ranking too."""
    with gzip.open(TREC / "corpus.jsonl.gz", "rt") as f:
        return [json.loads(line) for line, _ in zip(f, range(n))]


def ranker_of(corpus: list[dict], vectors: np.ndarray, live: np.ndarray, params: HybridParams) -> Ranker:
    lexical = LexicalBackend.build([r["title"] for r in corpus], [r["abstract"] for r in corpus])
    lexical.set_live(live)
    return Ranker(DenseBackend.build(vectors, "flat"), lexical, live, params)


@pytest.mark.parametrize(
    "params,k,dead",
    [
        (HybridParams(pool=30), 30, []),  # the default setting, a smaller pool
        (HybridParams(pool=30), 20, [3, 50, 51]),  # lists shorter than the pool, tombstones
        (HybridParams(pool=25, neighbours=5, expansion=0.5, second_hop=1.0, lexical=("bm25",)), 25, [7]),
        (HybridParams(pool=20, lexical=("tfidf", "bm25", "pmra")), 20, []),  # an odd number of weightings
    ],
)
def test_batched_lists_equal_the_per_seed_ranking_on_fake_vectors(params, k, dead):
    corpus = trec(150)
    vectors = FakeEncoder(dim=32).encode([f"{r['title']} {r['abstract']}" for r in corpus])
    live = np.ones(len(corpus), dtype=bool)
    live[dead] = False
    ranker = ranker_of(corpus, vectors, live, params)
    seeds = np.flatnonzero(live)
    rows, scores, floors = precompute(ranker, "hybrid", k=k, progress=False, rows=seeds)
    assert_same_lists((rows, scores), per_seed(ranker, seeds, k))
    assert np.isfinite(floors).all()


def test_batched_lists_equal_the_per_seed_ranking_on_a_real_corpus():
    """1,500 papers of the TREC 2005 corpus with the scale bench's word-vector encoder, the default setting."""
    corpus = trec(1500)
    vectors = StandInEncoder().encode([f"{r['title']} {r['abstract']}" for r in corpus])
    ranker = ranker_of(corpus, vectors, np.ones(len(corpus), dtype=bool), HybridParams())
    seeds = np.arange(0, len(corpus), 3)
    rows, scores, _ = precompute(ranker, "hybrid", progress=False, rows=seeds)
    assert_same_lists((rows, scores), per_seed(ranker, seeds, 100))


def test_lists_from_the_row_terms_kernel_equal_the_sparse_products(monkeypatch):
    """The lexical blocks from kernels.pool_products over row_terms (tfidf's rows unsorted as weighed, bm25 queried by
    counts) give the lists the per-seed sparse products give; where a weighting's entries differ from the first's,
    row_terms is None and the sparse products serve."""
    corpus = trec(400)
    vectors = StandInEncoder().encode([f"{r['title']} {r['abstract']}" for r in corpus])
    ranker = ranker_of(corpus, vectors, np.ones(len(corpus), dtype=bool), HybridParams())
    terms = lists.row_terms(ranker, "hybrid")
    assert terms is not None and len(terms.documents) == 2 and lists.row_terms(ranker, "bm25") is None
    seeds = np.arange(0, len(corpus), 4)
    kernel = precompute(ranker, "hybrid", progress=False, rows=seeds)
    weights = ranker.lexical.weights

    def one_more_entry(method):  # tfidf holds an entry bm25 lacks
        matrix = weights(method).tolil() if method == "tfidf" else weights(method)
        if method == "tfidf":
            matrix[0, int(np.setdiff1d(np.arange(matrix.shape[1]), matrix.rows[0])[0])] = 1e-12
        return matrix.tocsr()

    monkeypatch.setattr(ranker.lexical, "weights", one_more_entry)
    assert lists.row_terms(ranker, "hybrid") is None
    assert_same_lists(precompute(ranker, "hybrid", progress=False, rows=seeds)[:2], kernel[:2])


def test_a_builds_pools_from_the_all_pairs_product_give_the_searched_lists(monkeypatch):
    """A build's lists over a flat index, pools from one all-pairs product (ALL_PAIRS_FROM lowered to reach it),
    equal those whose pools a search per chunk found, for every paper and for chosen rows."""
    corpus = trec(600)
    vectors = StandInEncoder().encode([f"{r['title']} {r['abstract']}" for r in corpus])
    live = np.ones(len(corpus), dtype=bool)
    live[[4, 40]] = False
    ranker = ranker_of(corpus, vectors, live, HybridParams())
    searched = precompute(ranker, "hybrid", progress=False)
    monkeypatch.setattr(lists, "ALL_PAIRS_FROM", 100)
    assert lists.all_pairs(ranker, "hybrid", None) and lists.all_pairs(ranker, "hybrid", np.arange(300))
    assert not lists.all_pairs(ranker, "hybrid", np.arange(299))  # an update of fewer than half the rows searches
    paired = precompute(ranker, "hybrid", progress=False)
    assert_same_lists(paired[:2], searched[:2])
    np.testing.assert_allclose(paired[2], searched[2], atol=1e-6)
    chosen = np.flatnonzero(live)[:320]
    monkeypatch.setattr(lists, "ALL_PAIRS_FROM", 10**9)
    searched = precompute(ranker, "hybrid", progress=False, rows=chosen)
    monkeypatch.setattr(lists, "ALL_PAIRS_FROM", 100)
    assert lists.all_pairs(ranker, "hybrid", chosen)
    assert_same_lists(precompute(ranker, "hybrid", progress=False, rows=chosen)[:2], searched[:2])


@pytest.mark.parametrize("k", [100, 5])
def test_the_lists_top_floors_equal_top_floors_of_their_lists(k):
    """precompute(tops=True) takes each list's top floor from the base blocks it ranked with: the value
    top_floors computes from the stored list in a second pass (-inf for a list shorter than the top)."""
    corpus = trec(300)
    vectors = StandInEncoder().encode([f"{r['title']} {r['abstract']}" for r in corpus])
    ranker = ranker_of(corpus, vectors, np.ones(len(corpus), dtype=bool), HybridParams())
    seeds = np.arange(0, len(corpus), 2)
    rows, _, _, tops = precompute(ranker, "hybrid", k=k, progress=False, rows=seeds, tops=True)
    np.testing.assert_allclose(tops, top_floors(ranker, seeds, rows), atol=1e-5)
    assert np.isfinite(tops).all() == (k >= 10)


def test_top_floors_are_the_weakest_base_score_of_the_top_less_the_margin():
    corpus = make_corpus(60)
    vectors = FakeEncoder(dim=32).encode([f"{r['title']} {r['abstract']}" for r in corpus])
    ranker = ranker_of(corpus, vectors, np.ones(60, dtype=bool), HybridParams(pool=20))
    rows, _, _ = precompute(ranker, "hybrid", k=20, progress=False)
    short = rows.copy()
    short[0, 5:] = -1  # a list shorter than the top: any new paper counts
    floors = top_floors(ranker, np.arange(60), short)
    assert floors[0] == -np.inf
    for seed in (1, 30, 59):
        block = ranker._block(Query(row=seed), np.sort(rows[seed]), ranker.hybrid, seed_only=True)[0]
        base = dict(zip(np.sort(rows[seed]).tolist(), block.tolist()))
        want = min(base[r] for r in rows[seed, :10].tolist()) - TOP_MARGIN
        assert floors[seed] == pytest.approx(want, abs=1e-6)
        assert pair_base(ranker, np.full(3, seed), rows[seed, :3]) == pytest.approx([base[r] for r in rows[seed, :3]])
