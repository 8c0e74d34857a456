"""MEDLINE-aware lists: details kept from both DTDs, filters, one entry per work, retractions, through build, add and the API."""

import sqlite3

import numpy as np
import pytest

from fixtures import MEDLINE, write_jsonl
from medline_xml import PAPERS, write_medline
from similar.build import build_index
from similar.collection import recommend_collection
from similar.errors import SimilarError
from similar.filters import Filters
from similar.index import Index
from similar.medline import Details
from similar.records import Paper, Problem, read_records
from similar.update import add_to_index

HEART_PMIDS = [p for p in PAPERS if p.startswith("20")]


@pytest.fixture
def fixture_ix(tmp_path, fake_encoder):
    build_index([write_medline(tmp_path / "m.xml")], tmp_path / "ix", model=fake_encoder, progress=False)
    return tmp_path / "ix"


@pytest.fixture
def index(fixture_ix):
    return Index.open(fixture_ix)


# --- reading ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtd", ["current", "2016"])
def test_both_dtds_give_the_same_details(tmp_path, dtd):
    papers = {p.pmid: p for p in read_records(write_medline(tmp_path / "m.xml.gz", dtd=dtd)) if isinstance(p, Paper)}
    d = papers["2001"].details
    assert d.authors == ("Smith J", "Lee K", "Wu X", "Ode A") and d.short_authors == "Smith J, Lee K, Wu X, et al."
    assert (d.doi, d.pmc, d.language, d.types) == ("10.1000/a2001", "PMC92001", "eng", ("Journal Article",))
    infarction = next(m for m in d.mesh if m.ui == "D009203")
    assert (
        infarction.name == "Myocardial Infarction"
        and infarction.major
        and infarction.qualifiers == (("Q000139", "drug therapy", False),)
    )
    assert [(link.kind, link.pmid) for link in d.links] == [("UpdateIn", "2013")]
    assert papers["2005"].details.retraction_notice and papers["2004"].details.retracted
    assert [(link.kind, link.pmid) for link in papers["2007"].details.links] == [("ErratumFor", "2006")]


def test_the_2016_medline_file_keeps_authors_ids_types_and_erratum_links():
    papers = {p.pmid: p for p in read_records(MEDLINE / "medline16n0902.xml.gz") if isinstance(p, Paper)}
    assert len(papers) == 604
    d = papers["18621939"].details
    assert d.short_authors == "DiMartini A, Dew MA, Fitzgerald MG, et al."
    assert (d.doi, d.pmc, d.language) == ("10.1176/appi.psy.49.4.332", "PMC4631030", "eng")
    assert (
        papers["26407471"].details.links[0].kind == "ErratumFor"
        and papers["26407471"].details.links[0].pmid == "22828228"
    )
    assert papers["26702309"].details.links[0].kind == "ErratumIn"
    assert (
        papers["26702309"].details.pmc == "PMC4688405"
    )  # from '<OtherID Source="NLM">PMC4688405 [Available on 12/01/16]'
    assert sum("Review" in p.details.types for p in papers.values()) == 40
    assert sum(bool(p.details.doi) for p in papers.values()) == 579
    assert not any(link.kind == "Cites" for p in papers.values() for link in p.details.links)


def test_the_current_medline_file_takes_ids_from_the_paper_not_its_references():
    papers = {p.pmid: p for p in read_records(MEDLINE / "test_current_medline.xml.gz") if isinstance(p, Paper)}
    assert papers["36400559"].details.doi == "10.1016/j.ncl.2022.07.002"
    assert papers["36400559"].details.short_authors == "Gibbs D, McGahan BG, Ropper AE, et al."
    assert papers["36400559"].details.types == ("Journal Article", "Review")
    assert (papers["2930949"].details.doi, papers["2930949"].details.pmc) == (
        "",
        "PMC1306303",
    )  # its references have DOIs


