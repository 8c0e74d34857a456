"""`similar bench collections`: k seeds of one topic retrieve the rest of it; negatives from a confusable topic are kept out."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from .. import store
from ..collection import allowed_rows, lists_for, recommend_collection
from ..index import Index
from ..ranking import Query
from ..recommend import METHODS
from .metrics import bootstrap_ci, ndcg_at_k, paired_difference
from .quality import read_judgments, read_topics

SIZES = (1, 3, 10)
DRAWS = 10  # collections drawn per group and size (fewer where the group has fewer distinct ones)
TOP = 10
TIMED_COLLECTION = 500
TARGETS = {3: 0.05, 10: 0.08}  # nDCG@10 gain over the average single seed
NEGATIVE_CUT = 0.5


def trec_groups(judgments: dict, topics: dict) -> dict[str, dict[str, int]]:
    """TREC topic -> {paper: grade} for its relevant papers: the topic's seeds (grade 2) and every candidate judged >= 1."""
    groups: dict[str, dict[str, int]] = defaultdict(dict)
    for seed, topic in topics.items():
        if seed not in judgments:
            continue
        groups[topic][seed] = 2
        for c, g in judgments[seed].items():
            if g >= 1:
                groups[topic][c] = max(g, groups[topic].get(c, 0))
    return dict(groups)


def mesh_groups(judgments: dict) -> dict[str, dict[str, int]]:
    """MeSH-overlap seed -> its 'topic': the seed (grade 2) and its judged candidates (grades 0-2; collections draw grade 2)."""
    return {seed: {seed: 2, **{c: g for c, g in judged.items() if c != seed}} for seed, judged in judgments.items()}


def _centroids(index: Index, members: dict[str, list[int]]) -> dict[str, np.ndarray]:
    out = {}
    for name, rows in members.items():
        c = index.vectors(rows).mean(axis=0)
        out[name] = c / max(float(np.linalg.norm(c)), 1e-9)
    return out


def confusable(index: Index, members: dict[str, list[int]]) -> dict[str, str]:
    """Each group's nearest other group by centroid cosine (its most confusable neighbour)."""
    cents = _centroids(index, members)
    names = sorted(cents)
    m = np.vstack([cents[n] for n in names])
    sims = m @ m.T
    np.fill_diagonal(sims, -np.inf)
    return {n: names[int(np.argmax(sims[i]))] for i, n in enumerate(names)}


def draw(
    pool: list[int], k: int, draws: int, rng: np.random.Generator, first: int | None = None
) -> list[tuple[int, ...]]:
    """Up to `draws` distinct k-subsets of pool (always containing `first` when given), in a fixed random order."""
    seen, out = set(), []
    for _ in range(draws * 5):
        if first is None:
            pick = tuple(sorted(rng.choice(pool, k, replace=False).tolist()))
        else:
            rest = [p for p in pool if p != first]
            pick = tuple(sorted([first] + rng.choice(rest, k - 1, replace=False).tolist())) if k > 1 else (first,)
        if pick not in seen:
            seen.add(pick)
            out.append(pick)
        if len(out) == draws:
            break
    return out


