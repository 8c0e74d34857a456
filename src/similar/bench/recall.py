"""Approximate search against exact scoring for `similar bench scale`: HNSW settings (recall@10 and p99 per M,
efConstruction, efSearch) and the pruned lexical postings path."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    from ..backends.lexical import LexicalBackend

# (M, efConstruction, efSearch values): a graph is built once per (M, efConstruction), efSearch is free to vary
HNSW_SETTINGS = ((32, 80, (96, 128, 192, 256, 384, 512)), (48, 128, (96, 128, 192, 256, 384)))


def stage_hnsw(index: str, queries: int = 200, seed: int = 3, settings=HNSW_SETTINGS) -> dict:
    """HNSW settings on the index's own vectors: for each (M, efConstruction) a graph built as `build` builds it (SQ8
    codes), its build time and size, then for each efSearch recall@10 against the exact top 10 (brute force on the
    vectors, the seed left out) and one-thread latency of the same sampled papers."""
    import faiss

    from ..backends.dense import DenseBackend
    from ..index import Index

    idx = Index.open(index)
    dense = idx.ranker.dense
    if dense is None:
        return {"error": "no dense vectors"}
    vectors = dense.vectors(np.arange(dense.count))
    rows = np.random.default_rng(seed).choice(dense.count, min(queries, dense.count), replace=False)
    truth = []
    for r in rows.tolist():
        exact = vectors @ vectors[r]
        exact[r] = -np.inf
        truth.append(set(np.argpartition(-exact, 10)[:10].tolist()))
    faiss.omp_set_num_threads(1)  # one query on one thread, as a request is served
    out = []
    for m, ef_construction, searches in settings:
        started = time.perf_counter()
        built = DenseBackend.build(vectors, "hnsw", {"M": m, "ef_construction": ef_construction})
        seconds = time.perf_counter() - started
        size = int(faiss.serialize_index(built.index).size)
        for ef in searches:
            faiss.downcast_index(built.index).hnsw.efSearch = ef
            hits, ms = [], []
            for r, want in zip(rows.tolist(), truth):
                t = time.perf_counter()
                _, got = built.search(vectors[r], 11)
                ms.append((time.perf_counter() - t) * 1000)
                hits.append(len(want & set(got[0].tolist()) - {r}) / 10)
            out.append(
                {
                    "M": m,
                    "ef_construction": ef_construction,
                    "ef_search": ef,
                    "recall@10": round(float(np.mean(hits)), 4),
                    "p50_ms": round(float(np.percentile(ms, 50)), 3),
                    "p99_ms": round(float(np.percentile(ms, 99)), 3),
                    "build_seconds": round(seconds, 1),
                    "index_mb": round(size / 2**20, 1),
                }
            )
        del built
    return {"papers": int(dense.count), "queries": len(rows), "settings": out}


HNSW_TARGET = (0.95, 5.0)  # issue #22: dense recall@10 at least this, with a p99 at most this many ms


def hnsw_markdown(sweep: dict) -> list[str]:
    """The HNSW settings table: recall@10 against brute force and one-thread latency for each M, efConstruction and
    efSearch, with what each graph costs to build and hold."""
    if not sweep.get("settings"):
        return []
    lines = [
        "",
        f"HNSW settings on the same {sweep['papers']:,} vectors (SQ8 codes; {sweep['queries']} sampled papers, exact "
        f"top 10 by brute force; target recall@10 >= {HNSW_TARGET[0]} with p99 <= {HNSW_TARGET[1]} ms):",
        "",
        "| M | efConstruction | efSearch | recall@10 | p50 ms | p99 ms | build s | index MB | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in sweep["settings"]:
        met = v["recall@10"] >= HNSW_TARGET[0] and v["p99_ms"] <= HNSW_TARGET[1]
        lines.append(
            f"| {v['M']} | {v['ef_construction']} | {v['ef_search']} | {v['recall@10']} | {v['p50_ms']} | "
            f"{v['p99_ms']} | {v['build_seconds']} | {v['index_mb']} | {'yes' if met else '**no**'} |"
        )
    return lines


def pruned_recall(
    backend: "LexicalBackend",
    method: str,
    rows: Sequence[int] | np.ndarray,
    k: int = 10,
    budget: int | None = None,
    candidates: int | None = None,
) -> float:
    """Mean recall@k of the pruned search against exact scoring, each row querying for its neighbours (itself left
    out): how much the postings budget costs, on the same backend. A pruned row scoring as high as the exact k-th
    counts as found (its score is the exact one), so ties at the cut are not misses."""
    found = []
    for row in np.asarray(rows, dtype=np.int64).tolist():
        query = backend.query_rows(method, [row])
        itself = np.array([row])
        want, _ = backend.search(method, query, k, exclude=itself, exact=True)
        got, _ = backend.search(method, query, k, exclude=itself, exact=False, budget=budget, candidates=candidates)
        want, got = want[0][np.isfinite(want[0])], got[0][np.isfinite(got[0])]
        if len(want):
            found.append(min(int((got >= want[-1]).sum()), len(want)) / len(want))
    return float(np.mean(found)) if found else 1.0
