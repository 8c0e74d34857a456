"""`similar bench speed` parts build, methods and query: build cost, per-method query latency on real indexes, and
dense index types on synthetic vectors."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import methods as registry
from .. import store

DIM = 384
QUERIES = 200
REFERENCE = "dense"  # per-method latencies are also given as a multiple of plain dense search's


def bench_build(corpora: Sequence[Path]) -> list[dict]:
    """Wall time, peak RSS and on-disk size of `similar build` on each corpus, in a child process each."""
    out = []
    for corpus in corpora:
        with tempfile.TemporaryDirectory(prefix="similar-speed-") as tmp:
            dest = Path(tmp) / "ix"
            started = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "similar.cli", "build", str(corpus), "--index", str(dest), "--quiet"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, "SIMILAR_CACHE": str(Path(tmp) / "cache")},
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            stdout, stderr = proc.stdout.read().decode(), proc.stderr.read().decode()
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"build of {corpus} failed: {stderr[-2000:]}")
            manifest = store.read_manifest(dest)
            size = sum(f.stat().st_size for f in dest.iterdir())
            out.append(
                {
                    "corpus": str(corpus),
                    "papers": manifest.count,
                    "backend": (manifest.model or {}).get("backend"),
                    "wall_s": round(wall, 1),
                    "docs_per_s": round(manifest.count / wall, 1),
                    "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                    "disk_mb": round(size / 2**20, 2),
                    "files": {f.name: f.stat().st_size for f in dest.iterdir()},
                    "output": stdout.strip(),
                }
            )
            print(out[-1], file=sys.stderr, flush=True)
    return out


def synthetic(n: int, seed: int = 0, clusters: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Clustered unit vectors (like sentence embeddings, unlike uniform noise) and held-out queries from the same law."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, DIM)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)

    def draw(count):
        x = centers[rng.integers(0, clusters, count)] + 0.05 * rng.standard_normal((count, DIM)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return np.vstack([draw(min(n - i, 100_000)) for i in range(0, n, 100_000)]), draw(QUERIES)


def _latencies(fn, queries: np.ndarray) -> np.ndarray:
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q[None, :])
        out.append(time.perf_counter() - t)
    return np.array(out) * 1000


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_query(sizes: Sequence[int], kinds: Sequence[str] = ("flat", "hnsw", "ivf")) -> list[dict]:
    import faiss

    from ..backends.dense import DenseBackend

    rows = []
    for n in sizes:
        x, queries = synthetic(n)
        exact = x @ queries.T
        truth = np.argsort(-exact, axis=0)[:10].T
        del exact
        faiss.omp_set_num_threads(1)
        brute = _latencies(lambda q: np.argpartition(-(x @ q[0]), 10)[:10], queries)
        rows.append(
            {
                "n": n,
                "index": "numpy brute force",
                "p50_ms": float(np.percentile(brute, 50)),
                "p95_ms": float(np.percentile(brute, 95)),
                "p99_ms": float(np.percentile(brute, 99)),
                "recall@10": 1.0,
                "memory_mb": x.nbytes / 2**20,
                "build_s": 0.0,
            }
        )
        print(rows[-1], file=sys.stderr, flush=True)
        for kind in kinds:
            faiss.omp_set_num_threads(os.cpu_count() or 1)
            before = _rss_mb()
            started = time.perf_counter()
            backend = DenseBackend.build(x, kind)
            build_s = time.perf_counter() - started
            size_mb = len(faiss.serialize_index(backend.index)) / 2**20
            grown = _rss_mb() - before
            faiss.omp_set_num_threads(1)
            lat = _latencies(lambda q: backend.search(q, 10), queries)
            _, found = backend.search(queries, 10)
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))
            faiss.omp_set_num_threads(os.cpu_count() or 1)
            started = time.perf_counter()
            backend.search(np.repeat(queries, 5, axis=0), 10)
            qps = 5 * len(queries) / (time.perf_counter() - started)
            rows.append(
                {
                    "n": n,
                    "index": kind,
                    "params": backend.params,
                    "p50_ms": float(np.percentile(lat, 50)),
                    "p95_ms": float(np.percentile(lat, 95)),
                    "p99_ms": float(np.percentile(lat, 99)),
                    "batch_qps": round(qps, 1),
                    "recall@10": recall,
                    "memory_mb": round(size_mb, 1),
                    "rss_growth_mb": round(grown, 1),
                    "build_s": round(build_s, 1),
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
            backend = None  # free the index before the next one is built
        x = None
    return rows


def bench_methods(corpus: Path, queries: int = 300) -> list[dict]:
    """Single-thread latency of every registered method on a real index, by PMID and by text, each also as a multiple
    of plain dense search's (the hybrid's cost against dense)."""
    import faiss

    from ..build import build_index
    from ..encoders import CachedEncoder, load_encoder
    from ..index import Index

    faiss.omp_set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="similar-speed-") as tmp:
        build_index([corpus], Path(tmp) / "ix", model=CachedEncoder(load_encoder()), progress=False)
        index = Index.open(Path(tmp) / "ix")
        pmids = index.pmids[:queries].tolist()
        out = []
        stored = index.default_method
        runs = [(m, m if m != stored else f"{m} (precomputed list)", index) for m in index.methods]
        runs.append((stored, f"{stored} (computed live: text queries, filters past the list)", index.live_only()))
        for method, label, ix in runs:
            for p in pmids[:20]:
                ix.similar(p, n=10, method=method)
            lat = []
            for p in pmids:
                t = time.perf_counter()
                ix.similar(p, n=10, method=method)
                lat.append((time.perf_counter() - t) * 1000)
            out.append(
                {
                    "corpus": str(corpus),
                    "papers": len(index),
                    "method": label,
                    "p50_ms": float(np.percentile(lat, 50)),
                    "p95_ms": float(np.percentile(lat, 95)),
                    "p99_ms": float(np.percentile(lat, 99)),
                }
            )
        dense = next(r for r in out if r["method"] == REFERENCE)
        for r in out:
            r["x_dense_p50"] = round(r["p50_ms"] / dense["p50_ms"], 2)
        # text queries (a paper that is not indexed): encoding the text is part of a dense method's cost
        index = index.with_encoder(load_encoder())
        rows = [index.row(p) for p in pmids[:60]]
        abstracts = index.abstracts(rows) or {}
        kinds = {
            "title only": [index.paper(p).title for p in pmids[:60]],
            "title + abstract": [f"{index.paper(p).title} {abstracts.get(r, '')}".strip() for p, r in zip(pmids, rows)],
        }
        text_rows = []
        for kind, texts in kinds.items():
            base = None
            for method in (REFERENCE, *(m for m in index.methods if m != REFERENCE)):
                encoded = ", encoding included" if registry.get(method).needs_vectors else ""
                lat = []
                for text in texts:
                    t = time.perf_counter()
                    index.similar_text(text, n=10, method=method)
                    lat.append((time.perf_counter() - t) * 1000)
                row = {
                    "corpus": str(corpus),
                    "papers": len(index),
                    "method": f"{method} (text query, {kind}{encoded})",
                    "p50_ms": float(np.percentile(lat[10:], 50)),
                    "p95_ms": float(np.percentile(lat[10:], 95)),
                    "p99_ms": float(np.percentile(lat[10:], 99)),
                }
                base = base or row
                row["x_dense_p50"] = round(row["p50_ms"] / base["p50_ms"], 2)
                text_rows.append(row)
        out += text_rows
        index.close()
    return out
