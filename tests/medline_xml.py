"""Small MEDLINE XML fixtures written by the tests: a review, a trial, a retraction, an erratum, a republished pair, updates."""

from __future__ import annotations

import gzip
from pathlib import Path
from xml.sax.saxutils import escape

HEART = "aspirin cardiac infarction myocardial platelet heart failure ventricular"
BRAIN = "neuron cortex synaptic plasticity hippocampus memory"

# pmid: (title, abstract words, journal, year, authors, types, mesh [(ui, name, major)], language, links [(kind, pmid)], doi)
PAPERS = {
    "2001": (
        "Aspirin and cardiac infarction in adults",
        HEART,
        "Heart Journal",
        2001,
        ["Smith John", "Lee Kim", "Wu Xi", "Ode Ana"],
        ["Journal Article"],
        [("D006801", "Humans", False), ("D009203", "Myocardial Infarction", True)],
        "eng",
        [("UpdateIn", "2013")],
        "10.1000/a2001",
    ),
    "2002": (
        "Aspirin for cardiac infarction: a review of trials",
        HEART,
        "Heart Reviews",
        2002,
        ["Brown Ann"],
        ["Journal Article", "Review"],
        [("D006801", "Humans", False)],
        "eng",
        [],
        "",
    ),
    "2003": (
        "Aspirin after myocardial infarction: a randomized trial",
        HEART,
        "Trials in Cardiology",
        2003,
        ["Gray Bo", "Hill Cy"],
        ["Journal Article", "Randomized Controlled Trial"],
        [("D006801", "Humans", False), ("D009203", "Myocardial Infarction", False)],
        "eng",
        [],
        "10.1000/t2003",
    ),
    "2004": (
        "Platelet aspirin effects on infarction size",
        HEART,
        "Heart Journal",
        2004,
        ["Fake Fred"],
        ["Journal Article", "Retracted Publication"],
        [("D006801", "Humans", False)],
        "eng",
        [("RetractionIn", "2005")],
        "",
    ),
    "2005": (
        "Retraction: Platelet aspirin effects on infarction size",
        HEART,
        "Heart Journal",
        2005,
        [],
        ["Retraction of Publication"],
        [],
        "eng",
        [("RetractionOf", "2004")],
        "",
    ),
    "2006": (
        "Cardiac aspirin dosing and ventricular function in infarction",
        HEART,
        "Heart Journal",
        2006,
        ["Ng Po"],
        ["Journal Article"],
        [("D006801", "Humans", False)],
        "eng",
        [("ErratumIn", "2007")],
        "",
    ),
    "2007": (
        "Erratum.",
        "An error in the dosing table of the aspirin cardiac infarction paper was corrected.",
        "Heart Journal",
        2007,
        [],
        ["Published Erratum"],
        [],
        "eng",
        [("ErratumFor", "2006")],
        "",
    ),
    "2008": (
        "Aspirin resistance in heart failure patients after infarction",
        HEART,
        "Heart Journal",
        2008,
        ["Roe Al"],
        ["Journal Article"],
        [("D006801", "Humans", False)],
        "eng",
        [("RepublishedIn", "2009")],
        "",
    ),
    "2009": (
        "Aspirin resistance in heart failure patients after infarction (republished)",
        HEART,
        "Cardiology Today",
        2009,
        ["Roe Al"],
        ["Journal Article"],
        [("D006801", "Humans", False)],
        "eng",
        [("RepublishedFrom", "2008")],
        "",
    ),
    "2010": (
        "Aspirin and cardiac infarction in rats",
        HEART,
        "Revue Cardiaque",
        2010,
        ["Martin Luc"],
        ["Journal Article"],
        [("D000818", "Animals", False), ("D051381", "Rats", False)],
        "fre",
        [],
        "",
    ),
    "2011": (
        "Aspirin after myocardial infarction: a randomized trial (preprint)",
        HEART + " preprint",
        "medRxiv",
        2002,
        ["Gray Bo"],
        ["Preprint"],
        [],
        "eng",
        [],
        "10.1000/T2003",
    ),
    "2013": (
        "Aspirin and cardiac infarction in adults: an update",
        HEART + " update",
        "Heart Journal",
        2013,
        ["Smith John"],
        ["Journal Article"],
        [("D006801", "Humans", False)],
        "eng",
        [("UpdateOf", "2001")],
        "",
    ),
    "3001": (
        "Hippocampus synaptic plasticity and memory",
        BRAIN,
        "Brain Letters",
        2001,
        ["Kay Di"],
        ["Journal Article"],
        [("D000818", "Animals", False)],
        "eng",
        [],
        "",
    ),
    "3002": (
        "Cortex neuron memory traces",
        BRAIN,
        "Brain Letters",
        2003,
        ["Kay Di"],
        ["Journal Article"],
        [("D000818", "Animals", False)],
        "eng",
        [],
        "",
    ),
}


