"""Read paper records (JSON lines / JSON array / CSV / TSV / PubMed-MEDLINE XML) as a stream of events."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Union

from .errors import SimilarError
from .medline import EMPTY, Details, medline_details, tabular_details

TABULAR_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv", ".xml": "xml"}


@dataclass(frozen=True)
class Paper:
    """One title+abstract record."""

    pmid: str
    title: str
    abstract: str
    journal: str = ""
    year: int | None = None
    mesh: tuple[str, ...] = field(default_factory=tuple)
    where: str = field(default="", compare=False, repr=False)  # file:line or file#record, for reports
    details: Details = field(default=EMPTY, repr=False)  # authors, DOI, types, MeSH detail, links (medline.py)

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

_PMID = re.compile(r"^[0-9]{1,9}$")
_BAD_BYTES = re.compile("[\udc80-\udcff]")  # undecodable input bytes, kept by surrogateescape
_SURROGATE = re.compile("[\ud800-\udfff]")  # any lone surrogate, e.g. a "\\ud800" JSON escape: not encodable text


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


def _open_binary(path: Path):
    if not path.exists():
        raise SimilarError(f"input file not found: {path}")
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _decoded_lines(raw) -> Iterator[str]:
    # surrogateescape keeps bad bytes visible as lone surrogates so the record is rejected, not mangled
    for line in raw:
        yield line.decode("utf-8", errors="surrogateescape")


def _clean(value) -> str:
    if value is None:
        return ""
    return " ".join(str(value).split())


def _year(value) -> int | None:
    if value in (None, ""):
        return None
    m = re.search(r"(1[6-9]|20)\d\d", str(value))
    return int(m.group(0)) if m else None


def make_paper(row: dict, where: str) -> Paper | Problem:
    """Validate one tabular/JSON row; a Problem names what is wrong."""
    if not isinstance(row, dict):
        return Problem(where, "record is not an object")
    pmid = _clean(row.get("pmid", row.get("PMID", "")))
    title = _clean(row.get("title"))
    abstract = _clean(row.get("abstract"))
    mesh = row.get("mesh") or ()
    if isinstance(mesh, str):
        mesh = tuple(m.strip() for m in mesh.split(";") if m.strip())
    elif not isinstance(mesh, (list, tuple)) or not all(isinstance(m, str) for m in mesh):
        return Problem(where, "mesh must be a string or a list of strings")
    texts = (pmid, title, abstract, str(row.get("journal") or ""), *mesh)
    if any(_BAD_BYTES.search(v) for v in texts):
        return Problem(where, "invalid UTF-8")
    if any(_SURROGATE.search(v) for v in texts):
        return Problem(where, "invalid Unicode (a lone surrogate)")
    if not pmid:
        return Problem(where, "no PMID")
    if not _PMID.match(pmid):
        return Problem(where, f"non-numeric PMID {pmid[:40]!r}")
    if not title and not abstract:
        return Problem(where, f"PMID {pmid} has neither title nor abstract")
    details = row.get("details")
    if not isinstance(details, Details):
        details = tabular_details(row)
        if isinstance(details, str):
            return Problem(where, details)
        stored = details.to_json()
        if _BAD_BYTES.search(stored):
            return Problem(where, "invalid UTF-8")
        if _SURROGATE.search(stored):
            return Problem(where, "invalid Unicode (a lone surrogate)")
    return Paper(
        pmid=str(int(pmid)),
        title=title,
        abstract=abstract,
        journal=_clean(row.get("journal")),
        year=_year(row.get("year")),
        mesh=tuple(mesh),
        where=where,
        details=details,
    )


def _read_jsonl(path: Path) -> Iterator[Event]:
    with _open_binary(path) as raw:
        for number, line in enumerate(_decoded_lines(raw), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Problem(where, f"invalid JSON ({exc.msg})")
                continue
            yield make_paper(row, where)


def _read_json_array(path: Path) -> Iterator[Event]:
    with _open_binary(path) as raw:
        text = raw.read().decode("utf-8", errors="surrogateescape")
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        yield Problem(f"{path.name}:{exc.lineno}", f"invalid JSON ({exc.msg})")
        return
    if not isinstance(rows, list):
        yield Problem(f"{path.name}:1", "a .json file must hold an array of records")
        return
    for number, row in enumerate(rows, start=1):
        yield make_paper(row, f"{path.name}#{number}")


def _read_delimited(path: Path, delimiter: str) -> Iterator[Event]:
    pulled = [0]  # lines the reader has taken: where a row it cannot parse ends

    def counted(lines):
        for line in lines:
            pulled[0] += 1
            yield line

    with _open_binary(path) as raw:
        reader = csv.DictReader(counted(_decoded_lines(raw)), delimiter=delimiter)
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        if "pmid" not in fields:
            raise SimilarError(f"{path}: the header must name a 'pmid' column (found: {', '.join(fields) or 'none'})")
        reader.fieldnames = fields
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a field over the size limit: this row only
                yield Problem(f"{path.name}:{pulled[0]}", f"unreadable row ({exc})")
                continue
            yield make_paper(row, f"{path.name}:{reader.line_num}")


def _text(elem: ET.Element | None) -> str:
    return _clean("".join(elem.itertext())) if elem is not None else ""


def _medline_paper(cit: ET.Element, where: str, pubmed_data: ET.Element | None = None) -> Paper | Problem:
    pmid = _text(cit.find("PMID"))
    article = cit.find("Article")
    title = _text(article.find("ArticleTitle")) if article is not None else ""
    if not title and article is not None:
        title = _text(article.find("VernacularTitle"))
    parts = []
    if article is not None:
        for node in article.findall("Abstract/AbstractText"):
            body = _text(node)
            label = node.get("Label")
            if body:
                parts.append(f"{label}: {body}" if label else body)
    journal = _text(article.find("Journal/Title")) if article is not None else ""
    year = None
    if article is not None:
        year = _year(_text(article.find("Journal/JournalIssue/PubDate/Year"))) or _year(
            _text(article.find("Journal/JournalIssue/PubDate/MedlineDate"))
        )
    mesh = tuple(_text(d) for d in cit.findall("MeshHeadingList/MeshHeading/DescriptorName"))
    return make_paper(
        {
            "pmid": pmid,
            "title": title,
            "abstract": " ".join(parts),
            "journal": journal,
            "year": year,
            "mesh": mesh,
            "details": medline_details(cit, pubmed_data),
        },
        where,
    )


def _read_medline_xml(path: Path) -> Iterator[Event]:
    """Stream MedlineCitationSet (old DTD) or PubmedArticleSet (current DTD) files in constant memory."""
    with _open_binary(path) as raw:
        parser = ET.iterparse(raw, events=("start", "end"))
        root = None
        number = 0
        depth_in_article = 0  # inside a PubmedArticle the citation waits for its PubmedData (DOI, PMC id)
        pending = None
        try:
            for event, elem in parser:
                if event == "start":
                    if root is None:
                        root = elem
                    if elem.tag == "PubmedArticle":
                        depth_in_article += 1
                    continue
                if elem.tag == "MedlineCitation":
                    number += 1
                    if depth_in_article:
                        pending = (elem, f"{path.name}#citation{number}")
                    else:
                        yield _medline_paper(elem, f"{path.name}#citation{number}")
                        if root.tag == "MedlineCitationSet":
                            root.clear()
                elif elem.tag == "PubmedArticle":
                    depth_in_article -= 1
                    if pending is not None:
                        yield _medline_paper(pending[0], pending[1], elem.find("PubmedData"))
                        pending = None
                    root.clear()
                elif elem.tag == "DeleteCitation":
                    for p in elem.findall("PMID"):
                        pmid = _text(p)
                        if _PMID.match(pmid):
                            yield Deletion(str(int(pmid)), f"{path.name}#DeleteCitation")
                        else:
                            yield Problem(f"{path.name}#DeleteCitation", f"non-numeric PMID {pmid[:40]!r}")
                    root.clear()
        except ET.ParseError as exc:
            line, column = exc.position
            yield Problem(
                f"{path.name}:{line}:{column}",
                f"malformed XML, rest of file skipped ({exc.msg if hasattr(exc, 'msg') else exc})",
            )


def read_records(path: str | Path) -> Iterator[Event]:
    """Yield Paper / Deletion / Problem events from one input file, streaming.

    A file that stops being readable part-way (not gzip, truncated, bad CRC, an I/O error) ends in one Problem
    naming the file and the reason; the records read before it stand."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "jsonl":
        events = _read_jsonl(path)
    elif fmt == "json":
        events = _read_json_array(path)
    elif fmt == "csv":
        events = _read_delimited(path, ",")
    elif fmt == "tsv":
        events = _read_delimited(path, "\t")
    else:
        events = _read_medline_xml(path)
    count = 0
    try:
        for event in events:
            count += 1
            yield event
    except (OSError, EOFError, zlib.error) as exc:
        yield Problem(path.name, f"unreadable file after {count} records, rest of file skipped ({_reason(exc)})")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "truncated: the compressed stream ends early"
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return (text.splitlines() or [type(exc).__name__])[0]


def later_version_replaces(path: str | Path) -> bool:
    """MEDLINE XML ships revisions: a later record of a PMID replaces the earlier one. Elsewhere a repeat is an error."""
    return detect_format(Path(path)) == "xml"
