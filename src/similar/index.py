"""Index.open(dir).similar(pmid, n): opens and checks an index folder, maps rows to PMIDs, applies filters."""

from __future__ import annotations

import copy
import re
import sqlite3
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from . import checks, lock, rowtable, store
from . import methods as registry
from .backends.dense import DenseBackend
from .backends.lexical import LexicalBackend
from .encoders import Encoder, ModelUnavailable, load_index_model
from .errors import NotFound, SimilarError
from .filters import NONE, Facts, Filters
from .medline import EMPTY, Details
from .ranking import HybridParams, Query, Ranker

MAX_N = 1000
_PMID = re.compile(r"[0-9]{1,18}\Z")


def _load(path: Path, name: str, load):
    """Deserialize one index file; whatever a damaged file raises becomes the one-line corrupt-index error."""
    try:
        return load()
    except SimilarError:
        raise  # a check (checks.py) already named the file
    except Exception as exc:  # noqa: BLE001 - unpickling or parsing damaged bytes can raise any type
        text = str(exc).splitlines()[0] if str(exc).strip() else ""
        raise SimilarError(
            f"corrupt index {path}: {name} cannot be read ({type(exc).__name__}{': ' + text if text else ''}); rebuild it"
        ) from exc


@dataclass(frozen=True)
class PaperInfo:
    """An indexed paper's metadata."""

    pmid: str
    title: str
    journal: str
    year: int | None
    authors: tuple[str, ...] = ()
    doi: str = ""
    pmc: str = ""
    types: tuple[str, ...] = ()
    language: str = ""
    retracted: bool = False

    @property
    def url(self) -> str:
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"

    @property
    def authors_short(self) -> str:
        return Details(authors=self.authors).short_authors


@dataclass(frozen=True)
class Neighbor:
    """One similar paper in a ranked list."""

    rank: int
    pmid: str
    score: float
    title: str
    journal: str
    year: int | None
    duplicate: bool = False  # same title+abstract as the seed, under another PMID
    closest: str | None = None  # in a collection's list: the positive example (PMID, or "text") it is closest to
    why: object | None = None  # an explain.Why when asked for: shared terms with their shares, MeSH, sentences
    authors: tuple[str, ...] = ()  # what MEDLINE says (medline.Details); empty where the input said nothing
    doi: str = ""
    pmc: str = ""
    types: tuple[str, ...] = ()
    language: str = ""
    retracted: bool = False  # retracted, by its own record or a retraction notice in the index
    versions: tuple[str, ...] = ()  # other PMIDs of the same work (erratum, update, republished, same DOI or text)

    @property
    def url(self) -> str:
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"

    @property
    def authors_short(self) -> str:
        return Details(authors=self.authors).short_authors

    def to_dict(self) -> dict:
        d = {**asdict(self), "url": self.url, "authors_short": self.authors_short}
        d["authors"], d["types"], d["versions"] = list(self.authors), list(self.types), list(self.versions)
        for key in ("closest", "why"):  # only where asked for: plain lists keep their shape
            if d[key] is None:
                del d[key]
        return d


@dataclass(frozen=True)
class SimilarList:
    """The answer to one query: which method answered, for which seed, from which build."""

    method: str
    neighbors: list[Neighbor]
    seed: PaperInfo | None = None
    build_id: str = ""
    notes: list[str] = field(default_factory=list)
    versions: tuple[str, ...] = ()  # the seed's other versions in the index (never listed as neighbours)
    filters: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "seed": None
            if self.seed is None
            else {
                **asdict(self.seed),
                "url": self.seed.url,
                "authors_short": self.seed.authors_short,
                "versions": list(self.versions),
            },
            "method": self.method,
            "build_id": self.build_id,
            **({"filters": self.filters} if self.filters else {}),
            "neighbors": [n.to_dict() for n in self.neighbors],
            **({"notes": self.notes} if self.notes else {}),
        }


@dataclass(frozen=True)
class CollectionList:
    """The answer to a collection: papers like the positives and unlike the negatives, never any of them."""

    method: str
    neighbors: list[Neighbor]
    positive: list[str]
    negative: list[str]
    text: bool = False
    build_id: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    filters: dict = field(default_factory=dict)
    seed = None  # printed like a SimilarList without a seed

    def to_dict(self) -> dict:
        return {
            "positive": self.positive,
            "negative": self.negative,
            **({"text": True} if self.text else {}),
            "method": self.method,
            "build_id": self.build_id,
            **({"filters": self.filters} if self.filters else {}),
            "neighbors": [n.to_dict() for n in self.neighbors],
            **({"notes": self.notes} if self.notes else {}),
        }


