"""The quality suite: query kinds, what each benchmark kind asks, the table, the check, and stale stored lists."""

import json

import numpy as np
import pytest

from fixtures import FakeEncoder, make_corpus, write_jsonl
from similar.bench.suite import cases, load_suite, ranked, run_suite
from similar.bench.suite_report import check_suite, expected_figures, models_of, suite_markdown
from similar.build import build_index
from similar.errors import SimilarError
from similar.index import Index
from similar.ranking import SHORT_TEXT_PARAMS, SHORT_TEXT_WORDS, HybridParams, Query


@pytest.fixture
def corpus(tmp_path):
    return write_jsonl(tmp_path / "corpus.jsonl", make_corpus(40))


@pytest.fixture
def suite_files(tmp_path, corpus):
    """Judgments by topic (index mod 4) for 4 seeds, two claims as text queries, and a YAML suite over them."""
    judgments = tmp_path / "judgments.tsv"
    judgments.write_text(
        "".join(
            f"{1000 + s}\t{1000 + c}\t{2 if c % 4 == s % 4 else 0}\n"
            for s in range(4)
            for c in range(0, 40, 3)
            if c != s
        )
        + "77\t1000\t2\n"
    )  # a seed without text: counted, not evaluated
    claims = write_jsonl(
        tmp_path / "claims.jsonl",
        [
            {"id": "c1", "claim": "cardiac heart failure"},
            {"id": "c2", "claim": "viral infection hiv"},
            {"id": "c3", "claim": "nothing judged here"},
        ],
    )
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text(
        "claim_id\tdoc_id\tlabel\n"
        + "".join(f"c1\t{1000 + i}\tSUPPORT\n" for i in range(0, 40, 4))
        + "".join(f"c2\t{1000 + i}\tCONTRADICT\n" for i in range(3, 40, 4))
        + "c3\t5\tSUPPORT\n"
    )
    suite = tmp_path / "quality.yaml"
    entries = [
        {
            "name": "by-pmid",
            "kind": "pmid",
            "corpus": str(corpus),
            "judgments": str(judgments),
            "expected": {"dense": {"ndcg@10": 1.0}},
        },
        {"name": "claims", "kind": "text", "corpus": str(corpus), "queries": str(claims), "judgments": str(qrels)},
        {"name": "titles", "kind": "title", "corpus": str(corpus), "judgments": str(judgments)},
        {"name": "rerank", "kind": "rerank", "corpus": str(corpus), "judgments": str(judgments)},
        {"name": "abstracts", "kind": "abstract", "corpus": str(corpus), "judgments": str(judgments)},
    ]
    import yaml

    suite.write_text(yaml.safe_dump({"tolerance": 0.005, "models": ["fake-hash"], "suite": entries}))
    return suite


@pytest.mark.parametrize(
    "query, kind",
    [
        (Query(row=3), "paper"),
        (Query(abstract="one short claim about p53"), "short text"),
        (Query(title="A title", abstract=""), "short text"),
        (Query(abstract=" ".join(["word"] * (SHORT_TEXT_WORDS - 1))), "short text"),
        (Query(abstract=" ".join(["word"] * SHORT_TEXT_WORDS)), "long text"),
    ],
)
def test_query_kind_picks_the_setting(query, kind):
    assert query.kind == kind
    from similar.ranking import Ranker

    ranker = Ranker(None, None, np.ones(1, bool))
    assert ranker.params(query) == (SHORT_TEXT_PARAMS if kind == "short text" else HybridParams())


def test_cases_count_what_is_left_out(tmp_path, suite_files, fake_encoder):
    benchmarks, _ = load_suite(suite_files)
    build_index([benchmarks[0].corpus], tmp_path / "ix", model=fake_encoder, progress=False)
    index = Index.open(tmp_path / "ix", encoder=fake_encoder)
    by_pmid, counts = cases(index, benchmarks[0])
    assert counts == {"queries": 5, "without_text": 1, "without_judged_papers": 0}
    assert [c.pmid for c in by_pmid] == ["1000", "1001", "1002", "1003"]
    claims, counts = cases(index, benchmarks[1])
    assert counts == {"queries": 3, "without_text": 0, "without_judged_papers": 1}
    assert claims[0].text == "cardiac heart failure" and set(claims[0].judged) == {
        str(1000 + i) for i in range(0, 40, 4)
    }
    titles, _ = cases(index, benchmarks[2])
    assert titles[1].text == index.paper("1001").title and titles[1].skip == "1001"
    got = ranked(index, benchmarks[2], titles[1], "hybrid")
    assert "1001" not in got and len(got) == 39  # the seed found by its own title is not counted
    pasted, _ = cases(index, benchmarks[4])
    assert pasted[2].text.startswith(index.paper("1002").title + " We report") and pasted[2].skip == "1002"
    assert "1002" not in ranked(index, benchmarks[4], pasted[2], "hybrid")
    order = ranked(index, benchmarks[3], by_pmid[0], "dense")
    assert sorted(order) == sorted(by_pmid[0].judged)
    scores = index.ranker.score("dense", Query(row=index.row("1000")), np.array([index.row(p) for p in order]))
    assert list(scores) == sorted(scores, reverse=True)