@pytest.mark.parametrize(
    "row, reason",
    [
        ({"authors": 3}, "authors must be a string or a list of strings"),
        ({"publication_types": [1]}, "publication_types must be a string or a list of strings"),
        ({"doi": 10}, "doi must be a string"),
        ({"language": ["eng"]}, "language must be a string"),
        ({"authors": ["Smith \ud800"]}, "invalid Unicode (a lone surrogate)"),
    ],
)
def test_bad_detail_columns_are_counted_problems(tmp_path, row, reason):
    events = list(read_records(write_jsonl(tmp_path / "c.jsonl", [{"pmid": "1", "title": "A title", **row}])))
    assert events == [Problem("c.jsonl:1", reason)]


def test_tabular_inputs_carry_details_too(tmp_path):
    rows = [
        {
            "pmid": "1",
            "title": "t",
            "authors": "Smith J; Lee K",
            "doi": "https://doi.org/10.1/X",
            "publication_types": ["Review"],
            "language": "eng",
        }
    ]
    (paper,) = read_records(write_jsonl(tmp_path / "c.jsonl", rows))
    assert paper.details == Details(authors=("Smith J", "Lee K"), doi="10.1/X", types=("Review",), language="eng")


# --- storing ---------------------------------------------------------------------------------------------------


def test_details_are_stored_and_shown(index, fixture_ix):
    with sqlite3.connect(fixture_ix / "papers.sqlite") as db:
        assert db.execute("SELECT count(*) FROM details").fetchone()[0] == len(PAPERS)
    seed = index.paper("2001")
    assert (
        seed.authors_short == "Smith J, Lee K, Wu X, et al." and seed.doi == "10.1000/a2001" and seed.pmc == "PMC92001"
    )
    n = {x.pmid: x for x in index.similar("2002", n=10).neighbors}["2003"]
    assert (n.authors, n.doi, n.types, n.language) == (
        ("Gray B", "Hill C"),
        "10.1000/t2003",
        ("Journal Article", "Randomized Controlled Trial"),
        "eng",
    )
    d = n.to_dict()
    assert d["authors_short"] == "Gray B, Hill C" and d["versions"] == ["2011"] and d["retracted"] is False


def test_an_index_built_before_details_reads_as_empty(fixture_ix):
    with sqlite3.connect(fixture_ix / "papers.sqlite") as db:
        db.execute("DROP TABLE details")
    import json

    manifest = json.loads((fixture_ix / "manifest.json").read_text())
    manifest.pop("files")  # the folder no longer matches its checksums: an old index had none
    (fixture_ix / "manifest.json").write_text(json.dumps(manifest))
    index = Index.open(fixture_ix)
    result = index.similar("2001", n=3, filters=Filters.of(types="review"))
    assert result.neighbors == [] and result.notes == ["no paper in the index passes the filters (type review)"]
    assert index.similar("2001", n=3).neighbors[0].authors == ()


def test_a_later_record_replaces_the_details_without_re_embedding(tmp_path, fixture_ix, fake_encoder):
    before = fake_encoder.encoded
    later = write_medline(
        tmp_path / "later.xml",
        ["2003"],
        types=["Journal Article", "Retracted Publication"],
        links=[("RetractionIn", "4444")],
    )
    report = add_to_index([later], fixture_ix, encoder=fake_encoder, progress=False)
    assert (report.unchanged, report.kept, fake_encoder.encoded) == (1, 0, before)
    assert report.notes == ["1 unchanged papers have a new record (authors, types, links ...): kept, not re-embedded"]
    index = Index.open(fixture_ix)
    assert index.paper("2003").retracted
    assert "2003" not in [
        n.pmid for n in index.similar("2002", n=10, filters=Filters.of(exclude_retracted=True)).neighbors
    ]


def test_a_revised_text_brings_its_new_details(tmp_path, fixture_ix, fake_encoder):
    later = write_medline(tmp_path / "later.xml", ["2002"], title="Aspirin for cardiac infarction: a systematic review")
    add_to_index([later], fixture_ix, encoder=fake_encoder, progress=False)
    index = Index.open(fixture_ix)
    assert index.paper("2002").title.endswith("systematic review") and index.paper("2002").authors == ("Brown A",)


