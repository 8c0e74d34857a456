"""The suite across models: the table with a model dimension and cost, the default-model rule, settings per model."""

import json

import pytest
import yaml

from fixtures import FakeEncoder, make_corpus, write_jsonl
from similar import ranking
from similar.bench.suite import Benchmark, load_suite, run_suite
from similar.bench.suite_report import (
    check_suite,
    choice_lines,
    choose_default,
    expected_figures,
    models_of,
    suite_markdown,
    summary_table,
)
from similar.build import build_index
from similar.encoders import CachedEncoder
from similar.errors import SimilarError
from similar.index import Index
from similar.ranking import SHORT_TEXT_PARAMS, HybridParams, Query, settings_for

OTHER_PAPER = HybridParams(dense_weight=0.7, neighbours=12, expansion=0.5, second_hop=0.0)
OTHER_SHORT = HybridParams(dense_weight=0.9, lexical=("bm25",), neighbours=0, expansion=0.0, second_hop=0.0)


def _by_topic(tmp_path, seeds: int):
    """40 papers over four topics and graded judgments by topic (index mod 4) of the first `seeds` papers."""
    corpus = write_jsonl(tmp_path / "corpus.jsonl", make_corpus(40))
    judgments = tmp_path / "judgments.tsv"
    judgments.write_text(
        "".join(
            f"{1000 + s}\t{1000 + c}\t{2 if c % 4 == s % 4 else 0}\n" for s in range(seeds) for c in range(0, 40, 3)
        )
    )
    return corpus, judgments


def _diff(lo: float, hi: float) -> dict:
    return {"diff": (lo + hi) / 2, "ci": [lo, hi], "significant": lo > 0 or hi < 0}


@pytest.mark.parametrize(
    "challengers, chosen, wins",
    [
        ({}, "small", {}),
        ({"big": {"a": _diff(0.01, 0.05), "b": _diff(0.002, 0.03)}}, "big", {"big": True}),
        ({"big": {"a": _diff(0.01, 0.05), "b": _diff(-0.01, 0.03)}}, "small", {"big": False}),  # b: not above zero
        ({"big": {"a": _diff(0.01, 0.05), "b": _diff(0.0, 0.03)}}, "small", {"big": False}),  # zero is not above it
        (
            {"big": {"a": _diff(0.01, 0.05), "b": None}},
            "small",
            {"big": False},
        ),  # a benchmark it could not be paired on
        ({"big": {"a": _diff(-0.05, -0.01), "b": _diff(-0.03, -0.02)}}, "small", {"big": False}),
        ({"big": {}}, "small", {"big": False}),  # no benchmark: no win
        (
            {
                "big": {"a": _diff(0.01, 0.05), "b": _diff(0.02, 0.03)},
                "bigger": {"a": _diff(0.02, 0.04), "b": _diff(0.03, 0.06)},
            },
            "bigger",  # both win every benchmark: the highest worst lower bound
            {"big": True, "bigger": True},
        ),
        (
            {
                "big": {"a": _diff(0.01, 0.05), "b": _diff(0.02, 0.03)},
                "bigger": {"a": _diff(-0.02, 0.4), "b": _diff(0.3, 0.6)},
            },
            "big",
            {"big": True, "bigger": False},
        ),
    ],
)
def test_the_default_model_changes_only_if_another_wins_every_benchmark(challengers, chosen, wins):
    got, verdicts = choose_default("small", challengers)
    assert got == chosen
    assert {m: v["wins_every"] for m, v in verdicts.items()} == wins


def _bench(mean: float, default: str = "hybrid") -> dict:
    methods = {"hybrid": mean, "dense": mean - 0.05, "bm25": mean - 0.1}
    return {
        "kind": "pmid",
        "note": "",
        "default": default,
        "coverage": {"queries": 3, "evaluated": 3, "without_text": 0, "without_judged_papers": 0},
        "ms_per_query": {m: 1.0 for m in methods},
        "summary": {m: {"ndcg@10": {"mean": v, "ci": [v - 0.02, v + 0.02]}} for m, v in methods.items()},
        "paired_ndcg@10": {m: _diff(0.01, 0.03) for m in methods if m != default},
        "per_topic_ndcg@10": {},
    }