def check_n(n: int) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N:
        raise SimilarError(f"n must be between 1 and {MAX_N}, got {n}")
    return n


def _first_mismatch(rows: Sequence[str], pmids: np.ndarray) -> int | None:
    """The first row where rows.txt and the row table name different PMIDs (None when they agree)."""
    try:
        given = np.array(rows, dtype=np.int64)
    except (ValueError, OverflowError):
        return next(i for i, r in enumerate(rows) if not _PMID.match(r) or int(r) != pmids[i])
    differ = np.flatnonzero(given != pmids)
    return int(differ[0]) if len(differ) else None


class Index:
    """A built index folder, opened once and queried many times (thread-safe for reads)."""

    def __init__(
        self,
        path: Path,
        manifest: store.Manifest,
        ranker: Ranker,
        pmids: Sequence[str],
        table: np.ndarray,
        deleted: set[str],
        db: checks.GuardedDB,
        lists: tuple | None = None,
        encoder: Encoder | None = None,
    ):
        """An index from what `open` read (no I/O here): `table` is rowtable.py's per-row facts."""
        self.path = path
        self.manifest = manifest
        self.build_id = manifest.build_id
        self._encoder = encoder
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
        self.ranker = ranker
        self.precomputed = lists  # (method, rows, scores): each paper's list under the default method
        spec = manifest.precomputed
        # stored hybrid lists answer only while they were made with the ranking this code runs (else: ranked live)
        self.lists_current = (
            spec is not None
            and bool(spec)
            and lists is not None
            and (spec["method"] != "hybrid" or spec.get("params") == ranker.hybrid.describe())
        )
        self._facts: Facts | None = None  # filters' per-row facts (types, MeSH, journals ...): gathered on first use
        self.groups = table["group"]  # a work id per row (versions.py): rows of one work share it
        self._has_versions = table["versions"]
        self._masks: dict[Filters, np.ndarray] = {}

    @classmethod
    def open(cls, path: str | Path | None = None, encoder: Encoder | None = None, mmap: bool = True) -> "Index":
        """Open and check an index folder; one line says what is wrong if anything is."""
        path = store.index_path(path)
        lock.recover_for_reading(path)  # a publish cut between its two renames: put the previous index back
        manifest = store.read_manifest(path)
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
            if table is None:  # an index written before rowtable.npy: gathered from the database
                table, source = rowtable.compute(db), store.PAPERS
            elif small:  # the database agrees with the table (above the limit `similar verify` checks it)
                stored = db.execute("SELECT row, pmid FROM papers ORDER BY row").fetchall()
                if [r for r, _ in stored] != list(range(len(stored))):
                    raise SimilarError(
                        f"corrupt index {path}: {store.PAPERS} rows are not numbered in order; rebuild it"
                    )
                store.check_count(path, store.PAPERS, len(stored), count)
                if any(int(p) != q for (_, p), q in zip(stored, table["pmid"].tolist())):
                    raise SimilarError(
                        f"corrupt index {path}: {store.ROWTABLE} and {store.PAPERS} disagree; rebuild it"
                    )
            deleted = {r[0] for r in db.execute("SELECT pmid FROM deletions")}
        except sqlite3.DatabaseError as exc:
            raise SimilarError(f"corrupt index {path}: {store.PAPERS} cannot be read ({exc}); rebuild it") from exc
        except ValueError as exc:
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
        return cls(path, manifest, Ranker(dense, lexical, live), rows, table, deleted, db, lists, encoder)

    # -- facts --------------------------------------------------------------------------------------------
    @property
    def methods(self) -> tuple[str, ...]:
        return self.ranker.methods

    @property
    def default_method(self) -> str:
        return self.manifest.default_method or self.methods[0]

    def __len__(self) -> int:
        return int(self.live.sum())

    def __contains__(self, pmid: str) -> bool:
        pmid = str(pmid).strip()
        return bool(_PMID.match(pmid)) and self._live_row(int(pmid)) is not None

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
        if not _PMID.match(pmid):  # ASCII digits only: str.isdigit() takes '²' and '١٢٣'
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
        return {r[0]: r[1:] for r in got}

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
            if not self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='details'").fetchone():
                return {}
            if rows is None:
                got = self._db.execute("SELECT row, data FROM details").fetchall()
            else:
                rows = [int(r) for r in rows]
                got = self._db.execute(
                    f"SELECT row, data FROM details WHERE row IN ({','.join('?' * len(rows))})", rows
                ).fetchall()
        return {r: Details.from_json(data) for r, data in got}

    @property
    def facts(self) -> Facts:
        if self._facts is None:
            with self._lock:
                journals = [j for (j,) in self._db.execute("SELECT journal FROM papers ORDER BY row")]
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
        from .versions import members

        if not self._has_versions[row]:
            return ()  # most papers: no scan of every row's group
        return tuple(self.pmids[r] for r in members(self.groups, self.live, row))

    # -- queries ------------------------------------------------------------------------------------------
    def _method(self, method: str | None) -> str:
        method = method or self.default_method
        if method not in self.methods:
            if method in registry.REGISTRY and registry.REGISTRY[method].needs_vectors:
                raise SimilarError(
                    f"method {method} needs an embedding model, and index {self.path.name} is TF-IDF only: use --method tfidf, or rebuild with a model"
                )
            raise SimilarError(f"unknown method {method!r}: use one of {', '.join(self.methods)}")
        return method

    def similar(
        self,
        pmid: str | int,
        n: int = 10,
        method: str | None = None,
        min_year: int | None = None,
        max_year: int | None = None,
        filters: Filters | None = None,
        versions: bool = True,
    ) -> SimilarList:
        """The n papers most similar to an indexed paper, never the paper itself (nor, with versions, its other versions).

        filters narrow the list (filters.Filters); versions=True lists each work once, its other PMIDs in `versions`."""
        check_n(n)
        method = self._method(method)
        row = self.row(pmid)
        filters = (filters or NONE).with_years(min_year, max_year)
        seed_group = int(self.groups[row]) if versions else None
        neighbors = self._rank(
            method,
            Query(row=row),
            n,
            filters,
            seed_hash=self._info([row])[row][4],
            seed_group=seed_group,
            versions=versions,
        )
        return SimilarList(
            method=method,
            neighbors=neighbors,
            seed=self._paper_at(row),
            build_id=self.build_id,
            notes=self._year_notes(filters.min_year, filters.max_year) + self.shortfall(len(neighbors), n, filters),
            versions=self.seed_versions(row) if versions else (),
            filters=filters.to_dict(),
        )

    def shortfall(self, found: int, n: int, filters: Filters) -> list[str]:
        """The note a filtered list shorter than n carries."""
        if found >= n or not filters.active:
            return []
        if found == 0 and filters == NONE.with_years(filters.min_year, filters.max_year):
            return [
                f"no paper in the index matches the year filter ({filters.min_year or '...'}-{filters.max_year or '...'})"
            ]
        if found == 0:
            return [f"no paper in the index passes the filters ({filters.describe()})"]
        return [f"only {found} of the {n} papers asked for pass the filters ({filters.describe()})"]

    def similar_text(
        self,
        text: str,
        n: int = 10,
        method: str | None = None,
        title: str = "",
        min_year: int | None = None,
        max_year: int | None = None,
        filters: Filters | None = None,
        versions: bool = True,
    ) -> SimilarList:
        """The n indexed papers most similar to a text that need not be in the index."""
        check_n(n)
        filters = (filters or NONE).with_years(min_year, max_year)
        asked = method
        method = self._method(method)
        if not (text or "").strip() and not title.strip():
            raise SimilarError("the query text is empty: give a title or an abstract")
        vector, notes = None, []
        if registry.get(method).needs_vectors:
            try:
                vector = self.encoder().encode([f"{title} {text}".strip()])[0]
            except SimilarError as exc:
                if asked is not None:  # a method asked for by name must not quietly become another
                    raise
                method, notes = "tfidf", [f"answered with tfidf: {exc}"]
        query = Query(vector=vector, title=title, abstract=text)
        neighbors = self._rank(method, query, n, filters, versions=versions)
        return SimilarList(
            method=method,
            neighbors=neighbors,
            build_id=self.build_id,
            notes=notes
            + self._year_notes(filters.min_year, filters.max_year)
            + self.shortfall(len(neighbors), n, filters),
            filters=filters.to_dict(),
        )

    def _year_notes(self, min_year, max_year) -> list[str]:
        """A year filter leaves out papers without a year; say how many, rather than drop them silently."""
        if min_year is None and max_year is None:
            return []
        missing = int((self.live & (self.years == 0)).sum())
        return [f"{missing} of {len(self)} papers have no year and are left out by the year filter"] if missing else []

    def _keep(self, rows: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        keep = rows >= 0
        keep[keep] &= allowed[rows[keep]]
        return keep

    def _pick(self, scores, rows, seed_group: int | None, n: int, versions: bool) -> list[tuple[float, int, list[int]]]:
        """The first n entries of a filtered list: one per work with versions, else one per row."""
        if not versions:
            return [(s, r, []) for s, r in zip(scores[:n].tolist(), rows[:n].tolist())]
        from .versions import collapse

        return collapse(scores, rows, self.groups, seed_group, n)

    def stored_list(self, row: int, method: str) -> tuple[np.ndarray, np.ndarray] | None:
        """A row's stored (scores, rows), -1 padded, when the stored lists are `method`'s and current; else None."""
        if self.precomputed is None or not self.lists_current or method != self.precomputed[0]:
            return None
        names, (_, rows, scores) = (store.NEIGHBOURS, store.NEIGHBOUR_SCORES), self.precomputed
        return checks.stored_row(self.path, names, rows, scores, row, len(self.pmids))

    def _lookup(self, method: str, query: Query, n: int, allowed: np.ndarray, seed_group, versions: bool):
        """The precomputed list, filtered, when it answers this query whole; else None."""
        stored = None if query.row is None else self.stored_list(query.row, method)
        if stored is None:
            return None
        scores, rows = stored
        keep = self._keep(rows, allowed)
        picked = self._pick(scores[keep], rows[keep], seed_group, n, versions)
        if len(picked) < n and rows[-1] >= 0:
            return None  # filters left fewer than n of a cut-off list: rank on the fly (a list padded with -1 holds every paper)
        return picked

    def _rank(
        self,
        method: str,
        query: Query,
        n: int,
        filters: Filters = NONE,
        seed_hash: str | None = None,
        seed_group: int | None = None,
        versions: bool = True,
    ) -> list[Neighbor]:
        allowed = self.allowed(filters)
        picked = self._lookup(method, query, n, allowed, seed_group, versions)
        if picked is None:
            narrowed = filters.active or not allowed[self.live].all()
            want = n * 4 if narrowed else n + (8 if versions else 0)
            while True:
                scores, rows = self.ranker.search(method, query, want)
                keep = self._keep(rows, allowed)
                picked = self._pick(scores[keep], rows[keep], seed_group, n, versions)
                if len(picked) >= n or want >= len(self) or len(rows) < want:
                    break
                want = min(len(self), want * 4)  # over-fetch so that n results survive the filters and the versions
        return self._neighbors(picked, seed_hash)

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

    def rank_candidates(self, pmid: str | int, candidates: Sequence[str], method: str | None = None) -> list[str]:
        """Given papers ordered by a method's score for an indexed seed, best first (ties keep the given order)."""
        method = self._method(method)
        rows = np.array([self.row(c) for c in candidates], dtype=np.int64)
        scores = self.ranker.score(method, Query(row=self.row(pmid)), rows)
        return [str(candidates[i]) for i in np.lexsort((np.arange(len(rows)), -scores))]

    def with_params(self, hybrid: HybridParams | None = None, short_text: HybridParams | None = None) -> "Index":
        """The same open index ranking the hybrid with other settings (stored lists are not used): for benchmarks."""
        other = copy.copy(self)
        other.ranker = Ranker(
            self.ranker.dense,
            self.ranker.lexical,
            self.live,
            hybrid or self.ranker.hybrid,
            short_text or self.ranker.short_text,
        )
        other.lists_current = False
        return other

    # -- the public surface benchmarks use (no reaching into the ranker or stored lists) --------------------------
    def ranked(self, pmid: str | int, method: str | None = None, k: int = 1000) -> list[str]:
        """An indexed paper's top-k PMIDs ranked live (no stored lists, no filters): the full-ranking protocol."""
        _, rows = self.ranker.search(self._method(method), Query(row=self.row(pmid)), k)
        return self.pmids[rows].tolist()

    def live_only(self) -> "Index":
        """The same open index answering every query live, stored lists left unused (speed and quality benchmarks)."""
        other = copy.copy(self)
        other.precomputed, other.lists_current = None, False
        return other

    def with_encoder(self, encoder: Encoder) -> "Index":
        """The same open index encoding text queries with this encoder."""
        other = copy.copy(self)
        other._encoder = encoder
        return other

    def vectors(self, rows) -> np.ndarray:
        """Dense vectors of some rows (an index built with a model)."""
        if self.ranker.dense is None:
            raise SimilarError(f"index {self.path.name} has no vectors: it was built without a model")
        return self.ranker.dense.vectors(np.asarray(rows, dtype=np.int64))

    def recommend_rows(self, positive, negative, n: int, method: str, allowed: np.ndarray, lists=None, params=None):
        """recommend.recommend over this index's rows: Picks(rows, scores, closest) for Query examples."""
        from .recommend import recommend

        return recommend(self.ranker, positive, negative, n, method, allowed, lists, params)

    # -- collections and explanations (recommend.py, explain.py) --------------------------------------------------
    def recommend(
        self,
        positive=(),
        negative=(),
        n: int = 10,
        method: str | None = None,
        text: str | None = None,
        min_year: int | None = None,
        max_year: int | None = None,
        explain: bool = False,
        filters: Filters | None = None,
        versions: bool = True,
    ) -> CollectionList:
        """The n papers most like the positive PMIDs (and text) and least like the negative ones; none of them is listed."""
        from .collection import recommend_collection

        return recommend_collection(
            self,
            positive,
            negative,
            n,
            method,
            text,
            min_year,
            max_year,
            explain,
            filters=(filters or NONE).with_years(min_year, max_year),
            versions=versions,
        )

    def explain(self, result, text: str | None = None, title: str = ""):
        """The same list with `why` filled in for every paper: against the seed, the closest positive, or the text."""
        from .explain import explain_list

        return explain_list(self, result, text, title)

    def mesh(self, rows: list[int]) -> dict[int, tuple[str, ...]]:
        """MeSH descriptors of some rows (empty where the record carried none)."""
        rows = [int(r) for r in rows]
        with self._lock:
            got = self._db.execute(
                f"SELECT row, mesh FROM papers WHERE row IN ({','.join('?' * len(rows))})", rows
            ).fetchall()
        return {r: tuple(m.strip() for m in (mesh or "").split(";") if m.strip()) for r, mesh in got}

    def abstracts(self, rows: list[int]) -> dict[int, str] | None:
        """Stored abstracts of some rows; None for an index built before abstracts were stored."""
        rows = [int(r) for r in rows]
        with self._lock:
            if not self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='abstracts'").fetchone():
                return None
            got = self._db.execute(
                f"SELECT row, abstract FROM abstracts WHERE row IN ({','.join('?' * len(rows))})", rows
            ).fetchall()
        return dict(got)

    def neighbors_at(self, scores, rows, closest: list[str | None] | None = None) -> list[Neighbor]:
        """Neighbor records for ranked rows (metadata looked up once)."""
        return self._neighbors([(s, int(r), []) for s, r in zip(scores, rows)], closest=closest)

    # -- the model, loaded only for text queries ------------------------------------------------------------
    def encoder(self) -> Encoder:
        if self._encoder is None:
            model = self.manifest.model or {}
            try:
                self._encoder = load_index_model(model)
            except ModelUnavailable as exc:
                raise SimilarError(
                    f"the index's model {model.get('name')} is not available here ({exc}); use --method tfidf"
                ) from exc
        return self._encoder

    def warm(self) -> "Index":
        """Load what the first text query would otherwise wait for: the lexical vocabulary and, when it is here, the
        model (a server calls it in the background after opening)."""
        _ = self.ranker.lexical.vocabulary
        if self.ranker.dense is not None and self.manifest.model:
            try:
                self.encoder()
            except SimilarError:
                pass  # no model here: text queries will say so, one line each
        return self

    def close(self) -> None:
        self._db.close()
