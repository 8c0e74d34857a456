"""Collections: PMIDs and texts in, a CollectionList out (checks inputs, maps PMIDs to rows, applies filters)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from .errors import SimilarError
from .explain import explain_list
from .filters import NONE, Filters
from .index import Index, Neighbor, check_n
from .ranking import Query
from .recommend import DEFAULT_METHOD, METHODS, CollectionParams, recommend
from .versions import first_of_each_work

MAX_EXAMPLES = 1000
DENSE_METHODS = ("fused", "centroid", "linear")  # fused ranks each example with the index's default (hybrid) method


@dataclass(frozen=True)
class CollectionList:
    """The answer to a collection: papers like the positives and unlike the negatives, never any of them."""

    method: str
    neighbors: list[Neighbor]
    positive: list[str]
    negative: list[str]
    text: bool = False
    build_id: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    filters: dict = field(default_factory=dict)
    seed = None  # printed like a SimilarList without a seed

    def to_dict(self) -> dict:
        return {
            "positive": self.positive,
            "negative": self.negative,
            **({"text": True} if self.text else {}),
            "method": self.method,
            "build_id": self.build_id,
            **({"filters": self.filters} if self.filters else {}),
            "neighbors": [n.to_dict() for n in self.neighbors],
            **({"notes": self.notes} if self.notes else {}),
        }


def _pmids(index: Index, given: Iterable, what: str) -> list[str]:
    if isinstance(given, (str, int)):
        given = [given]
    given = list(dict.fromkeys(str(p).strip() for p in given))
    if len(given) > MAX_EXAMPLES:
        raise SimilarError(f"at most {MAX_EXAMPLES} {what} PMIDs, got {len(given)}")
    rows = [index.row(p) for p in given]  # one-line errors for malformed, deleted and unknown PMIDs
    return list(dict.fromkeys(index.pmids[r] for r in rows))


def check_method(index: Index, method: str | None) -> str:
    method = method or DEFAULT_METHOD
    if method not in METHODS:
        raise SimilarError(f"unknown collection method {method!r}: use one of {', '.join(METHODS)}")
    if method in ("centroid", "linear") and index.ranker.dense is None:
        raise SimilarError(
            f"collection method {method} needs an embedding model, and index {index.path.name} is TF-IDF only: use rocchio or fused"
        )
    return method


def lists_for(index: Index):
    """Each example's own list: the stored list when it is deep enough, else ranked live with the default method."""
    method = index.default_method

    def lists(q: Query, depth: int):
        stored = None if q.row is None else index.stored_list(q.row, method)
        if stored is not None and len(stored[1]) >= depth:
            scores, rows = stored[0][:depth], stored[1][:depth]
            return scores[rows >= 0], rows[rows >= 0]
        return index.ranker.search(method, q, depth)

    return lists


def allowed_rows(index: Index, min_year: int | None, max_year: int | None, filters=None) -> np.ndarray:
    return index.allowed((filters or NONE).with_years(min_year, max_year)).copy()


def recommend_collection(
    index: Index,
    positive=(),
    negative=(),
    n: int = 10,
    method: str | None = None,
    text: str | None = None,
    min_year: int | None = None,
    max_year: int | None = None,
    explain: bool = False,
    filters: Filters | None = None,
    versions: bool = True,
    params: CollectionParams | None = None,
) -> CollectionList:
    """The n papers most like the positive PMIDs (and text) and least like the negative ones; none of them is listed.

    explain=True fills in `why` for every paper (explain.explain_list), against its closest positive or the text."""
    started = time.perf_counter()
    check_n(n)
    method = check_method(index, method)
    positive = _pmids(index, positive, "positive")
    negative = _pmids(index, negative, "negative")
    text = (text or "").strip() or None
    if not positive and text is None:
        raise SimilarError("a collection needs at least one positive PMID or a text")
    both = [p for p in positive if p in negative]
    if both:
        raise SimilarError(f"PMID {both[0]} is both a positive and a negative example")
    queries = [Query(row=index.row(p)) for p in positive]
    if text is not None:
        vector = (
            index.encoder().encode([text])[0] if method in DENSE_METHODS and index.ranker.dense is not None else None
        )
        queries.append(Query(vector=vector, abstract=text))
    negatives = [Query(row=index.row(p)) for p in negative]
    filters = (filters or NONE).with_years(min_year, max_year)
    allowed = allowed_rows(index, None, None, filters)
    extra = 10 if versions else 0  # the examples' own versions and repeated works are dropped below
    picks = recommend(index.ranker, queries, negatives, n + extra, method, allowed, lists_for(index), params)
    names = positive + (["text"] if text is not None else [])
    order = list(range(len(picks.rows)))
    if versions:  # one entry per work, never a version of an example
        order = first_of_each_work(
            picks.rows, index.groups, {int(index.groups[index.row(p)]) for p in positive + negative}
        )
    order = order[:n]
    neighbors = index.neighbors_at(picks.scores[order], picks.rows[order], [names[picks.closest[i]] for i in order])
    result = CollectionList(
        method=method,
        neighbors=neighbors,
        positive=positive,
        negative=negative,
        text=text is not None,
        build_id=index.build_id,
        seconds=round(time.perf_counter() - started, 4),
        notes=index.shortfall(len(neighbors), n, filters),
        filters=filters.to_dict(),
    )
    return explain_list(index, result, text=text) if explain else result
