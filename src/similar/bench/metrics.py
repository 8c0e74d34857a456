"""Ranking metrics on graded judgments (nDCG, P@k, MAP, Recall), bootstrap intervals and paired comparisons."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

BOOTSTRAP_SAMPLES = 2000


def dcg(grades: Sequence[int], k: int) -> float:
    """Discounted cumulative gain with gain 2^grade - 1 and log2(rank + 1) discount."""
    return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(list(grades)[:k]))


def ndcg_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """nDCG@k of a ranked list; the ideal list is every judged paper sorted by grade. Unjudged count as 0."""
    ideal = dcg(sorted(judged.values(), reverse=True), k)
    if ideal == 0:
        return 0.0
    return dcg([judged.get(p, 0) for p in ranked], k) / ideal


def precision_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int, min_grade: int = 1) -> float:
    """Share of the top k with grade >= min_grade (a short list still divides by k)."""
    return sum(judged.get(p, 0) >= min_grade for p in list(ranked)[:k]) / k


def average_precision(ranked: Sequence[str], judged: Mapping[str, int], min_grade: int = 2) -> float:
    """Mean of precision at each relevant hit, over all relevant judged papers (grade >= min_grade)."""
    relevant = sum(g >= min_grade for g in judged.values())
    if relevant == 0:
        return 0.0
    hits, total = 0, 0.0
    for i, p in enumerate(ranked):
        if judged.get(p, 0) >= min_grade:
            hits += 1
            total += hits / (i + 1)
    return total / relevant


def recall_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int, min_grade: int = 1) -> float:
    relevant = {p for p, g in judged.items() if g >= min_grade}
    if not relevant:
        return 0.0
    return len(relevant & set(list(ranked)[:k])) / len(relevant)


def all_metrics(ranked: Sequence[str], judged: Mapping[str, int], full: bool) -> dict[str, float]:
    out = {
        "ndcg@10": ndcg_at_k(ranked, judged, 10),
        "ndcg@20": ndcg_at_k(ranked, judged, 20),
        "p@5": precision_at_k(ranked, judged, 5),
        "p@10": precision_at_k(ranked, judged, 10),
        "map": average_precision(ranked, judged),
    }
    if full:
        out["recall@100"] = recall_at_k(ranked, judged, 100)
    return out


def bootstrap_ci(
    values: Sequence[float], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over seeds."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(samples, len(values)))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def paired_difference(a: Sequence[float], b: Sequence[float], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> dict:
    """Mean of a - b over the same seeds, with its bootstrap interval; 'significant' when the interval excludes 0."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    lo, hi = bootstrap_ci(diff, samples, seed)
    return {"diff": float(diff.mean()), "ci": [lo, hi], "significant": bool(lo > 0 or hi < 0)}
