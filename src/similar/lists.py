"""Stored "Similar Papers" lists: the hybrid top-k of many seeds computed as one batch, and their update after an add."""

from __future__ import annotations

import multiprocessing as mp
import os

import numpy as np

from .backends.dense import DenseBackend, all_neighbours
from .backends.weightings import weighting
from .kernels import RowTerms, keep_best, locality_order, pool_products
from .ranking import HybridParams, Query, Ranker, expand

PRECOMPUTED = 100  # list length kept per paper: the HTTP API's largest n
TOP = 10  # the top of a list: what an update keeps exact (see update_lists)
TOP_MARGIN = 0.1  # base score below the weakest top entry's from which a new paper may still reach the top (measured)
CHUNK = 1024  # seeds per batched dense search, and per task of a worker process
BATCH = 32  # seeds per batched block (dense and lexical products, expansion): measured best of 32 and 128
ALL_PAIRS_FROM = 20_000  # papers from which a build's pools come from one all-pairs product (half the work)
# a job of at least 1 / ROW_TERMS_FROM of the rows lays out every row's terms first (row_terms: about 4 us a row of
# the index; the kernel then saves about 0.7 ms a seed at 100k, measured); a smaller one takes sparse products
ROW_TERMS_FROM = 64
PARALLEL_FROM = 20_000  # lists to compute from which worker processes (one per core) pay for their start


def empty_lists(count: int, k: int = PRECOMPUTED, tops: bool = False) -> tuple[np.ndarray, ...]:
    """Stored lists of `count` rows holding nothing yet: rows -1, scores 0, floors -inf (any new paper counts), and
    with `tops` top floors -inf too."""
    lists = (
        np.full((count, k), -1, dtype=np.int32),
        np.zeros((count, k), dtype=np.float32),
        np.full(count, -np.inf, dtype=np.float32),
    )
    return (*lists, np.full(count, -np.inf, dtype=np.float32)) if tops else lists


def precompute(
    ranker: Ranker,
    method: str,
    k: int = PRECOMPUTED,
    progress: bool = True,
    rows: np.ndarray | None = None,
    workers: int | None = None,
    candidates: np.ndarray | None = None,
    tops: bool = False,
) -> tuple[np.ndarray, ...]:
    """Top-k lists under `method` of `rows` (default: every live paper) as (rows, scores, floors): arrays of shape
    (len, k), -1 padding short lists, and per seed its pool floor: the dense score of the last paper of its candidate
    pool (a paper scoring above it would enter the pool: see `update_lists`); with `tops`, their top floors too
    (`top_floors`, from the base blocks the ranking computed). A build's pools over an exact index
    come from one all-pairs product first (`all_pairs`); given `candidates` (per seed, rows holding its whole pool,
    -1 padded: an update's old pool and the new papers entering it), each pool is the best of them by dense score
    instead of a search. Seeds whose pools are known are taken in chunks of neighbours (kernels.locality_order).
    Large jobs run in one forked worker per core, each
    single-threaded (FAISS and BLAS): idle OpenMP threads spinning between small searches slow everything else."""
    import faiss
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    seeds = np.flatnonzero(ranker.live) if rows is None else np.asarray(rows, dtype=np.int64)
    out = empty_lists(len(seeds), k, tops=True)
    order = np.arange(len(seeds))  # the seeds' positions in the order their chunks take them
    workers = workers or (os.cpu_count() or 1)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        with (
            threadpool_limits(1),
            tqdm(total=len(seeds), desc="neighbour lists", unit=" paper", disable=not progress, smoothing=0.05) as bar,
        ):
            neighbours: tuple[np.ndarray, np.ndarray] | np.ndarray | None = None
            terms = row_terms(ranker, method) if ROW_TERMS_FROM * len(seeds) >= len(ranker.live) else None
            if candidates is not None:
                neighbours = np.asarray(candidates)
                order = locality_order(seeds, neighbours, len(ranker.live))
            elif all_pairs(ranker, method, rows):  # every pool at once, then the lists
                count = len(ranker.live)
                with tqdm(total=count, desc="dense pools", unit=" paper", disable=not progress) as pools:
                    scores, found = all_neighbours(
                        _dense(ranker).vectors(np.arange(count)), pool_depth(ranker, k), workers, pools.update
                    )
                paired = scores[seeds], found[seeds]
                del scores, found
                order = locality_order(seeds, paired[1], count)
                neighbours = paired
            chunks = [order[i : i + CHUNK] for i in range(0, len(seeds), CHUNK)]
            if workers > 1 and len(seeds) >= PARALLEL_FROM and "fork" in mp.get_all_start_methods():
                global _JOB
                # forked workers inherit it: nothing large is pickled
                _JOB = (ranker, method, k, seeds, neighbours, terms)
                try:
                    with mp.get_context("fork").Pool(workers) as pool:
                        for at, *made in pool.imap_unordered(_worker_chunk, chunks):
                            for whole, part in zip(out, made):
                                whole[at] = part
                            bar.update(len(at))
                finally:
                    _JOB = None
            else:
                for at in chunks:
                    given = _slice(neighbours, at)
                    for whole, part in zip(out, seed_lists(ranker, method, k, seeds[at], given, terms)):
                        whole[at] = part
                    bar.update(len(at))
    finally:
        faiss.omp_set_num_threads(threads)
    return out if tops else out[:3]


