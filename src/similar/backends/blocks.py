"""Sparse score blocks (chosen rows x a candidate pool) in compiled loops: the hybrid's lexical part, per seed.

scipy's sparse product costs ~0.3 ms of bookkeeping per call, several calls per seed; these loops link the pool's
postings by term once and walk them for each query row (tens of microseconds), so a million stored lists take
minutes, not an hour. `tests/test_blocks.py` checks them against scipy's product."""

from __future__ import annotations

import threading

import numba
import numpy as np
import scipy.sparse as sp

_local = threading.local()  # one term-head array per thread (server threads and forked workers each have theirs)


@numba.njit(cache=True, nogil=True)
def _link(w_indptr, w_indices, w_data, w_rows, head, nxt, val, col):  # pragma: no cover - compiled
    k = 0
    for j in range(len(w_rows)):
        r = w_rows[j]
        for p in range(w_indptr[r], w_indptr[r + 1]):
            t = w_indices[p]
            nxt[k] = head[t]
            head[t] = k
            val[k] = w_data[p]
            col[k] = j
            k += 1


@numba.njit(cache=True, nogil=True)
def _accumulate(out, q_indptr, q_indices, q_data, q_rows, factor, head, nxt, val, col):  # pragma: no cover
    for i in range(len(q_rows)):
        r = q_rows[i]
        for p in range(q_indptr[r], q_indptr[r + 1]):
            h = head[q_indices[p]]
            if h >= 0:
                qv = q_data[p] * factor
                while h >= 0:
                    out[i, col[h]] += qv * val[h]
                    h = nxt[h]


@numba.njit(cache=True, nogil=True)
def _unlink(w_indptr, w_indices, w_rows, head):  # pragma: no cover - compiled
    for j in range(len(w_rows)):
        r = w_rows[j]
        for p in range(w_indptr[r], w_indptr[r + 1]):
            head[w_indices[p]] = -1


def _heads(terms: int) -> np.ndarray:
    head = getattr(_local, "head", None)
    if head is None or len(head) < terms:
        head = _local.head = np.full(max(terms, 1), -1, dtype=np.int32)
    return head


def block(
    queries: list[tuple[sp.csr_matrix, float]], query_rows: np.ndarray, weights: sp.csr_matrix, pool: np.ndarray
) -> np.ndarray:
    """(len(query_rows) x len(pool)) float64: sum over the (matrix, factor) query sources of
    factor * matrix[query_rows] @ weights[pool].T, the matrices sharing weights' columns."""
    query_rows = np.ascontiguousarray(query_rows, dtype=np.int64)
    pool = np.ascontiguousarray(pool, dtype=np.int64)
    out = np.zeros((len(query_rows), len(pool)), dtype=np.float64)
    if len(pool) == 0 or len(query_rows) == 0:
        return out
    links = int((weights.indptr[pool + 1] - weights.indptr[pool]).sum())
    head = _heads(weights.shape[1])
    nxt, val, col = np.empty(links, np.int32), np.empty(links, np.float64), np.empty(links, np.int32)
    _link(weights.indptr, weights.indices, weights.data, pool, head, nxt, val, col)
    try:
        for matrix, factor in queries:
            _accumulate(out, matrix.indptr, matrix.indices, matrix.data, query_rows, float(factor), head, nxt, val, col)
    finally:
        _unlink(weights.indptr, weights.indices, pool, head)
    return out