# --- filters ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filters, expected",
    [
        (dict(types="review"), {"2002"}),
        (dict(types="Review"), {"2002"}),
        (dict(types="clinical-trial"), {"2003"}),
        (dict(types=["review", "clinical-trial"]), {"2002", "2003"}),
        (dict(types="preprint"), {"2011"}),
        (dict(mesh="Myocardial Infarction"), {"2003"}),
        (dict(mesh="D009203"), {"2003"}),
        (dict(mesh="myocardial infarction"), {"2003"}),
        (dict(journal="heart reviews"), {"2002"}),
        (dict(language="fre"), {"2010"}),
        (dict(species="animals"), {"2010", "3001", "3002"}),
        (dict(species="humans", min_year=2006, max_year=2008), {"2006", "2008"}),
        (dict(species="humans", types="review", language="eng"), {"2002"}),
    ],
)
def test_filters_keep_only_matching_papers(index, filters, expected):
    got = {n.pmid for n in index.similar("2001", n=20, filters=Filters.of(**filters)).neighbors}
    assert got == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(types="!!"), "publication type must have letters or digits, e.g. review, clinical-trial"),
        (dict(mesh="D0092"), "MeSH UI 'D0092' is malformed: D followed by 6 to 9 digits, e.g. D006801"),
        (dict(language="english"), "language must be a 3-letter MEDLINE code such as eng, fre, ger; got 'english'"),
        (dict(species="plants"), "species must be humans or animals, got 'plants'"),
        (dict(min_year=2010, max_year=2000), "min_year 2010 is after max_year 2000"),
        (dict(min_year="2000"), "min_year must be a year, got '2000'"),
        (dict(types=[3]), "type must be text, got 3"),
    ],
)
def test_bad_filters_are_one_line_errors(kwargs, message):
    with pytest.raises(SimilarError) as exc:
        Filters.of(**kwargs)
    assert str(exc.value) == message


def test_a_filter_that_leaves_fewer_than_n_says_so(index):
    result = index.similar("2001", n=5, filters=Filters.of(types="review"))
    assert [n.pmid for n in result.neighbors] == ["2002"]
    assert result.notes == ["only 1 of the 5 papers asked for pass the filters (type review)"]
    assert result.to_dict()["filters"] == {"types": ("review",)}


def test_retraction_notices_are_never_neighbours_and_retracted_papers_are_marked(index):
    for pmid in [p for p in HEART_PMIDS + ["3001"] if p != "2005"]:
        assert "2005" not in [n.pmid for n in index.similar(pmid, n=20, versions=False).neighbors]
    listed = {n.pmid: n for n in index.similar("2001", n=20).neighbors}
    assert listed["2004"].retracted and not listed["2002"].retracted
    assert "2004" not in {
        n.pmid for n in index.similar("2001", n=20, filters=Filters.of(exclude_retracted=True)).neighbors
    }


def test_a_notice_marks_the_paper_it_retracts_even_when_that_record_does_not_say(tmp_path, fake_encoder):
    path = write_medline(
        tmp_path / "m.xml", ["2001", "2002", "2005", "2006"]
    )  # 2005 retracts 2004, absent; 2006 says nothing
    build_index([path], tmp_path / "ix", model=fake_encoder, progress=False)
    notice = write_medline(tmp_path / "n.xml", ["2005"], links=[("RetractionOf", "2006")])
    add_to_index([notice], tmp_path / "ix", encoder=fake_encoder, progress=False)
    listed = {n.pmid: n for n in Index.open(tmp_path / "ix").similar("2001", n=5).neighbors}
    assert listed["2006"].retracted and "2005" not in listed