def all_pairs(ranker: Ranker, method: str, rows: np.ndarray | None) -> bool:
    """Whether a job's pools come from one all-pairs product (dense.all_neighbours) rather than a search per chunk:
    hybrid lists over an exact (flat) index of at least ALL_PAIRS_FROM papers, for every live paper or at least half
    of all rows (the symmetric product costs half a search of every row, so it is cheaper from there). Smaller
    updates and approximate indexes search."""
    dense, count = ranker.dense, len(ranker.live)
    return (
        (rows is None or 2 * len(rows) >= count)
        and method == "hybrid"
        and dense is not None
        and dense.kind == "flat"
        and count >= ALL_PAIRS_FROM
    )


_JOB: tuple | None = None


def _worker_chunk(at: np.ndarray) -> tuple[np.ndarray, ...]:
    assert _JOB is not None  # set by precompute before the workers fork
    ranker, method, k, seeds, neighbours, terms = _JOB
    return (at, *seed_lists(ranker, method, k, seeds[at], _slice(neighbours, at), terms))


def _slice(neighbours, at: np.ndarray):
    """A chunk's share of pools known beforehand ((scores, rows), or candidate rows), or None where each chunk
    searches its own."""
    if neighbours is None:
        return None
    if isinstance(neighbours, np.ndarray):
        return neighbours[at]
    return neighbours[0][at], neighbours[1][at]


def pool_depth(ranker: Ranker, k: int) -> int:
    """How many dense neighbours a seed's pool is taken from: the pool, the seed itself, and a few spare candidates
    standing in for tombstones."""
    return min(max(k, ranker.hybrid.pool) + 1 + min(len(ranker.dead), 16), len(ranker.live))


