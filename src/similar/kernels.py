"""Compiled loops (numba) for the stored lists' batches: each seed's query rows against its own pool's documents."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _pool_products(q_indptr, q_indices, q_data, d_indptr, d_indices, d_data, terms, b, n, out):  # pragma: no cover
    # numba compiles this; the tests run it compiled, where coverage cannot trace it
    w_count = q_data.shape[0]
    slot = np.full(terms, -1, dtype=np.int32)  # a term's row in `local`, -1 where no document of the pool uses it
    width = 1
    for s in range(b):
        width = max(width, d_indptr[(s + 1) * n] - d_indptr[s * n])
    used = np.empty(width, dtype=np.int64)  # the pool's terms, in order of first use
    local = np.zeros((width, w_count, n), dtype=np.float32)  # the pool's documents by term, one row per weighting
    for s in range(b):
        count = 0
        for j in range(n):
            r = s * n + j
            for p in range(d_indptr[r], d_indptr[r + 1]):
                t = d_indices[p]
                if slot[t] < 0:
                    slot[t] = count
                    used[count] = t
                    count += 1
                for w in range(w_count):
                    local[slot[t], w, j] += d_data[w, p]
        for i in range(n + 1):
            r = s * (n + 1) + i
            row = out[s, i]
            for p in range(q_indptr[r], q_indptr[r + 1]):
                c = slot[q_indices[p]]
                if c >= 0:
                    block = local[c]
                    for w in range(w_count):
                        a = q_data[w, p]
                        for j in range(n):
                            row[j] += a * block[w, j]
        for c in range(count):  # leave `slot` clean for the next pool
            slot[used[c]] = -1
        local[:count] = 0.0


def pool_products(queries: list, documents: list, b: int, n: int, out: np.ndarray) -> None:
    """Add to `out` (B, 1 + n, n) the sums over weightings of the products of B blocks of 1 + n query rows (a seed,
    then its pool) with B blocks of n document rows (the seed's pool), each block only against its own. `queries`
    and `documents` hold one CSR matrix per weighting, over one vocabulary; the weightings' matrices share their
    entries where they can (then one pass serves them all), else each is a pass of its own. Each pool's documents
    are laid out densely by term (one row of n per weighting), so a query term costs one n-wide multiply-add per
    weighting, vectorised, and a term no document of the pool uses one lookup. (Postings for the terms few
    documents use, one multiply-add per document, measured slower: scattered adds cost more than the n-wide
    ones they save.)"""
    if len(queries) != len(documents) or not queries:
        raise ValueError("pool_products: one query and one document matrix per weighting")
    for q, d in zip(queries, documents):
        if q.shape[0] != b * (n + 1) or d.shape[0] != b * n or out.shape != (b, n + 1, n):
            raise ValueError("pool_products: shapes do not match (B blocks of 1 + n queries, B blocks of n documents)")
    queries = [q if q.has_sorted_indices else q.sorted_indices() for q in queries]
    documents = [d if d.has_sorted_indices else d.sorted_indices() for d in documents]
    shared = all(_same_entries(queries[0], q) and _same_entries(documents[0], d) for q, d in zip(queries, documents))
    groups = [list(range(len(queries)))] if shared else [[i] for i in range(len(queries))]
    for group in groups:
        q, d = queries[group[0]], documents[group[0]]
        _pool_products(
            q.indptr.astype(np.int64, copy=False),
            q.indices,
            np.stack([queries[i].data.astype(np.float32, copy=False) for i in group]),
            d.indptr.astype(np.int64, copy=False),
            d.indices,
            np.stack([documents[i].data.astype(np.float32, copy=False) for i in group]),
            max(q.shape[1], d.shape[1]),
            b,
            n,
            out,
        )


def _same_entries(a, b) -> bool:
    return a.shape == b.shape and np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)


@numba.njit(cache=True, nogil=True)
def _heap_push(scores, rows, score, row):  # pragma: no cover (compiled)
    """Replace the smallest of a min-heap (scores[0]) by (score, row) and restore the heap."""
    k = len(scores)
    i = 0
    while True:
        child = 2 * i + 1
        if child >= k:
            break
        if child + 1 < k and scores[child + 1] < scores[child]:
            child += 1
        if scores[child] >= score:
            break
        scores[i], rows[i] = scores[child], rows[child]
        i = child
    scores[i], rows[i] = score, row


@numba.njit(cache=True, nogil=True)
def _keep_best(block, first_row, first_col, both, best_scores, best_rows):  # pragma: no cover (compiled)
    column_floor = np.empty(block.shape[1], dtype=np.float32)  # each column's k-th best so far
    for c in range(block.shape[1]):
        column_floor[c] = best_scores[first_col + c, 0]
    for a in range(block.shape[0]):
        heap_s, heap_r = best_scores[first_row + a], best_rows[first_row + a]
        row = block[a]
        floor = heap_s[0]  # the row's k-th best so far: most scores fall below it
        for c in range(len(row)):
            score = row[c]
            if score > floor:
                _heap_push(heap_s, heap_r, score, first_col + c)
                floor = heap_s[0]
            if both and score > column_floor[c]:
                column = first_col + c
                _heap_push(best_scores[column], best_rows[column], score, first_row + a)
                column_floor[c] = best_scores[column, 0]


def keep_best(
    block: np.ndarray, first_row: int, first_col: int, best_scores: np.ndarray, best_rows: np.ndarray, both: bool
) -> None:
    """Fold a block of scores (rows first_row.., columns first_col..) into per-row min-heaps of the best k
    (best_scores, best_rows: (N, k), heap-ordered, -inf where empty); with `both`, into the columns' heaps too (a
    block of a symmetric product is their scores as well), in the same pass over the block."""
    _keep_best(block, first_row, first_col, both, best_scores, best_rows)
