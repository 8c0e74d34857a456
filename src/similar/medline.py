"""What MEDLINE says about a paper beyond its text: authors, DOI/PMC, publication types, MeSH detail, language, links."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

# CommentsCorrections kinds kept (Cites and the rest are not)
LINK_KINDS = (
    "ErratumFor",
    "ErratumIn",
    "RetractionOf",
    "RetractionIn",
    "UpdateOf",
    "UpdateIn",
    "RepublishedFrom",
    "RepublishedIn",
    "CommentOn",
    "CommentIn",
    "ExpressionOfConcernIn",
)
VERSION_LINKS = ("ErratumFor", "ErratumIn", "UpdateOf", "UpdateIn", "RepublishedFrom", "RepublishedIn")
HUMANS, ANIMALS = "D006801", "D000818"  # the check tags
RETRACTED_TYPE, RETRACTION_TYPE = "Retracted Publication", "Retraction of Publication"
SHORT_AUTHORS = 3  # "Smith J, Lee K, Wu X, et al." beyond this many


@dataclass(frozen=True)
class MeshTerm:
    """One MeSH heading: descriptor UI and name, major-topic flag, qualifiers as (UI, name, major)."""

    ui: str
    name: str
    major: bool = False
    qualifiers: tuple[tuple[str, str, bool], ...] = ()


@dataclass(frozen=True)
class Link:
    """A CommentsCorrections link: its kind (e.g. RetractionIn) and the other paper's PMID."""

    kind: str
    pmid: str


