"""Compiled loops (numba): each seed's rows against its own pool's lexical terms (the stored lists' batches), and
the all-pairs product's best-k heaps."""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class RowTerms:
    """Every row's terms on one CSR pattern (indptr, indices: sorted within a row) and, per weighting on that pattern,
    the rows' document weights and their query weights scaled by 1 / the row's score against itself: what a pool's
    lexical block reads (`pool_products`)."""

    indptr: np.ndarray  # int64
    indices: np.ndarray
    documents: tuple[np.ndarray, ...]  # float32, one per weighting, aligned with indices
    queries: tuple[np.ndarray, ...]
    scales: tuple[np.ndarray, ...]  # float32 per row
    terms: int  # the vocabulary's size: every index is below it


WIDE_FROM = 12  # pool papers using a term from which its products are n-wide (measured: 8 to 16 alike, ~10% faster)


@numba.njit(cache=True, nogil=True)
def _pool_products(indptr, indices, d0, d1, q0, q1, s0, s1, two, seeds, pools, slot, out):  # pragma: no cover
    # numba compiles this; the tests run it compiled, where coverage cannot trace it
    b, n = pools.shape
    wide = np.zeros((2, n), dtype=np.float32)  # a term many pool papers use, laid out by paper
    width = 1
    for s in range(b):
        total = indptr[seeds[s] + 1] - indptr[seeds[s]]
        for j in range(n):
            total += indptr[pools[s, j] + 1] - indptr[pools[s, j]]
        width = max(width, total)
    used = np.empty(width, dtype=np.int32)  # a pool's terms, in order of first use
    start = np.zeros(width + 1, dtype=np.int64)  # per term, where its entries start (then end)
    entry_term = np.empty(width, dtype=np.int32)
    entry_member = np.empty(width, dtype=np.int32)  # 0 the seed (a query only), 1 + j pool paper j (both)
    entry_values = np.empty((4, width), dtype=np.float32)  # query, document weights; the second weighting's
    member = np.empty(width, dtype=np.int32)
    values = np.empty((4, width), dtype=np.float32)
    for s in range(b):
        count = 0
        e = 0
        for i in range(n + 1):  # every entry of the seed's and its pool's rows, the term numbered by first use
            r = seeds[s] if i == 0 else pools[s, i - 1]
            a0, a1 = s0[r], s1[r]
            for p in range(indptr[r], indptr[r + 1]):
                t = indices[p]
                c = slot[t]
                if c < 0:
                    c = count
                    slot[t] = c
                    used[c] = t
                    start[c + 1] = 0
                    count += 1
                start[c + 1] += 1
                entry_term[e] = c
                entry_member[e] = i
                entry_values[0, e] = q0[p] * a0
                entry_values[1, e] = d0[p]
                if two:
                    entry_values[2, e] = q1[p] * a1
                    entry_values[3, e] = d1[p]
                e += 1
        start[0] = 0
        for c in range(count):
            start[c + 1] += start[c]
            slot[used[c]] = -1  # leave `slot` clean for the next pool
        for x in range(e):  # grouped by term, stably: each term's seed entry first
            c = entry_term[x]
            y = start[c]
            start[c] = y + 1
            member[y] = entry_member[x]
            for v in range(4 if two else 2):
                values[v, y] = entry_values[v, x]
        block = out[s]
        lo = 0
        for c in range(count):  # start[c] is now where term c's entries end
            hi = start[c]
            first_document = lo + 1 if member[lo] == 0 else lo
            if hi - first_document >= WIDE_FROM:  # n-wide multiply-adds beat scattered ones
                for f in range(first_document, hi):
                    wide[0, member[f] - 1] = values[1, f]
                    wide[1, member[f] - 1] = values[3, f] if two else 0.0
                for x in range(lo, hi):
                    row = block[member[x]]
                    a0, a1 = values[0, x], values[2, x] if two else 0.0
                    for j in range(n):
                        row[j] += a0 * wide[0, j] + a1 * wide[1, j]
                for f in range(first_document, hi):
                    wide[0, member[f] - 1] = 0.0
                    wide[1, member[f] - 1] = 0.0
                lo = hi
                continue
            for x in range(lo, hi):  # each query entry of the term against each document entry of it
                row = block[member[x]]
                a0 = values[0, x]
                if two:
                    a1 = values[2, x]
                    for f in range(first_document, hi):
                        row[member[f] - 1] += a0 * values[1, f] + a1 * values[3, f]
                else:
                    for f in range(first_document, hi):
                        row[member[f] - 1] += a0 * values[1, f]
            lo = hi


