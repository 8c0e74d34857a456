"""List filters (year, publication type, MeSH, journal, language, humans/animals, retracted) as one object and its row mask."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, fields
from typing import Iterable

import numpy as np

from .errors import SimilarError
from .medline import ANIMALS, HUMANS, Details

SPECIES = {"humans": HUMANS, "animals": ANIMALS}
# a type asked for also takes these (PubMed's filters do the same); any type whose slug starts with it + "-" too
TYPE_ALIASES = {
    "clinical-trial": (
        "randomized-controlled-trial",
        "controlled-clinical-trial",
        "pragmatic-clinical-trial",
        "equivalence-trial",
        "adaptive-clinical-trial",
    ),
    "review": ("systematic-review",),
    "trial": ("clinical-trial", "randomized-controlled-trial", "controlled-clinical-trial"),
}
_UI = re.compile(r"D[0-9]{6,9}\Z")
_LANGUAGE = re.compile(r"[a-z]{3}\Z")


def slug(text: str) -> str:
    """'Randomized Controlled Trial' -> 'randomized-controlled-trial'."""
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))


def _tuple(value, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    out = []
    for v in value:  # several values are given as several items (names such as "Diagnosis, Differential" hold commas)
        if not isinstance(v, str):
            raise SimilarError(f"{what} must be text, got {v!r}")
        out.append(" ".join(v.split()))
    return tuple(dict.fromkeys(v for v in out if v))


@dataclass(frozen=True)
class Filters:
    """What a list may hold: values of one kind are alternatives (OR), kinds all apply (AND)."""

    min_year: int | None = None
    max_year: int | None = None
    types: tuple[str, ...] = ()  # publication type slugs: review, clinical-trial, meta-analysis ...
    mesh: tuple[str, ...] = ()  # descriptor names (any case) or UIs (D006801); exact, no tree below
    journal: tuple[str, ...] = ()  # journal titles, any case
    language: tuple[str, ...] = ()  # MEDLINE language codes: eng, fre ...
    species: str | None = None  # humans or animals (the MeSH check tags)
    exclude_retracted: bool = False

    @classmethod
    def of(
        cls,
        min_year=None,
        max_year=None,
        types=None,
        mesh=None,
        journal=None,
        language=None,
        species=None,
        exclude_retracted=False,
    ) -> "Filters":
        """Checked filters from loose inputs (strings, comma lists, lists); one line says what is wrong."""
        for name, year in (("min_year", min_year), ("max_year", max_year)):
            if year is not None and (not isinstance(year, int) or isinstance(year, bool)):
                raise SimilarError(f"{name} must be a year, got {year!r}")
        if min_year is not None and max_year is not None and min_year > max_year:
            raise SimilarError(f"min_year {min_year} is after max_year {max_year}")
        type_slugs = tuple(dict.fromkeys(slug(t) for t in _tuple(types, "type")))
        if any(not t for t in type_slugs):
            raise SimilarError("publication type must have letters or digits, e.g. review, clinical-trial")
        terms = _tuple(mesh, "mesh")
        for term in terms:
            if term[:1] == "D" and term[1:].isdigit() and not _UI.match(term):
                raise SimilarError(f"MeSH UI {term!r} is malformed: D followed by 6 to 9 digits, e.g. D006801")
        languages = tuple(x.lower() for x in _tuple(language, "language"))
        bad = next((x for x in languages if not _LANGUAGE.match(x)), None)
        if bad is not None:
            raise SimilarError(f"language must be a 3-letter MEDLINE code such as eng, fre, ger; got {bad!r}")
        if species is not None:
            species = str(species).strip().lower()
            if species not in SPECIES:
                raise SimilarError(f"species must be humans or animals, got {species!r}")
        return cls(
            min_year,
            max_year,
            type_slugs,
            terms,
            _tuple(journal, "journal"),
            languages,
            species or None,
            bool(exclude_retracted),
        )

    def with_years(self, min_year, max_year) -> "Filters":
        """These filters with the year bounds given separately (the older keyword arguments) folded in."""
        if min_year is None and max_year is None:
            return self
        return Filters.of(
            min_year if min_year is not None else self.min_year,
            max_year if max_year is not None else self.max_year,
            self.types,
            self.mesh,
            self.journal,
            self.language,
            self.species,
            self.exclude_retracted,
        )

    @property
    def active(self) -> bool:
        return self != NONE

    @property
    def on_details(self) -> bool:
        """Some filter reads the papers' details (type, MeSH, journal, language, check tag): check_against has work."""
        return bool(self.types or self.mesh or self.journal or self.language or self.species)

    def describe(self) -> str:
        """'type review; year 2000-...': for notes and feeds."""
        parts = []
        if self.min_year is not None or self.max_year is not None:
            parts.append(f"year {self.min_year or '...'}-{self.max_year or '...'}")
        for name in ("types", "mesh", "journal", "language"):
            if getattr(self, name):
                parts.append(f"{name.rstrip('s') if name == 'types' else name} {' or '.join(getattr(self, name))}")
        if self.species:
            parts.append(self.species)
        if self.exclude_retracted:
            parts.append("not retracted")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) not in (None, (), False)}


