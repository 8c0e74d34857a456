"""Dense vectors in FAISS (inner product on normalized vectors): exact flat, HNSW, or IVF, chosen by size."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import faiss
import numpy as np

from .. import checks
from ..store import VECTORS
from . import prefetch

# above this many vectors an exact scan is no longer cheap enough per query; an approximate index takes over
EXACT_LIMIT = 200_000
DEFAULT_PARAMS = {
    "flat": {},
    "hnsw": {"M": 32, "ef_construction": 80, "ef_search": 96, "storage": "SQ8"},
    "ivf": {"nlist": 0, "nprobe": 32, "storage": "SQ8", "refine": True},
}


def choose_kind(count: int) -> str:
    return "flat" if count <= EXACT_LIMIT else "hnsw"


def _as_matrix(vectors: np.ndarray, dim: int | None = None) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    if dim is not None and vectors.shape[1] != dim:
        raise ValueError(f"vectors have dimension {vectors.shape[1]}, the index has {dim}")
    return vectors


class DenseBackend:
    """A FAISS index whose row i is the i-th vector added."""

    filename = VECTORS  # the name is the index format's (store.py)

    def __init__(self, index: faiss.Index, kind: str, params: dict, mapped: bool = False):
        self.index = index
        self.kind = kind
        self.params = params
        self.mapped = mapped  # its arrays are views of the file (load with mmap): read-only, FAISS aborts on a write
        self._apply_search_params()

    # -- build ------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "auto", params: dict | None = None) -> "DenseBackend":
        vectors = _as_matrix(vectors)
        n, dim = vectors.shape
        if kind == "auto":
            kind = choose_kind(n)
        if kind not in DEFAULT_PARAMS:
            raise ValueError(f"unknown dense index type {kind!r}: use flat, hnsw or ivf")
        p = {**DEFAULT_PARAMS[kind], **(params or {})}
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            if p["storage"] == "SQ8":
                index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, p["M"], faiss.METRIC_INNER_PRODUCT)
            else:
                index = faiss.IndexHNSWFlat(dim, p["M"], faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = p["ef_construction"]
        else:
            nlist = p["nlist"] or max(1, int(min(4 * np.sqrt(n), n / 39)))  # FAISS wants >= 39 training points a list
            p["nlist"] = nlist
            quantizer = faiss.IndexFlatIP(dim)
            qtype = faiss.ScalarQuantizer.QT_8bit if p["storage"] == "SQ8" else faiss.ScalarQuantizer.QT_fp16
            index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, qtype, faiss.METRIC_INNER_PRODUCT)
            index.own_fields = True
            quantizer.this.disown()
        if kind == "ivf" and p.get("refine"):
            index = faiss.IndexRefineFlat(index)  # re-scores the approximate candidates exactly
            index.k_factor = float(p.get("k_factor", 4.0))
        if not index.is_trained:
            sample = vectors
            if n > 100_000:
                sample = vectors[np.random.default_rng(0).choice(n, 100_000, replace=False)]
            index.train(sample)
        index.add(vectors)
        return cls(index, kind, p)

    def _apply_search_params(self) -> None:
        base = self.index
        if isinstance(base, faiss.IndexRefine):
            base = faiss.downcast_index(base.base_index)
        if self.kind == "hnsw" and hasattr(base, "hnsw"):
            base.hnsw.efSearch = int(self.params.get("ef_search", 96))
        if self.kind == "ivf":
            faiss.extract_index_ivf(base).nprobe = int(self.params.get("nprobe", 32))

    # -- use --------------------------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def add(self, vectors: np.ndarray) -> None:
        if self.mapped:  # FAISS aborts the process on a write to an array that is a view of the file
            raise ValueError("a memory-mapped dense index is read-only: load it with mmap=False to add to it")
        self.index.add(_as_matrix(vectors, self.dim))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k inner products per query: (scores, rows), rows of -1 where fewer than k exist."""
        queries = _as_matrix(queries, self.dim)
        k = max(1, min(k, self.count))
        scores, rows = self.index.search(queries, k)
        return scores, rows

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of some rows (approximate where the storage is quantized)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return np.empty((0, self.dim), np.float32)
        if isinstance(self.index, faiss.IndexFlat):  # read from FAISS's own array: no copy through SWIG per call
            if rows.min() < 0 or rows.max() >= self.count:
                raise IndexError(f"rows outside the dense index's {self.count}")
            flat = faiss.rev_swig_ptr(self.index.get_xb(), self.count * self.dim).reshape(self.count, self.dim)
            flat.setflags(write=False)
            return flat[rows]
        return self.index.reconstruct_batch(rows)

    def describe(self) -> dict:
        return {"type": self.kind, "metric": "inner_product", "dim": self.dim, "params": self.params}

    # -- disk -------------------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        faiss.write_index(self.index, str(Path(folder) / self.filename))

    @classmethod
    def load(cls, folder: Path, spec: dict, mmap: bool = True, count: int | None = None) -> "DenseBackend":
        """Open the FAISS file once its header agrees with the manifest's dimension and `count` (checks.py). With
        `mmap`, the big arrays (a flat index's vectors; HNSW's codes and graph) are views of the file, not read: opening
        costs milliseconds at any size, and a background thread asks the kernel to read the file ahead (prefetch)."""
        checks.faiss_header(folder, cls.filename, spec.get("dim"), count)
        path = str(Path(folder) / cls.filename)
        kind = spec.get("type", "flat")
        flags = mmap_flags(kind) if mmap else 0
        try:
            index = faiss.read_index(path, flags)
        except RuntimeError:
            if not flags:
                raise
            index, flags = faiss.read_index(path), 0
        if flags:  # in the background: the kernel's readahead of a big file can block for a while
            threading.Thread(target=prefetch, args=([Path(path)],), name="similar-prefetch", daemon=True).start()
        return cls(index, kind, spec.get("params", {}), mapped=bool(flags))