@dataclass(frozen=True)
class Details:
    """The bibliographic record of a paper; every field may be empty (tabular inputs carry less)."""

    authors: tuple[str, ...] = ()  # "Smith J" form, collective names as written
    doi: str = ""
    pmc: str = ""
    types: tuple[str, ...] = ()  # publication types, e.g. "Review", "Randomized Controlled Trial"
    mesh: tuple[MeshTerm, ...] = ()
    language: str = ""  # ISO 639-2 as MEDLINE writes it: eng, fre, ger ...
    links: tuple[Link, ...] = ()

    @property
    def short_authors(self) -> str:
        """PubMed's short form: "Smith J, Lee K, Wu X, et al."."""
        if len(self.authors) <= SHORT_AUTHORS:
            return ", ".join(self.authors)
        return ", ".join(self.authors[:SHORT_AUTHORS]) + ", et al."

    @property
    def retracted(self) -> bool:
        """This paper was retracted (as far as its own record says; the index also reads notices pointing at it)."""
        return RETRACTED_TYPE in self.types or any(link.kind == "RetractionIn" for link in self.links)

    @property
    def retraction_notice(self) -> bool:
        return RETRACTION_TYPE in self.types or any(link.kind == "RetractionOf" for link in self.links)

    def to_json(self) -> str:
        """Compact JSON for papers.sqlite; '' when there is nothing to keep."""
        if self == EMPTY:
            return ""
        data = {
            "authors": list(self.authors),
            "doi": self.doi,
            "pmc": self.pmc,
            "types": list(self.types),
            "mesh": [[m.ui, m.name, m.major, [list(q) for q in m.qualifiers]] for m in self.mesh],
            "language": self.language,
            "links": [[link.kind, link.pmid] for link in self.links],
        }
        return json.dumps({k: v for k, v in data.items() if v}, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> "Details":
        """The details stored as `to_json` wrote them; ValueError saying so when they are not (a damaged database)."""
        if not text:
            return EMPTY
        try:
            d = json.loads(text)
            details = cls(
                authors=tuple(d.get("authors", ())),
                doi=d.get("doi", ""),
                pmc=d.get("pmc", ""),
                types=tuple(d.get("types", ())),
                mesh=tuple(
                    MeshTerm(ui, name, bool(major), tuple((q[0], q[1], bool(q[2])) for q in quals))
                    for ui, name, major, quals in d.get("mesh", ())
                ),
                language=d.get("language", ""),
                links=tuple(Link(k, p) for k, p in d.get("links", ())),
            )
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
            raise ValueError("details that are not the JSON similar writes") from exc
        texts = [*details.authors, details.doi, details.pmc, *details.types, details.language]
        texts += [t for m in details.mesh for t in (m.ui, m.name, *(x for q in m.qualifiers for x in q[:2]))]
        texts += [t for link in details.links for t in (link.kind, link.pmid)]
        if not all(isinstance(t, str) for t in texts):
            raise ValueError("details that are not the JSON similar writes")
        return details


EMPTY = Details()


def _text(elem: ET.Element | None) -> str:
    return " ".join("".join(elem.itertext()).split()) if elem is not None else ""


def _author(node: ET.Element) -> str:
    collective = _text(node.find("CollectiveName"))
    if collective:
        return collective
    last = _text(node.find("LastName"))
    initials = _text(node.find("Initials")) or "".join(w[0] for w in _text(node.find("ForeName")).split() if w)
    return f"{last} {initials}".strip()


_PMC = re.compile(r"PMC[0-9]+")


def normal_doi(doi: str) -> str:
    doi = doi.strip()
    for prefix in ("https://doi.org/", "http://doi.org/", "http://dx.doi.org/", "doi:"):
        if doi.lower().startswith(prefix):
            doi = doi[len(prefix) :]
    return doi


def medline_details(cit: ET.Element, pubmed_data: ET.Element | None = None) -> Details:
    """Details of a MedlineCitation (2016 and current DTDs); `pubmed_data` is its PubmedArticle's PubmedData if any."""
    article = cit.find("Article")
    authors: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    doi, language = "", ""
    if article is not None:
        authors = tuple(a for a in (_author(n) for n in article.findall("AuthorList/Author")) if a)
        for loc in article.findall("ELocationID"):
            if loc.get("EIdType") == "doi" and loc.get("ValidYN", "Y") == "Y":
                doi = normal_doi(_text(loc))
                break
        types = tuple(t for t in (_text(n) for n in article.findall("PublicationTypeList/PublicationType")) if t)
        language = _text(article.find("Language"))
    pmc = ""
    if pubmed_data is not None:  # only the paper's own ids: ReferenceList holds the cited papers' ids
        for aid in pubmed_data.findall("ArticleIdList/ArticleId"):
            kind = aid.get("IdType")
            if kind == "doi" and not doi:
                doi = normal_doi(_text(aid))
            elif kind == "pmc" and not pmc:
                pmc = _text(aid)
    if not pmc:  # the 2016 DTD: <OtherID Source="NLM">PMC4688405 [Available on 12/01/16]</OtherID>
        for other in cit.findall("OtherID"):
            m = _PMC.match(_text(other))
            if m:
                pmc = m.group(0)
                break
    mesh = []
    for heading in cit.findall("MeshHeadingList/MeshHeading"):
        d = heading.find("DescriptorName")
        if d is None:
            continue
        quals = tuple(
            (q.get("UI", ""), _text(q), q.get("MajorTopicYN") == "Y") for q in heading.findall("QualifierName")
        )
        major = d.get("MajorTopicYN") == "Y" or any(q[2] for q in quals)
        mesh.append(MeshTerm(d.get("UI", ""), _text(d), major, quals))
    links = []
    for cc in cit.findall("CommentsCorrectionsList/CommentsCorrections"):
        kind = cc.get("RefType", "")
        pmid = _text(cc.find("PMID"))
        plain = pmid.lstrip("0")
        if kind in LINK_KINDS and pmid.isascii() and pmid.isdigit() and 0 < len(plain) <= 8:  # PMIDs 1..99,999,999
            links.append(Link(kind, plain))
    return Details(
        authors=authors, doi=doi, pmc=pmc, types=types, mesh=tuple(mesh), language=language, links=tuple(links)
    )
