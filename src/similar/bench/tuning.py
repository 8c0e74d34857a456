"""`similar bench tune`: score ranking ideas and choose hybrid settings by leave-one-topic-out cross-validation."""
from __future__ import annotations

import datetime as dt
import itertools
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..build import build_index
from ..encoders import CachedEncoder, load_encoder
from ..index import Index
from ..ranking import HybridParams, Query, Ranker
from .metrics import bootstrap_ci, ndcg_at_k
from .quality import read_judgments, read_topics

GRID = {
    "dense_weight": (0.4, 0.5, 0.6),
    "neighbours": (5, 8, 10, 12),
    "expansion": (2.0, 3.0, 4.0, 5.0),
    "second_hop": (0.0, 2.0, 3.0, 4.0, 5.0),
}

# named ideas, each one setting of the hybrid; kept or not, each lands in the results with its figure
NO_EXPANSION = dict(neighbours=0, expansion=0.0, second_hop=0.0)
IDEAS = {
    "fusion: dense + tfidf cosine, equal weights": HybridParams(lexical="tfidf", **NO_EXPANSION),
    "fusion: dense + normalized bm25, equal weights": HybridParams(**NO_EXPANSION),
    "fusion: dense + normalized bm25, dense weight 0.7": HybridParams(dense_weight=0.7, **NO_EXPANSION),
    "one-hop expansion only (second hop off)": HybridParams(second_hop=0.0),
    "one-hop expansion only, tfidf fusion": HybridParams(lexical="tfidf", second_hop=0.0),
    "two-hop expansion, tfidf fusion": HybridParams(lexical="tfidf"),
    "two-hop expansion: 5 voters, weights 3 and 3": HybridParams(neighbours=5, expansion=3.0, second_hop=3.0),
    "two-hop expansion: 12 voters, weights 5 and 5 (default)": HybridParams(),
    "default over a pool of 50": HybridParams(pool=50),
    "default over a pool of 200": HybridParams(pool=200),
}


def _per_seed(index: Index, params: HybridParams, usable: dict[str, dict[str, int]]) -> dict[str, float]:
    ranker = Ranker(index.ranker.dense, index.ranker.lexical, index.live, params)
    out = {}
    for seed, judged in usable.items():
        _, rows = ranker.search("hybrid", Query(row=index.row(seed)), 10)
        out[seed] = ndcg_at_k(index.pmids[rows].tolist(), judged, 10)
    return out


def grid() -> list[HybridParams]:
    return [HybridParams(dense_weight=w, neighbours=m, expansion=b, second_hop=g)
            for w, m, b, g in itertools.product(*GRID.values())]


def leave_one_topic_out(scores: dict[HybridParams, dict[str, float]], topics: dict[str, str]) -> dict:
    """For each topic, pick the setting best on the other topics and score it on the held-out one."""
    by_topic = defaultdict(list)
    for seed in next(iter(scores.values())):
        by_topic[topics.get(seed, "?")].append(seed)
    folds, held_out = [], {}
    for topic, seeds in sorted(by_topic.items()):
        train = [s for t, ss in by_topic.items() if t != topic for s in ss]
        best = max(scores, key=lambda p: np.mean([scores[p][s] for s in train]))
        for s in seeds:
            held_out[s] = scores[best][s]
        folds.append({"topic": topic, "seeds": len(seeds), "chosen": best.describe(),
                      "train_ndcg@10": float(np.mean([scores[best][s] for s in train])),
                      "heldout_ndcg@10": float(np.mean([scores[best][s] for s in seeds]))})
    values = list(held_out.values())
    return {"folds": folds, "cv_ndcg@10": float(np.mean(values)), "ci": list(bootstrap_ci(values)),
            "per_topic": {f["topic"]: f["heldout_ndcg@10"] for f in folds}}


