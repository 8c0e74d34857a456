"""Per-row facts an open index needs at once, in one small array file: PMID, status, year, version group, retractions.

Written with every build and add (from papers.sqlite), so that opening a million-paper index reads ~18 MB instead of
the whole table, and the first query does not gather version groups or retraction marks from every row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from . import checks, store
from .filters import Facts
from .medline import Details
from .versions import version_groups

FIELDS = np.dtype(
    [
        ("pmid", "<i8"),
        ("status", "i1"),
        ("year", "<i4"),
        ("group", "<i4"),  # the work's id (versions.py): rows of one work share it
        ("versions", "?"),  # another live row shares the work: only then is the group searched for its members
        ("retracted", "?"),
        ("notice", "?"),
    ]
)
STATUS = {store.LIVE: 0, store.REPLACED: 1, store.DELETED: 2}


def compute(db: sqlite3.Connection | checks.GuardedDB) -> np.ndarray:
    """The table of every row of an index's papers.sqlite, in row order."""
    meta = db.execute("SELECT row, pmid, status, year, text_hash, title, journal FROM papers ORDER BY row").fetchall()
    details: dict[int, Details] = {}
    if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='details'").fetchone():
        details = {row: Details.from_json(data) for row, data in db.execute("SELECT row, data FROM details")}
    table = np.zeros(len(meta), dtype=FIELDS)
    if not meta:
        return table
    rows, pmids, status, years, hashes, titles, journals = zip(*meta)
    if list(rows) != list(range(len(meta))):
        raise ValueError(f"rows are not numbered 0..{len(meta) - 1}")
    table["pmid"] = np.array(pmids, dtype=np.int64)
    table["status"] = [STATUS.get(s, 2) for s in status]
    table["year"] = [y or 0 for y in years]
    live = live_rows(table)
    row_of = {str(pmids[i]): int(i) for i in np.flatnonzero(live)}
    table["group"] = version_groups(live, list(titles), np.array(hashes, dtype=object), details, row_of)
    sizes = np.bincount(table["group"][live], minlength=len(meta))
    table["versions"] = live & (sizes[table["group"]] > 1)
    facts = Facts(len(meta), details, list(journals), row_of)
    table["retracted"], table["notice"] = facts.retracted, facts.notice
    return table


def live_rows(table: np.ndarray) -> np.ndarray:
    """Which rows are live (neither replaced by a revision nor deleted)."""
    return table["status"] == STATUS[store.LIVE]


def write(folder: Path) -> np.ndarray:
    """Compute the table from the folder's papers.sqlite, save it beside it, and return it."""
    db = store.connect(Path(folder) / store.PAPERS, readonly=True)
    try:
        table = compute(db)
    except (ValueError, OverflowError, TypeError) as exc:  # values of the wrong type or range
        raise checks.corrupt(
            folder, store.PAPERS, f"holds {exc}" if "details" in str(exc) else f"cannot be read ({exc})"
        ) from exc
    finally:
        db.close()
    np.save(Path(folder) / store.ROWTABLE, table)
    return table


def read(folder: Path, count: int | None = None) -> np.ndarray | None:
    """The saved table, its header, size and values checked (checks.py); None for an index written before there was one."""
    if not (Path(folder) / store.ROWTABLE).exists():
        return None
    table = checks.open_npy(folder, store.ROWTABLE, FIELDS, (count,), mmap=False)
    problem = checks.rowtable_problem(table)
    if problem:
        raise checks.corrupt(folder, store.ROWTABLE, problem)
    return table