def evaluate_dataset(
    index: Index,
    name: str,
    groups: dict[str, dict[str, int]],
    draw_from: dict[str, list[str]],
    anchored: bool,
    methods,
    rng_seed: int = 0,
    draws: int = DRAWS,
    params=None,
) -> list[dict]:
    """One record per (group, k, draw): nDCG@10 of each method with and without negatives, and of each single seed."""
    rng = np.random.default_rng(rng_seed)
    present = {g: {p: gr for p, gr in papers.items() if p in index} for g, papers in groups.items()}
    relevant_rows = {g: [index.row(p) for p, gr in papers.items() if gr >= 1] for g, papers in present.items()}
    members = {g: rows for g, rows in relevant_rows.items() if len(rows) >= 2}
    neighbour = confusable(index, members)
    lists = lists_for(index)
    allowed = allowed_rows(index, None, None)
    records = []
    for g in sorted(members):
        pool = sorted(index.row(p) for p in draw_from[g] if p in index)
        other = neighbour[g]
        mine = set(relevant_rows[g])
        negative_pool = sorted(set(relevant_rows[other]) - mine)
        for k in SIZES:
            if len(pool) < k or (anchored and index.row(g) not in pool):
                continue
            for collection in draw(pool, k, draws, rng, first=index.row(g) if anchored else None):
                judged = {index.pmids[r]: present[g][index.pmids[r]] for r in relevant_rows[g] if r not in collection}
                judged.update({p: gr for p, gr in present[g].items() if gr == 0})
                if not any(v > 0 for v in judged.values()):
                    continue
                n_neg = min(max(k, 3), len(negative_pool))
                negatives = sorted(rng.choice(negative_pool, n_neg, replace=False).tolist()) if n_neg else []
                confusers = set(negative_pool) - set(negatives)
                rec = {
                    "dataset": name,
                    "group": g,
                    "negative_group": other,
                    "k": k,
                    "seeds": [index.pmids[r] for r in collection],
                    "negatives": [index.pmids[r] for r in negatives],
                    "targets": sum(v > 0 for v in judged.values()),
                }
                single = []
                for r in collection:
                    s, rows = lists(Query(row=r), TOP + k)
                    rows = [x for x in rows.tolist() if x not in collection][:TOP]
                    single.append(ndcg_at_k(index.pmids[rows].tolist(), judged, TOP))
                rec["single"] = float(np.mean(single))
                rec["single_best"] = float(np.max(single))
                for method in methods:
                    pos = [Query(row=r) for r in collection]
                    plain = index.recommend_rows(pos, [], TOP, method, allowed, lists, params)
                    negd = index.recommend_rows(
                        pos, [Query(row=r) for r in negatives], TOP, method, allowed, lists, params
                    )
                    rec[method] = {
                        "ndcg@10": ndcg_at_k(index.pmids[plain.rows].tolist(), judged, TOP),
                        "ndcg@10_neg": ndcg_at_k(index.pmids[negd.rows].tolist(), judged, TOP),
                        "confusers": int(sum(r in confusers for r in plain.rows.tolist())),
                        "confusers_neg": int(sum(r in confusers for r in negd.rows.tolist())),
                    }
                records.append(rec)
    return records


def summarize(records: list[dict], methods) -> dict:
    """Per dataset and k: means with 95% intervals, paired gains over the average single seed, negatives' effect."""
    out: dict = {}
    by = defaultdict(list)
    for r in records:
        by[(r["dataset"], r["k"])].append(r)
    for (ds, k), recs in sorted(by.items()):
        single = [r["single"] for r in recs]
        row = {
            "collections": len(recs),
            "groups": len({r["group"] for r in recs}),
            "single": {"mean": float(np.mean(single)), "ci": list(bootstrap_ci(single))},
            "methods": {},
        }
        for m in methods:
            nd = [r[m]["ndcg@10"] for r in recs]
            nn = [r[m]["ndcg@10_neg"] for r in recs]
            c0 = sum(r[m]["confusers"] for r in recs)
            c1 = sum(r[m]["confusers_neg"] for r in recs)
            row["methods"][m] = {
                "ndcg@10": {"mean": float(np.mean(nd)), "ci": list(bootstrap_ci(nd))},
                "gain_over_single": paired_difference(nd, single),
                "ndcg@10_with_negatives": {"mean": float(np.mean(nn)), "ci": list(bootstrap_ci(nn))},
                "negatives_change_ndcg": paired_difference(nn, nd),
                "confusers_top10": c0 / len(recs),
                "confusers_top10_with_negatives": c1 / len(recs),
                "confusers_cut": (1 - c1 / c0) if c0 else None,
            }
        out.setdefault(ds, {})[str(k)] = row
    return out


def time_collection(index: Index, methods, size: int = TIMED_COLLECTION, repeats: int = 3) -> dict:
    """Seconds for a collection of `size` random PMIDs (and 10 negatives) through recommend_collection, median of repeats."""
    rng = np.random.default_rng(1)
    live = np.flatnonzero(index.live)
    rows = rng.choice(live, min(size + 10, len(live)), replace=False)
    pos, neg = index.pmids[rows[:size]].tolist(), index.pmids[rows[size:]].tolist()
    out = {}
    for m in methods:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            recommend_collection(index, pos, neg, n=10, method=m)
            times.append(time.perf_counter() - started)
        out[m] = round(float(np.median(times)), 4)
    return {"size": len(pos), "negatives": len(neg), "papers": len(index), "seconds": out}


def _open(index_dir, corpus, tmp: Path, label: str) -> tuple[Index, dict]:
    if index_dir:
        return Index.open(index_dir), {"index": str(index_dir)}
    from ..build import build_index
    from ..encoders import CachedEncoder, load_encoder

    encoder = CachedEncoder(load_encoder(None))
    build_index([corpus], tmp / label, model=encoder, progress=False)
    return Index.open(tmp / label, encoder=encoder), {"corpus": str(corpus), "sha256": store.file_sha256(Path(corpus))}


