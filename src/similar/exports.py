"""A list for reference managers: RIS, BibTeX, CSL-JSON and CSV, one record per listed paper."""

from __future__ import annotations

import csv
import io
import json
import re

from .errors import SimilarError
from .outward import clean, csv_cell

FORMATS = ("ris", "bibtex", "csl-json", "csv")
MEDIA_TYPES = {
    "ris": "application/x-research-info-systems",
    "bibtex": "application/x-bibtex",
    "csl-json": "application/vnd.citationstyles.csl+json",
    "csv": "text/csv",
}
SUFFIXES = {"ris": "ris", "bibtex": "bib", "csl-json": "json", "csv": "csv"}
CSV_COLUMNS = (
    "rank",
    "pmid",
    "score",
    "title",
    "authors",
    "journal",
    "year",
    "doi",
    "pmc",
    "types",
    "language",
    "retracted",
    "versions",
    "url",
)
_INITIALS = re.compile(r"[A-Z]{1,4}\Z")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise SimilarError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    return fmt


def split_author(name: str) -> tuple[str, str] | None:
    """'Smith JA' -> ('Smith', 'JA'); a collective name (no trailing initials) -> None."""
    family, _, given = name.rpartition(" ")
    if family and _INITIALS.match(given):
        return family, given
    return None


def _note(n) -> str:
    parts = []
    if n.retracted:
        parts.append("RETRACTED")
    if n.versions:
        parts.append("other versions: PMID " + ", ".join(n.versions))
    parts.append(f"similar rank {n.rank}, score {n.score:.3f}")
    return "; ".join(parts)


def to_ris(result) -> str:
    """Every value is cleaned to one line: a line break in a title can never start a tag (ER, TY) of its own."""
    lines = []
    tag = lambda name, value: lines.append(f"{name}  - {clean(value)}")
    for n in result.neighbors:
        lines.append("TY  - JOUR")
        tag("TI", n.title)
        for a in n.authors:
            parts = split_author(a)
            tag("AU", f"{parts[0]}, {parts[1]}" if parts else a)
        if n.journal:
            tag("T2", n.journal)
        if n.year:
            tag("PY", n.year)
        if n.doi:
            tag("DO", n.doi)
        if n.language:
            tag("LA", n.language)
        tag("AN", f"PMID:{n.pmid}")
        tag("UR", n.url)
        for t in n.types:
            tag("KW", t)
        tag("N1", _note(n))
        lines.append("ER  - ")
        lines.append("")
    return "\n".join(lines)


_BIB_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "_": r"\_",
    "$": r"\$",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _bib(text: str) -> str:
    return "".join(_BIB_SPECIAL.get(c, c) for c in clean(text))


def to_bibtex(result) -> str:
    entries = []
    for n in result.neighbors:
        authors = []
        for a in n.authors:
            parts = split_author(a)
            authors.append(f"{_bib(parts[0])}, {_bib(parts[1])}" if parts else "{" + _bib(a) + "}")
        fields = [
            ("title", "{" + _bib(n.title) + "}"),
            ("author", " and ".join(authors)),
            ("journal", _bib(n.journal)),
            ("year", str(n.year or "")),
            ("doi", _bib(n.doi)),
            ("pmid", _bib(n.pmid)),
            ("pmcid", _bib(n.pmc)),
            ("language", _bib(n.language)),
            ("url", n.url),
            ("note", _bib(_note(n))),
        ]
        body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields if v)
        entries.append(f"@article{{pmid{n.pmid},\n{body}\n}}\n")
    return "\n".join(entries)


def csl_items(result) -> list[dict]:
    items = []
    for n in (_cleaned(n) for n in result.neighbors):
        item = {
            "id": f"pmid:{n.pmid}",
            "type": "article-journal",
            "title": n.title,
            "PMID": n.pmid,
            "URL": n.url,
            "note": _note(n),
        }
        authors = []
        for a in n.authors:
            parts = split_author(a)
            authors.append({"family": parts[0], "given": parts[1]} if parts else {"literal": a})
        if authors:
            item["author"] = authors
        if n.journal:
            item["container-title"] = n.journal
        if n.year:
            item["issued"] = {"date-parts": [[n.year]]}
        if n.doi:
            item["DOI"] = n.doi
        if n.pmc:
            item["PMCID"] = n.pmc
        if n.language:
            item["language"] = n.language
        items.append(item)
    return items


def _cleaned(n):
    """The neighbour with every text field cleaned (outward.clean), for the formats built from its fields."""
    from dataclasses import replace

    return replace(
        n,
        title=clean(n.title),
        journal=clean(n.journal),
        authors=tuple(clean(a) for a in n.authors),
        doi=clean(n.doi),
        pmc=clean(n.pmc),
        types=tuple(clean(t) for t in n.types),
        language=clean(n.language),
    )


def to_csl_json(result) -> str:
    return json.dumps(csl_items(result), ensure_ascii=False, indent=1) + "\n"


def to_csv(result) -> str:
    """Text cells go through outward.csv_cell (the CLI's and the server's one rule); numbers are written as numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for n in result.neighbors:
        writer.writerow(
            [
                n.rank,
                csv_cell(n.pmid),
                f"{n.score:.6f}",
                csv_cell(n.title),
                csv_cell("; ".join(n.authors)),
                csv_cell(n.journal),
                n.year or "",
                csv_cell(n.doi),
                csv_cell(n.pmc),
                csv_cell("; ".join(n.types)),
                csv_cell(n.language),
                "yes" if n.retracted else "",
                csv_cell(" ".join(n.versions)),
                csv_cell(n.url),
            ]
        )
    return out.getvalue()


def export(result, fmt: str) -> str:
    """The list in one of FORMATS."""
    return {"ris": to_ris, "bibtex": to_bibtex, "csl-json": to_csl_json, "csv": to_csv}[check_format(fmt)](result)
