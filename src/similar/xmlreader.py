"""Reader of PubMed/MEDLINE XML (MedlineCitationSet and PubmedArticleSet): each citation with its file:line."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

from .fields import Deletion, Event, Paper, Problem, check_pmid, make_paper, open_binary, year_in
from .medline import medline_details

FEED_BYTES = 1 << 16  # the parser is fed at most a line, or this many bytes, at a time: events know their line


def _text(elem: ET.Element | None) -> str:
    return " ".join("".join(elem.itertext()).split()) if elem is not None else ""


def _raw(elem: ET.Element | None) -> str:
    """An element's text, joined but not split into words: make_paper cuts a long one before it cleans it."""
    return "".join(elem.itertext()) if elem is not None else ""


def _medline_paper(cit: ET.Element, where: str, pubmed_data: ET.Element | None = None) -> Paper | Problem:
    pmid = _text(cit.find("PMID"))
    article = cit.find("Article")
    title = _raw(article.find("ArticleTitle")) if article is not None else ""
    if not title.strip() and article is not None:
        title = _raw(article.find("VernacularTitle"))
    parts = []
    if article is not None:
        for node in article.findall("Abstract/AbstractText"):
            body = _raw(node).strip()
            label = node.get("Label")
            if body:
                parts.append(f"{label}: {body}" if label else body)
    journal = _text(article.find("Journal/Title")) if article is not None else ""
    year = None
    if article is not None:
        for date in ("Journal/JournalIssue/PubDate/Year", "Journal/JournalIssue/PubDate/MedlineDate"):
            year = year_in(_text(article.find(date)))
            if year:
                break
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


def _chunks(raw) -> Iterator[tuple[int, bytes]]:
    """(line number of the chunk's start, bytes): a line at a time, a long line in FEED_BYTES pieces."""
    line = 1
    while chunk := raw.readline(FEED_BYTES):
        yield line, chunk
        if chunk.endswith(b"\n"):
            line += 1


def read_medline_xml(path: Path) -> Iterator[Event]:
    """Stream MedlineCitationSet (old DTD) or PubmedArticleSet (current DTD) files in constant memory per citation.
    A citation's place is the line of its <MedlineCitation> tag; malformed XML (undefined entities, an entity
    bomb, a DOCTYPE's external entity, a truncated file) ends the file in one Problem with line:column."""
    name = path.name
    with open_binary(path) as raw:
        parser = ET.XMLPullParser(events=("start", "end"))
        root = None
        depth_in_article = 0  # inside a PubmedArticle the citation waits for its PubmedData (DOI, PMC id)
        pending = None
        started: dict[int, str] = {}  # id(MedlineCitation element) -> its place
        try:
            chunks = _chunks(raw)
            done = False
            while not done:
                got = next(chunks, None)
                if got is None:
                    parser.close()
                    done = True
                else:
                    line, data = got
                    parser.feed(data)
                for event, elem in parser.read_events():
                    if event == "start":
                        if root is None:
                            root = elem
                        if elem.tag == "PubmedArticle":
                            depth_in_article += 1
                        elif elem.tag in ("MedlineCitation", "DeleteCitation"):
                            started[id(elem)] = f"{name}:{line}"
                        continue
                    if elem.tag == "MedlineCitation":
                        where = started.pop(id(elem), f"{name}:{line}")
                        if depth_in_article:
                            pending = (elem, where)
                        else:
                            yield _medline_paper(elem, where)
                            if root is not None and root.tag == "MedlineCitationSet":
                                root.clear()
                    elif elem.tag == "PubmedArticle":
                        depth_in_article -= 1
                        if pending is not None:
                            yield _medline_paper(pending[0], pending[1], elem.find("PubmedData"))
                            pending = None
                        if root is not None:
                            root.clear()
                    elif elem.tag == "DeleteCitation":
                        where = started.pop(id(elem), f"{name}:{line}")
                        for p in elem.findall("PMID"):
                            try:
                                yield Deletion(check_pmid(_text(p)), where)
                            except ValueError as exc:
                                yield Problem(where, str(exc))
                        if root is not None:
                            root.clear()
        except ET.ParseError as exc:
            line, column = exc.position
            message = str(exc).split(": line ")[0]
            yield Problem(f"{name}:{line}:{column}", f"malformed XML, rest of file skipped ({message})")
