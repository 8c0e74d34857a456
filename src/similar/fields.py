"""One rule for every field of every input format: Paper / Deletion / Problem, the limits, make_paper.

A value of the wrong type is a Problem (the record is skipped, never coerced); a text over its limit is cut with
a note on the Paper; a PMID is ASCII digits in 1..99,999,999. The readers (tabular.py, xmlreader.py) use it;
records.read_records picks the reader."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Union

from .errors import SimilarError
from .medline import EMPTY, Details, normal_doi

TABULAR_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv", ".xml": "xml"}

# --- limits (docs/commands.md "Input limits") ---------------------------------------------------------------------
MAX_PMID = 99_999_999
_id_limit = MAX_PMID  # the largest id a record may carry: a PMID's, except inside document_ids()
TEXT_LIMITS = {"title": 4_000, "abstract": 100_000}  # characters, after whitespace is collapsed; cut with a note
SHORT_LIMIT = 1_000  # journal, doi, pmc, language, each MeSH term, author or publication type: cut with a note
LIST_LIMIT = 10_000  # entries of mesh, authors, publication_types: the rest cut with a note
LINE_LIMIT = 32 << 20  # bytes of one input line (JSON line, CSV line): a longer one is skipped unread, a problem
JSON_FILE_LIMIT = 256 << 20  # bytes of a .json array file, read whole: a larger one is refused (use JSON lines)


@dataclass(frozen=True)
class Paper:
    """One title+abstract record."""

    pmid: str
    title: str
    abstract: str
    journal: str = ""
    year: int | None = None
    mesh: tuple[str, ...] = field(default_factory=tuple)
    where: str = field(default="", compare=False, repr=False)  # file:line (file:line:column in XML), for reports
    details: Details = field(default=EMPTY, repr=False)  # authors, DOI, types, MeSH detail, links (medline.py)
    notes: tuple[str, ...] = field(default=(), compare=False, repr=False)  # fields cut to their limit

    @property
    def text(self) -> str:
        """The text that is embedded and indexed: title, then abstract."""
        return f"{self.title} {self.abstract}".strip()

    @property
    def text_hash(self) -> str:
        """Content hash of what is indexed; an unchanged hash means nothing to re-embed."""
        h = hashlib.sha256()
        for part in (self.title, self.abstract, " ".join(self.mesh)):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()[:32]


@dataclass(frozen=True)
class Deletion:
    """A PMID that NLM withdrew (`<DeleteCitation>`)."""

    pmid: str
    where: str


@dataclass(frozen=True)
class Problem:
    """A record that could not be used, with its place in the input and the reason."""

    where: str
    reason: str


Event = Union[Paper, Deletion, Problem]

_PMID = re.compile(r"[0-9]+\Z")  # ASCII digits only: str.isdigit() takes '²' and '١٢٣'
_YEAR = re.compile(r"(?<![0-9])(1[6-9]|20)[0-9][0-9](?![0-9])")
_BAD_BYTES = re.compile("[\udc80-\udcff]")  # undecodable input bytes, kept by surrogateescape
_SURROGATE = re.compile("[\ud800-\udfff]")  # any lone surrogate, e.g. a "\\ud800" JSON escape: not encodable text


class _Bad(ValueError):
    """The reason a record is refused (internal to make_paper)."""


def detect_format(path: Path) -> str:
    """Format name from the file suffix (a trailing .gz is looked through)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if not suffixes or suffixes[-1] not in TABULAR_SUFFIXES:
        raise SimilarError(
            f"cannot tell the format of {path}: use a .jsonl, .json, .csv, .tsv or .xml file (optionally .gz)"
        )
    return TABULAR_SUFFIXES[suffixes[-1]]


def open_binary(path: Path):
    if not path.exists():
        raise SimilarError(f"input file not found: {path}")
    if not path.is_file():  # a FIFO would block the open, a device never end
        from .checks import file_kind

        raise SimilarError(f"input {path} is {file_kind(path.stat().st_mode)}, not a regular file: give a file")
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def clean(value: str) -> str:
    """Whitespace collapsed to single spaces."""
    return " ".join(value.split())


def shown(value: str, width: int = 40) -> str:
    """A value quoted for a message, long ones elided."""
    return repr(value[:width] + "...") if len(value) > width else repr(value)


def cut(value: str, label: str, limit: int, notes: list[str]) -> str:
    """`value` with whitespace collapsed and cut to `limit` characters (a note says so); a huge value is never
    split into words whole."""
    head = value if len(value) <= 2 * limit else value[: 2 * limit]
    text = clean(head)
    if len(text) > limit or head is not value:
        text = text[:limit].rstrip()
        notes.append(f"{label} cut to {limit} characters (it had {len(value)})")
    return text


