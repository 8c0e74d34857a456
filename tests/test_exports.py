"""Exports (RIS, BibTeX, CSL-JSON, CSV), each read back by a real parser of its format, through the API, CLI and HTTP."""

import csv
import io
import json

import pytest
from click.testing import CliRunner

from fixtures import MEDLINE, write_jsonl
from medline_xml import write_medline
from similar.build import build_index
from similar.cli import main
from similar.errors import SimilarError
from similar.exports import FORMATS, export, split_author
from similar.index import Index
from similar.server.app import create_app

rispy = pytest.importorskip("rispy")
bibtexparser = pytest.importorskip("bibtexparser")
jsonschema = pytest.importorskip("jsonschema")

ODD_TITLE = "Aspirin {braces} & 100% of _cardiac_ $infarction$ #1 ~ ^ \\ back"

# The subset of CSL's csl-data.json schema (github.com/citation-style-language/schema, v1.0) that these exports use:
# the schema is not packaged on PyPI, so its rules for these fields are copied here.
CSL_NAME = {
    "type": "object",
    "properties": {"family": {"type": "string"}, "given": {"type": "string"}, "literal": {"type": "string"}},
    "additionalProperties": False,
}
CSL_DATA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["type", "id"],
        "additionalProperties": False,
        "properties": {
            "type": {
                "enum": [
                    "article",
                    "article-journal",
                    "article-magazine",
                    "book",
                    "chapter",
                    "paper-conference",
                    "report",
                    "thesis",
                ]
            },
            "id": {"type": ["string", "number"]},
            "title": {"type": "string"},
            "container-title": {"type": "string"},
            "DOI": {"type": "string"},
            "PMID": {"type": "string"},
            "PMCID": {"type": "string"},
            "URL": {"type": "string"},
            "note": {"type": "string"},
            "language": {"type": "string"},
            "author": {"type": "array", "items": CSL_NAME},
            "issued": {
                "type": "object",
                "properties": {
                    "date-parts": {
                        "type": "array",
                        "maxItems": 2,
                        "items": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 3,
                            "items": {"type": ["string", "number"]},
                        },
                    }
                },
                "additionalProperties": False,
            },
        },
    },
}


@pytest.fixture
def index(tmp_path, fake_encoder):
    odd = {
        "pmid": "77",
        "title": ODD_TITLE,
        "abstract": "aspirin cardiac infarction platelet heart",
        "journal": "J & Co",
        "year": 2020,
        "authors": ["O'Brien J", "WHO Study Group"],
        "doi": "10.1/odd{1}",
    }
    build_index(
        [write_medline(tmp_path / "m.xml"), write_jsonl(tmp_path / "odd.jsonl", [odd])],
        tmp_path / "ix",
        model=fake_encoder,
        progress=False,
    )
    return Index.open(tmp_path / "ix")


@pytest.fixture
def result(index):
    return index.similar("2001", n=20)


def test_ris_reads_back_with_rispy(result):
    records = rispy.loads(export(result, "ris"))
    assert [r["accession_number"] for r in records] == [f"PMID:{n.pmid}" for n in result.neighbors]
    by = {r["accession_number"]: r for r in records}
    assert by["PMID:2003"]["authors"] == ["Gray, B", "Hill, C"] and by["PMID:2003"]["doi"] == "10.1000/t2003"
    assert by["PMID:2003"]["secondary_title"] == "Trials in Cardiology" and by["PMID:2003"]["year"] == "2003"
    assert "Randomized Controlled Trial" in by["PMID:2003"]["keywords"]
    assert by["PMID:2004"]["notes"][0].startswith("RETRACTED;")
    assert by["PMID:77"]["title"] == ODD_TITLE and by["PMID:77"]["authors"] == ["O'Brien, J", "WHO Study Group"]


def test_bibtex_reads_back_with_bibtexparser(result):
    from bibtexparser.middlewares import LatexDecodingMiddleware, SeparateCoAuthors

    lib = bibtexparser.parse_string(
        export(result, "bibtex"), append_middleware=[LatexDecodingMiddleware(), SeparateCoAuthors()]
    )
    assert lib.failed_blocks == [] and len(lib.entries) == len(result.neighbors)
    by = {e.key: e.fields_dict for e in lib.entries}
    assert by["pmid2003"]["author"].value == ["Gray, B", "Hill, C"] and by["pmid2003"]["year"].value == "2003"
    assert by["pmid2003"]["doi"].value == "10.1000/t2003" and by["pmid2003"]["journal"].value == "Trials in Cardiology"
    # pylatexenc decodes \textasciicircum{} as U+02C6 (modifier letter circumflex), its own choice for the caret
    assert by["pmid77"]["title"].value.strip("{}").replace("\u02c6", "^") == ODD_TITLE
    assert by["pmid77"]["author"].value == ["O'Brien, J", "WHO Study Group"]  # a collective name stays whole
    assert by["pmid2004"]["note"].value.startswith("RETRACTED")


