"""Papers like these, not those: one ranked list for positive (and negative) examples, over rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from .backends import top_k
from .ranking import Query, Ranker

METHODS = ("fused", "centroid", "linear", "rocchio")
DEFAULT_METHOD = "fused"

Lists = Callable[[Query, int], "tuple[np.ndarray, np.ndarray]"]  # a query's top-k (scores, rows) under one method


@dataclass(frozen=True)
class CollectionParams:
    """Settings of every collection method (chosen on the dev judgments: benchmarks/results/collections.md).

    fused:    each example's own list (depth `depth`, the single-paper ranking) is fused by mean score; a paper missing
              from a list gets that list's last score (the most it could have had). A paper whose score in some
              negative's list beats its best positive score is pushed down by `demote` times the margin (as Qdrant's
              best-score strategy: closer to a negative than to every positive means unwanted).
    centroid: dense search with mean(positive vectors) - negative_weight * mean(negative vectors) (Rocchio on vectors).
    linear:   a linear SVM on the vectors, positives against negatives and `random_negatives` random papers (as
              arxiv-sanity-lite), ranked by a dense search with its weight vector.
    rocchio:  TF-IDF cosine with mean(positive rows) - negative_weight * mean(negative rows), clipped at 0.
    """

    depth: int = 100
    negative_weight: float = 0.5
    demote: float = 10.0
    fused_negative_weight: float = 0.0
    random_negatives: int = 500
    svm_c: float = 0.1
    seed: int = 0

    def describe(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Picks:
    """A collection's ranked rows, with the index (into the positives) of the example each row is closest to."""

    rows: np.ndarray
    scores: np.ndarray
    closest: np.ndarray


def recommend(
    ranker: Ranker,
    positive: Sequence[Query],
    negative: Sequence[Query] = (),
    k: int = 10,
    method: str = DEFAULT_METHOD,
    allowed: np.ndarray | None = None,
    lists: Lists | None = None,
    params: CollectionParams | None = None,
) -> Picks:
    """Best k allowed rows for the collection; no example's own row is ever among them."""
    if method not in METHODS:
        raise ValueError(f"unknown collection method {method!r}")
    if not positive:
        raise ValueError("a collection needs at least one positive example")
    p = params or CollectionParams()
    allowed = ranker.live.copy() if allowed is None else allowed & ranker.live
    examples = [q.row for q in list(positive) + list(negative) if q.row is not None]
    allowed[np.asarray(examples, dtype=np.int64)] = False
    if method == "fused":
        return _fused(ranker, positive, negative, k, allowed, lists, p)
    if method == "rocchio":
        return _rocchio(ranker, positive, negative, k, allowed, p)
    if ranker.dense is None:
        raise ValueError(f"collection method {method} needs dense vectors")
    pos = _vectors(ranker, positive)
    neg = _vectors(ranker, negative)
    query = _centroid(pos, neg, p) if method == "centroid" else _svm(ranker, pos, neg, examples, p)
    rows = _dense_allowed(ranker, query, k, allowed)
    scores = ranker.dense.vectors(rows) @ query if len(rows) else np.empty(0, np.float32)
    order = np.lexsort((rows, -scores))
    rows = rows[order]
    return Picks(rows, scores[order].astype(np.float32), _closest(pos, ranker.dense.vectors(rows)))


def _vectors(ranker: Ranker, queries: Sequence[Query]) -> np.ndarray:
    if not queries:
        return np.empty((0, ranker.dense.dim), np.float32)
    return np.vstack(
        [
            np.asarray(q.vector, np.float32).reshape(1, -1)
            if q.vector is not None
            else ranker.dense.vectors(np.array([q.row]))
            for q in queries
        ]
    )


def _closest(pos: np.ndarray, cand: np.ndarray) -> np.ndarray:
    if len(cand) == 0:
        return np.empty(0, np.int64)
    return np.argmax(cand @ pos.T, axis=1).astype(np.int64)


def _centroid(pos: np.ndarray, neg: np.ndarray, p: CollectionParams) -> np.ndarray:
    q = pos.mean(axis=0)
    q /= max(float(np.linalg.norm(q)), 1e-9)
    if len(neg):
        q = q - p.negative_weight * neg.mean(axis=0)
    return q.astype(np.float32)


def _svm(ranker: Ranker, pos: np.ndarray, neg: np.ndarray, examples: list[int], p: CollectionParams) -> np.ndarray:
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(p.seed)
    candidates = np.setdiff1d(np.flatnonzero(ranker.live), np.asarray(examples, dtype=np.int64))
    sample = rng.choice(candidates, min(p.random_negatives, len(candidates)), replace=False)
    x = np.vstack([pos, neg, ranker.dense.vectors(np.sort(sample))])
    y = np.r_[np.ones(len(pos)), np.zeros(len(x) - len(pos))]
    weight = np.r_[
        np.ones(len(pos)), np.full(len(neg), 5.0), np.ones(len(sample))
    ]  # a named negative counts more than a random paper
    svm = LinearSVC(C=p.svm_c, class_weight="balanced", max_iter=10000, tol=1e-6)
    svm.fit(x, y, sample_weight=weight)
    return svm.coef_.ravel().astype(np.float32)


