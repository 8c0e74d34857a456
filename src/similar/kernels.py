"""Compiled loops (numba) for the stored lists' batches: each seed's query rows against its own pool's documents."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _pool_products(q_indptr, q_indices, q_data, d_indptr, d_indices, d_data, terms, b, n, out):  # pragma: no cover
    # numba compiles this; tests run it compiled (coverage cannot trace it)
    slot = np.full(terms, -1, dtype=np.int64)  # a term's row in `local`, -1 where no document of the pool uses it
    width = 0
    for s in range(b):
        nnz = d_indptr[(s + 1) * n] - d_indptr[s * n]
        width = max(width, nnz)
    local = np.zeros((max(width, 1), n), dtype=np.float32)  # the pool's documents by term: one row per pool term
    used = np.empty(max(width, 1), dtype=np.int64)
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
                local[slot[t], j] += d_data[p]
        for i in range(n + 1):
            r = s * (n + 1) + i
            row = out[s, i]
            for p in range(q_indptr[r], q_indptr[r + 1]):
                at = slot[q_indices[p]]
                if at >= 0:
                    a = q_data[p]
                    weights = local[at]
                    for j in range(n):
                        row[j] += a * weights[j]
        for c in range(count):  # leave `slot` and `local` clean for the next seed
            slot[used[c]] = -1
            local[c, :] = 0.0


def pool_products(queries, documents, b: int, n: int, out: np.ndarray) -> None:
    """Add to `out` (B, 1 + n, n) the products of B blocks of 1 + n query rows (a seed, then its pool) with B blocks
    of n document rows (the seed's pool), each block only against its own: CSR matrices over one vocabulary. Each
    pool's documents are laid out densely by term, so a query term costs one n-wide multiply-add; terms no document
    of the pool uses cost one lookup."""
    if queries.shape[0] != b * (n + 1) or documents.shape[0] != b * n or out.shape != (b, n + 1, n):
        raise ValueError("pool_products: shapes do not match (B blocks of 1 + n queries, B blocks of n documents)")
    _pool_products(
        queries.indptr.astype(np.int64, copy=False),
        queries.indices,
        queries.data.astype(np.float32, copy=False),
        documents.indptr.astype(np.int64, copy=False),
        documents.indices,
        documents.data.astype(np.float32, copy=False),
        max(queries.shape[1], documents.shape[1]),
        b,
        n,
        out,
    )
