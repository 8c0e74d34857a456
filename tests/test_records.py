"""Readers: real MEDLINE XML from ../shared, every tabular format, and a table of bad records."""

import gzip
import json

import pytest

from fixtures import MEDLINE, write_jsonl
from similar.errors import SimilarError
from similar.records import Deletion, Paper, Problem, read_records


def events(path):
    return list(read_records(path))


def test_medline_2016_update_file():
    evs = events(MEDLINE / "medline16n0902.xml.gz")
    papers = [e for e in evs if isinstance(e, Paper)]
    assert len(papers) == 604
    assert [e.pmid for e in evs if isinstance(e, Deletion)] == ["26432306"]
    assert not [e for e in evs if isinstance(e, Problem)]
    first = papers[0]
    assert first.pmid == "17942999" and first.year == 2007
    assert first.journal == "Restorative neurology and neuroscience"
    assert first.abstract.startswith("PURPOSE: An auditory electrophysiological study")
    assert "METHODS: Mismatch negativity" in first.abstract and "CONCLUSIONS: The MMN" in first.abstract
    assert "Acoustic Stimulation" in first.mesh
    # papers without an abstract are kept and indexed on their title
    title_only = [p for p in papers if not p.abstract]
    assert len(title_only) == 604 - 526 and all(p.title for p in title_only)
    # MedlineDate like "2008 Jul-Aug" still gives a year
    assert sum(p.year is None for p in papers) == 0


def test_medline_current_dtd():
    papers = events(MEDLINE / "test_current_medline.xml.gz")
    assert [p.pmid for p in papers][:2] == ["36400559", "2930949"]
    assert len(papers) == 4 and all(isinstance(p, Paper) for p in papers)
    assert papers[0].year == 2023 and papers[0].journal == "Neurologic clinics"
    assert "Low Back Pain" in papers[0].mesh
    # references' PMIDs in PubmedData must not leak into the record
    assert papers[1].pmid == "2930949"


def test_tabular_formats_agree(tmp_path):
    rows = [
        {"pmid": "1", "title": "A title", "abstract": "An abstract.", "year": "2001", "journal": "J"},
        {"pmid": "2", "title": "Only title", "abstract": "", "year": "", "journal": ""},
    ]
    write_jsonl(tmp_path / "a.jsonl", rows)
    (tmp_path / "a.json").write_text(json.dumps(rows))
    header = "pmid,title,abstract,year,journal\n"
    (tmp_path / "a.csv").write_text(header + "1,A title,An abstract.,2001,J\n2,Only title,,,\n")
    (tmp_path / "a.tsv").write_text(
        header.replace(",", "\t") + "1\tA title\tAn abstract.\t2001\tJ\n2\tOnly title\t\t\t\n"
    )
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as f:
        f.write("\n".join(json.dumps(r) for r in rows))
    results = {name: events(tmp_path / name) for name in ["a.jsonl", "a.json", "a.csv", "a.tsv", "b.jsonl.gz"]}
    expected = results["a.jsonl"]
    assert expected[0] == Paper("1", "A title", "An abstract.", "J", 2001)
    assert expected[1].abstract == "" and expected[1].text == "Only title"
    for name, got in results.items():
        assert got == expected, name


BAD_RECORDS = [
    ('{"title": "t", "abstract": "a"}', "no PMID"),
    ('{"pmid": "12ab", "title": "t"}', "non-numeric PMID '12ab'"),
    ('{"pmid": "5", "title": "", "abstract": ""}', "PMID 5 has neither title nor abstract"),
    ('{"pmid": "5", "title": "t"', "invalid JSON (Expecting ',' delimiter)"),
    ("[1, 2]", "record is not an object"),
]


@pytest.mark.parametrize("line,reason", BAD_RECORDS)
def test_bad_jsonl_records_are_reported_with_their_line(tmp_path, line, reason):
    path = write_jsonl(tmp_path / "in.jsonl", ['{"pmid": "1", "title": "good"}', line])
    evs = events(path)
    assert evs[0] == Paper("1", "good", "")
    assert evs[1] == Problem("in.jsonl:2", reason)


def test_invalid_utf8_is_a_problem_not_a_crash(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"pmid": "1", "title": "ok"}\n{"pmid": "2", "title": "bad \xff\xfe bytes"}\n')
    assert events(path)[1] == Problem("in.jsonl:2", "invalid UTF-8")


def test_malformed_xml_keeps_what_came_before(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_text(
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>7</PMID><Article><ArticleTitle>T</ArticleTitle>"
        "</Article></MedlineCitation></PubmedArticle><PubmedArticle><oops></PubmedArticleSet>"
    )
    evs = events(path)
    assert evs[0] == Paper("7", "T", "")
    assert isinstance(evs[1], Problem) and evs[1].reason.startswith("malformed XML, rest of file skipped")
    assert evs[1].where.startswith("bad.xml:1:")


@pytest.mark.parametrize(
    "name,content,message",
    [
        (
            "x.txt",
            "hello",
            "cannot tell the format of {dir}/x.txt: use a .jsonl, .json, .csv, .tsv or .xml file (optionally .gz)",
        ),
        ("x.csv", "id,title\n1,t\n", "{dir}/x.csv: the header must name a 'pmid' column (found: id, title)"),
    ],
)
def test_unreadable_files_raise_one_line(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(SimilarError) as exc:
        events(tmp_path / name)
    assert str(exc.value) == message.format(dir=tmp_path)


def test_document_ids_lift_the_pmid_range_only_where_asked(tmp_path):
    """SciFact numbers abstracts past 99,999,999: the suite reads such a corpus inside fields.document_ids()."""
    from similar.fields import document_ids

    path = write_jsonl(tmp_path / "d.jsonl", [{"pmid": "198309074", "title": "a claim's evidence"}])
    (problem,) = list(read_records(path))
    assert isinstance(problem, Problem) and problem.reason == "PMID '198309074' is out of range (1..99999999)"
    with document_ids():
        (paper,) = list(read_records(path))
    assert isinstance(paper, Paper) and paper.pmid == "198309074"
    assert isinstance(next(iter(read_records(path))), Problem)  # the range is back outside