def _string(row: dict, key: str, limit: int, notes: list[str]) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(f"{key} must be a string")
    return cut(value, key, limit, notes)


def _strings(row: dict, key: str, notes: list[str], strip_only: bool = False) -> tuple[str, ...]:
    """A list field: a ';'-separated string or a list of strings."""
    value = row.get(key)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items: list | tuple = value.split(";")
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise _Bad(f"{key} must be a string or a list of strings")
    if len(items) > LIST_LIMIT:
        notes.append(f"{key} cut to {LIST_LIMIT} entries (it had {len(items)})")
        items = items[:LIST_LIMIT]
    out, long = [], False
    for v in items:
        if len(v) > SHORT_LIMIT:
            v, long = v[:SHORT_LIMIT], True
        v = v.strip() if strip_only else clean(v)
        if v or (strip_only and not isinstance(value, str)):
            out.append(v)
    if long:
        notes.append(f"{key} entries cut to {SHORT_LIMIT} characters")
    return tuple(out)


@contextlib.contextmanager
def document_ids(limit: int = 10**15) -> Iterator[None]:
    """Within: a record's `pmid` may be any positive numeric document id up to `limit`, not only a PMID. For benchmark
    corpora that number their documents past 99,999,999 (SciFact); the suite asks for it where quality.yaml says
    `ids: document`. Every other input keeps the PMID range."""
    global _id_limit
    before, _id_limit = _id_limit, limit
    try:
        yield
    finally:
        _id_limit = before


def check_pmid(value) -> str:
    """A PMID in its plain form ('007' -> '7'); a ValueError says why a value is not one."""
    if value is None or value == "":
        raise _Bad("no PMID")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Bad("pmid must be a string or an integer")
    text = str(value).strip() if isinstance(value, str) else str(value)
    if _BAD_BYTES.search(text):
        raise _Bad("invalid UTF-8")
    if not text:
        raise _Bad("no PMID")
    if not _PMID.match(text):
        if text.startswith("-") and _PMID.match(text[1:]):
            raise _Bad(f"PMID {shown(text)} is out of range (1..{_id_limit})")
        raise _Bad(f"non-numeric PMID {shown(text)}")
    digits = text.lstrip("0")
    if not digits or len(digits) > len(str(_id_limit)) or int(digits) > _id_limit:
        raise _Bad(f"PMID {shown(text)} is out of range (1..{_id_limit})")
    return digits


def year_in(text: str) -> int | None:
    """The year a date string holds ("2008 Jul-Aug"), None if none."""
    m = _YEAR.search(text)
    return int(m.group(0)) if m else None


def _year(value) -> int | None:
    """A year as a number or in a string ("2008 Jul-Aug"); None when not given."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if 1600 <= value <= 2099:
            return value
    elif isinstance(value, str) and year_in(value):
        return year_in(value)
    raise _Bad(f"year must be a year 1600..2099 (a number or a string holding one), not {shown(str(value), 20)}")


def make_paper(row, where: str) -> Paper | Problem:
    """Check one JSON/CSV row (or a MEDLINE citation made into one); a Problem names what is wrong."""
    if not isinstance(row, dict):
        return Problem(where, "record is not an object")
    notes: list[str] = []
    try:
        pmid = check_pmid(row.get("pmid", row.get("PMID")))
        title = _string(row, "title", TEXT_LIMITS["title"], notes)
        abstract = _string(row, "abstract", TEXT_LIMITS["abstract"], notes)
        journal = _string(row, "journal", SHORT_LIMIT, notes)
        year = _year(row.get("year"))
        mesh = _strings(row, "mesh", notes, strip_only=True)
        texts = [title, abstract, journal, *mesh]
        details = row.get("details")
        if not isinstance(details, Details):
            details = Details(
                authors=_strings(row, "authors", notes),
                types=_strings(row, "publication_types", notes),
                doi=normal_doi(_string(row, "doi", SHORT_LIMIT, notes)),
                pmc=_string(row, "pmc", SHORT_LIMIT, notes),
                language=_string(row, "language", SHORT_LIMIT, notes),
            )
            texts.append(details.to_json())
        if any(_BAD_BYTES.search(v) for v in texts):
            raise _Bad("invalid UTF-8")
        if any(_SURROGATE.search(v) for v in texts):
            raise _Bad("invalid Unicode (a lone surrogate)")
        if not title and not abstract:
            raise _Bad(f"PMID {pmid} has neither title nor abstract")
    except _Bad as exc:
        return Problem(where, str(exc))
    return Paper(pmid, title, abstract, journal, year, mesh, where, details, tuple(notes))
