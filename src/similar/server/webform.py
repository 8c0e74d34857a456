"""What a web page's address asks for, read into checked values: the search box, PMIDs, the filters; one line if bad."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlencode

from ..errors import SimilarError
from ..filters import Filters

PMID_Q = re.compile(r"(?:pmid:?\s*)?([+-]?[0-9]+)", re.I)
PMID_ISH = re.compile(r"pmid:?\s*\S*", re.I)  # starts like a PMID but holds none
PUBMED_LINK = re.compile(
    r"(?:https?://)?(?:www\.)?(?:pubmed\.ncbi\.nlm\.nih\.gov|ncbi\.nlm\.nih\.gov/pubmed)/([^/?#\s]*)/?(?:[?#]\S*)?",
    re.I,
)
DOI_Q = re.compile(r"(?:https?://(?:dx\.)?doi\.org/|doi:\s*)?(10\.[0-9]{4,9}/\S+)", re.I)
DOI_ISH = re.compile(r"(?:https?://(?:dx\.)?doi\.org/?|doi:)\S*|10\.\S*", re.I)  # starts like a DOI but is none
WORD = re.compile(r"[^\W_]")  # a letter or digit of any script
MAX_PMID = 999_999_999
MAX_QUERY = 20000
MAX_N = 50
EMBED_MAX = 20  # papers in an embedded widget: the page's form and its script clamp to 1..EMBED_MAX alike
BOOLEANS = {v: False for v in ("", "0", "false", "no", "off")} | {v: True for v in ("1", "true", "yes", "on")}


def pmid(value: str, shown: str | None = None) -> str:
    """The canonical PMID a text holds (full-width digits and leading zeros allowed), or one line saying it is none."""
    digits = unicodedata.normalize("NFKC", value).strip()
    if digits.isascii() and digits.isdigit() and 1 <= int(digits) <= MAX_PMID:
        return str(int(digits))
    raise SimilarError(f"{(shown or value)[:40]!r} is not a PubMed ID: a PMID is a number, such as 7504954.")


def pmid_list(values: list[str], name: str) -> list[str]:
    """PMIDs, repeated or separated by commas (empty items skipped, repeats dropped), or one line saying what they
    should be."""
    items = [p.strip() for value in values for p in value.split(",") if p.strip()]
    try:
        return list(dict.fromkeys(pmid(p) for p in items))
    except SimilarError:
        raise SimilarError(f"The {name} papers must be PMIDs separated by commas, such as 7504954,8011234.") from None


def asked(q: str) -> tuple[str, str] | None:
    """What the search box holds: ("pmid", PMID), ("doi", DOI) or ("text", text); None when it is empty. A PMID or a
    DOI that is not one, or nothing to search for (no letter or digit), is one line."""
    text = unicodedata.normalize("NFKC", q).strip()
    if not text:
        return None
    link = PUBMED_LINK.fullmatch(text)
    if link:
        return "pmid", pmid(link.group(1), text)
    number = PMID_Q.fullmatch(text)
    if number:
        return "pmid", pmid(number.group(1), text)
    if PMID_ISH.fullmatch(text):
        raise SimilarError(f"{text[:40]!r} is not a PubMed ID: a PMID is a number, such as 7504954.")
    doi = DOI_Q.fullmatch(text)
    if doi:
        return "doi", doi.group(1)
    if DOI_ISH.fullmatch(text):
        raise SimilarError(f"{text[:40]!r} is not a DOI: a DOI looks like 10.1234/abcd.")
    if not WORD.search(text):
        raise SimilarError("There are no words to search for: give a PMID, a DOI or some text.")
    return "text", q.strip()


def embed_count(value: str) -> int:
    """The number of papers in an embedded widget, as the page's script reads it: a whole number clamped to
    1..EMBED_MAX, 5 when there is none."""
    number = re.match(r"\s*([+-]?[0-9]+)", value)
    return max(1, min(EMBED_MAX, int(number.group(1)))) if number else 5


class Form:
    """A page's query parameters, read leniently (empty means not given) and checked into Filters; one line if bad."""

    def __init__(self, params, n: int = 10):
        given = params.getlist("q")
        if len(given) > 1:
            raise SimilarError(f"Give one search (q), not {len(given)}.")
        self.q = (given[0] if given else "")[:MAX_QUERY].strip()
        self.types = [t for t in params.getlist("type") if t.strip()]
        self.min_year, self.max_year = self._year(params, "min_year"), self._year(params, "max_year")
        self.species = params.get("species", "")
        self.language = params.get("language", "").strip()
        self.exclude_retracted = self._flag(params, "exclude_retracted")
        self.default_n = n
        self.n = self._number(params.get("n", ""), n)
        self.why = params.get("why", "") in ("1", "true", "on")
        self.filters = Filters.of(
            self.min_year,
            self.max_year,
            self.types,
            None,
            None,
            [self.language] if self.language else None,
            self.species or None,
            self.exclude_retracted,
        )

    @staticmethod
    def _year(params, name: str) -> int | None:
        value = params.get(name, "").strip()
        if not value:
            return None
        if not value.isascii() or not value.isdigit() or not 1000 <= int(value) <= 3000:
            raise SimilarError(f"The {name.replace('_', ' ')} must be a year such as 2010, not {value[:20]!r}.")
        return int(value)

    @staticmethod
    def _flag(params, name: str) -> bool:
        value = params.get(name, "")
        if value.strip().lower() not in BOOLEANS:
            raise SimilarError(f"The {name} parameter must be true or false, not {value[:20]!r}.")
        return BOOLEANS[value.strip().lower()]

    @staticmethod
    def _number(value: str, default: int) -> int:
        value = value.strip()
        if not value:
            return default
        if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_N:
            raise SimilarError(f"The number of papers must be from 1 to {MAX_N}, not {value[:20]!r}.")
        return int(value)

    def pairs(self, api: bool = False) -> list[tuple[str, str]]:
        """The filters as query parameters: the page's own (api=False) or the JSON API's (the same list, exported)."""
        pairs = [("type", t) for t in self.types]
        for key, value in (
            ("min_year", self.min_year),
            ("max_year", self.max_year),
            ("species", self.species),
            ("language", self.language),
            ("exclude_retracted", ("true" if api else "on") if self.exclude_retracted else ""),
        ):
            if value:
                pairs.append((key, str(value)))
        return pairs

    def link(self, **changes) -> str:
        """The query string of these filters (and n when not the default), with some parameters changed (None drops
        one)."""
        pairs = self.pairs() + ([("n", str(self.n))] if self.n != self.default_n else [])
        pairs = [(k, v) for k, v in pairs if k not in changes]
        return urlencode(pairs + [(k, str(v)) for k, v in changes.items() if v is not None])

    def export(self, fmt: str) -> str:
        """The query string of the JSON API's export of the list on the page: its length, its format, its filters."""
        return urlencode([("n", str(self.n)), ("format", fmt)] + self.pairs(api=True))