def seed_lists(
    ranker: Ranker,
    method: str,
    k: int,
    seeds: np.ndarray,
    neighbours: tuple[np.ndarray, np.ndarray] | np.ndarray | None = None,
    terms: RowTerms | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lists of some seeds, with their pool floors and top floors: one batched dense search gives each seed its
    candidate pool (or `neighbours`: the seeds' (scores, rows) as that search gives them, computed beforehand, or
    candidate rows holding each seed's pool, scored here: `scored`); seeds with a full pool are ranked together
    (`batched_hybrid`, over `terms`: the job's `row_terms`, if any; their top floors from the same base blocks), a
    seed short of candidates, or another method, alone."""
    rows, scores, floors, tops = empty_lists(len(seeds), k, tops=True)
    live_count = int(ranker.live.sum())
    p = ranker.hybrid
    pool_size = max(k, p.pool)
    hybrid = method == "hybrid" and ranker.dense is not None
    pools: list[np.ndarray | None] = [None] * len(seeds)
    full = np.zeros(len(seeds), dtype=bool)
    if hybrid:
        if neighbours is None:
            dense = _dense(ranker)
            found_scores, found = dense.search(dense.vectors(seeds), pool_depth(ranker, k))
        elif isinstance(neighbours, np.ndarray):
            found_scores, found = scored(ranker, seeds, neighbours)
        else:
            found_scores, found = neighbours
        keep = (found >= 0) & (found != seeds[:, None])
        keep[keep] &= ranker.live[found[keep]]
        rank = np.cumsum(keep, axis=1)
        full = rank[:, -1] >= pool_size
        last = np.argmax(rank >= pool_size, axis=1)
        floors[full] = found_scores[np.flatnonzero(full), last[full]]  # a paper scoring above it enters the pool
        for i in range(len(seeds)):  # a short pool holds every live paper (a tiny index), else search alone
            if full[i] or rank[i, -1] >= live_count - 1:
                pools[i] = found[i][keep[i] & (rank[i] <= pool_size)]
    alone = np.ones(len(seeds), dtype=bool)
    if hybrid and p.expands and pool_size > 1:
        batched = np.flatnonzero(full)
        alone[batched] = False
        for start in range(0, len(batched), BATCH):
            at = batched[start : start + BATCH]
            pool = np.sort(np.stack([pools[i] for i in at]), axis=1)  # row order: ties break alike everywhere
            final, base = batched_hybrid(ranker, seeds[at], pool, p, terms)
            order = np.argsort(-final, axis=1, kind="stable")[:, :k]
            rows[at] = np.take_along_axis(pool, order, axis=1)
            scores[at] = np.take_along_axis(final, order, axis=1)
            if k >= TOP:  # the weakest base score of the top, less the margin (top_floors, with no second pass)
                tops[at] = np.take_along_axis(base, order[:, :TOP], axis=1).min(axis=1) - TOP_MARGIN
    for i in np.flatnonzero(alone).tolist():
        q = Query(row=int(seeds[i]))
        candidates = pools[i]
        s, r = ranker.rank_pool(q, candidates, k) if candidates is not None else ranker.search(method, q, k)
        rows[i, : len(r)], scores[i, : len(s)] = r, s
    if hybrid and alone.any():
        tops[alone] = top_floors(ranker, seeds[alone], rows[alone])
    return rows, scores, floors, tops


def scored(ranker: Ranker, seeds: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate rows (per seed, -1 padded) as a search gives them: (dense scores, rows), best first, ties by row,
    -inf and -1 where padded."""
    vectors = _dense(ranker).vectors
    rows = np.asarray(candidates, dtype=np.int64)
    there = rows >= 0
    scores = np.full(rows.shape, -np.inf, dtype=np.float32)
    at = np.flatnonzero(there.any(axis=1))
    for start in range(0, len(at), BATCH):
        part = at[start : start + BATCH]
        block = vectors(np.where(there[part], rows[part], 0).ravel()).reshape(len(part), rows.shape[1], -1)
        scores[part] = np.where(there[part], np.einsum("bcd,bd->bc", block, vectors(seeds[part])), -np.inf)
    order = np.lexsort((np.where(there, rows, np.iinfo(np.int64).max), -scores), axis=1)
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)


def _dense(ranker: Ranker) -> DenseBackend:
    if ranker.dense is None:
        raise ValueError("stored hybrid lists need an index with vectors")
    return ranker.dense


def pair_base(ranker: Ranker, seeds: np.ndarray, papers: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """The hybrid's base score (HybridParams) of each (seed, paper) pair: the fusion of their dense and lexical scores
    before any expansion, as the ranking's blocks hold it."""
    p = ranker.hybrid
    out = np.empty(len(seeds), dtype=np.float32)
    for at in range(0, len(seeds), chunk):
        x, c = seeds[at : at + chunk], papers[at : at + chunk]
        dense = np.einsum("id,id->i", _dense(ranker).vectors(x), _dense(ranker).vectors(c))
        lex = np.zeros(len(x), dtype=np.float32)
        for method in p.lexical:
            pair = ranker.lexical.query_rows(method, x).multiply(ranker.lexical.weights(method)[c])
            lex += np.asarray(pair.sum(axis=1)).ravel() / np.maximum(ranker.lexical.self_scores(method)[x], 1e-9)
        out[at : at + chunk] = p.dense_weight * dense + (1.0 - p.dense_weight) * lex / max(len(p.lexical), 1)
    return out


def top_floors(ranker: Ranker, seeds: np.ndarray, lists: np.ndarray) -> np.ndarray:
    """Per seed, the base score a new paper must beat to be counted as able to reach its list's top (the first TOP
    entries): the weakest base score among them, less TOP_MARGIN. A measured bound, not a proof (the expansion can
    lift a paper past a stronger one): `similar bench scale --daily` measures what an update then loses.
    A list shorter than TOP has the floor -inf (any new paper counts)."""
    top = np.asarray(lists)[:, :TOP].astype(np.int64)
    valid = top >= 0
    floors = np.full(len(seeds), -np.inf, dtype=np.float32)
    whole = valid.all(axis=1) & (top.shape[1] == TOP)
    if whole.any():
        x = np.repeat(np.asarray(seeds, dtype=np.int64)[whole], TOP)
        base = pair_base(ranker, x, top[whole].ravel()).reshape(-1, TOP)
        floors[whole] = base.min(axis=1) - TOP_MARGIN
    return floors


def batched_hybrid(
    ranker: Ranker, seeds: np.ndarray, pools: np.ndarray, p: HybridParams, terms: RowTerms | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Final hybrid scores (HybridParams) of B seeds' pools, shape (B, n), as `Ranker._pool_hybrid` gives them one
    seed at a time: the (B, 1 + n, n) base blocks from batched dense products and the lexical blocks (over `terms`,
    `row_terms`; without them, a sparse product a seed), then the expansion over the batch axis; and the seeds' base
    scores of their pools (B, n)."""
    b, n = pools.shape
    m = min(p.neighbours, n - 1)
    block = np.concatenate([seeds[:, None], pools], axis=1)  # (B, 1 + n): each seed's row, then its pool
    vecs = _dense(ranker).vectors(block.ravel()).reshape(b, n + 1, -1)
    dense = np.matmul(vecs, vecs[:, 1:].transpose(0, 2, 1))
    lex = np.zeros((b, n + 1, n), dtype=np.float32)
    if terms is not None:
        pool_products(terms, seeds, pools, lex)
    else:
        for method in p.lexical:
            norm = np.maximum(ranker.lexical.self_scores(method), 1e-9)
            weights = ranker.lexical.weights(method)
            for s in range(b):
                queries = ranker.lexical.query_rows(method, block[s]).multiply(1.0 / norm[block[s], None])
                lex[s] += (queries @ weights[pools[s]].T).toarray()
    base = (p.dense_weight * dense + (1.0 - p.dense_weight) * lex / max(len(p.lexical), 1)).astype(np.float32)
    return expand(base, p, m), base[:, 0]


def row_terms(ranker: Ranker, method: str) -> RowTerms | None:
    """The hybrid's lexical weightings of every row on one pattern (kernels.RowTerms), made once per job: document
    weights as stored (sorted within rows where they are not), query weights (the counts, for a weighting queried by
    counts) and 1 / self scores. None where there is nothing to score (another method, no weighting) or where a
    weighting's entries differ from the first's: those blocks are sparse products."""
    lexical, methods = ranker.lexical, ranker.hybrid.lexical
    if method != "hybrid" or not methods:
        return None

    def sorted_weights(name: str):
        weights = lexical.weights(name)
        return weights if weights.has_sorted_indices else weights.sorted_indices()

    first = sorted_weights(methods[0])
    indptr, indices = first.indptr.astype(np.int64), first.indices
    documents, queries, scales = [], [], []
    for name in methods:
        w = weighting(name)
        weights = first if name == methods[0] else sorted_weights(name)
        if not (np.array_equal(weights.indptr, indptr) and np.array_equal(weights.indices, indices)):
            return None
        query = np.asarray(weights.data, dtype=np.float32)
        if w.queries_with_counts:  # the counts on the weights' pattern, a block of rows at a time
            parts = []
            for a, b in lexical.blocks():
                counts = lexical.count_block(a, b, w.title_weight)
                counts = counts if counts.has_sorted_indices else counts.sorted_indices()
                if not np.array_equal(counts.indices, indices[indptr[a] : indptr[b]]) or not np.array_equal(
                    counts.indptr, indptr[a : b + 1] - indptr[a]
                ):
                    return None
                parts.append(counts.data.astype(np.float32))
            query = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        documents.append(np.asarray(weights.data, dtype=np.float32))
        queries.append(query)
        scales.append((1.0 / np.maximum(lexical.self_scores(name), 1e-9)).astype(np.float32))
    return RowTerms(indptr, indices, tuple(documents), tuple(queries), tuple(scales), lexical.terms)


def update_lists(
    ranker: Ranker,
    lists: tuple,
    new: np.ndarray,
    retired: np.ndarray,
    progress: bool = True,
    make=None,
) -> tuple[tuple, int]:
    """Stored hybrid lists (rows, scores, pool floors[, top floors[, exact marks]]) after papers were appended (`new`
    rows) and retired, recomputing the new papers' lists, those that held a retired paper (so no retired or revised
    paper is ever shown with a stale score), and those whose top a new paper can reach: its dense score with the seed
    beats the seed's pool floor (every stored vector is scored against every new one, as blocked matrix products)
    and, where top floors are stored, its base score with the seed beats the top floor too (`top_floors`). Without
    top floors every list whose pool a new paper enters is recomputed. Every other list is kept as it is: a new paper
    that entered its pool below the top is missing from its lower entries until the list is next recomputed (its
    exact mark is cleared). Pools without a search: a new paper's from the same block products (every stored row,
    then the other new papers); a stored list marked exact (it holds its whole dense pool) takes the best of itself,
    less the retired papers, and the new papers entering it, when they are enough to fill it (the rows below its
    old floor are not known). Returns the lists for every row (top floors and exact marks for every row) and how
    many were made. `make` ranks the chosen seeds in precompute's stead (called as it is: Ray's, distributed.lists_maker)."""
    old_rows, old_scores, old_floors = lists[:3]
    old_tops = lists[3] if len(lists) > 3 else None
    exact = np.zeros(len(ranker.live), dtype=bool)
    if len(lists) > 4 and lists[4] is not None:
        exact[: len(old_rows)] = lists[4]
    count, old_count, k = len(ranker.live), len(old_rows), old_rows.shape[1]
    pool_size = max(k, ranker.hybrid.pool)
    affected = np.zeros(count, dtype=bool)
    affected[new] = True
    held = np.isin(old_rows, retired) if len(retired) else np.zeros(old_rows.shape, dtype=bool)  # retired entries
    lost = held.sum(axis=1)  # per stored list, the retired papers it held
    affected[:old_count] |= lost > 0
    entering: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (seed, new paper, dense score) into exact pools
    fresh = _dense(ranker).vectors(new)
    depth = pool_depth(ranker, k)
    news = np.full((len(new), depth), -np.inf, np.float32), np.full((len(new), depth), -1, np.int64)  # their heaps
    for start in range(0, count, 32_768):  # every row against every new paper, in blocks of BLAS work
        stop = min(start + 32_768, count)
        block = _dense(ranker).vectors(np.arange(start, stop))
        for at in range(0, len(fresh), 4096):
            product = fresh[at : at + 4096] @ block.T  # new papers x rows
            product[:, ~ranker.live[start:stop]] = -np.inf  # no pool holds a retired paper
            keep_best(product, at, start, *news, both=False)
            if start >= old_count:
                continue
            paper, seed = np.nonzero(product[:, : old_count - start] > old_floors[start:stop][None, :])
            into = exact[start + seed]
            entering.append((start + seed[into], new[at + paper[into]], product[paper[into], seed[into]]))
            if old_tops is not None and len(seed):
                keep = ~affected[start + seed]  # those already recomputed need no test
                seed, paper = seed[keep], paper[keep]
                reach = pair_base(ranker, start + seed, new[at + paper]) > old_tops[start + seed]
                seed = seed[reach]
            affected[start + seed] = True
    affected &= ranker.live
    seeds = np.flatnonzero(affected)
    rows, scores, floors = empty_lists(count, k)
    tops = np.full(count, -np.inf, dtype=np.float32)
    rows[:old_count], scores[:old_count], floors[:old_count] = old_rows, old_scores, old_floors
    if old_tops is not None:  # lists stored without top floors keep -inf: any new paper in their pool counts
        tops[:old_count] = old_tops
    rows[~ranker.live], scores[~ranker.live] = -1, 0.0
    entered = tuple(  # (seed, new paper, dense score) of each entry, as arrays
        np.concatenate([e[i] for e in entering]) if entering else np.zeros(0, dtype)
        for i, dtype in enumerate((np.int64, np.int64, np.float32))
    )
    exact[entered[0][~affected[entered[0]]]] = False  # kept, though a new paper entered its pool below the top
    arrived = np.bincount(entered[0], minlength=count)
    old = seeds < old_count
    known = np.zeros(len(seeds), dtype=bool)  # pools known without a search
    known[old] = (
        exact[seeds[old]]
        & np.isfinite(floors[seeds[old]])
        & (k >= pool_size)  # the stored list is the whole pool
        & (arrived[seeds[old]] >= lost[seeds[old]])  # and as many new papers entered it as it lost
    )
    known[~old] = True
    candidates = pool_candidates(seeds[known], old_rows, held, entered, pool_size, news, new)
    made = empty_lists(len(seeds), k, tops=True)
    for part, given in ((known, candidates), (~known, None)):
        if part.any():
            got = (make or precompute)(ranker, "hybrid", k, progress, rows=seeds[part], candidates=given, tops=True)
            for whole, piece in zip(made, got):
                whole[part] = piece
    rows[seeds], scores[seeds], floors[seeds], tops[seeds] = made
    exact[seeds] = True
    exact &= ranker.live
    return (rows, scores, floors, tops, exact), len(seeds)


def pool_candidates(
    seeds: np.ndarray, old_rows: np.ndarray, retired: np.ndarray, entered: tuple, pool_size: int, news, new
) -> np.ndarray:
    """Per seed, rows holding its whole new pool (-1 padded, int32: rows fit, as the stored lists'). A stored seed's:
    its stored list (its old pool; `retired` marks the entries to leave out) and the new papers that entered it
    (`entered`: seed, paper and dense score arrays), at
    most pool_size of them (the best by dense score: no more can be in a pool of pool_size). A new paper's: its heap
    of the best rows (`news`: scores and rows per paper of `new`)."""
    seed, paper, score = entered
    old_count = len(old_rows)
    stored = seeds < old_count
    position = np.full(old_count, -1)
    position[seeds[stored]] = np.flatnonzero(stored)
    wanted = position[seed] >= 0
    seed, paper, score = position[seed[wanted]], paper[wanted], score[wanted]
    order = np.lexsort((-score, seed))  # by seed, best first
    seed, paper = seed[order], paper[order]
    rank = np.arange(len(seed)) - np.searchsorted(seed, seed)  # each entry's rank within its seed
    kept = rank < pool_size
    extra = int(rank[kept].max()) + 1 if kept.any() else 0
    width = max(pool_size + extra, news[1].shape[1] if (~stored).any() else 0)
    out = np.full((len(seeds), width), -1, dtype=np.int32)
    out[stored, :pool_size] = np.where(retired[seeds[stored], :pool_size], -1, old_rows[seeds[stored], :pool_size])
    out[seed[kept], pool_size + rank[kept]] = paper[kept]
    if (~stored).any():  # a new paper's heap, in the order of `new`
        at = np.searchsorted(new, seeds[~stored])
        out[~stored, : news[1].shape[1]] = news[1][at]
    return out