def run_tuning(corpus: str | Path, judgments_path: str | Path, topics_path: str | Path, model: str | None = None,
               out_dir: str | Path = "benchmarks/results", name: str = "hybrid-cv", progress: bool = True) -> dict:
    started = time.time()
    judgments = read_judgments(judgments_path)
    topics = read_topics(topics_path)
    encoder = CachedEncoder(load_encoder(model))
    with tempfile.TemporaryDirectory(prefix="similar-tune-") as tmp:
        build_index([corpus], Path(tmp) / "ix", model=encoder, progress=progress)
        index = Index.open(Path(tmp) / "ix", encoder=encoder)
        usable = {s: {c: g for c, g in j.items() if c != s and c in index} for s, j in judgments.items() if s in index}
        usable = {s: j for s, j in usable.items() if j}
        settings = list(dict.fromkeys(grid() + list(IDEAS.values())))
        scores = {p: _per_seed(index, p, usable) for p in settings}
        dense_only = {}
        for seed, judged in usable.items():
            _, rows = index.ranker.search("dense", Query(row=index.row(seed)), 10)
            dense_only[seed] = ndcg_at_k(index.pmids[rows].tolist(), judged, 10)
    cv = leave_one_topic_out(scores, topics)
    ideas = [{"idea": name_, "params": p.describe(), "ndcg@10": float(np.mean(list(scores[p].values()))),
              "ci": list(bootstrap_ci(list(scores[p].values())))} for name_, p in IDEAS.items()]
    ideas.insert(0, {"idea": "dense alone (baseline)", "params": None, "ndcg@10": float(np.mean(list(dense_only.values()))),
                     "ci": list(bootstrap_ci(list(dense_only.values())))})
    ranked = sorted(scores, key=lambda p: -np.mean(list(scores[p].values())))
    results = {
        "name": name, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "corpus": str(corpus), "judgments": str(judgments_path), "topics": str(topics_path),
        "model": encoder.describe(), "seeds": len(usable), "grid": {k: list(v) for k, v in GRID.items()},
        "default": HybridParams().describe(),
        "default_ndcg@10": float(np.mean(list(scores[HybridParams()].values()))),
        "cross_validation": cv, "ideas": ideas,
        "top_settings": [{"params": p.describe(), "ndcg@10": float(np.mean(list(scores[p].values())))} for p in ranked[:10]],
        "seconds": round(time.time() - started, 1),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / f"{name}.md").write_text(tuning_markdown(results))
    return results


def _params(p: dict | None) -> str:
    if not p:
        return "-"
    return (f"w={p['dense_weight']} {p['lexical']} m={p['neighbours']} beta={p['expansion']} "
            f"gamma={p.get('second_hop', 0.0)} pool={p['pool']}")


def tuning_markdown(r: dict) -> str:
    cv = r["cross_validation"]
    lines = [f"# Hybrid ranking: ideas and cross-validation ({r['name']})", "",
             f"Date {r['date']}; corpus `{r['corpus']}`; judgments `{r['judgments']}` (full protocol, nDCG@10); "
             f"{r['seeds']} seeds; model {r['model']['name']} ({r['model']['fingerprint']}). Command: "
             f"`similar bench tune --corpus {r['corpus']} --judgments {r['judgments']} --topics {r['topics']}`", "",
             f"Default setting: {_params(r['default'])}: nDCG@10 {r['default_ndcg@10']:.3f} on all dev seeds.", "",
             f"Leave-one-topic-out cross-validation over {len(cv['folds'])} topics (setting chosen on 9 topics, scored on the "
             f"held-out one): **nDCG@10 {cv['cv_ndcg@10']:.3f} [{cv['ci'][0]:.3f}, {cv['ci'][1]:.3f}]**.", "",
             "| held-out topic | seeds | chosen on the other topics | train nDCG@10 | held-out nDCG@10 |", "|---|---|---|---|---|"]
    for f in cv["folds"]:
        lines.append(f"| {f['topic']} | {f['seeds']} | {_params(f['chosen'])} | {f['train_ndcg@10']:.3f} | {f['heldout_ndcg@10']:.3f} |")
    lines += ["", "## Ideas tried (all dev seeds)", "", "| idea | setting | nDCG@10 | 95% interval |", "|---|---|---|---|"]
    for i in r["ideas"]:
        lines.append(f"| {i['idea']} | {_params(i['params'])} | {i['ndcg@10']:.3f} | [{i['ci'][0]:.3f}, {i['ci'][1]:.3f}] |")
    lines += ["", "## Best grid settings (all dev seeds; optimistic, see the cross-validated figure above)", "",
              "| setting | nDCG@10 |", "|---|---|"]
    for t in r["top_settings"]:
        lines.append(f"| {_params(t['params'])} | {t['ndcg@10']:.3f} |")
    return "\n".join(lines) + "\n"