NONE = Filters()


class Facts:
    """Per-row facts the filters and marks read, gathered once from papers.sqlite (empty for an index without details)."""

    def __init__(self, count: int, details: dict[int, Details], journals: list[str], row_of: dict[str, int]):
        self.count = count
        self.retracted = np.zeros(count, dtype=bool)
        self.notice = np.zeros(count, dtype=bool)  # retraction notices: never a neighbour
        self.humans = np.zeros(count, dtype=bool)
        self.animals = np.zeros(count, dtype=bool)
        self.language = np.array([""] * count, dtype=object)
        self.journal = np.array([j.lower() for j in journals], dtype=object)
        self._types: dict[str, list[int]] = {}
        self._mesh: dict[str, list[int]] = {}
        self.mesh_names: dict[str, str] = {}  # lower-case name -> the name as MeSH writes it (for messages)
        self.journal_names: dict[str, str] = {}  # lower-case title -> the title as the records write it
        for j in journals:
            self.journal_names.setdefault(j.lower(), j)
        for row, d in details.items():
            self.language[row] = d.language.lower()
            self.retracted[row] |= d.retracted
            self.notice[row] = d.retraction_notice
            for t in d.types:
                self._types.setdefault(slug(t), []).append(row)
            for m in d.mesh:
                self.humans[row] |= m.ui == HUMANS
                self.animals[row] |= m.ui == ANIMALS
                for key in {m.ui, m.name.lower()}:
                    self._mesh.setdefault(key, []).append(row)
                self.mesh_names.setdefault(m.name.lower(), m.name)
            for link in d.links:  # a notice marks the paper it retracts, whether or not that record says so yet
                if link.kind == "RetractionOf" and link.pmid in row_of:
                    self.retracted[row_of[link.pmid]] = True

    def types(self) -> list[str]:
        return sorted(self._types)

    def _rows(self, table: dict[str, list[int]], keys: Iterable[str]) -> np.ndarray:
        out = np.zeros(self.count, dtype=bool)
        for key in keys:
            out[table.get(key, [])] = True
        return out

    def mask(self, f: Filters, years: np.ndarray) -> np.ndarray:
        """Rows that pass every filter (liveness and notices are the index's business)."""
        keep = ~self.notice
        if f.min_year is not None:
            keep &= years >= f.min_year
        if f.max_year is not None:
            keep &= (years <= f.max_year) & (years > 0)
        if f.types:
            wanted = {
                s
                for t in f.types
                for s in self._types
                if s == t or s.startswith(t + "-") or s in TYPE_ALIASES.get(t, ())
            }
            keep &= self._rows(self._types, wanted)
        if f.mesh:
            keep &= self._rows(self._mesh, [m if _UI.match(m) else m.lower() for m in f.mesh])
        if f.journal:
            keep &= np.isin(self.journal, [j.lower() for j in f.journal])
        if f.language:
            keep &= np.isin(self.language, list(f.language))
        if f.species:
            keep &= self.humans if f.species == "humans" else self.animals
        if f.exclude_retracted:
            keep &= ~self.retracted
        return keep


# -- filters that cannot match: said before any ranking ------------------------------------------------------------

# PubMed's publication types (as slugs): a type outside these and the index's own is called unknown, not absent
PUBLICATION_TYPES = tuple(
    slug(t)
    for t in (
        "Adaptive Clinical Trial|Address|Autobiography|Bibliography|Biography|Books and Documents|Case Reports|"
        "Classical Article|Clinical Conference|Clinical Study|Clinical Trial|Clinical Trial, Phase I|"
        "Clinical Trial, Phase II|Clinical Trial, Phase III|Clinical Trial, Phase IV|Clinical Trial Protocol|"
        "Clinical Trial, Veterinary|Comment|Comparative Study|Congress|Consensus Development Conference|"
        "Consensus Development Conference, NIH|Controlled Clinical Trial|Corrected and Republished Article|Dataset|"
        "Dictionary|Directory|Duplicate Publication|Editorial|English Abstract|Equivalence Trial|Evaluation Study|"
        "Expression of Concern|Festschrift|Government Publication|Guideline|Historical Article|Interactive Tutorial|"
        "Interview|Introductory Journal Article|Journal Article|Lecture|Legal Case|Legislation|Letter|Meta-Analysis|"
        "Multicenter Study|News|Newspaper Article|Observational Study|Observational Study, Veterinary|Overall|"
        "Patient Education Handout|Periodical Index|Personal Narrative|Portrait|Practice Guideline|"
        "Pragmatic Clinical Trial|Preprint|Published Erratum|Randomized Controlled Trial|"
        "Randomized Controlled Trial, Veterinary|Research Support, American Recovery and Reinvestment Act|"
        "Research Support, N.I.H., Extramural|Research Support, N.I.H., Intramural|Research Support, Non-U.S. Gov't|"
        "Research Support, U.S. Gov't, Non-P.H.S.|Research Support, U.S. Gov't, P.H.S.|"
        "Research Support, U.S. Government|Retracted Publication|Retraction of Publication|Review|"
        "Scientific Integrity Review|Systematic Review|Technical Report|Twin Study|Validation Study|"
        "Video-Audio Media|Webcast"
    ).split("|")
)
# MEDLINE's language codes (ISO 639-2/B as MEDLINE writes them)
LANGUAGES = (
    "afr alb amh ara arm aze ben bos bul cat chi cze dan dut eng epo est fin fre geo ger gla gre heb hin hrv hun ice "
    "ind ita jpn kin kor lat lav lit mac mal mao may mul nor per pol por pus rum rus san scr slo slv spa srp swe tha "
    "tur ukr und urd vie wel"
).split()
SHOWN = 30  # at most this many present values listed in a message


