"""Ranking over rows: single methods, and the hybrid (dense + lexical fusion with neighbour expansion)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

from .backends import top_k
from .backends.dense import DenseBackend
from .backends.lexical import METHODS as LEXICAL_METHODS
from .backends.lexical import LexicalBackend

METHODS = ("hybrid", "dense", "tfidf", "bm25", "pmra")


@dataclass(frozen=True)
class HybridParams:
    """The default ranking, chosen by leave-one-topic-out cross-validation (benchmarks/results/hybrid-cv.md).

    base(x, c)  = dense_weight * cos(x, c) + (1 - dense_weight) * lex(x, c) / lex(x, x)
    final(s, c) = base(s, c) + expansion * mean over the seed's top `neighbours` papers n of base(n, c)

    Dividing the lexical score by the paper's score against itself puts BM25 on the 0-1 scale of the cosine, so
    a pair's base score does not depend on which other papers are ranked. The neighbour expansion (pseudo-relevance
    feedback over papers) lets the seed's closest papers vote. Candidates are the dense top `pool`, which keeps the
    cost near a plain dense query.
    """

    dense_weight: float = 0.5
    lexical: str = "bm25"
    neighbours: int = 5
    expansion: float = 3.0
    pool: int = 100

    def describe(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Query:
    """What to rank against: an indexed row, or an outside text with its vector (for dense methods)."""

    row: int | None = None
    vector: np.ndarray | None = None
    title: str = ""
    abstract: str = ""


class Ranker:
    """Scores rows for a query under any method; knows rows, never PMIDs."""

    def __init__(self, dense: DenseBackend | None, lexical: LexicalBackend, live: np.ndarray, hybrid: HybridParams | None = None):
        self.dense = dense
        self.lexical = lexical
        self.live = live  # bool per row
        self.hybrid = hybrid or HybridParams()
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

    def _exclude(self, q: Query) -> np.ndarray:
        return self.dead if q.row is None else np.append(self.dead, q.row)

    # -- scores of chosen rows (the re-rank protocol, and every fusion) ----------------------------------------
    def score(self, method: str, q: Query, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if method == "dense":
            return (self.dense.vectors(rows) @ self._vector(q).ravel()).astype(np.float32)
        if method == "hybrid":
            return self._hybrid(q, rows)
        return self.lexical.score_rows(method, self._terms(method, q), rows)

    def _rows_side(self, rows: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix]:
        """What the scored rows contribute to every product: their vectors, and their lexical weights transposed."""
        return self.dense.vectors(rows).T, self.lexical.weights(self.hybrid.lexical)[rows].T.tocsr()

    def _base(self, queries: list[Query], rows: np.ndarray, side=None) -> np.ndarray:
        """(queries x rows) fused base scores."""
        p = self.hybrid
        row_vecs_t, row_weights_t = side if side is not None else self._rows_side(rows)
        vecs = np.vstack([self._vector(q) for q in queries])
        dense = vecs @ row_vecs_t
        lex_rows = [q.row for q in queries if q.row is not None]
        if len(lex_rows) == len(queries):
            terms = self.lexical.query_rows(p.lexical, lex_rows)
            norm = self.lexical.self_scores(p.lexical)[lex_rows]
        else:
            q = queries[0]
            terms = self._terms(p.lexical, q)
            norm = self.lexical.text_self_score(p.lexical, terms, [q.title], [q.abstract])
        lex = (terms @ row_weights_t).toarray().astype(np.float32)
        lex /= np.maximum(norm, 1e-9)[:, None]
        return p.dense_weight * dense + (1.0 - p.dense_weight) * lex

    def _neighbours(self, q: Query) -> np.ndarray:
        """The seed's closest papers by base score among its dense pool: the voters of the expansion."""
        pool = self._dense_candidates(q, self.hybrid.pool, self._exclude(q))
        base = self._base([q], pool)[0]
        return pool[np.argsort(-base, kind="stable")[: self.hybrid.neighbours]]

    def _expansion(self, voters: np.ndarray, rows: np.ndarray, side=None) -> np.ndarray:
        if not len(voters) or not self.hybrid.expansion:
            return np.zeros(len(rows), np.float32)
        return self.hybrid.expansion * self._base([Query(row=int(n)) for n in voters], rows, side).mean(axis=0)

    def _hybrid(self, q: Query, rows: np.ndarray) -> np.ndarray:
        side = self._rows_side(rows)
        return (self._base([q], rows, side)[0] + self._expansion(self._neighbours(q), rows, side)).astype(np.float32)

    # -- top-k ------------------------------------------------------------------------------------------
    def search(self, method: str, q: Query, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Best k live rows, highest score first; the query's own row is never among them."""
        if method not in self.methods:
            raise ValueError(method)
        exclude = self._exclude(q)
        if method in LEXICAL_METHODS:
            scores = self.lexical.score_all(method, self._terms(method, q)).ravel()
            return top_k(scores, k, exclude)
        if method == "dense":
            rows = self._dense_candidates(q, k, exclude)
            best, order = top_k(self.score("dense", q, rows), k)
            return best, rows[order]
        pool = self._dense_candidates(q, max(k, self.hybrid.pool), exclude)
        side = self._rows_side(pool)
        base = self._base([q], pool, side)[0]
        voters = pool[np.argsort(-base, kind="stable")[: self.hybrid.neighbours]]
        best, order = top_k(base + self._expansion(voters, pool, side), k)
        return best, pool[order]

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