def test_csl_json_validates_and_renders_with_citeproc(result):
    items = json.loads(export(result, "csl-json"))
    jsonschema.validate(items, CSL_DATA)
    by = {i["id"]: i for i in items}
    assert by["pmid:2003"]["author"] == [{"family": "Gray", "given": "B"}, {"family": "Hill", "given": "C"}]
    assert by["pmid:77"]["author"][1] == {"literal": "WHO Study Group"} and by["pmid:2003"]["issued"] == {
        "date-parts": [[2003]]
    }
    citeproc = pytest.importorskip("citeproc")
    from citeproc.source.json import CiteProcJSON

    source = CiteProcJSON(items)
    style = citeproc.CitationStylesStyle("harvard-cite-them-right", validate=False)
    bib = citeproc.CitationStylesBibliography(style, source, citeproc.formatter.plain)
    bib.register(citeproc.Citation([citeproc.CitationItem("pmid:2003")]))
    rendered = str(bib.bibliography()[0])
    assert "Gray" in rendered and "2003" in rendered and "Trials in Cardiology" in rendered


def test_csv_reads_back(result):
    rows = list(csv.DictReader(io.StringIO(export(result, "csv"))))
    assert [r["pmid"] for r in rows] == [n.pmid for n in result.neighbors]
    by = {r["pmid"]: r for r in rows}
    assert (
        by["2004"]["retracted"] == "yes"
        and by["2003"]["authors"] == "Gray B; Hill C"
        and by["77"]["title"] == ODD_TITLE
    )


def test_exports_of_the_real_medline_file(tmp_path, fake_encoder):
    build_index([MEDLINE / "medline16n0902.xml.gz"], tmp_path / "ix", model=fake_encoder, progress=False)
    result = Index.open(tmp_path / "ix").similar("18621939", n=10)
    assert len(rispy.loads(export(result, "ris"))) == 10
    assert len(bibtexparser.parse_string(export(result, "bibtex")).entries) == 10
    jsonschema.validate(json.loads(export(result, "csl-json")), CSL_DATA)
    assert all(r["authors"] for r in rispy.loads(export(result, "ris")) if r.get("authors") is not None)


@pytest.mark.parametrize(
    "name, parts",
    [
        ("Smith J", ("Smith", "J")),
        ("van der Berg AB", ("van der Berg", "AB")),
        ("WHO Study Group", None),
        ("Madonna", None),
    ],
)
def test_author_names_split_into_family_and_initials(name, parts):
    assert split_author(name) == parts


def test_an_unknown_format_is_a_one_line_error(result):
    with pytest.raises(SimilarError) as exc:
        export(result, "endnote")
    assert str(exc.value) == f"unknown export format 'endnote': use one of {', '.join(FORMATS)}"


def test_cli_format(index):
    out = CliRunner().invoke(main, ["query", "2001", "--index", str(index.path), "-n", "3", "--format", "ris"])
    assert out.exit_code == 0, out.output
    assert len(rispy.loads(out.output)) == 3
    both = CliRunner().invoke(main, ["query", "2001", "--index", str(index.path), "--json", "--format", "csv"])
    assert both.exit_code == 1 and both.output == "error: --json and --format csv disagree: give one\n"


def test_http_format_and_the_embed_download_link(index):
    from fastapi.testclient import TestClient

    client = TestClient(create_app(index.path, index))
    r = client.get("/v1/papers/2001/similar?n=4&format=bibtex&type=review&type=clinical-trial")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-bibtex")
    assert r.headers["content-disposition"] == 'attachment; filename="similar-2001.bib"'
    assert {e.key for e in bibtexparser.parse_string(r.text).entries} == {"pmid2002", "pmid2003"}
    r = client.get("/v1/recommendations?positive=2001,2002&n=3&format=csl-json")
    jsonschema.validate(r.json(), CSL_DATA)
    assert client.get("/v1/papers/2001/similar?format=endnote").json()["error"].startswith("invalid format")
    page = client.get("/embed/2001").text
    assert '/v1/papers/2001/similar?n=20&amp;format=ris" download>RIS</a>' in page