def _nearest(value: str, choices, n: int = 1, cutoff: float = 0.0) -> list[str]:
    """The n choices most like value (difflib's ratio); with cutoff 0, however far: the nearest there is."""
    return difflib.get_close_matches(value, list(choices), n=n, cutoff=cutoff)


def _listing(values: list[str]) -> str:
    values = sorted(values)
    more = f" and {len(values) - SHOWN} more" if len(values) > SHOWN else ""
    return ", ".join(values[:SHOWN]) + more


def check_against(facts: Facts, f: Filters, name: str = "the index", live: np.ndarray | None = None) -> None:
    """Raise SimilarError (one line) for a filter value that no paper of the index can match: an unknown publication
    type or language (with the values the index holds and the nearest one), a type, language or check tag no live
    paper carries, a MeSH name or journal absent from the index (with the nearest names present). Decided from the
    index's facts alone, before any ranking; years are the row table's business (notes, not errors)."""
    if not f.on_details:
        return
    where = name if name == "the index" else f"index {name}"

    def present(rows) -> bool:
        return len(rows) > 0 and (live is None or bool(live[rows].any()))

    if f.types:
        held = [s for s, rows in facts._types.items() if present(rows)]
        for t in f.types:
            if any(s == t or s.startswith(t + "-") or s in TYPE_ALIASES.get(t, ()) for s in held):
                continue
            listed = (
                f"types in {where}: {_listing(held)}"
                if held
                else f"{where} records no publication types, so no type filter can match"
            )
            if t in PUBLICATION_TYPES or t in TYPE_ALIASES or any(p.startswith(t + "-") for p in PUBLICATION_TYPES):
                near = _nearest(t, held, cutoff=0.6)  # a real type the index lacks: a near one only if close
                hint = f" (nearest present: {near[0]})" if near else ""
                raise SimilarError(f"no paper in {where} has publication type {t}{hint}; {listed}")
            near = _nearest(t, held)  # none when the index records no types: a name it lacks would not help
            hint = f" (nearest: {near[0]})" if near else ""
            raise SimilarError(f"unknown publication type {t!r}{hint}; {listed}")
    if f.language:
        held_languages = set(facts.language[live] if live is not None else facts.language) - {""}
        for code in f.language:
            if code in held_languages:
                continue
            listed = (
                f"languages in {where}: {_listing(list(held_languages))}"
                if held_languages
                else f"{where} records no languages, so no language filter can match"
            )
            if code in LANGUAGES:
                raise SimilarError(f"no paper in {where} is in language {code}; {listed}")
            near = _nearest(code, held_languages)
            hint = f" (nearest: {near[0]})" if near else ""
            raise SimilarError(f"unknown language code {code!r}{hint}; {listed}")
    if f.species:
        tagged = facts.humans if f.species == "humans" else facts.animals
        if not (tagged[live] if live is not None else tagged).any():
            raise SimilarError(
                f"no paper in {where} carries the MeSH check tag {f.species.capitalize()}"
                + ("" if facts._mesh else f" ({where} records no MeSH)")
            )
    if f.mesh:
        for term in f.mesh:
            key = term if _UI.match(term) else term.lower()
            if present(facts._mesh.get(key, [])):
                continue
            if not facts._mesh:
                raise SimilarError(f"MeSH {term!r} is on no paper: {where} records no MeSH")
            near = [] if _UI.match(term) else [facts.mesh_names[n] for n in _nearest(key, facts.mesh_names, 3)]
            hint = f"; nearest names present: {', '.join(near)}" if near else ""
            raise SimilarError(f"MeSH {term!r} is on no paper in {where}{hint}")
    if f.journal:
        held_journals = set(facts.journal[live] if live is not None else facts.journal) - {""}
        for title in f.journal:
            if title.lower() in held_journals:
                continue
            if not held_journals:
                raise SimilarError(f"journal {title!r} has no paper: {where} records no journals")
            near = [facts.journal_names.get(n, n) for n in _nearest(title.lower(), held_journals, 3)]
            hint = f"; nearest present: {', '.join(near)}" if near else ""
            raise SimilarError(f"journal {title!r} has no paper in {where}{hint}")
