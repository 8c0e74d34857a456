"""Ranking methods, one object each: the one place that names them (CLI, HTTP, Index, benchmarks and docs read it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from .backends import top_k
from .backends.weightings import WEIGHTINGS


class Ranker(Protocol):
    """What a method may ask of the ranker that calls it (ranking.Ranker, the one implementation). Methods sit below
    ranking and never import it: a query (ranking.Query) passes through a method to the ranker untouched."""

    dense: Any  # backends.dense.DenseBackend, or None for an index without a model
    lexical: Any  # backends.lexical.LexicalBackend

    def vector(self, q: Any) -> np.ndarray: ...

    def terms(self, method: str, q: Any) -> Any: ...

    def exclude(self, q: Any) -> np.ndarray: ...

    def params(self, q: Any) -> Any: ...

    def dense_candidates(self, q: Any, k: int, exclude: np.ndarray) -> np.ndarray: ...

    def hybrid_scores(self, q: Any, rows: np.ndarray) -> np.ndarray: ...

    def rank_pool(self, q: Any, pool: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class Method:
    """A ranking method: how it scores chosen rows for a query and how it finds a query's best k live rows.

    Adding a method = one subclass, registered with `register`, and its tests; everything else reads `REGISTRY`."""

    name: str
    summary: str
    needs_vectors: bool = False
    fusion: ClassVar[bool] = False  # True for a method that combines others (tuning compares it with single methods)

    def score(self, ranker: Ranker, q: Any, rows: np.ndarray) -> np.ndarray:
        """Scores of chosen rows (the re-rank protocol, and every fusion)."""
        raise NotImplementedError

    def search(self, ranker: Ranker, q: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Best k live rows as (scores, rows), highest first; the query's own row is never among them."""
        raise NotImplementedError


@dataclass(frozen=True)
class Lexical(Method):
    """One lexical weighting (backends/lexical.py WEIGHTINGS): every row scored exactly from the query terms' postings,
    or (big indexes) candidates from the postings of the query's highest-impact terms, scored exactly."""

    def score(self, ranker, q, rows):
        return ranker.lexical.score_rows(self.name, ranker.terms(self.name, q), rows)

    def search(self, ranker, q, k):
        scores, rows = ranker.lexical.search(self.name, ranker.terms(self.name, q), k, exclude=ranker.exclude(q))
        found = rows[0] >= 0
        return scores[0][found], rows[0][found]


@dataclass(frozen=True)
class Dense(Method):
    """Cosine of the embedding vectors (FAISS search)."""

    def score(self, ranker, q, rows):
        return (ranker.dense.vectors(rows) @ ranker.vector(q).ravel()).astype(np.float32)

    def search(self, ranker, q, k):
        rows = ranker.dense_candidates(q, k, ranker.exclude(q))
        best, order = top_k(self.score(ranker, q, rows), k)
        return best, rows[order]


@dataclass(frozen=True)
class Hybrid(Method):
    """Dense + lexical fusion with neighbour expansion over the query's dense pool (ranking.HybridParams)."""

    fusion: ClassVar[bool] = True

    def score(self, ranker, q, rows):
        return ranker.hybrid_scores(q, rows)

    def search(self, ranker, q, k):
        pool = ranker.dense_candidates(q, max(k, ranker.params(q).pool), ranker.exclude(q))
        return ranker.rank_pool(q, pool, k)


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Make a method known to every face; names are unique."""
    if method.name in REGISTRY:
        raise ValueError(f"ranking method {method.name!r} is registered twice")
    REGISTRY[method.name] = method
    return method


register(
    Hybrid("hybrid", "Dense + lexical (BM25, TF-IDF) fusion with neighbour expansion; the default with a model.", True)
)
register(Dense("dense", "Cosine of the sentence-embedding vectors.", True))
for _w in WEIGHTINGS.values():
    register(Lexical(_w.name, _w.summary))


def names(vectors: bool = True, fusions: bool = True) -> tuple[str, ...]:
    """Every method's name in registry order; with vectors=False only those an index without a model answers, with
    fusions=False only single methods (the ones a fusion is compared with)."""
    return tuple(m.name for m in REGISTRY.values() if (vectors or not m.needs_vectors) and (fusions or not m.fusion))


def lexical() -> tuple[str, ...]:
    """The methods that are one lexical weighting each (the lexical backend answers them by name), in registry order."""
    return tuple(m.name for m in REGISTRY.values() if isinstance(m, Lexical))


def get(name: str) -> Method:
    if name not in REGISTRY:
        raise ValueError(f"unknown ranking method {name!r}")
    return REGISTRY[name]


def pattern() -> str:
    """A regular expression matching exactly the registered names (HTTP validation)."""
    return "^(" + "|".join(names()) + ")$"


def manifest_problem(manifest: Any) -> str | None:
    """What is wrong with the methods an index's manifest names (store.Manifest: its types are checked there), as
    the words after "manifest.json", or None: each is registered, and one needing vectors names an index with them."""
    for key, name in (
        ("default_method", manifest.default_method),
        ("precomputed.method", (manifest.precomputed or {}).get("method")),
    ):
        if name is None:
            continue
        if name not in REGISTRY:
            return f"names an unknown method {name!r} as '{key}'"
        if REGISTRY[name].needs_vectors and not manifest.dense:
            return f"names method {name!r} as '{key}', which needs vectors this index has none of"
    return None
