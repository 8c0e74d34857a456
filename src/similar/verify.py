"""`similar verify`: every index file against its SHA-256 in the manifest, and rows, PMIDs, SQLite and backends agreeing."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checks, rowtable, store
from .errors import SimilarError


@dataclass(frozen=True)
class Verification:
    """What `verify` checked and what it found wrong (nothing wrong: `ok`)."""

    path: str
    files_hashed: int
    rows: int
    problems: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def _vectors_problem(dense, count: int, chunk: int = 65536) -> str | None:
    """Stored vectors are finite and of unit length (random bytes give NaN and 1e20 scores)."""
    for start in range(0, count, chunk):
        block = dense.vectors(np.arange(start, min(count, start + chunk)))
        if not np.isfinite(block).all():
            return f"{store.VECTORS} holds non-finite values (rows {start}..{start + len(block) - 1})"
        with np.errstate(
            over="ignore"
        ):  # random bytes overflow the squares: an infinite length is a finding, not a warning
            norms = np.linalg.norm(block, axis=1)
        bad = np.flatnonzero(np.abs(norms - 1.0) > 0.1)
        if len(bad):
            return f"{store.VECTORS} row {start + int(bad[0])} has length {norms[bad[0]]:.3g}, not 1"
    return None


def verify_index(path: str | Path) -> Verification:
    """Full check of an index folder; the cheap part of it runs on every open, this one also hashes every file."""
    from .index import Index

    path = store.index_path(path)
    manifest = store.read_manifest(path)  # unreadable manifest: nothing else can be checked, raise the one line
    problems, notes, hashed = [], [], 0
    if not manifest.files:
        notes.append(
            "the manifest records no checksums (built before they were recorded): rebuild to have files verified"
        )
    else:
        for name, meta in manifest.files.items():
            try:
                hashed += store.check_files(path, manifest.replace(files={name: meta}), hash_limit=None)
            except SimilarError as exc:
                problems.append(str(exc))
    if problems:  # the files themselves are damaged: reading them further would only repeat it
        return Verification(str(path), hashed, manifest.count, tuple(problems), tuple(notes))
    try:
        index = Index.open(path)
    except SimilarError as exc:
        return Verification(str(path), hashed, manifest.count, (str(exc),), tuple(notes))
    try:
        check = index._db.raw.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            problems.append(f"corrupt index {path}: {store.PAPERS} fails its integrity check ({check}); rebuild it")
        checks.papers_table(index._db, path, store.PAPERS, manifest.count)
        stored = rowtable.read(path)
        if stored is not None and not np.array_equal(stored, rowtable.compute(index._db)):
            problems.append(f"corrupt index {path}: {store.ROWTABLE} and {store.PAPERS} disagree; rebuild it")
    except sqlite3.DatabaseError as exc:
        problems.append(f"corrupt index {path}: {store.PAPERS} fails its integrity check ({exc}); rebuild it")
    except SimilarError as exc:  # a damaged page read by the row table's recomputation, named (checks.GuardedDB)
        problems.append(str(exc))
    except (ValueError, OverflowError, TypeError) as exc:  # stored details that are not the JSON similar writes
        problems.append(f"corrupt index {path}: {store.PAPERS} holds {exc}; rebuild it")
    dense = index.ranker.dense
    if dense is not None:
        found = _vectors_problem(dense, dense.count)
        if found:
            problems.append(f"corrupt index {path}: {found}; rebuild it")
    try:
        found = index.ranker.lexical.check()
    except SimilarError as exc:  # an array or the vocabulary, named (checks.py)
        found, problems = None, [*problems, str(exc)]
    if found:
        problems.append(f"corrupt index {path}: {store.LEXICAL} files: {found}; rebuild it")
    if index.precomputed is not None:
        try:
            store.load_lists(path, mmap=False)  # read whole: every row, score and floor checked (checks.py)
            store.load_tops(path, manifest.count)  # and the top floors and exact marks an add reads
            store.load_exact(path, manifest.count)
        except SimilarError as exc:
            problems.append(str(exc))
    live = int(index.live.sum())
    if manifest.live is not None and manifest.live != live:
        problems.append(
            f"corrupt index {path}: {store.PAPERS} has {live} live rows, the manifest says {manifest.live}; rebuild it"
        )
    index.close()
    return Verification(str(path), hashed, manifest.count, tuple(problems), tuple(notes))
