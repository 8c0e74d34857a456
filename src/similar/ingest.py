"""One ingest policy for build and add: each input record is new, revised, unchanged, deleted or a problem."""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from . import store
from .errors import SimilarError
from .records import Deletion, Paper, Problem, later_version_replaces, read_records

COUNTS = ("read", "skipped", "deleted", "replaced", "unchanged")


@dataclass
class Ingest:
    """Input files applied in order to an index's live papers (none for a build); accumulates what to write.

    - a problem (unreadable record) is skipped and recorded with its place;
    - a record with a field cut to its limit is kept, and noted with its place;
    - a deletion drops the pending record and retires the live row of its PMID (counted if it removed either);
    - a record whose PMID was already read in this run is a duplicate problem, unless its file ships revisions
      (MEDLINE XML), where the later record replaces the earlier one and moves to the end;
    - a record with the same text as the live row is unchanged; with other text it revises it (the old row retired).
    """

    live: dict[str, tuple[int, str]] = field(default_factory=dict)  # the index's live PMIDs: (row, text hash)
    new: dict[str, Paper] = field(default_factory=dict)  # records to append, in row order
    retire: dict[int, str] = field(default_factory=dict)  # row -> its new status
    deletions: dict[str, str] = field(default_factory=dict)  # PMID -> the file that deleted it
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (file, place, reason)
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (file, place, what was cut)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    seen: set[str] = field(default_factory=set)
    details: dict[int, str] = field(default_factory=dict)  # live row -> its stored details JSON (medline.Details)
    restated: dict[int, str] = field(
        default_factory=dict
    )  # row -> new details JSON: same text, new record, no re-embedding

    def apply(self, path: Path, tick: Callable[[], object] | None = None) -> None:
        replace = later_version_replaces(path)
        for event in read_records(path):
            if tick is not None:
                tick()
            if isinstance(event, Problem):
                self.counts["skipped"] += 1
                self.problems.append((path.name, event.where, event.reason))
            elif isinstance(event, Deletion):
                self.delete(event.pmid, path.name)
            else:
                self.record(event, path, replace)

    def delete(self, pmid: str, source: str) -> None:
        self.deletions.pop(pmid, None)
        self.deletions[pmid] = source
        self.seen.discard(pmid)
        removed = self.new.pop(pmid, None) is not None
        if pmid in self.live:
            self.restated.pop(self.live[pmid][0], None)
            self.retire[self.live.pop(pmid)[0]] = store.DELETED
            removed = True
        self.counts["deleted"] += removed

    def record(self, paper: Paper, path: Path, replace: bool) -> None:
        self.counts["read"] += 1
        if paper.pmid in self.seen and not replace:
            self.counts["skipped"] += 1
            self.problems.append((path.name, paper.where, f"duplicate PMID {paper.pmid}"))
            return
        if paper.notes:  # kept with a field cut to its limit
            self.notes.append((path.name, paper.where, "; ".join(paper.notes)))
        self.seen.add(paper.pmid)
        self.deletions.pop(paper.pmid, None)
        if paper.pmid in self.live and self.live[paper.pmid][1] == paper.text_hash:
            self.counts["unchanged"] += 1
            self.new.pop(paper.pmid, None)
            row, stated = self.live[paper.pmid][0], paper.details.to_json()
            if self.details.get(row, "") != stated:  # e.g. a RetractionIn link or a corrected author list
                self.restated[row] = stated
            else:
                self.restated.pop(row, None)
            return
        if paper.pmid in self.live:
            self.restated.pop(self.live[paper.pmid][0], None)
            self.retire[self.live.pop(paper.pmid)[0]] = store.REPLACED
            self.counts["replaced"] += 1
        elif self.new.pop(paper.pmid, None) is not None:
            self.counts["replaced"] += 1
        self.new[paper.pmid] = paper

    @property
    def papers(self) -> list[Paper]:
        return list(self.new.values())


def check_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    paths = [Path(p) for p in inputs]
    if not paths:
        raise SimilarError("no input files given: name at least one .jsonl/.csv/.tsv/.xml(.gz) file")
    for p in paths:
        if p.is_dir():
            raise SimilarError(f"input {p} is a folder: name the files in it")
        if p.exists() and not p.is_file():  # read twice (hashed, then parsed): a FIFO or a device cannot be
            from .checks import file_kind

            raise SimilarError(f"input {p} is {file_kind(p.stat().st_mode)}, not a regular file: give a file")
        if not p.is_file():
            raise SimilarError(f"input file not found: {p}")
    return paths


def input_entries(inputs: Sequence[Path]) -> list[dict]:
    """The manifest's record of input files: applying one again (same SHA-256) is a no-op."""
    return [
        {
            "path": str(p),
            "name": p.name,
            "sha256": store.file_sha256(p),
            "bytes": p.stat().st_size,
            "applied": store.now_iso(),
        }
        for p in inputs
    ]


def paper_row(p: Paper) -> tuple:
    return (p.pmid, p.title, p.abstract, p.journal, p.year, "; ".join(p.mesh), p.text_hash, p.details.to_json())


def insert_papers(conn: sqlite3.Connection, first_row: int, rows: Iterable[tuple], batch: int = 10_000) -> None:
    """rows: (pmid, title, abstract, journal, year, mesh, text_hash[, details JSON]) in row order, streamed in
    batches (a build's million rows are never all in memory)."""
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, batch)):
        conn.executemany(
            "INSERT INTO papers (row,pmid,title,journal,year,mesh,text_hash,status) VALUES (?,?,?,?,?,?,?,'live')",
            ((first_row + i, r[0], r[1], r[3], r[4], r[5], r[6]) for i, r in enumerate(chunk)),
        )
        # abstracts, for explanations that quote the best-matching sentences (explain.py)
        conn.executemany(
            "INSERT INTO abstracts (row, abstract) VALUES (?, ?)", ((first_row + i, r[2]) for i, r in enumerate(chunk))
        )
        # what MEDLINE says beyond the text (medline.Details as JSON); rows without any have no entry
        conn.executemany(
            "INSERT INTO details (row, data) VALUES (?, ?)",
            ((first_row + i, r[7]) for i, r in enumerate(chunk) if len(r) > 7 and r[7]),
        )
        first_row += len(chunk)


def restate(conn: sqlite3.Connection, restated: dict[int, str]) -> None:
    """Replace the stored details of rows whose text is unchanged but whose record is new."""
    conn.executemany("DELETE FROM details WHERE row=?", [(r,) for r in restated])
    conn.executemany("INSERT INTO details (row, data) VALUES (?,?)", [(r, d) for r, d in restated.items() if d])