def citation(pmid: str, dtd: str = "current", **changes) -> str:
    title, words, journal, year, authors, types, mesh, language, links, doi = PAPERS[pmid]
    title = changes.get("title", title)
    links = changes.get("links", links)
    types = changes.get("types", types)
    abstract = f"We report {words} findings of study {pmid}." if len(words.split()) > 3 else words
    author_xml = "".join(
        f'<Author ValidYN="Y"><LastName>{escape(a.split()[0])}</LastName>'
        f"<ForeName>{escape(a.split()[1])}</ForeName><Initials>{a.split()[1][0]}</Initials></Author>"
        for a in authors
    )
    mesh_xml = "".join(
        f'<MeshHeading><DescriptorName UI="{ui}" MajorTopicYN="{"Y" if major else "N"}">{escape(name)}</DescriptorName>'
        + ('<QualifierName UI="Q000139" MajorTopicYN="N">drug therapy</QualifierName>' if ui == "D009203" else "")
        + "</MeshHeading>"
        for ui, name, major in mesh
    )
    links_xml = "".join(
        f'<CommentsCorrections RefType="{k}"><RefSource>x</RefSource><PMID Version="1">{p}</PMID></CommentsCorrections>'
        for k, p in links
    )
    pmc = f"PMC9{pmid}"
    cit = (
        f'<MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
        f'<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Print"><PubDate><Year>{year}</Year></PubDate></JournalIssue>'
        f"<Title>{escape(journal)}</Title></Journal><ArticleTitle>{escape(title)}</ArticleTitle>"
        + (f'<ELocationID EIdType="doi" ValidYN="Y">{doi}</ELocationID>' if doi else "")
        + f"<Abstract><AbstractText>{escape(abstract)}</AbstractText></Abstract>"
        + (f'<AuthorList CompleteYN="Y">{author_xml}</AuthorList>' if authors else "")
        + f"<Language>{language}</Language><PublicationTypeList>"
        + "".join(f'<PublicationType UI="D0">{escape(t)}</PublicationType>' for t in types)
        + "</PublicationTypeList></Article>"
        + (f"<CommentsCorrectionsList>{links_xml}</CommentsCorrectionsList>" if links else "")
        + (f'<OtherID Source="NLM">{pmc} [Available on 01/01/30]</OtherID>' if dtd == "2016" else "")
        + (f"<MeshHeadingList>{mesh_xml}</MeshHeadingList>" if mesh else "")
        + "</MedlineCitation>"
    )
    if dtd == "2016":
        return cit
    ids = f'<ArticleId IdType="pubmed">{pmid}</ArticleId><ArticleId IdType="pmc">{pmc}</ArticleId>'
    refs = (
        '<ReferenceList><Reference><Citation>Other. 1999.</Citation><ArticleIdList><ArticleId IdType="doi">10.9/ref</ArticleId>'
        '<ArticleId IdType="pmc">PMC1</ArticleId></ArticleIdList></Reference></ReferenceList>'
    )
    return f"<PubmedArticle>{cit}<PubmedData><ArticleIdList>{ids}</ArticleIdList>{refs}</PubmedData></PubmedArticle>"


def write_medline(path: Path, pmids=None, dtd: str = "current", deleted=(), **changes) -> Path:
    """A MEDLINE file of the fixture papers (all by default), in the current or the 2016 DTD; .gz names are gzipped."""
    body = "".join(citation(p, dtd, **changes) for p in (pmids or PAPERS))
    if deleted:
        body += "<DeleteCitation>" + "".join(f'<PMID Version="1">{p}</PMID>' for p in deleted) + "</DeleteCitation>"
    root = "MedlineCitationSet" if dtd == "2016" else "PubmedArticleSet"
    text = f'<?xml version="1.0" encoding="utf-8"?>\n<{root}>{body}</{root}>\n'
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        Path(path).write_text(text, encoding="utf-8")
    return Path(path)
