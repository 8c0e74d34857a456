"""Benchmark harness on hand-computed examples: metrics, intervals, paired differences, judgments, evaluation."""

import math

import numpy as np
import pytest

from similar.bench.metrics import (
    average_precision,
    bootstrap_ci,
    dcg,
    ndcg_at_k,
    paired_difference,
    precision_at_k,
    recall_at_k,
)
from similar.bench.quality import evaluate, read_judgments
from similar.build import build_index
from similar.errors import SimilarError
from similar.index import Index

JUDGED = {"a": 2, "b": 1, "c": 0, "d": 2}


def test_dcg_by_hand():
    assert dcg([2, 1, 0], 3) == pytest.approx(3 / 1 + 1 / math.log2(3) + 0)


def test_ndcg_hand_example():
    ranked = ["c", "a", "b"]
    got = (0 + 3 / math.log2(3) + 1 / 2) / (3 + 3 / math.log2(3) + 1 / 2)
    assert ndcg_at_k(ranked, JUDGED, 3) == pytest.approx(got)


def test_perfect_ranking_scores_one():
    assert ndcg_at_k(["a", "d", "b", "c"], JUDGED, 10) == pytest.approx(1.0)
    assert average_precision(["a", "d", "x"], JUDGED) == 1.0


def test_precision_map_recall_by_hand():
    ranked = ["x", "a", "c", "b", "d"]
    assert precision_at_k(ranked, JUDGED, 5) == pytest.approx(3 / 5)
    assert precision_at_k(ranked, JUDGED, 10) == pytest.approx(3 / 10)
    assert average_precision(ranked, JUDGED) == pytest.approx((1 / 2 + 2 / 5) / 2)
    assert recall_at_k(ranked, JUDGED, 2) == pytest.approx(1 / 3)
    assert ndcg_at_k(ranked, {"z": 0}, 10) == 0.0


def test_bootstrap_interval_contains_the_mean():
    values = np.random.default_rng(3).uniform(0, 1, 200)
    lo, hi = bootstrap_ci(values)
    assert lo < values.mean() < hi and hi - lo < 0.2
    assert bootstrap_ci([0.5] * 10) == (0.5, 0.5)


def test_paired_difference():
    a = np.linspace(0.5, 0.9, 50)
    d = paired_difference(a, a - 0.1)
    assert d["diff"] == pytest.approx(0.1) and d["significant"] and d["ci"][0] == pytest.approx(0.1)
    assert not paired_difference(a, a)["significant"]


@pytest.mark.parametrize(
    "line,message",
    [
        ("1\t2", "j.tsv:1: expected 'seed_pmid<TAB>candidate_pmid<TAB>grade (0-2)', got ['1', '2']"),
        ("1\t2\t3", "j.tsv:1: expected 'seed_pmid<TAB>candidate_pmid<TAB>grade (0-2)', got ['1', '2', '3']"),
        ("x\t2\t1", "j.tsv:1: expected 'seed_pmid<TAB>candidate_pmid<TAB>grade (0-2)', got ['x', '2', '1']"),
    ],
)
def test_bad_judgments(tmp_path, line, message):
    (tmp_path / "j.tsv").write_text(line + "\n")
    with pytest.raises(SimilarError) as exc:
        read_judgments(tmp_path / "j.tsv")
    assert str(exc.value) == message


def test_evaluate_reports_coverage_and_a_perfect_oracle(tmp_path, corpus_file, fake_encoder):
    build_index([corpus_file], tmp_path / "ix", model=fake_encoder, progress=False)
    index = Index.open(tmp_path / "ix")
    result = index.similar("1000", n=10, method="dense")
    judged = {n.pmid: 2 for n in result.neighbors[:3]} | {"1000": 2, "77777": 1}
    judgments = {"1000": judged, "88888": {"1000": 1}}
    out = evaluate(index, judgments, ["dense", "tfidf"])
    cov = out["coverage"]
    assert cov["seeds_evaluated"] == 1 and cov["seeds_without_text"] == 1
    assert cov["self_pairs_dropped"] == 1 and cov["candidates_without_text"] == 1
    # the judged papers are dense's own top 3, so dense ranks them perfectly under both protocols
    assert out["per_seed"]["full"]["dense"]["1000"]["ndcg@10"] == pytest.approx(1.0)
    assert out["per_seed"]["rerank"]["dense"]["1000"]["ndcg@10"] == pytest.approx(1.0)
    assert out["per_seed"]["full"]["dense"]["1000"]["recall@100"] == pytest.approx(1.0)
