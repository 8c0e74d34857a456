"""Index.recommend: PMIDs and texts in, a CollectionList out (checks inputs, maps PMIDs to rows, applies filters)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Iterable

import numpy as np

from .errors import SimilarError
from .ranking import Query
from .recommend import DEFAULT_METHOD, METHODS, CollectionParams, recommend

if TYPE_CHECKING:
    from .index import CollectionList, Index

MAX_EXAMPLES = 1000
DENSE_METHODS = ("fused", "centroid", "linear")  # fused ranks each example with the index's default (hybrid) method


def _pmids(index: "Index", given: Iterable, what: str) -> list[str]:
    if isinstance(given, (str, int)):
        given = [given]
    given = list(dict.fromkeys(str(p).strip() for p in given))
    if len(given) > MAX_EXAMPLES:
        raise SimilarError(f"at most {MAX_EXAMPLES} {what} PMIDs, got {len(given)}")
    rows = [index.row(p) for p in given]  # one-line errors for malformed, deleted and unknown PMIDs
    return list(dict.fromkeys(index.pmids[r] for r in rows))


def check_method(index: "Index", method: str | None) -> str:
    method = method or DEFAULT_METHOD
    if method not in METHODS:
        raise SimilarError(f"unknown collection method {method!r}: use one of {', '.join(METHODS)}")
    if method in ("centroid", "linear") and index.ranker.dense is None:
        raise SimilarError(
            f"collection method {method} needs an embedding model, and index {index.path.name} is TF-IDF only: use rocchio or fused"
        )
    return method


def lists_for(index: "Index"):
    """Each example's own list: the stored list when it is deep enough, else ranked live with the default method."""
    method = index.default_method

    def lists(q: Query, depth: int):
        stored = None if q.row is None else index.stored_list(q.row, method)
        if stored is not None and len(stored[1]) >= depth:
            scores, rows = stored[0][:depth], stored[1][:depth]
            return scores[rows >= 0], rows[rows >= 0]
        return index.ranker.search(method, q, depth)

    return lists


def allowed_rows(index: "Index", min_year: int | None, max_year: int | None, filters=None) -> np.ndarray:
    from .filters import NONE

    return index.allowed((filters or NONE).with_years(min_year, max_year)).copy()


def recommend_collection(
    index: "Index",
    positive,
    negative,
    n: int,
    method: str | None,
    text: str | None,
    min_year: int | None,
    max_year: int | None,
    explain: bool,
    params: CollectionParams | None = None,
    filters=None,
    versions: bool = True,
) -> "CollectionList":
    from .index import CollectionList, check_n

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
    from .filters import NONE

    filters = (filters or NONE).with_years(min_year, max_year)
    allowed = allowed_rows(index, None, None, filters)
    extra = 10 if versions else 0  # the examples' own versions and repeated works are dropped below
    picks = recommend(index.ranker, queries, negatives, n + extra, method, allowed, lists_for(index), params)
    names = positive + (["text"] if text is not None else [])
    order = list(range(len(picks.rows)))
    if versions:  # one entry per work, never a version of an example
        from .versions import first_of_each_work

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
    return index.explain(result, text=text) if explain else result
