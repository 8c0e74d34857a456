"""The scale bench: realistic synthetic papers, the stand-in encoder, and one whole tiny run with its report."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures import SHARED
from similar.bench.recall import HNSW_SETTINGS
from similar.bench.scale import Corpus, StandInEncoder, pubmed_arithmetic, read_sources, run_scale, scale_markdown
from similar.records import Deletion, Paper, read_records

SOURCES = [SHARED / "ohsumed" / "abstracts.jsonl.gz", SHARED / "pubmed-sample" / "abstracts.jsonl.gz"]
pytestmark = pytest.mark.skipif(not all(p.exists() for p in SOURCES), reason="needs ../shared/data")


@pytest.fixture(scope="module")
def corpus():
    return Corpus(read_sources(SOURCES[:1]))


def test_papers_are_made_of_real_sentences_and_do_not_depend_on_what_else_is_made(corpus):
    paper = corpus.paper(7)
    assert paper == corpus.paper(7) and paper != corpus.paper(8)
    assert paper["pmid"] == "10000007" and paper["title"] and 1990 <= paper["year"] < 2026
    sentences = {s for _, ss in corpus.sources for s in ss}
    assert sum(s in paper["abstract"] for s in sentences) >= 2
    assert corpus.paper(7, version=1) != paper  # a revision has other text under the same PMID


def test_the_update_file_is_medline_xml_with_new_revised_and_deleted_papers(corpus, tmp_path):
    info = corpus.write_update(tmp_path / "u.xml.gz", base=500, count=1000)
    events = list(read_records(tmp_path / "u.xml.gz"))
    papers = [e for e in events if isinstance(e, Paper)]
    deletions = [e for e in events if isinstance(e, Deletion)]
    assert (info["new"], info["revised"], info["deleted"]) == (950, 47, 3)
    assert len(papers) == 997 and len(deletions) == 3
    assert sum(int(p.pmid) < 10_000_500 for p in papers) == 47  # revisions carry indexed PMIDs


def test_the_stand_in_encoder_is_deterministic_and_puts_shared_words_close():
    a, b = StandInEncoder(), StandInEncoder()
    texts = ["cardiac failure in elderly patients", "heart failure in elderly patients", "viral replication", ""]
    va, vb = a.encode(texts), b.encode(texts)
    np.testing.assert_array_equal(va, vb)
    assert va.shape == (4, 384) and np.allclose(np.linalg.norm(va, axis=1), 1, atol=1e-5)
    assert va[0] @ va[1] > va[0] @ va[2]


def test_a_whole_tiny_run_reports_every_stage(tmp_path):
    result = run_scale(1000, SOURCES[:1], tmp_path, update=400, queries=10)
    assert result["build"]["papers"] == 1000 and result["build"]["peak_rss_mb"] > 0
    assert {"reading", "embedding", "lexical", "stored lists", "writing"} <= set(result["build"]["stages"])
    assert result["update"]["counts"]["deleted"] == result["update_file"]["deleted"] > 0
    assert 0 < result["update"]["lists_recomputed"] <= 1000 + 400
    assert result["recall"]["dense"]["recall@10"] == 1.0  # a flat index is exact
    assert result["lists_after_update"]["same_top10"] >= 0.99
    for kind in ("hybrid, by PMID (stored list)", "bm25, by PMID", "hybrid, title as text"):
        assert result["serve"]["latency"][kind]["p99_ms"] > 0
    sweep = result["hnsw_settings"]
    assert sweep["papers"] == 1000 and len(sweep["settings"]) == sum(len(e) for _, _, e in HNSW_SETTINGS)
    for row in sweep["settings"]:
        assert 0 < row["recall@10"] <= 1 and row["p99_ms"] >= row["p50_ms"] > 0 and row["index_mb"] > 0
    report = scale_markdown(result)
    assert "| build, excluding encoding |" in report and "all of PubMed" in report
    assert "| M | efConstruction | efSearch | recall@10 |" in report
    assert not (tmp_path / "index-1000").exists()  # removed unless --keep


def test_the_pubmed_arithmetic_follows_from_the_measured_figures():
    result = {
        "papers": 1_000_000,
        "build": {"disk_mb": 10_000.0, "seconds_excluding_encoding": 1000.0},
        "update": {"stages": {"stored lists": 600.0}, "lists_recomputed": 950_000},
        "update_file": {"new": 28_500},
    }
    lines = "\n".join(pubmed_arithmetic(result))
    assert "| index on disk | 10,486 B | 352 GB |" in lines
    assert "10.0 h" in lines  # 1 ms a paper x 36 M
    assert "92.4% here" in lines and "(each new paper enters 93 pools)" in lines
