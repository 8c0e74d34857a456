"""Opening an index folder: every file read and checked against the manifest and each other, one line if wrong."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from .. import checks, lock, methods, rowtable, store
from ..backends.dense import DenseBackend
from ..backends.lexical import LexicalBackend
from ..errors import SimilarError
from ..ranking import Ranker
from .fingerprints import Fingerprints
from .results import PMID


class Opened(NamedTuple):
    """What `read` found in an index folder, checked: the parts an Index is made of."""

    path: Path
    manifest: store.Manifest
    ranker: Ranker
    pmids: Sequence[str]  # rows.txt
    table: np.ndarray  # rowtable.py's per-row facts
    deleted: set[str]
    db: checks.GuardedDB
    lists: tuple | None  # (method, rows, scores): each paper's stored list, or None
    files: Fingerprints | None  # with guard=True (the server): every file, held open, checked before each request


def _load(path: Path, name: str, load):
    """Deserialize one index file; whatever a damaged file raises becomes the one-line corrupt-index error."""
    try:
        return load()
    except SimilarError:
        raise  # a check (checks.py) already named the file
    except Exception as exc:  # noqa: BLE001 - unpickling or parsing damaged bytes can raise any type
        if isinstance(exc, RecursionError):
            raise checks.unreadable(path, name, exc) from exc
        text = str(exc).splitlines()[0] if str(exc).strip() else ""
        raise SimilarError(
            f"corrupt index {path}: {name} cannot be read ({type(exc).__name__}{': ' + text if text else ''}); rebuild it"
        ) from exc


def _first_mismatch(rows: Sequence[str], pmids: np.ndarray) -> int | None:
    """The first row where rows.txt and the row table name different PMIDs (None when they agree)."""
    try:
        given = np.array(rows, dtype=np.int64)
    except (ValueError, OverflowError):
        return next(i for i, r in enumerate(rows) if not PMID.match(r) or int(r) != pmids[i])
    differ = np.flatnonzero(given != pmids)
    return int(differ[0]) if len(differ) else None


def read(path: str | Path | None = None, mmap: bool = True, guard: bool = False) -> Opened:
    """Open and check an index folder; one line says what is wrong if anything is. With `guard` (a long-lived
    process: the server), every file is held open so that a change in place can be seen before each request."""
    path = store.index_path(path)
    lock.recover_for_reading(path)  # a publish cut between its two renames: put the previous index back
    files = Fingerprints(path) if guard else None  # before anything is read: what is read is what is fingerprinted
    try:
        opened = _read(path, mmap, files)
    except BaseException:
        if files is not None:
            files.close()
        raise
    if files is not None:
        files.confirm()
    return opened


def _read(path: Path, mmap: bool, files: Fingerprints | None) -> Opened:
    manifest = store.read_manifest(path)
    problem = methods.manifest_problem(manifest)
    if problem:
        raise checks.corrupt(path, store.MANIFEST, problem)
    count = manifest.count
    rows = store.read_rows(path, count)  # first: a row count that is off is the clearest message
    small = store.check_files(path, manifest) > 0 or not manifest.files  # hashed on open, or too old to be
    dense = (
        _load(path, store.VECTORS, lambda: DenseBackend.load(path, manifest.dense, mmap, count))
        if manifest.dense
        else None
    )
    lexical = _load(
        path, store.LEXICAL, lambda: LexicalBackend.load(path, (count, (manifest.lexical or {}).get("vocabulary")))
    )
    try:
        db = checks.GuardedDB(store.connect(path / store.PAPERS, readonly=True), path, store.PAPERS)
        source = store.ROWTABLE
        table = rowtable.read(path, count)
        if table is None or small:  # its rows are read whole now: their structure and types first (checks.py),
            # on a connection of its own (the one kept for queries caches no page of this pass)
            check = checks.GuardedDB(store.connect(path / store.PAPERS, readonly=True), path, store.PAPERS)
            try:
                checks.papers_table(check, path, store.PAPERS, count)
            finally:
                check.close()
        if table is None:  # an index written before rowtable.npy: gathered from the database
            table, source = rowtable.compute(db), store.PAPERS
        elif small:  # the database agrees with the table (above the limit `similar verify` checks it)
            stored = db.execute("SELECT row, pmid FROM papers ORDER BY row").fetchall()
            if [r for r, _ in stored] != list(range(len(stored))):
                raise SimilarError(f"corrupt index {path}: {store.PAPERS} rows are not numbered in order; rebuild it")
            store.check_count(path, store.PAPERS, len(stored), count)
            if any(int(p) != q for (_, p), q in zip(stored, table["pmid"].tolist())):
                raise SimilarError(f"corrupt index {path}: {store.ROWTABLE} and {store.PAPERS} disagree; rebuild it")
        deleted = {r[0] for r in db.execute("SELECT pmid FROM deletions")}
    except sqlite3.DatabaseError as exc:
        raise SimilarError(f"corrupt index {path}: {store.PAPERS} cannot be read ({exc}); rebuild it") from exc
    except (ValueError, OverflowError, TypeError) as exc:  # values of the wrong type or range (rowtable.compute)
        raise SimilarError(f"corrupt index {path}: {source} cannot be read ({exc}); rebuild it") from exc
    store.check_count(path, source, len(table), count)
    mismatch = _first_mismatch(rows, table["pmid"])
    if mismatch is not None:
        raise SimilarError(
            f"corrupt index {path}: {store.ROWS} and {store.PAPERS} disagree at row {mismatch}; rebuild it"
        )
    store.check_count(path, store.LEXICAL, lexical.count, count)
    if dense is not None:
        store.check_count(path, store.VECTORS, dense.count, count)
    live = rowtable.live_rows(table)
    lexical.set_live(live)
    lists = None
    if manifest.precomputed:
        rows_, scores_, _ = _load(path, store.NEIGHBOURS, lambda: store.load_lists(path, mmap=mmap))
        store.check_count(path, store.NEIGHBOURS, rows_.shape[0], count)
        lists = (manifest.precomputed["method"], rows_, scores_)
    ranker = Ranker.for_model(dense, lexical, live, manifest.model)  # the settings of the index's model
    return Opened(path, manifest, ranker, rows, table, deleted, db, lists, files)