def _results(choice_benchmarks: dict) -> dict:
    """Fake suite results of two models on two benchmarks, with costs and the rule's verdict."""
    small = {"a": _bench(0.6), "b": _bench(0.4)}
    big = {"a": _bench(0.65), "b": _bench(0.38)}
    for bench in big.values():  # answered without a model: the same figures as the first model's
        bench["summary"]["bm25"] = small["a"]["summary"]["bm25"] if bench is big["a"] else small["b"]["summary"]["bm25"]
    current = "small"
    chosen, verdicts = choose_default(current, {"big": choice_benchmarks})
    return {
        "name": "suite",
        "date": "2026-11-28T09:00:00+00:00",
        "seconds": 1.0,
        "shared_methods": ["bm25"],
        "default_model": "small",
        "models": {
            "small": {
                "model": {"name": "small", "fingerprint": "f1", "dim": 384},
                "cost": {
                    "docs_per_s": 40.0,
                    "docs_per_s_from": "32 papers",
                    "index_bytes": 12_500_000,
                    "query_p50_ms": {"hybrid": 0.5, "dense": 0.9, "bm25": 2.0},
                },
                "benchmarks": small,
            },
            "big": {
                "model": {"name": "big", "fingerprint": "f2", "dim": 768},
                "cost": {
                    "docs_per_s": 8.0,
                    "docs_per_s_from": "32 papers",
                    "index_bytes": 20_000_000,
                    "query_p50_ms": {"hybrid": 0.6, "dense": 1.1},
                },
                "benchmarks": big,
            },
        },
        "model_choice": {
            "rule": "the rule",
            "current": current,
            "chosen": chosen,
            "challengers": {"big": {"benchmarks": choice_benchmarks, **verdicts["big"]}},
        },
    }


def test_the_summary_table_has_a_row_per_model_and_method_and_a_cost_column_per_model():
    table = summary_table(_results({"a": _diff(0.01, 0.09), "b": _diff(-0.05, 0.01)}))
    lines = table.splitlines()
    assert lines[0] == "| nDCG@10 | a | b | docs/s | index MB | p50 ms |"
    assert lines[2] == "| hybrid · small (default) | 0.600 | **0.400** | 40.0 | 12.5 | 0.50 |"
    assert lines[3] == "| dense · small | 0.550 | 0.350 | 40.0 | 12.5 | 0.90 |"
    assert lines[4] == "| bm25 | 0.500 | 0.300 | - | - | 2.00 |"  # one row: it needs no model
    assert lines[5] == "| hybrid · big | **0.650** | 0.380 | 8.0 | 20.0 | 0.60 |"
    assert lines[6] == "| dense · big | 0.600 | 0.330 | 8.0 | 20.0 | 1.10 |"
    assert len([line for line in lines if line.startswith("| bm25")]) == 1
    assert "The default is not the best on: a." in table
    assert "big vs small: does not win b by an interval above zero. Default model: small (unchanged)." in table


def test_the_suite_markdown_has_a_section_per_model_the_costs_and_the_verdict():
    results = _results({"a": _diff(0.01, 0.09), "b": _diff(0.001, 0.01)})
    text = suite_markdown(results)
    assert "## Model small" in text and "## Model big" in text
    assert "| big | 768 | 8.0 | - | 20.0 | 0.60 |" in text  # no backend recorded: a dash
    assert "| a | +0.050 [+0.010, +0.090] * |" in text
    assert choice_lines(results["model_choice"])[-1] == "Default model: big (replaces small)."
    assert "Default model: big (replaces small)." in text


def test_results_of_one_model_before_the_model_dimension_read_as_that_model():
    old = {"name": "suite", "model": {"name": "m"}, "benchmarks": {"a": _bench(0.6)}}
    assert list(models_of(old)) == ["m"]
    assert summary_table(old).splitlines()[:3] == [
        "| nDCG@10 | a |",
        "|---|---|",
        "| hybrid (default) | **0.600** |",
    ]