def test_filters_use_the_stored_lists_when_enough_survive(index, monkeypatch):
    assert index.precomputed is not None and index.lists_current
    monkeypatch.setattr(
        index.ranker, "search", lambda *a, **k: pytest.fail("ranked live although the stored list answers")
    )
    result = index.similar("2001", n=2, filters=Filters.of(species="humans"))
    assert len(result.neighbors) == 2


def test_filters_fall_back_to_live_ranking_when_the_stored_list_is_short(index, monkeypatch):
    rows, scores = index.precomputed[1][:, :3].copy(), index.precomputed[2][:, :3].copy()  # a cut-off list of 3
    index.precomputed = (index.precomputed[0], rows, scores)
    calls = []
    search = index.ranker.search
    monkeypatch.setattr(index.ranker, "search", lambda *a, **k: calls.append(a) or search(*a, **k))
    result = index.similar("2001", n=3, filters=Filters.of(species="animals"))
    assert calls and {n.pmid for n in result.neighbors} == {"2010", "3001", "3002"}


def test_collections_and_text_queries_take_the_same_filters(index):
    rec = recommend_collection(index, ["2001", "2002"], n=5, filters=Filters.of(types="clinical-trial"))
    assert [n.pmid for n in rec.neighbors] == ["2003"] and rec.notes == [
        "only 1 of the 5 papers asked for pass the filters (type clinical-trial)"
    ]
    text = index.similar_text(
        "aspirin cardiac infarction platelet", n=5, method="tfidf", filters=Filters.of(language="fre")
    )
    assert [n.pmid for n in text.neighbors] == ["2010"]


# --- one entry per work ----------------------------------------------------------------------------------------


def test_versions_collapse_into_one_entry(index):
    listed = {n.pmid: n.versions for n in index.similar("2002", n=20).neighbors}
    assert listed["2006"] == ("2007",) or listed.get("2007") == ("2006",)  # erratum and the paper it corrects
    assert ("2008" in listed) != ("2009" in listed)  # a republished pair is one entry
    assert ("2003" in listed) != ("2011" in listed)  # the same DOI (any case): the preprint and the journal copy
    everything = [n.pmid for n in index.similar("2002", n=20, versions=False).neighbors]
    assert {"2006", "2007", "2008", "2009", "2003", "2011"} <= set(everything)


def test_the_seeds_own_versions_never_appear(index):
    result = index.similar("2001", n=20)
    assert "2013" not in [n.pmid for n in result.neighbors] and result.versions == ("2013",)
    assert result.to_dict()["seed"]["versions"] == ["2013"]
    rec = recommend_collection(index, ["2006", "2002"], n=20)
    assert "2007" not in [n.pmid for n in rec.neighbors]


def test_short_identical_titles_are_not_one_work(tmp_path, fake_encoder):
    rows = [{"pmid": str(i), "title": "Erratum.", "abstract": ""} for i in (1, 2)] + [
        {"pmid": "3", "title": "A long enough title about erratum notices", "abstract": "erratum"}
    ]
    build_index([write_jsonl(tmp_path / "c.jsonl", rows)], tmp_path / "ix", model=fake_encoder, progress=False)
    index = Index.open(tmp_path / "ix")
    assert index.groups[0] != index.groups[1]
    assert {n.pmid for n in index.similar("1", n=2).neighbors} == {"2", "3"}


def test_version_groups_on_the_2016_file(tmp_path, fake_encoder):
    build_index([MEDLINE / "medline16n0902.xml.gz"], tmp_path / "ix", model=fake_encoder, progress=False)
    index = Index.open(tmp_path / "ix")
    assert len(index) == 604 and int(index.facts.notice.sum()) == 0
    sizes = np.bincount(index.groups[index.live])
    assert sizes.max() <= 3  # a handful of errata and same-DOI pairs at most, not a run-away union
    review = index.similar("18621939", n=5, filters=Filters.of(types="review", species="humans"))
    assert review.neighbors and all("Review" in n.types for n in review.neighbors)
