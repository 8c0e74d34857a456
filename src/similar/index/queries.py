"""Index: open an index folder, then answer ranked lists, stored where current, else ranked live by the registry."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import checks, store
from .. import methods as registry
from ..backends import read_through
from ..encoders import Encoder, ModelUnavailable, load_index_model
from ..errors import IndexChanged, SimilarError
from ..filters import NONE, Filters
from ..ranking import HybridParams, Query, Ranker
from ..recommend import recommend
from ..versions import collapse
from . import opening
from .fingerprints import Fingerprints
from .lookups import Lookups
from .results import Neighbor, SimilarList, check_n


class Index(Lookups):
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
        files: Fingerprints | None = None,
        encoder: Encoder | None = None,
    ):
        """An index from what `open` read (no I/O here): `table` is rowtable.py's per-row facts."""
        super().__init__(path, manifest, pmids, table, deleted, db)
        self._encoder = encoder
        self.ranker = ranker
        self.files = files
        self.precomputed = lists  # (method, rows, scores): each paper's list under the default method
        spec = manifest.precomputed
        # stored hybrid lists answer only while they were made with the ranking this code runs (else: ranked live)
        self.lists_current = (
            spec is not None
            and bool(spec)
            and lists is not None
            and (spec["method"] != "hybrid" or spec.get("params") == ranker.hybrid.describe())
        )

    @classmethod
    def open(
        cls, path: str | Path | None = None, encoder: Encoder | None = None, mmap: bool = True, guard: bool = False
    ) -> "Index":
        """Open and check an index folder; one line says what is wrong if anything is. `guard` (the server) holds
        every file open so that `check_files` sees a change in place before a request touches it."""
        return cls(*opening.read(path, mmap, guard), encoder=encoder)

    def check_files(self) -> None:
        """Raise IndexChanged naming the first file of this index changed in place since it was opened (a truncated
        memory-mapped file would kill the process on its next access); an fstat a file, about 100 microseconds in all."""
        changed = self.files.changed() if self.files is not None else None
        if changed is not None:
            raise IndexChanged(changed)

    def close(self) -> None:
        super().close()
        if self.files is not None:
            self.files.close()

    @property
    def methods(self) -> tuple[str, ...]:
        return self.ranker.methods

    @property
    def default_method(self) -> str:
        return self.manifest.default_method or self.methods[0]

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
            notes=self._year_notes(filters.min_year, filters.max_year)
            + self.shortfall(
                len(neighbors), n, filters, self._candidates(filters, row, seed_group, versions), method, "seed"
            ),
            versions=self.seed_versions(row) if versions else (),
            filters=filters.to_dict(),
        )

    def shortfall(
        self,
        found: int,
        n: int,
        filters: Filters,
        candidates: int | None = None,
        method: str | None = None,
        what: str = "seed",
    ) -> list[str]:
        """The note a list shorter than n carries: the filters left too few papers, or (given how many `candidates`
        pass the filters) the rest share nothing with the query (a score of 0 or less is never listed)."""
        if found >= n:
            return []
        if candidates is not None and candidates > found:
            one = found == 1
            passes, pass_ = ("passes the filters", "pass the filters") if filters.active else ("is", "are")
            if not filters.active:
                passes, pass_ = "is in the index", "are in the index"
            if method in registry.lexical():
                share, nothing = ("shares" if one else "share") + f" terms with the {what}", "share no term with it"
            else:
                share, nothing = (
                    ("scores" if one else "score") + f" above 0 against the {what}",
                    f"score 0 or less under {method}",
                )
            return [
                f"{found} {'paper' if one else 'papers'} {share} and {passes if one else pass_}; "
                f"{candidates - found} more {pass_} but {nothing}"
                + (f" ({filters.describe()})" if filters.active else "")
            ]
        if not filters.active:
            return []
        if found == 0 and filters == NONE.with_years(filters.min_year, filters.max_year):
            return [
                f"no paper in the index matches the year filter ({filters.min_year or '...'}-{filters.max_year or '...'})"
            ]
        if found == 0:
            return [f"no paper in the index passes the filters ({filters.describe()})"]
        return [f"only {found} of the {n} papers asked for pass the filters ({filters.describe()})"]

    def _candidates(self, filters: Filters, row: int | None, seed_group: int | None, versions: bool) -> int:
        """How many entries a list could hold under these filters: allowed papers (works, with versions) other than
        the seed and its versions."""
        allowed = self.allowed(filters).copy()
        if row is not None:
            allowed[row] = False
        if seed_group is not None:
            allowed &= self.groups != seed_group
        if not versions:
            return int(allowed.sum())
        multi = allowed & self._has_versions  # only rows sharing a work with another row need their groups counted
        return int((allowed & ~self._has_versions).sum()) + len(np.unique(self.groups[multi]))

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
            + self.shortfall(
                len(neighbors), n, filters, self._candidates(filters, None, None, versions), method, "text"
            ),
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
        keep = self._keep(rows, allowed) & (scores > 0)
        picked = self._pick(scores[keep], rows[keep], seed_group, n, versions)
        if len(picked) < n and rows[-1] >= 0 and scores[-1] > 0:
            return None  # filters left fewer than n of a cut-off list: rank on the fly (a list padded with -1, or
            # reaching a score of 0, holds every paper that shares something with the seed)
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
                keep = self._keep(rows, allowed) & (scores > 0)  # shares nothing: never listed (docs/ranking.md)
                picked = self._pick(scores[keep], rows[keep], seed_group, n, versions)
                if len(picked) >= n or want >= len(self) or len(rows) < want or (len(rows) and scores[-1] <= 0):
                    break
                want = min(len(self), want * 4)  # over-fetch so that n results survive the filters and the versions
        return self._neighbors(picked, seed_hash)

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
        return recommend(self.ranker, positive, negative, n, method, allowed, lists, params)

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
        """Load what the first queries would otherwise wait for: the stored lists and the metadata every list shows
        (read once: a cold by-PMID list then waits on no disk), the lexical vocabulary, the small lexical arrays every
        query reads (prefetched) and, when it is here, the model (a server calls it in the background after
        opening)."""
        read_through([self.path / store.NEIGHBOURS, self.path / store.NEIGHBOUR_SCORES])  # the stored lists, read once
        self.ranker.lexical.prefetch()
        _ = self.ranker.lexical.vocabulary
        self.read_ahead()  # the papers' titles and MEDLINE details
        if self.ranker.dense is not None and self.manifest.model:
            try:
                self.encoder()
            except SimilarError:
                pass  # no model here: text queries will say so, one line each
        return self