@pytest.mark.parametrize(
    "model, expected",
    [
        (None, (HybridParams(), SHORT_TEXT_PARAMS)),
        ("all-MiniLM-L6-v2", (HybridParams(), SHORT_TEXT_PARAMS)),
        ("unknown-model", (HybridParams(), SHORT_TEXT_PARAMS)),  # no row: the default model's
        ("big", (OTHER_PAPER, OTHER_SHORT)),
        ({"name": "big", "fingerprint": "zzz"}, (OTHER_PAPER, OTHER_SHORT)),
        ({"name": "renamed-copy", "fingerprint": "bigprint"}, (OTHER_PAPER, OTHER_SHORT)),  # by fingerprint
        ({"name": "big", "fingerprint": "smallprint"}, (HybridParams(), SHORT_TEXT_PARAMS)),  # fingerprint first
    ],
)
def test_settings_are_looked_up_per_model(monkeypatch, model, expected):
    monkeypatch.setitem(ranking.MODEL_SETTINGS, "big", (OTHER_PAPER, OTHER_SHORT))
    monkeypatch.setitem(ranking.MODEL_SETTINGS, "bigprint", (OTHER_PAPER, OTHER_SHORT))
    monkeypatch.setitem(ranking.MODEL_SETTINGS, "smallprint", (HybridParams(), SHORT_TEXT_PARAMS))
    assert settings_for(model) == expected