def _dense_allowed(ranker: Ranker, query: np.ndarray, k: int, allowed: np.ndarray) -> np.ndarray:
    """Dense top rows for a query vector, over-fetching until k allowed rows remain or the index is exhausted."""
    want = k + int((~allowed).sum()) if (~allowed).sum() < 1000 else 4 * k
    while True:
        _, rows = ranker.dense.search(query.reshape(1, -1), want)
        kept = [r for r in rows[0].tolist() if r >= 0 and allowed[r]]
        if len(kept) >= k or want >= ranker.dense.count:
            return np.asarray(kept[:k], dtype=np.int64)
        want = min(ranker.dense.count, want * 4)


def _lexical_rows(ranker: Ranker, queries: Sequence[Query]) -> sp.csr_matrix:
    lex = ranker.lexical
    parts = [
        lex.query_rows("tfidf", [q.row]) if q.row is not None else lex.query_texts("tfidf", [q.title], [q.abstract])
        for q in queries
    ]
    return sp.vstack(parts).tocsr()


def _rocchio(ranker: Ranker, positive, negative, k: int, allowed: np.ndarray, p: CollectionParams) -> Picks:
    pos = _lexical_rows(ranker, positive)
    q = np.asarray(pos.mean(axis=0)).ravel()
    if negative:
        q -= p.negative_weight * np.asarray(_lexical_rows(ranker, negative).mean(axis=0)).ravel()
    q = sp.csr_matrix(np.maximum(q, 0.0).astype(np.float32))
    scores = ranker.lexical.score_all("tfidf", q).ravel()
    best, rows = top_k(scores, k, np.flatnonzero(~allowed))
    best, rows = best[best > 0], rows[best > 0]  # a paper sharing no term with the examples is never listed
    weights = ranker.lexical.weights("tfidf")
    closest = np.argmax((weights[rows] @ pos.T).toarray(), axis=1) if len(rows) else np.empty(0, np.int64)
    return Picks(rows, best, closest.astype(np.int64))


def _fused(
    ranker: Ranker, positive, negative, k: int, allowed: np.ndarray, lists: Lists | None, p: CollectionParams
) -> Picks:
    lists = lists or (lambda q, depth: ranker.search("tfidf" if ranker.dense is None else "hybrid", q, depth))
    got = [_sharing(lists(q, p.depth)) for q in positive]  # a paper scoring 0 or less in every list is never listed
    pool = np.unique(np.concatenate([r[r >= 0] for _, r in got]))
    pool = pool[allowed[pool]]
    if len(pool) == 0:
        return Picks(np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.int64))
    total, best, closest = _accumulate(got, pool)
    total /= len(positive)
    if negative:
        neg_lists = [_sharing(lists(q, p.depth)) for q in negative]
        neg_total, neg_best, _ = _accumulate(neg_lists, pool)
        floors = sum(float(sc[r >= 0][-1]) if (r >= 0).any() else 0.0 for sc, r in neg_lists)
        total -= (
            p.fused_negative_weight * (neg_total - floors) / len(negative)
        )  # how far above its floor a negative ranks it
        total -= p.demote * np.maximum(neg_best - best, 0.0)  # closer to a negative than to every positive: pushed down
    scores, order = top_k(total, k)
    return Picks(pool[order], scores, closest[order])


def _sharing(found: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A list without its papers that share nothing with the example (a score of 0 or less: docs/ranking.md)."""
    scores, rows = np.asarray(found[0]), np.asarray(found[1])
    keep = scores > 0
    return scores[keep], rows[keep]


def _accumulate(got, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum over lists of each pool row's score (a list's last score where the row is missing), its best score and list."""
    total = np.zeros(len(pool), np.float64)
    best = np.full(len(pool), -np.inf)
    closest = np.zeros(len(pool), np.int64)
    for i, (scores, rows) in enumerate(got):
        ok = rows >= 0
        scores, rows = np.asarray(scores, np.float64)[ok], rows[ok]
        floor = float(scores[-1]) if len(scores) else 0.0
        here = np.full(len(pool), floor)
        at = np.searchsorted(pool, rows)
        hit = (at < len(pool)) & (pool[np.minimum(at, len(pool) - 1)] == rows)
        here[at[hit]] = scores[hit]
        total += here
        better = here > best
        best[better], closest[better] = here[better], i
    return total, best, closest
