"""Search backends over arrays: rows in, (scores, rows) out; they know nothing of PMIDs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np


def top_k(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Best k (score, row) pairs of a 1-D score array, highest first, ties broken by lower row."""
    scores = np.asarray(scores, dtype=np.float32)
    if exclude is not None and len(exclude):
        scores = scores.copy()
        scores[exclude] = -np.inf
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.empty(0, np.float32), np.empty(0, np.int64)
    if k < scores.shape[0]:
        part = np.argpartition(-scores, k - 1)[:k]
    else:
        part = np.arange(scores.shape[0])
    order = np.lexsort((part, -scores[part]))
    rows = part[order]
    keep = np.isfinite(scores[rows])
    return scores[rows][keep], rows[keep].astype(np.int64)


def prefetch(paths: Iterable[Path]) -> None:
    """Ask the kernel to read files into the page cache ahead of the queries that map them (asynchronous readahead:
    no memory of ours; a hint, so a file that cannot be opened or advised is left to the queries' own reads)."""
    if not hasattr(os, "posix_fadvise"):
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


def read_through(paths: Iterable[Path], block: int = 8 << 20) -> int:
    """Read files once from start to end, keeping nothing, so that their pages are in the page cache when queries map
    them (a readahead hint can be cut short or ignored; a read cannot): the bytes read. A file that cannot be read is
    left to the queries' own reads."""
    buffer, total = bytearray(block), 0
    for path in paths:
        try:
            with open(path, "rb", buffering=0) as f:
                while got := f.readinto(buffer):
                    total += got
        except OSError:
            continue
    return total