def run_collections(
    trec: dict, mesh: dict, out_dir: Path, name: str = "collections", methods=METHODS, draws: int = DRAWS
) -> dict:
    """trec / mesh: {index or corpus, judgments[, topics]}. Builds missing indexes (embedding cache), evaluates, writes."""
    started = time.time()
    records, sources, timing = [], {}, None
    with tempfile.TemporaryDirectory(prefix="similar-coll-") as tmp:
        index, src = _open(trec.get("index"), trec.get("corpus"), Path(tmp), "trec")
        judgments = read_judgments(trec["judgments"])
        topics = read_topics(trec["topics"])
        groups = trec_groups(judgments, topics)
        records += evaluate_dataset(
            index, "trec", groups, {g: list(p) for g, p in groups.items()}, False, methods, draws=draws
        )
        timing = time_collection(index, methods)
        sources["trec"] = {**src, "judgments": str(trec["judgments"]), "topics": str(trec["topics"])}
        index.close()
        index, src = _open(mesh.get("index"), mesh.get("corpus"), Path(tmp), "mesh")
        mj = read_judgments(mesh["judgments"])
        groups = mesh_groups(mj)
        records += evaluate_dataset(
            index,
            "mesh",
            groups,
            {g: [g] + [c for c, v in p.items() if v == 2 and c != g] for g, p in groups.items()},
            True,
            methods,
            draws=draws,
        )
        sources["mesh"] = {**src, "judgments": str(mesh["judgments"])}
        index.close()
    results = {
        "name": name,
        "command": " ".join(["similar"] + sys.argv[1:]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu(),
        "protocol": PROTOCOL,
        "data": sources,
        "draws": draws,
        "rng_seed": 0,
        "summary": summarize(records, methods),
        "timing_500": timing,
        "versions": store.library_versions(),
        "seconds": round(time.time() - started, 1),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps({**results, "records": records}, indent=1) + "\n")
    (out_dir / f"{name}.md").write_text(markdown(results))
    return results


PROTOCOL = (
    "TREC: a topic's papers are its dev seeds and every paper judged >= 1 for one of them (grade = the highest). A collection "
    "is k of them drawn at random; the rest of the topic are the targets (nDCG@10; unjudged = 0). The baseline is each seed's "
    "own list (the index's default method, collection members removed), its nDCG@10 averaged over the seeds. Negatives: "
    "max(k, 3) papers of the confusable topic (nearest topic centroid of dense vectors), never the collection's own topic; "
    "'confusers' counts the confusable topic's other papers in the top 10. MeSH-overlap has no topics: each dev seed's "
    "'topic' is the seed and its judged candidates; a collection is the seed plus k-1 of its grade-2 candidates, targets "
    "are the rest (grades as judged); the confusable 'topic' is the other seed whose centroid (seed + grade>=1 papers) is nearest."
)


def _cpu() -> str:
    model = (
        next(
            (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    return f"{model}, {os.cpu_count()} cores visible"


def markdown(results: dict) -> str:
    lines = [
        f"# Collections: {results['name']}",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Date {results['date']}; CPU {results['cpu']}; {results['draws']} draws per group and k, rng seed {results['rng_seed']}.",
        "",
        results["protocol"],
        "",
    ]
    for ds, by_k in results["summary"].items():
        lines += [
            f"## {ds}",
            "",
            "| k | collections (groups) | method | nDCG@10 | single seed | gain [95% CI] | with negatives | change | confusers in top 10: without -> with (cut) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for k, row in by_k.items():
            for m, v in row["methods"].items():
                g, c = v["gain_over_single"], v["negatives_change_ndcg"]
                cut = "-" if v["confusers_cut"] is None else f"{v['confusers_cut']:.0%}"
                lines.append(
                    f"| {k} | {row['collections']} ({row['groups']}) | {m} | {v['ndcg@10']['mean']:.3f} | {row['single']['mean']:.3f} | "
                    f"{g['diff']:+.3f} [{g['ci'][0]:+.3f}, {g['ci'][1]:+.3f}] | {v['ndcg@10_with_negatives']['mean']:.3f} | "
                    f"{c['diff']:+.3f} [{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}] | {v['confusers_top10']:.2f} -> {v['confusers_top10_with_negatives']:.2f} ({cut}) |"
                )
        lines.append("")
    t = results.get("timing_500")
    if t:
        lines += [
            f"A collection of {t['size']} PMIDs with {t['negatives']} negatives on {t['papers']} papers (recommend_collection, median of 3): "
            + ", ".join(f"{m} {s:.3f}s" for m, s in t["seconds"].items()),
            "",
        ]
    return "\n".join(lines)