def test_suite_table_and_check(tmp_path, suite_files):
    benchmarks, spec = load_suite(suite_files)
    results = run_suite(benchmarks, tmp_path / "out", models=[FakeEncoder()], progress=False)
    assert list(results["models"]) == ["fake-hash"] and results["default_model"] == "fake-hash"
    run = results["models"]["fake-hash"]
    assert set(run["benchmarks"]) == {"by-pmid", "claims", "titles", "rerank", "abstracts"}
    claims = run["benchmarks"]["claims"]
    assert claims["coverage"]["evaluated"] == 2 and claims["default"] == "hybrid"
    assert set(claims["summary"]) == {"hybrid", "dense", "tfidf", "bm25", "pmra"}
    assert set(claims["paired_ndcg@10"]) == {"dense", "tfidf", "bm25", "pmra"}
    on_disk = json.loads((tmp_path / "out" / "suite.json").read_text())
    assert models_of(on_disk)["fake-hash"]["benchmarks"]["by-pmid"]["summary"]["dense"]["ndcg@10"][
        "mean"
    ] == pytest.approx(run["benchmarks"]["by-pmid"]["summary"]["dense"]["ndcg@10"]["mean"])
    table = suite_markdown(results)
    assert "| method | by-pmid | claims | titles | rerank | abstracts | worst margin |" in table
    lines = []
    dense = run["benchmarks"]["by-pmid"]["summary"]["dense"]["ndcg@10"]["mean"]
    assert check_suite(results, expected_figures(benchmarks), 0.005, lines.append) == (abs(dense - 1.0) <= 0.005)
    assert lines == [
        f"{'OK  ' if abs(dense - 1.0) <= 0.005 else 'FAIL'} by-pmid dense ndcg@10: {dense:.4f} (expected 1.0000 ± 0.005)"
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "suite: [{name: x, kind: nope, corpus: c, judgments: j}]",
            "benchmark 'x': kind must be one of pmid, title, abstract, text, rerank, got 'nope'",
        ),
        ("tolerance: 0.01", "no `suite:` list of benchmarks"),
    ],
)
def test_bad_suite_files_are_one_line(tmp_path, text, message):
    path = tmp_path / "q.yaml"
    path.write_text(text)
    with pytest.raises(SimilarError) as info:
        load_suite(path)
    assert str(info.value).endswith(message) and "\n" not in str(info.value)


def test_stale_stored_lists_are_not_used(tmp_path, corpus, fake_encoder):
    build_index([corpus], tmp_path / "ix", model=fake_encoder, progress=False)
    manifest_path = tmp_path / "ix" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["precomputed"]["params"] = {
        **manifest["precomputed"]["params"],
        "expansion": 5.0,
    }  # made by another setting
    manifest_path.write_text(json.dumps(manifest))
    index = Index.open(tmp_path / "ix", encoder=fake_encoder)
    assert not index.lists_current
    live = index.ranker.search("hybrid", Query(row=0), 5)[1]
    assert [n.pmid for n in index.similar("1000", n=5).neighbors] == index.pmids[live].tolist()


def test_with_params_ranks_live_with_another_setting(tmp_path, corpus, fake_encoder):
    build_index([corpus], tmp_path / "ix", model=fake_encoder, progress=False)
    index = Index.open(tmp_path / "ix", encoder=fake_encoder)
    other = HybridParams(dense_weight=1.0, neighbours=0, expansion=0.0, second_hop=0.0)
    changed = index.with_params(other)
    assert index.lists_current and not changed.lists_current and index.ranker.hybrid == HybridParams()
    dense_rows = index.ranker.search("dense", Query(row=0), 5)[1]
    assert [n.pmid for n in changed.similar("1000", n=5).neighbors] == index.pmids[dense_rows].tolist()


def test_the_suite_reuses_the_vectors_of_an_index_of_the_same_corpus(tmp_path, suite_files):
    """An index built from the same corpus file by the same model: its vectors fill the cache, nothing of the corpus
    is embedded again, every figure is the same, and what was reused and what is left is said up front."""
    from similar import paths
    from similar.encoders import CachedEncoder

    benchmarks, _ = load_suite(suite_files)
    corpus = benchmarks[0].corpus
    build_index([corpus], paths.index_path("trec"), model=FakeEncoder(), progress=False)
    other = FakeEncoder(dim=32)
    other.fingerprint = "another-model"
    build_index([corpus], paths.index_path("other"), model=other, progress=False)  # another model: not used
    plain = run_suite(benchmarks, tmp_path / "plain", models=[FakeEncoder()], progress=False)

    inner = FakeEncoder()
    cached = CachedEncoder(inner, tmp_path / "cache")
    lines: list[str] = []
    reused = run_suite(
        benchmarks, tmp_path / "reused", models=[cached], progress=False, echo=lines.append, cost_sample=0
    )
    assert "corpus.jsonl: 40 papers; 40 copied from index trec; every vector is cached, nothing to embed" in lines
    assert inner.encoded < 40  # the text queries of the claims and titles benchmarks, never the corpus
    for name, bench in plain["models"]["fake-hash"]["benchmarks"].items():
        assert reused["models"]["fake-hash"]["benchmarks"][name]["summary"] == bench["summary"], name


def test_the_estimate_says_what_is_left_to_embed(tmp_path, suite_files):
    from similar.bench import reuse
    from similar.encoders import CachedEncoder

    benchmarks, _ = load_suite(suite_files)
    inner = FakeEncoder()
    cached = CachedEncoder(inner, tmp_path / "cache")
    cached.encode(["an unrelated text"])
    plan = reuse.plan(benchmarks[0].corpus, cached)
    assert plan.papers == 40 and len(plan.missing) == 40 and plan.copied == 0
    lines: list[str] = []
    assert reuse.estimate([plan], cached, lines.append) > 0
    assert len(lines) == 1 and lines[0].startswith("corpus.jsonl: 40 papers; 40 to embed, about ")
    assert inner.encoded == 1 + reuse.SAMPLE  # the timed sample is cached: the build embeds only the rest
    again = reuse.plan(benchmarks[0].corpus, cached)
    assert len(again.missing) == 40 - reuse.SAMPLE and again.cached == reuse.SAMPLE
