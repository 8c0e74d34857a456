"""Ranking over rows: one method's scores, hybrid fusion of dense and lexical, seed and tombstone exclusion."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .backends import top_k
from .backends.dense import DenseBackend
from .backends.lexical import METHODS as LEXICAL_METHODS
from .backends.lexical import LexicalBackend

METHODS = ("hybrid", "dense", "tfidf", "bm25", "pmra")

# Hybrid = DENSE_WEIGHT * cosine(MiniLM) + (1 - DENSE_WEIGHT) * cosine(TF-IDF).
# Both are cosines in [0, 1], so the fused score of a pair does not depend on which other papers are ranked,
# and the same score serves full retrieval and re-ranking. The weight was chosen by cross-validation over the
# dev topics (benchmarks/results/fusion-cv.md); candidates come from the union of each method's top list.
DENSE_WEIGHT = 0.5
HYBRID_POOL = 200  # candidates taken from each side before fusing


@dataclass(frozen=True)
class Query:
    """What to rank against: an indexed row, or a vector and sparse term weights of an outside text."""

    row: int | None = None
    vector: np.ndarray | None = None
    title: str = ""
    abstract: str = ""


class Ranker:
    """Scores rows for a query under any method; knows rows, never PMIDs."""

    def __init__(self, dense: DenseBackend | None, lexical: LexicalBackend, live: np.ndarray, dense_weight: float = DENSE_WEIGHT):
        self.dense = dense
        self.lexical = lexical
        self.live = live  # bool per row
        self.dense_weight = dense_weight
        self.dead = np.flatnonzero(~live)

    @property
    def methods(self) -> tuple[str, ...]:
        return METHODS if self.dense is not None else LEXICAL_METHODS

    # -- query representations ----------------------------------------------------------------------------
    def _vector(self, q: Query) -> np.ndarray:
        if q.vector is not None:
            return np.asarray(q.vector, np.float32).reshape(1, -1)
        return self.dense.vectors(np.array([q.row]))

    def _terms(self, method: str, q: Query) -> sp.csr_matrix:
        if q.row is not None:
            return self.lexical.query_rows(method, [q.row])
        return self.lexical.query_texts(method, [q.title], [q.abstract])

    # -- scores of given rows -----------------------------------------------------------------------------
    def score(self, method: str, q: Query, rows: np.ndarray) -> np.ndarray:
        """Scores of chosen rows (the re-rank protocol, and fusion)."""
        rows = np.asarray(rows, dtype=np.int64)
        if method == "dense":
            return (self.dense.vectors(rows) @ self._vector(q).ravel()).astype(np.float32)
        if method == "hybrid":
            w = self.dense_weight
            return w * self.score("dense", q, rows) + (1 - w) * self.score("tfidf", q, rows)
        return self.lexical.score_rows(method, self._terms(method, q), rows)

    # -- top-k ------------------------------------------------------------------------------------------
    def search(self, method: str, q: Query, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Best k live rows, highest score first; the query's own row is never among them."""
        if method not in self.methods:
            raise ValueError(method)
        exclude = self.dead if q.row is None else np.append(self.dead, q.row)
        if method in LEXICAL_METHODS:
            scores = self.lexical.score_all(method, self._terms(method, q)).ravel()
            return top_k(scores, k, exclude)
        pool = max(k, HYBRID_POOL) if method == "hybrid" else k
        rows = self._dense_candidates(q, pool, exclude)
        if method == "hybrid":
            lex_scores = self.lexical.score_all("tfidf", self._terms("tfidf", q)).ravel()
            _, lex_rows = top_k(lex_scores, pool, exclude)
            rows = np.union1d(rows, lex_rows)
        scores = self.score(method, q, rows)
        best_scores, order = top_k(scores, k)
        return best_scores, rows[order]

    def _dense_candidates(self, q: Query, k: int, exclude: np.ndarray) -> np.ndarray:
        """Dense top-k rows, over-fetching past excluded rows until k remain or the index is exhausted."""
        want = k + len(exclude) if len(exclude) < 1000 else 2 * k
        skip = set(exclude.tolist())
        while True:
            _, rows = self.dense.search(self._vector(q), want)
            kept = [r for r in rows[0].tolist() if r >= 0 and r not in skip]
            if len(kept) >= k or want >= self.dense.count:
                return np.asarray(kept[:k], dtype=np.int64)
            want = min(self.dense.count, want * 2)