def pool_products(terms: RowTerms, seeds: np.ndarray, pools: np.ndarray, out: np.ndarray) -> None:
    """Add to `out` (B, 1 + n, n) each seed's block: the sums over weightings of score(q, d) / score(q, q) for q the
    seed and then its pool's n papers (pools: (B, n) rows), d its pool's papers. Per pool, the entries of its rows are
    grouped by term, and each term adds the outer product of its query and document entries: a pool of 100 abstracts
    costs about a tenth of the n-wide multiply-adds of laying its documents out by term (measured: most of a pool's
    terms are used by a few of its papers); a term WIDE_FROM papers use is laid out by paper. Two weightings share a
    pass."""
    pools = np.ascontiguousarray(pools, dtype=np.int64)
    seeds = np.ascontiguousarray(seeds, dtype=np.int64)
    b, n = pools.shape
    if seeds.shape != (b,) or out.shape != (b, n + 1, n) or out.dtype != np.float32:
        raise ValueError("pool_products: shapes do not match (B seeds, B pools of n, out (B, 1 + n, n) float32)")
    if not (len(terms.documents) == len(terms.queries) == len(terms.scales)):
        raise ValueError("pool_products: one document, query and scale array per weighting")
    slot = np.full(max(terms.terms, 1), -1, dtype=np.int32)  # a term's number in the pool, -1 where none
    for w in range(0, len(terms.documents), 2):
        two = w + 1 < len(terms.documents)
        second = w + 1 if two else w
        _pool_products(
            terms.indptr,
            terms.indices,
            terms.documents[w],
            terms.documents[second],
            terms.queries[w],
            terms.queries[second],
            terms.scales[w],
            terms.scales[second],
            two,
            seeds,
            pools,
            slot,
            out,
        )


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
    column_floor = np.empty(block.shape[1] if both else 0, dtype=np.float32)  # each column's k-th best so far
    for c in range(len(column_floor)):  # columns have heaps only with `both`: else they are ids, not rows here
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
    block of a symmetric product is their scores as well), in the same pass over the block. Without `both` the
    columns are only the ids kept (rows of another matrix: the heaps need not reach them)."""
    if first_row < 0 or first_row + block.shape[0] > len(best_scores) or best_rows.shape != best_scores.shape:
        raise ValueError("keep_best: the block's rows fall outside the heaps")
    if both and (first_col < 0 or first_col + block.shape[1] > len(best_scores)):
        raise ValueError("keep_best: the block's columns fall outside the heaps")
    _keep_best(block, first_row, first_col, both, best_scores, best_rows)


@numba.njit(cache=True, nogil=True)
def _locality_order(position, neighbours):  # pragma: no cover (compiled)
    count = neighbours.shape[0]
    order = np.empty(count, dtype=np.int64)
    seen = np.zeros(count, dtype=np.bool_)
    head = tail = 0
    for first in range(count):
        if seen[first]:
            continue
        seen[first] = True
        order[tail] = first
        tail += 1
        while head < tail:
            at = order[head]
            head += 1
            for row in neighbours[at]:
                if row >= 0:
                    other = position[row]
                    if other >= 0 and not seen[other]:
                        seen[other] = True
                        order[tail] = other
                        tail += 1
    return order


def locality_order(seeds: np.ndarray, neighbours: np.ndarray, count: int) -> np.ndarray:
    """An order of the seeds (positions into `seeds`) in which consecutive seeds are neighbours: breadth first over
    their neighbour rows (`neighbours`, (len(seeds), k), -1 for none; rows that are not seeds are passed over), so a
    chunk's pools share papers and read them from the cache (measured: 8% faster lists at 100k)."""
    position = np.full(count, -1, dtype=np.int64)
    position[np.asarray(seeds, dtype=np.int64)] = np.arange(len(seeds))
    return _locality_order(position, np.asarray(neighbours))


@numba.njit(cache=True, nogil=True)
def _merge_best(scores, rows, k, out_scores, out_rows):  # pragma: no cover (compiled)
    for r in range(scores.shape[0]):
        order = np.argsort(-scores[r], kind="mergesort")  # stable: ties keep their row order (sorted next)
        s, ids = scores[r][order], rows[r][order]
        start = 0
        while start < len(s):  # within a run of equal scores, the smaller row first
            stop = start + 1
            while stop < len(s) and s[stop] == s[start]:
                stop += 1
            if stop - start > 1:
                ids[start:stop] = np.sort(ids[start:stop])
            start = stop
        out_scores[r] = s[:k]
        out_rows[r] = ids[:k]


def merge_best(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k best of (scores, rows) side by side (several heaps' worth), best first, ties by row."""
    out_scores = np.empty((scores.shape[0], k), dtype=scores.dtype)
    out_rows = np.empty((rows.shape[0], k), dtype=rows.dtype)
    _merge_best(scores, rows, k, out_scores, out_rows)
    return out_scores, out_rows