def mmap_flags(kind: str) -> int:
    """FAISS read flags that map a kind's big arrays: IVF lists as on-disk lists; flat and HNSW codes and graph as views
    of the file (IO_FLAG_MMAP_IFC, FAISS 1.11 and later; IO_FLAG_MMAP leaves them read whole)."""
    if kind == "ivf":
        return faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY
    return getattr(faiss, "IO_FLAG_MMAP_IFC", 0) | faiss.IO_FLAG_READ_ONLY


def set_threads(n: int | None = None) -> None:
    faiss.omp_set_num_threads(n or os.cpu_count() or 1)


PAIR_BLOCK = 1024  # rows per side of a block of the all-pairs product: its scores (4 MB) stay in the cache


def all_neighbours(vectors: np.ndarray, k: int, threads: int = 1, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Every row's k best inner products among all rows, itself included: (scores, rows), best first, as a flat
    index's search gives them, at about half its work: the product is symmetric, so each block of it is scored once
    and serves its rows and its columns. Exact (float32 products, as FAISS's). `threads` threads share the blocks,
    each folding them into heaps of its own (kernels.keep_best), merged at the end; `progress(rows)` is called as
    blocks are done (rows' worth of work: n in all)."""
    from concurrent.futures import ThreadPoolExecutor

    from ..kernels import keep_best, merge_best

    vectors = _as_matrix(vectors)
    n = len(vectors)
    k = max(1, min(k, n))
    starts = list(range(0, n, PAIR_BLOCK))
    pairs = [(i, j) for i in starts for j in starts if j >= i]
    threads = max(1, min(threads, len(pairs)))
    heaps = [(np.full((n, k), -np.inf, np.float32), np.full((n, k), -1, np.int64)) for _ in range(threads)]

    def work(t: int) -> None:
        best_scores, best_rows = heaps[t]
        for at in range(t, len(pairs), threads):
            i, j = pairs[at]
            block = vectors[i : i + PAIR_BLOCK] @ vectors[j : j + PAIR_BLOCK].T
            keep_best(block, i, j, best_scores, best_rows, both=j != i)
            if progress is not None:  # whole rows' worth: n in all over the pairs
                progress(n * (at + 1) // len(pairs) - n * at // len(pairs))

    out_scores, out_rows = np.empty((n, k), np.float32), np.empty((n, k), np.int64)

    def merge(at: int) -> None:  # best first, ties by row
        part = slice(at, min(at + PAIR_BLOCK, n))
        scores = np.concatenate([h[0][part] for h in heaps], axis=1)
        out_scores[part], out_rows[part] = merge_best(scores, np.concatenate([h[1][part] for h in heaps], axis=1), k)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
        list(pool.map(merge, starts))
    return out_scores, out_rows
