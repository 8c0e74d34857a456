"""`similar bench quality`: every method on graded doc-to-doc judgments, re-rank and full protocols, with intervals."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from .. import methods as registry
from .. import store
from ..build import build_index
from ..encoders import CachedEncoder, ModelUnavailable, load_encoder
from ..errors import SimilarError
from ..index import Index
from . import report, reuse
from .metrics import all_metrics, bootstrap_ci, paired_difference

PROTOCOLS = ("full", "rerank")
FULL_DEPTH = 100


def read_judgments(path: str | Path) -> dict[str, dict[str, int]]:
    """RELISH-format TSV (seed, candidate, grade; no header; .gz ok) -> {seed: {candidate: grade}}."""
    path = Path(path)
    if not path.is_file():
        raise SimilarError(f"judgments file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    out: dict[str, dict[str, int]] = defaultdict(dict)
    with opener(path, "rt", encoding="utf-8") as f:
        for number, row in enumerate(csv.reader(f, delimiter="\t"), start=1):
            if not row or not "".join(row).strip():
                continue
            if (
                len(row) != 3
                or not row[0].strip().isdigit()
                or not row[1].strip().isdigit()
                or row[2].strip() not in ("0", "1", "2")
            ):
                raise SimilarError(
                    f"{path.name}:{number}: expected 'seed_pmid<TAB>candidate_pmid<TAB>grade (0-2)', got {row!r}"
                )
            out[str(int(row[0]))][str(int(row[1]))] = int(row[2])
    if not out:
        raise SimilarError(f"no judgments in {path}")
    return dict(out)


def read_topics(path: str | Path | None) -> dict[str, str]:
    if not path:
        return {}
    with open(path) as f:
        return {r[0]: r[1] for r in csv.reader(f, delimiter="\t") if len(r) >= 2}


def evaluate(
    index: Index,
    judgments: dict[str, dict[str, int]],
    methods: Sequence[str],
    label: dict[str, str] | None = None,
    progress: bool = False,
) -> dict:
    """Per-seed metrics for each method under both protocols, plus coverage counts (nothing dropped silently)."""
    label = label or {}
    coverage = {
        "seeds": len(judgments),
        "seeds_without_text": 0,
        "seeds_without_judged_candidates": 0,
        "self_pairs_dropped": 0,
        "candidates": 0,
        "candidates_of_seeds_with_text": 0,
        "candidates_without_text": 0,
    }
    usable: dict[str, dict[str, int]] = {}
    for seed, judged in judgments.items():
        if seed in judged:
            coverage["self_pairs_dropped"] += 1
        judged = {c: g for c, g in judged.items() if c != seed}
        coverage["candidates"] += len(judged)
        if seed not in index:
            coverage["seeds_without_text"] += 1
            continue
        present = {c: g for c, g in judged.items() if c in index}
        coverage["candidates_of_seeds_with_text"] += len(judged)
        coverage["candidates_without_text"] += len(judged) - len(present)
        if not present:
            coverage["seeds_without_judged_candidates"] += 1
            continue
        usable[seed] = present
    coverage["seeds_evaluated"] = len(usable)

    per_seed: dict[str, dict[str, dict[str, dict]]] = {p: {} for p in PROTOCOLS}
    timings = {}
    for method in methods:
        name = label.get(method, method)
        for protocol in PROTOCOLS:
            per_seed[protocol][name] = {}
        started = time.perf_counter()
        for seed, judged in tqdm(usable.items(), desc=name, unit=" seed", disable=not progress, leave=False):
            per_seed["full"][name][seed] = all_metrics(index.ranked(seed, method, FULL_DEPTH), judged, full=True)
            per_seed["rerank"][name][seed] = all_metrics(
                index.rank_candidates(seed, list(judged), method), judged, full=False
            )
        timings[name] = round((time.perf_counter() - started) / max(len(usable), 1) * 1000, 3)
    return {"coverage": coverage, "per_seed": per_seed, "ms_per_seed": timings}


def means(by_method: dict[str, dict[str, dict]]) -> dict:
    """{method: {query: metrics}} -> {method: {metric: mean and 95% bootstrap interval over the queries}}."""
    out = {}
    for method, queries in by_method.items():
        metrics = sorted(next(iter(queries.values())).keys()) if queries else []
        out[method] = {
            m: {
                "mean": float(np.mean([v[m] for v in queries.values()])),
                "ci": list(bootstrap_ci([v[m] for v in queries.values()])),
            }
            for m in metrics
        }
    return out


def paired_against(by_method: dict[str, dict[str, dict]], base: str) -> dict:
    """nDCG@10 of `base` minus every other method over the same queries, with its bootstrap interval."""
    if base not in by_method:
        return {}
    keys = sorted(by_method[base])
    mine = [by_method[base][k]["ndcg@10"] for k in keys]
    return {
        other: paired_difference(mine, [vals[k]["ndcg@10"] for k in keys])
        for other, vals in by_method.items()
        if other != base
    }


def per_topic(by_method: dict[str, dict[str, dict]], topics: dict[str, str]) -> dict:
    """Mean nDCG@10 per topic, for each method (empty without topics)."""
    out = {}
    for method, queries in by_method.items() if topics else ():
        groups = defaultdict(list)
        for key, vals in queries.items():
            groups[topics.get(key, "?")].append(vals["ndcg@10"])
        out[method] = {t: float(np.mean(v)) for t, v in sorted(groups.items())}
    return out


def summarize(per_seed: dict, topics: dict[str, str], baseline: str | None) -> dict:
    """Means with 95% bootstrap intervals; paired differences against every other method; per-topic nDCG@10."""
    return {
        "summary": {protocol: means(by_method) for protocol, by_method in per_seed.items()},
        "paired_ndcg@10": {
            protocol: paired_against(by_method, baseline)
            for protocol, by_method in per_seed.items()
            if baseline and baseline in by_method
        },
        "per_topic_ndcg@10": per_topic(per_seed["full"], topics),
    }


def run_quality(
    corpus: str | Path,
    judgments_path: str | Path,
    models: Sequence[str] = (),
    name: str | None = None,
    out_dir: str | Path = "benchmarks/results",
    topics_path: str | Path | None = None,
    methods: Sequence[str] | None = None,
    progress: bool = True,
) -> dict:
    """Build (from the embedding cache when warm) and evaluate; write JSON, markdown and a chart."""
    started = time.time()
    corpus = Path(corpus)
    judgments = read_judgments(judgments_path)
    topics = read_topics(topics_path)
    name = name or f"{corpus.name.split('.')[0]}-{Path(judgments_path).name.split('.')[0]}"
    models = list(models) or [None]
    per_seed: dict = {p: {} for p in PROTOCOLS}
    coverage, timings, model_info = None, {}, []
    with tempfile.TemporaryDirectory(prefix="similar-bench-") as tmp:
        for i, model in enumerate(models):
            try:
                encoder = CachedEncoder(load_encoder(model))
            except ModelUnavailable as exc:
                print(f"note: no dense method ({exc})", file=sys.stderr)
                encoder = None
            say = (lambda line: print(line, file=sys.stderr)) if progress else (lambda line: None)
            reuse.estimate([reuse.plan(corpus, encoder)], encoder, say)  # vectors an index of this file already has
            dest = Path(tmp) / f"index-{i}"
            build_index([corpus], dest, model=encoder, method="auto" if encoder else "tfidf", progress=progress)
            index = Index.open(dest, encoder=encoder)
            wanted = [m for m in (methods or index.methods) if m in index.methods]
            same_for_every_model = registry.names(vectors=False)  # answered without the model: measured once
            if i > 0:
                wanted = [m for m in wanted if m not in same_for_every_model]
            tag = "" if len(models) == 1 or encoder is None else f"[{encoder.name}]"
            label = {m: (f"{m}{tag}" if m not in same_for_every_model else m) for m in wanted}
            result = evaluate(index, judgments, wanted, label, progress)
            coverage = coverage or result["coverage"]
            for p in PROTOCOLS:
                per_seed[p].update(result["per_seed"][p])
            timings.update(result["ms_per_seed"])
            if encoder is not None:
                model_info.append(encoder.describe())
    baseline = next((m for m in per_seed["full"] if m.startswith("hybrid")), None)
    results = {
        "name": name,
        "command": " ".join(["similar"] + sys.argv[1:]) if Path(sys.argv[0]).name == "similar" else None,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "data": {
            "corpus": {"path": str(corpus), "sha256": store.file_sha256(corpus)},
            "judgments": {"path": str(judgments_path), "sha256": store.file_sha256(Path(judgments_path))},
            "topics": str(topics_path) if topics_path else None,
        },
        "models": model_info,
        "versions": store.library_versions(),
        "coverage": coverage,
        "ms_per_seed": timings,
        **summarize(per_seed, topics, baseline),
        "seconds": round(time.time() - started, 1),
    }
    report.write_quality(results, per_seed, Path(out_dir))
    return results