def test_an_index_records_and_uses_its_models_settings(monkeypatch, tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", make_corpus(40))
    monkeypatch.setitem(ranking.MODEL_SETTINGS, FakeEncoder.name, (OTHER_PAPER, OTHER_SHORT))
    build_index([corpus], tmp_path / "ix", model=FakeEncoder(), progress=False)
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    assert manifest["precomputed"]["params"] == OTHER_PAPER.describe()
    index = Index.open(tmp_path / "ix", encoder=FakeEncoder())
    assert (index.ranker.hybrid, index.ranker.short_text) == (OTHER_PAPER, OTHER_SHORT)
    assert index.lists_current  # made with the settings it ranks with
    live = index.live_only()
    assert [n.pmid for n in index.similar("1000", n=10).neighbors] == [
        n.pmid for n in live.similar("1000", n=10).neighbors
    ]
    default = index.with_params(HybridParams(), SHORT_TEXT_PARAMS)
    assert (
        index.ranker.search("hybrid", Query(row=0), 10)[0].tolist()
        != default.ranker.search("hybrid", Query(row=0), 10)[0].tolist()
    )
    monkeypatch.delitem(ranking.MODEL_SETTINGS, FakeEncoder.name)  # the model's row changed: its lists are stale
    assert not Index.open(tmp_path / "ix", encoder=FakeEncoder()).lists_current


def test_the_suite_measures_each_model_once_and_each_model_free_method_once(tmp_path):
    corpus, judgments = _by_topic(tmp_path, 6)
    small, big = FakeEncoder(dim=16), FakeEncoder(dim=64)
    small.name, small.fingerprint, big.name, big.fingerprint = "small", "s1", "big", "b1"
    benchmarks = [Benchmark("by-pmid", "pmid", corpus, judgments), Benchmark("rerank", "rerank", corpus, judgments)]
    lines: list[str] = []
    results = run_suite(benchmarks, tmp_path / "out", models=[small, big], progress=False, echo=lines.append)
    assert list(results["models"]) == ["small", "big"] and results["default_model"] == "small"
    for name in ("by-pmid", "rerank"):
        one, two = (results["models"][m]["benchmarks"][name]["summary"] for m in ("small", "big"))
        assert list(one) == list(two) == ["hybrid", "dense", "tfidf", "bm25", "pmra"]
        assert all(one[m] == two[m] for m in results["shared_methods"])
    for model, dim in (("small", 16), ("big", 64)):
        cost = results["models"][model]["cost"]
        assert cost["docs_per_s"] > 0 and cost["index_bytes"] > 0 and cost["query_p50_ms"]["hybrid"] > 0
        assert results["models"][model]["model"]["dim"] == dim
    assert set(results["model_choice"]["challengers"]["big"]["benchmarks"]) == {"by-pmid", "rerank"}
    assert lines[-1].startswith("Default model: ")
    assert small.encoded == big.encoded  # each model embedded the corpus (and its timed sample) once
    on_disk = json.loads((tmp_path / "out" / "suite.json").read_text())
    assert summary_table(on_disk) == summary_table(results)


def test_expected_figures_are_per_model(tmp_path):
    import yaml

    path = tmp_path / "q.yaml"
    entry = {"name": "a", "kind": "pmid", "corpus": "c", "judgments": "j"}
    path.write_text(
        yaml.safe_dump(
            {
                "models": ["small", "big"],
                "suite": [
                    {
                        **entry,
                        "expected": {"hybrid": {"ndcg@10": 0.6}},
                        "expected_by_model": {"big": {"hybrid": {"ndcg@10": 0.7}}},
                    }
                ],
            }
        )
    )
    benchmarks, _ = load_suite(path)
    expected = expected_figures(benchmarks)
    assert expected == {"a": {"small": {"hybrid": {"ndcg@10": 0.6}}, "big": {"hybrid": {"ndcg@10": 0.7}}}}
    results = {"models": {"small": {"benchmarks": {"a": _bench(0.6)}}, "big": {"benchmarks": {"a": _bench(0.65)}}}}
    lines: list[str] = []
    assert not check_suite(results, expected, 0.005, lines.append)
    assert lines == [
        "OK   a [small] hybrid ndcg@10: 0.6000 (expected 0.6000 ± 0.005)",
        "FAIL a [big] hybrid ndcg@10: 0.6500 (expected 0.7000 ± 0.005)",
    ]
    lines.clear()
    only_small = {"models": {"small": {"benchmarks": {"a": _bench(0.6)}}}}  # a model not run is said, not checked
    assert check_suite(only_small, expected, 0.005, lines.append)
    assert lines == [
        "NOT CHECKED model big: not in this run",
        "OK   a hybrid ndcg@10: 0.6000 (expected 0.6000 ± 0.005)",
    ]


@pytest.mark.parametrize(
    "models, message",
    [
        ("all-MiniLM-L6-v2", "`models:` must be a list of model names or folders, got 'all-MiniLM-L6-v2'"),
        ([""], "`models:` must be a list of model names or folders, got ['']"),
    ],
)
def test_bad_model_lists_are_one_line(tmp_path, models, message):
    import yaml

    path = tmp_path / "q.yaml"
    path.write_text(yaml.safe_dump({"models": models, "suite": [{"name": "a", "corpus": "c", "judgments": "j"}]}))
    with pytest.raises(SimilarError) as info:
        load_suite(path)
    assert str(info.value) == message


def test_cache_only_embeds_nothing(tmp_path):
    inner = FakeEncoder()
    cached = CachedEncoder(inner, tmp_path / "cache")
    cached.encode(["a cached text"])
    strict = CachedEncoder(inner, tmp_path / "cache", embed=False)
    assert strict.encode(["a cached text"]).shape == (1, 64)
    with pytest.raises(SimilarError) as info:
        strict.encode(["a cached text", "a new text"])
    assert str(info.value) == (
        "1 of 2 texts have no cached vector of fake-hash (fake0001) and this run may not embed (--cache-only)"
    )
    assert inner.encoded == 1


P1 = HybridParams(dense_weight=0.3)
P2 = HybridParams(dense_weight=0.5)


@pytest.mark.parametrize(
    "scores, chosen",
    [
        ({P1: {"a": 0.60, "b": 0.50}, P2: {"a": 0.70, "b": 0.45}}, P1),  # P2 is better on average, worse at worst
        ({P1: {"a": 0.60, "b": 0.50}, P2: {"a": 0.70, "b": 0.50}}, P2),  # the same worst margin: the mean decides
        ({P1: {"a": 0.50, "b": 0.40}}, P1),  # below the best single method everywhere: still the best there is
    ],
)
def test_tuning_chooses_a_setting_by_its_worst_benchmark(scores, chosen):
    from similar.bench.tuning import choose

    got = choose(scores, {"a": 0.55, "b": 0.48})
    assert got is not None and got["params"] == chosen.describe()
    assert got["worst_margin"] == pytest.approx(min(v - {"a": 0.55, "b": 0.48}[b] for b, v in scores[chosen].items()))


def test_tuning_prints_the_row_of_the_settings_table(tmp_path):
    from similar.bench.tuning import run_tuning, tuning_markdown

    corpus, judgments = _by_topic(tmp_path, 4)
    benchmarks = [Benchmark("by-pmid", "pmid", corpus, judgments), Benchmark("titles", "title", corpus, judgments)]
    tuned = run_tuning(benchmarks, tmp_path / "tune", model=FakeEncoder(), progress=False)
    paper, short = tuned["chosen"]["paper"], tuned["chosen"]["short_text"]
    assert set(paper["ndcg@10"]) == {"by-pmid"} and set(short["ndcg@10"]) == {"titles"}
    assert short["params"]["expansion"] == 0.0  # short texts: plain fusion only
    text = tuning_markdown(tuned)
    assert "## Chosen for fake-hash" in text
    assert f'"fake-hash": (\n    {paper["python"]},\n    {short["python"]},\n),' in text
    assert eval(paper["python"], {"HybridParams": HybridParams}).describe() == paper["params"]


def test_a_model_to_compare_that_is_not_here_is_said_and_left_out(tmp_path):
    corpus, judgments = _by_topic(tmp_path, 1)
    lines: list[str] = []
    results = run_suite(
        [Benchmark("by-pmid", "pmid", corpus, judgments)],
        tmp_path / "out",
        models=[FakeEncoder(), "no-such-model"],
        progress=False,
        echo=lines.append,
        cost_sample=0,
    )
    assert list(results["models"]) == ["fake-hash"] and "model_choice" not in results
    assert results["models"]["fake-hash"]["cost"]["docs_per_s"] is None  # --cost-sample 0: not measured
    assert results["skipped_models"]["no-such-model"].startswith("model 'no-such-model' not found")
    assert any(
        line.startswith("note: model no-such-model not measured (model 'no-such-model' not found") for line in lines
    )
    assert "Model no-such-model not measured: model 'no-such-model' not found" in suite_markdown(results)


def test_the_check_fails_a_model_with_expected_figures_that_was_not_measured(tmp_path):
    corpus, judgments = _by_topic(tmp_path, 1)
    results = run_suite(
        [Benchmark("by-pmid", "pmid", corpus, judgments)],
        tmp_path / "out",
        models=[FakeEncoder(), "no-such-model", "other-absent"],
        progress=False,
        cost_sample=0,
    )
    lines: list[str] = []
    got = results["models"]["fake-hash"]["benchmarks"]["by-pmid"]["summary"]["hybrid"]["ndcg@10"]["mean"]
    expected = {"by-pmid": {"fake-hash": {"hybrid": {"ndcg@10": got}}, "no-such-model": {"hybrid": {"ndcg@10": 0.5}}}}
    assert not check_suite(results, expected, 0.005, echo=lines.append)
    assert lines[0].startswith("FAIL model no-such-model has expected figures but was not measured: model 'no-such")
    assert any(
        line.startswith("OK   by-pmid [fake-hash] hybrid") or line.startswith("OK   by-pmid hybrid") for line in lines
    )
    assert not any("other-absent" in line for line in lines)  # asked for, absent, but nothing expected of it
    del expected["by-pmid"]["no-such-model"]
    assert check_suite(results, expected, 0.005, echo=lines.append)


def test_expected_figures_are_keyed_by_model_name_and_only_for_listed_models(tmp_path):
    """A model given by folder has its figures under the folder's name (as its results are); figures of a model the
    suite does not list are a one-line error, not silently never checked."""
    corpus, judgments = _by_topic(tmp_path, 1)
    entry = {"name": "b", "kind": "pmid", "corpus": str(corpus), "judgments": str(judgments)}
    listed = tmp_path / "listed.yaml"
    listed.write_text(
        yaml.safe_dump(
            {
                "models": ["all-MiniLM-L6-v2", str(tmp_path / "mine")],
                "suite": [{**entry, "expected_by_model": {str(tmp_path / "mine"): {"dense": {"ndcg@10": 0.5}}}}],
            }
        )
    )
    benchmarks, _ = load_suite(listed)
    assert expected_figures(benchmarks) == {"b": {"mine": {"dense": {"ndcg@10": 0.5}}}}
    unlisted = tmp_path / "unlisted.yaml"
    unlisted.write_text(
        yaml.safe_dump({"suite": [{**entry, "expected_by_model": {"other": {"dense": {"ndcg@10": 0.5}}}}]})
    )
    with pytest.raises(SimilarError, match="expects figures of model 'other', which `models:` does not list"):
        load_suite(unlisted)


def test_the_check_says_which_expected_models_this_run_left_out():
    results = {"models": {"small": {"benchmarks": {"b": {"summary": {"hybrid": {"ndcg@10": {"mean": 0.5}}}}}}}}
    expected = {"b": {"small": {"hybrid": {"ndcg@10": 0.5}}, "big": {"hybrid": {"ndcg@10": 0.6}}}}
    lines: list[str] = []
    assert check_suite(results, expected, 0.005, echo=lines.append)
    assert "NOT CHECKED model big: not in this run" in lines
