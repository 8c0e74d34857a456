"""Reader of PubMed/MEDLINE XML (MedlineCitationSet and PubmedArticleSet): each citation with its file:line."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

from .fields import TEXT_LIMITS, Deletion, Event, Paper, Problem, check_pmid, make_paper, open_binary, year_in
from .medline import medline_details

FEED_BYTES = 1 << 16  # the parser is fed at most a line, or this many bytes, at a time: events know their line
# Memory per citation is bounded while it is parsed, before make_paper cuts fields: one element's text is kept to
# TEXT_CAP characters (over twice the largest field limit, so make_paper still sees it is too long and notes the cut),
# a citation's texts to RECORD_TEXT_CAP in all, and its elements to RECORD_ELEMENTS (a real citation has a few
# hundred; 10,000 authors are about 60,000). Past a cap the rest is dropped unread into the tree, and noted.
TEXT_CAP = 4 * max(TEXT_LIMITS.values())
RECORD_TEXT_CAP = 16 * TEXT_CAP
RECORD_ELEMENTS = 200_000
_RECORDS = ("PubmedArticle", "MedlineCitation", "DeleteCitation")
_HAD = re.compile(r"\(it had (\d+)\)$")


class _CappedBuilder:
    """An XMLParser target that keeps a bounded amount of each citation in a TreeBuilder: a 2^30-character title in a
    1 MB .gz must not become a gigabyte string. `cut` holds id() of each record element (PubmedArticle, a
    MedlineCitation outside one, DeleteCitation) of which something was dropped; `events` are ("start" | "end",
    element) as XMLPullParser would give them. Each call is a Python call per tag and per text: kept small."""

    def __init__(self) -> None:
        self._tree = ET.TreeBuilder()
        self._data = self._tree.data
        self.close = self._tree.close
        self.cut: set[int] = set()
        self.events: list[tuple[str, ET.Element]] = []
        self._record: ET.Element | None = None  # the record element being parsed
        self._in_article = False
        self._run_left = TEXT_CAP  # characters the text now accumulating (since the last tag) may still take
        self._record_left = RECORD_TEXT_CAP
        self._elements = 0
        self._skipping = 0  # depth inside elements dropped past RECORD_ELEMENTS

    def _drop(self) -> None:
        if self._record is not None:
            self.cut.add(id(self._record))

    def start(self, tag, attrs):
        self._run_left = TEXT_CAP
        if self._skipping:
            self._skipping += 1
            return None
        self._elements += 1
        if self._elements > RECORD_ELEMENTS:
            self._drop()
            self._skipping = 1
            return None
        elem = self._tree.start(tag, attrs)
        if tag == "PubmedArticle" or tag == "DeleteCitation" or (tag == "MedlineCitation" and not self._in_article):
            self._record, self._record_left, self._elements = elem, RECORD_TEXT_CAP, 1
            self._in_article = tag == "PubmedArticle"
        self.events.append(("start", elem))
        return elem

    def end(self, tag):
        self._run_left = TEXT_CAP
        if self._skipping:
            self._skipping -= 1
            return None
        if tag == "PubmedArticle":
            self._in_article = False
        elem = self._tree.end(tag)
        self.events.append(("end", elem))
        return elem

    def data(self, data):
        n = len(data)
        self._run_left -= n
        self._record_left -= n
        if self._run_left >= 0 and self._record_left >= 0 and not self._skipping:
            self._data(data)
            return
        if self._skipping:
            return
        before_run, before_record = self._run_left + n, self._record_left + n
        room = max(0, min(before_run, before_record))  # what this piece may still add
        self._run_left, self._record_left = before_run - room, before_record - room
        self._drop()
        if room:
            self._data(data[:room])


def _noted(paper: Paper | Problem, cut: bool) -> Paper | Problem:
    """A paper of which the reader dropped text says so: make_paper's "(it had N)" counts what was kept."""
    if not cut or not isinstance(paper, Paper):
        return paper
    notes = [_HAD.sub(r"(it had over \1)", n) for n in paper.notes]
    if notes == list(paper.notes):
        notes.append(
            f"the XML reader kept {TEXT_CAP} characters of each text, {RECORD_ELEMENTS} elements of a citation"
        )
    return dataclasses.replace(paper, notes=tuple(notes))


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


def _popped(cut: set[int], elem: ET.Element) -> bool:
    found = id(elem) in cut
    cut.discard(id(elem))
    return found


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
        builder = _CappedBuilder()
        parser = ET.XMLParser(target=builder)
        root = None
        depth_in_article = 0  # inside a PubmedArticle the citation waits for its PubmedData (DOI, PMC id)
        pending = None
        started: dict[int, str] = {}  # id(MedlineCitation element) -> its place
        try:
            chunks = _chunks(raw)
            done = False
            while not done:
                got = next(chunks, None)
                failed = None
                try:
                    if got is None:
                        done = True
                        parser.close()
                    else:
                        line, data = got
                        parser.feed(data)
                except ET.ParseError as exc:  # the citations read before the error in this chunk still count
                    failed = exc
                events, builder.events = builder.events, []
                for event, elem in events:
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
                            yield _noted(_medline_paper(elem, where), _popped(builder.cut, elem))
                            if root is not None and root.tag == "MedlineCitationSet":
                                root.clear()
                    elif elem.tag == "PubmedArticle":
                        depth_in_article -= 1
                        if pending is not None:
                            paper = _medline_paper(pending[0], pending[1], elem.find("PubmedData"))
                            yield _noted(paper, _popped(builder.cut, elem))
                            pending = None
                        if root is not None:
                            root.clear()
                    elif elem.tag == "DeleteCitation":
                        where = started.pop(id(elem), f"{name}:{line}")
                        builder.cut.discard(id(elem))
                        for p in elem.findall("PMID"):
                            try:
                                yield Deletion(check_pmid(_text(p)), where)
                            except ValueError as exc:
                                yield Problem(where, str(exc))
                        if root is not None:
                            root.clear()
                if failed is not None:
                    raise failed
        except ET.ParseError as exc:
            line, column = exc.position
            message = str(exc).split(": line ")[0]
            yield Problem(f"{name}:{line}:{column}", f"malformed XML, rest of file skipped ({message})")
