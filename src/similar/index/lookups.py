"""Lookups in an open index: rows <-> PMIDs, papers and what MEDLINE says of them, the rows filters allow."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import checks, rowtable, store
from ..errors import NotFound, SimilarError
from ..filters import NONE, Facts, Filters
from ..medline import EMPTY, Details
from ..versions import members
from .results import PMID, Neighbor, PaperInfo


class Lookups:
    """An open index's rows, papers and filters (thread-safe for reads); Index adds the ranked lists."""

    def __init__(
        self,
        path: Path,
        manifest: store.Manifest,
        pmids: Sequence[str],
        table: np.ndarray,
        deleted: set[str],
        db: checks.GuardedDB,
    ):
        """Lookups over what `open` read (no I/O here): `table` is rowtable.py's per-row facts."""
        self.path = path
        self.manifest = manifest
        self.build_id = manifest.build_id
        self._lock = threading.Lock()
        self._db = db
        self.pmids = np.array(pmids, dtype=object)
        self.live = rowtable.live_rows(table)
        self.years = table["year"]
        self.retracted = table["retracted"]  # by its own record, or a retraction notice in the index
        self.notice = table["notice"]  # retraction notices: never a neighbour
        live_rows = np.flatnonzero(self.live)
        order = np.argsort(table["pmid"][live_rows], kind="stable")
        self._live_pmids, self._live_rows = table["pmid"][live_rows][order], live_rows[order]  # PMID -> row, no dict
        self._row_of: dict[str, int] | None = None
        self.deleted = set(deleted)
        self.deleted.update(self.pmids[~self.live].tolist())  # withdrawn rows (revised ones have a live row too)
        self._facts: Facts | None = None  # filters' per-row facts (types, MeSH, journals ...): gathered on first use
        self.groups = table["group"]  # a work id per row (versions.py): rows of one work share it
        self._has_versions = table["versions"]
        self._masks: dict[Filters, np.ndarray] = {}

    # -- facts --------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.live.sum())

    def __contains__(self, pmid: str) -> bool:
        pmid = str(pmid).strip()
        return bool(PMID.match(pmid)) and self._live_row(int(pmid)) is not None

    def _live_row(self, pmid: int) -> int | None:
        at = int(np.searchsorted(self._live_pmids, pmid))
        if at < len(self._live_pmids) and self._live_pmids[at] == pmid:
            return int(self._live_rows[at])
        return None

    @property
    def row_of(self) -> dict[str, int]:
        """Live PMID -> row as a dict, made on first use (queries look rows up in sorted arrays instead)."""
        if self._row_of is None:
            self._row_of = {str(self.pmids[r]): int(r) for r in np.flatnonzero(self.live)}
        return self._row_of

    def row(self, pmid: str | int) -> int:
        pmid = str(pmid).strip()
        if not PMID.match(pmid):  # ASCII digits only: str.isdigit() takes '²' and '١٢٣'
            raise SimilarError(f"PMID must be a number, got {pmid!r}")
        row = self._live_row(int(pmid))
        if row is not None:
            return row
        pmid = str(int(pmid))
        if pmid in self.deleted:
            raise NotFound(f"PMID {pmid} was deleted from this index (a DeleteCitation removed it)")
        raise NotFound(
            f"PMID {pmid} is not in index {self.path.name} ({len(self)} papers): add it with `similar add`, or query with --text"
        )

    def _info(self, rows: list[int]) -> dict[int, tuple]:
        if not rows:
            return {}
        rows = [int(r) for r in rows]
        marks = ",".join("?" * len(rows))
        with self._lock:
            got = self._db.execute(
                f"SELECT row, pmid, title, journal, year, text_hash FROM papers WHERE row IN ({marks})", rows
            ).fetchall()
        for r in got:  # a damaged database's values are named here, never a TypeError in a face (checks.py)
            if not (
                isinstance(r[1], str)
                and isinstance(r[2], str)
                and isinstance(r[3], str)
                and (r[4] is None or (isinstance(r[4], int) and checks.YEARS[0] <= r[4] <= checks.YEARS[1]))
                and isinstance(r[5], str)
            ):
                raise checks.corrupt(self.path, store.PAPERS, f"holds a value of the wrong type in row {r[0]}")
        return {r[0]: r[1:] for r in got}

    def titles(self, rows: list[int]) -> dict[int, str]:
        """Stored titles of some rows."""
        return {r: p[1] for r, p in self._info(rows).items()}

    def paper(self, pmid: str | int) -> PaperInfo:
        return self._paper_at(self.row(pmid))

    def _paper_at(self, row: int) -> PaperInfo:
        p = self._info([row])[row]
        d = self.details([row]).get(row, EMPTY)
        return PaperInfo(
            pmid=p[0],
            title=p[1],
            journal=p[2],
            year=p[3],
            authors=d.authors,
            doi=d.doi,
            pmc=d.pmc,
            types=d.types,
            language=d.language,
            retracted=bool(self.retracted[row]),
        )

    # -- what MEDLINE says: details, filters' facts, versions (medline.py, filters.py, versions.py) -----------------
    def details(self, rows: list[int] | None = None) -> dict[int, Details]:
        """Stored details of some rows (all with None); rows without any, and indexes built before details, have none."""
        with self._lock:
            if not self._has_table("details"):
                return {}
            if rows is None:
                got = self._db.execute("SELECT row, data FROM details").fetchall()
            else:
                rows = [int(r) for r in rows]
                got = self._db.execute(
                    f"SELECT row, data FROM details WHERE row IN ({','.join('?' * len(rows))})", rows
                ).fetchall()
        try:
            return {r: Details.from_json(data) for r, data in got}
        except ValueError as exc:
            raise checks.corrupt(self.path, store.PAPERS, f"holds {exc}") from exc

    @property
    def facts(self) -> Facts:
        if self._facts is None:
            with self._lock:
                journals = [j for (j,) in self._db.execute("SELECT journal FROM papers ORDER BY row")]
            if not all(isinstance(j, str) for j in journals):
                raise checks.corrupt(self.path, store.PAPERS, "holds a journal that is not text")
            self._facts = Facts(len(self.pmids), self.details(), journals, self.row_of)
        return self._facts

    def allowed(self, filters: Filters = NONE) -> np.ndarray:
        """Rows a list may hold under these filters: live, no retraction notice, every filter passed."""
        mask = self._masks.get(filters)
        if mask is None and filters == NONE.with_years(filters.min_year, filters.max_year):
            mask = self.live & ~self.notice  # years at most: the row table answers, no facts gathered
            if filters.min_year is not None:
                mask &= self.years >= filters.min_year
            if filters.max_year is not None:
                mask &= (self.years <= filters.max_year) & (self.years > 0)
        if mask is None:
            mask = self.live & self.facts.mask(filters, self.years)
        if len(self._masks) > 64:
            self._masks.clear()
        self._masks[filters] = mask
        return mask

    def seed_versions(self, row: int) -> tuple[str, ...]:
        """A paper's other versions in the index (versions.py), as PMIDs."""
        if not self._has_versions[row]:
            return ()  # most papers: no scan of every row's group
        return tuple(self.pmids[r] for r in members(self.groups, self.live, row))

    def mesh(self, rows: list[int]) -> dict[int, tuple[str, ...]]:
        """MeSH descriptors of some rows (empty where the record carried none)."""
        rows = [int(r) for r in rows]
        with self._lock:
            got = self._db.execute(
                f"SELECT row, mesh FROM papers WHERE row IN ({','.join('?' * len(rows))})", rows
            ).fetchall()
        if not all(mesh is None or isinstance(mesh, str) for _, mesh in got):
            raise checks.corrupt(self.path, store.PAPERS, "holds MeSH terms that are not text")
        return {r: tuple(m.strip() for m in (mesh or "").split(";") if m.strip()) for r, mesh in got}

    def abstracts(self, rows: list[int]) -> dict[int, str] | None:
        """Stored abstracts of some rows; None for an index built before abstracts were stored."""
        rows = [int(r) for r in rows]
        with self._lock:
            if not self._has_table("abstracts"):
                return None
            got = self._db.execute(
                f"SELECT row, abstract FROM abstracts WHERE row IN ({','.join('?' * len(rows))})", rows
            ).fetchall()
        if not all(isinstance(a, str) for _, a in got):
            raise checks.corrupt(self.path, store.PAPERS, "holds abstracts that are not text")
        return dict(got)

    def neighbors_at(self, scores, rows, closest: list[str | None] | None = None) -> list[Neighbor]:
        """Neighbor records for ranked rows (metadata looked up once)."""
        return self._neighbors([(s, int(r), []) for s, r in zip(scores, rows)], closest=closest)

    def _neighbors(
        self, picked, seed_hash: str | None = None, closest: list[str | None] | None = None
    ) -> list[Neighbor]:
        """Neighbor records for (score, row, version rows) entries, metadata looked up once."""
        rows = [int(r) for _, r, _ in picked]
        info = self._info(rows + [int(v) for _, _, vs in picked for v in vs])
        details = self.details(rows)
        retracted = self.retracted
        closest = closest or [None] * len(rows)
        out = []
        for i, ((s, r, vs), c) in enumerate(zip(picked, closest)):
            d = details.get(r, EMPTY)
            out.append(
                Neighbor(
                    rank=i + 1,
                    pmid=info[r][0],
                    score=round(float(s), 6),
                    title=info[r][1],
                    journal=info[r][2],
                    year=info[r][3],
                    duplicate=seed_hash is not None and info[r][4] == seed_hash,
                    closest=c,
                    authors=d.authors,
                    doi=d.doi,
                    pmc=d.pmc,
                    types=d.types,
                    language=d.language,
                    retracted=bool(retracted[r]),
                    versions=tuple(info[v][0] for v in vs),
                )
            )
        return out

    def read_ahead(self, chunk: int = 50_000) -> None:
        """Read the tables every list touches (each paper's title, journal, year; its MEDLINE details) once, so that
        the first lists after a cold open wait on no disk: in chunks of rows, the lock taken per chunk (queries go
        on meanwhile), sqlite summing the values' lengths (every page read, no Python object made)."""
        reads = {
            "papers": "length(pmid) + length(title) + length(journal) + length(text_hash)",
            "details": "length(data)",
        }
        with self._lock:
            last = self._db.execute("SELECT max(row) FROM papers").fetchone()[0]
            present = [table for table in reads if self._has_table(table)]
        if last is None:  # no papers
            return
        for table in present:
            for start in range(0, int(last) + 1, chunk):
                with self._lock:
                    self._db.execute(
                        f"SELECT sum({reads[table]}) FROM {table} WHERE row >= ? AND row < ?", (start, start + chunk)
                    )

    def _has_table(self, name: str) -> bool:
        """Whether the papers database has a table (older indexes lack details and abstracts); the lock held."""
        return (
            self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone()
            is not None
        )

    def close(self) -> None:
        self._db.close()
