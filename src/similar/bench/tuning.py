"""`similar bench tune`: every ranking idea on every suite benchmark, and the hybrid chosen by its worst benchmark."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import methods as registry
from ..encoders import DEFAULT_MODEL, describe
from ..index import Index
from ..ranking import SHORT_TEXT_PARAMS, HybridParams, settings_for
from .metrics import bootstrap_ci, ndcg_at_k
from .quality import read_topics
from .suite import Benchmark, cases, indexes, ranked, suite_encoder

NO_EXPANSION = dict(neighbours=0, expansion=0.0, second_hop=0.0)
PREVIOUS = HybridParams(
    dense_weight=0.5, lexical=("bm25",), neighbours=12, expansion=5.0, second_hop=5.0
)  # until 2026-11
EVERY_WEIGHTING = tuple(
    dict.fromkeys(HybridParams().lexical + registry.lexical())
)  # the default's first, then the rest

# named ideas: (setting for papers and long texts, setting for short texts); kept or not, each lands with its figures
IDEAS: dict[str, tuple[HybridParams, HybridParams]] = {
    "previous default: bm25 fusion, two-hop expansion 12 voters x 5 x 5, for every query": (PREVIOUS, PREVIOUS),
    "previous default for papers, short-text fusion for texts": (PREVIOUS, SHORT_TEXT_PARAMS),
    "fusion only: dense 0.5 + bm25": (HybridParams(dense_weight=0.5, lexical=("bm25",), **NO_EXPANSION),) * 2,
    "fusion only: dense 0.3 + bm25 & tfidf": (HybridParams(dense_weight=0.3, **NO_EXPANSION),) * 2,
    "fusion only: dense 0.7 + bm25 (the short-text setting, for every query)": (SHORT_TEXT_PARAMS,) * 2,
    "mild expansion for texts too (20 voters x 1 x 0.5)": (HybridParams(), HybridParams()),
    "strong expansion: dense 0.3 + bm25 & tfidf, 30 voters x 2 x 1": (
        HybridParams(neighbours=30, expansion=2.0, second_hop=1.0),
        SHORT_TEXT_PARAMS,
    ),
    "medium expansion: dense 0.4 + bm25 & tfidf, 20 voters x 1 x 1": (
        HybridParams(dense_weight=0.4, expansion=1.0, second_hop=1.0),
        SHORT_TEXT_PARAMS,
    ),
    f"{', '.join(EVERY_WEIGHTING[:-1])} and {EVERY_WEIGHTING[-1]} averaged (20 voters x 1 x 0.5)": (
        HybridParams(lexical=EVERY_WEIGHTING),
        SHORT_TEXT_PARAMS,
    ),
    "bm25 only (20 voters x 1 x 0.5)": (HybridParams(lexical=("bm25",)), SHORT_TEXT_PARAMS),
    "pool of 200": (
        HybridParams(pool=200),
        replace(SHORT_TEXT_PARAMS, pool=200),
    ),
    "default: papers dense 0.3 + bm25 & tfidf, 20 voters x 1 x 0.5; short texts dense 0.7 + bm25": (
        HybridParams(),
        SHORT_TEXT_PARAMS,
    ),
}

# the grid for papers, judged on the by-PMID benchmarks with leave-one-topic-out cross-validation (and, to choose a
# model's row, on the long-text benchmarks too: they are ranked with the paper setting)
GRID = {
    "dense_weight": (0.3, 0.5, 0.7),
    "neighbours": (12, 20),
    "expansion": (0.0, 1.0, 2.0),
    "second_hop": (0.0, 0.5, 2.0),
}


# the grid for short texts (plain fusion: expansion drowns a short text's own signal), judged on the short-text kinds
SHORT_GRID = {"dense_weight": (0.5, 0.6, 0.7, 0.8, 0.9), "lexical": (("bm25",), ("bm25", "tfidf"))}
PAPER_KINDS, SHORT_KINDS = ("pmid", "abstract"), ("text", "title")  # which benchmarks judge which setting


def short_grid() -> list[HybridParams]:
    return [
        HybridParams(dense_weight=w, lexical=lex, neighbours=0, expansion=0.0, second_hop=0.0)
        for w, lex in itertools.product(*SHORT_GRID.values())
    ]


def choose(scores: dict[HybridParams, dict[str, float]], best_single: dict[str, float]) -> dict | None:
    """The setting with the highest worst margin (its nDCG@10 minus the best single method's, lowest over the
    benchmarks it was scored on), ties by the mean margin; None without scores."""
    if not scores:
        return None

    def margins(p: HybridParams) -> list[float]:
        return [v - best_single[b] for b, v in scores[p].items()]

    best = max(scores, key=lambda p: (min(margins(p)), float(np.mean(margins(p)))))
    return {
        "params": best.describe(),
        "worst_margin": min(margins(best)),
        "mean_margin": float(np.mean(margins(best))),
        "ndcg@10": dict(scores[best]),
        "python": _python(best),
    }


def _python(p: HybridParams) -> str:
    """The setting as the code that makes it (for ranking.MODEL_SETTINGS)."""
    return (
        f"HybridParams(dense_weight={p.dense_weight}, lexical={tuple(p.lexical)!r}, neighbours={p.neighbours}, "
        f"expansion={p.expansion}, second_hop={p.second_hop}, pool={p.pool})"
    )


def grid() -> list[HybridParams]:
    return [
        HybridParams(dense_weight=w, neighbours=m, expansion=b, second_hop=g)
        for w, m, b, g in itertools.product(*GRID.values())
    ]


def _scores(index: Index, bench: Benchmark, questions, method: str = "hybrid") -> dict[str, float]:
    return {c.key: ndcg_at_k(ranked(index, bench, c, method), c.judged, 10) for c in questions}


def _margin(value: float, singles: dict[str, float]) -> float:
    return value - max(singles.values())


def worst_margin_cv(
    grid_scores: dict[HybridParams, dict[str, dict[str, float]]],
    singles: dict[str, dict[str, dict[str, float]]],
    held: str,
    topics: dict[str, str],
) -> dict:
    """Leave one topic of `held` out: choose the setting whose worst margin (over the other topics and every other
    by-PMID benchmark) is highest, then score it on the held-out topic."""
    by_topic = defaultdict(list)
    for seed in next(iter(grid_scores.values()))[held]:
        by_topic[topics.get(seed, "?")].append(seed)

    def mean(d: dict[str, float], keys) -> float:
        return float(np.mean([d[k] for k in keys]))

    folds, held_out = [], {}
    for topic, seeds in sorted(by_topic.items()):
        train = [s for t, ss in by_topic.items() if t != topic for s in ss]

        def worst(p: HybridParams) -> float:
            margins = [
                _margin(mean(grid_scores[p][held], train), {m: mean(v[held], train) for m, v in singles.items()})
            ]
            margins += [
                _margin(mean(b, b), {m: mean(v[name], v[name]) for m, v in singles.items()})
                for name, b in grid_scores[p].items()
                if name != held
            ]
            return min(margins)

        best = max(grid_scores, key=worst)
        for s in seeds:
            held_out[s] = grid_scores[best][held][s]
        folds.append(
            {
                "topic": topic,
                "seeds": len(seeds),
                "chosen": best.describe(),
                "train_worst_margin": worst(best),
                "heldout_ndcg@10": mean(grid_scores[best][held], seeds),
            }
        )
    values = list(held_out.values())
    return {"folds": folds, "cv_ndcg@10": float(np.mean(values)), "ci": list(bootstrap_ci(values))}


def run_tuning(
    benchmarks: Sequence[Benchmark],
    out_dir: str | Path,
    name: str = "ranking-ideas",
    model: str | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = lambda s: None,
    cache_only: bool = False,
) -> dict:
    """Score every idea, the paper grid and the short-text grid on the suite, and choose the model's settings (papers
    and short texts, each by its worst benchmark); write JSON + markdown."""
    started = time.time()
    encoder = suite_encoder(model, echo, cache_only)
    benchmarks = [b for b in benchmarks if b.kind != "rerank"]
    current = settings_for(describe(encoder) if encoder else None)
    named = {**IDEAS, "this model's settings now (ranking.MODEL_SETTINGS)": current}
    ideas: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    singles: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    grid_scores: dict[HybridParams, dict[str, dict[str, float]]] = defaultdict(dict)
    long_scores: dict[HybridParams, dict[str, float]] = defaultdict(dict)  # the paper grid on long texts (means)
    short_scores: dict[HybridParams, dict[str, float]] = defaultdict(dict)
    cv = {}
    with tempfile.TemporaryDirectory(prefix="similar-tune-") as tmp:
        for index, group in indexes(benchmarks, encoder, Path(tmp), progress):
            for bench in group:
                questions, _ = cases(index, bench)
                echo(f"{bench.name}: {len(questions)} queries, {len(named)} ideas")
                for method in registry.names(fusions=False):
                    if method in index.methods:
                        singles[method][bench.name] = _scores(index, bench, questions, method)
                for idea, (paper, short) in named.items():
                    ideas[idea][bench.name] = _scores(index.with_params(paper, short), bench, questions)
                if bench.kind in PAPER_KINDS:
                    echo(f"{bench.name}: {len(grid())} grid settings")
                    for p in grid():
                        scores = _scores(index.with_params(p, current[1]), bench, questions)
                        if bench.kind == "pmid":
                            grid_scores[p][bench.name] = scores
                        else:
                            long_scores[p][bench.name] = float(np.mean(list(scores.values())))
                if bench.kind in SHORT_KINDS:
                    echo(f"{bench.name}: {len(short_grid())} short-text settings")
                    for p in short_grid():
                        scores = _scores(index.with_params(current[0], p), bench, questions)
                        short_scores[p][bench.name] = float(np.mean(list(scores.values())))
    for bench in benchmarks:
        if bench.kind == "pmid" and bench.topics and grid_scores:
            pmid_singles = {m: {b: v[b] for b in next(iter(grid_scores.values()))} for m, v in singles.items()}
            cv[bench.name] = worst_margin_cv(grid_scores, pmid_singles, bench.name, read_topics(bench.topics))

    def cell(values: dict[str, float]) -> dict:
        v = list(values.values())
        return {"mean": float(np.mean(v)), "ci": list(bootstrap_ci(v))}

    names = [b.name for b in benchmarks]
    best_single = {n: max(float(np.mean(list(v[n].values()))) for v in singles.values() if n in v) for n in names}
    paper_scores = {
        p: {**{n: float(np.mean(list(v.values()))) for n, v in by.items()}, **long_scores.get(p, {})}
        for p, by in grid_scores.items()
    }
    chosen = {"paper": choose(paper_scores, best_single), "short_text": choose(short_scores, best_single)}
    results = {
        "name": name,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model": describe(encoder) if encoder else None,
        "benchmarks": {
            b.name: {"kind": b.kind, "corpus": str(b.corpus), "judgments": str(b.judgments)} for b in benchmarks
        },
        "single_methods": {m: {n: cell(v[n]) for n in names if n in v} for m, v in singles.items()},
        "ideas": [
            {
                "idea": idea,
                "paper": named[idea][0].describe(),
                "short_text": named[idea][1].describe(),
                **{n: cell(v[n]) for n in names},
            }
            for idea, v in ideas.items()
        ],
        "grid": {k: list(v) for k, v in GRID.items()},
        "grid_results": [
            {"params": p.describe(), **{n: float(np.mean(list(v.values()))) for n, v in b.items()}}
            for p, b in grid_scores.items()
        ],
        "short_grid": {k: [list(x) if isinstance(x, tuple) else x for x in v] for k, v in SHORT_GRID.items()},
        "short_grid_results": [{"params": p.describe(), **b} for p, b in short_scores.items()],
        "cross_validation": cv,
        "chosen": chosen,
        "seconds": round(time.time() - started, 1),
    }
    for entry in results["ideas"]:
        margins = [entry[n]["mean"] - max(v[n]["mean"] for v in results["single_methods"].values()) for n in names]
        entry["worst_margin"], entry["mean_margin"] = min(margins), float(np.mean(margins))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / f"{name}.md").write_text(tuning_markdown(results))
    return results


def _params(p: dict) -> str:
    return (
        f"w={p['dense_weight']} {'+'.join(p['lexical'])} m={p['neighbours']} beta={p['expansion']} "
        f"gamma={p['second_hop']} pool={p['pool']}"
    )


def tuning_markdown(r: dict) -> str:
    names = list(r["benchmarks"])
    model = (r["model"] or {}).get("name", "none")
    command = "similar bench tune" + (f" --model {model}" if model not in ("none", DEFAULT_MODEL) else "")
    lines = [
        f"# Ranking ideas on the quality suite ({r['name']})",
        "",
        f"Date {r['date']}; model {model}; nDCG@10 (full protocol, 95% bootstrap "
        f"intervals over queries); {r['seconds']} s. Command: `{command}`. Every idea is judged by "
        "its worst margin: over the benchmarks, the lowest of (idea minus the best single method); ties by the mean "
        "margin.",
        "",
        "| idea | " + " | ".join(names) + " | worst margin | mean margin |",
        "|---" * (len(names) + 3) + "|",
    ]
    for m, vals in r["single_methods"].items():
        lines.append(f"| {m} (single method) | " + " | ".join(f"{vals[n]['mean']:.3f}" for n in names) + " | | |")
    for i in sorted(r["ideas"], key=lambda e: (-e["worst_margin"], -e.get("mean_margin", 0.0))):
        lines.append(
            f"| {i['idea']} | "
            + " | ".join(f"{i[n]['mean']:.3f} [{i[n]['ci'][0]:.3f}, {i[n]['ci'][1]:.3f}]" for n in names)
            + f" | {i['worst_margin']:+.3f} | {i.get('mean_margin', float('nan')):+.3f} |"
        )
    for held, cv in r["cross_validation"].items():
        lines += [
            "",
            f"## Leave-one-topic-out cross-validation on {held}",
            "",
            f"For each topic, the paper setting with the best worst margin over the other topics and the other by-PMID "
            f"benchmarks is chosen from the grid ({len(r['grid_results'])} settings), then scored on the held-out topic: "
            f"**nDCG@10 {cv['cv_ndcg@10']:.3f} [{cv['ci'][0]:.3f}, {cv['ci'][1]:.3f}]**.",
            "",
            "| held-out topic | seeds | chosen | train worst margin | held-out nDCG@10 |",
            "|---|---|---|---|---|",
        ]
        for f in cv["folds"]:
            lines.append(
                f"| {f['topic']} | {f['seeds']} | {_params(f['chosen'])} | {f['train_worst_margin']:+.3f} | "
                f"{f['heldout_ndcg@10']:.3f} |"
            )
    lines += chosen_lines(r)
    if r["grid_results"]:
        pmid = [n for n in names if any(n in g for g in r["grid_results"][:1])]
        lines += [
            "",
            "## Paper grid (by-PMID benchmarks, all dev seeds; optimistic)",
            "",
            "| setting | " + " | ".join(pmid) + " |",
            "|---" * (len(pmid) + 1) + "|",
        ]
        for g in sorted(r["grid_results"], key=lambda g: -min(g[n] for n in pmid))[:15]:
            lines.append(f"| {_params(g['params'])} | " + " | ".join(f"{g[n]:.3f}" for n in pmid) + " |")
    return "\n".join(lines) + "\n"


def chosen_lines(r: dict) -> list[str]:
    """The settings the tuning chose for its model, each by its worst benchmark, as the row of ranking.MODEL_SETTINGS."""
    chosen = r.get("chosen") or {}
    if not chosen.get("paper") and not chosen.get("short_text"):
        return []
    model = (r.get("model") or {}).get("name", "none")
    lines = ["", f"## Chosen for {model} (each setting by its worst benchmark; all dev queries, optimistic)", ""]
    for part, kinds in (("paper", "by-PMID and long-text"), ("short_text", "short-text")):
        c = chosen.get(part)
        if not c:
            lines.append(f"- {part.replace('_', ' ')}s: no {kinds} benchmark in this suite, nothing chosen")
            continue
        figures = ", ".join(f"{n} {v:.3f}" for n, v in c["ndcg@10"].items())
        lines.append(
            f"- {part.replace('_', ' ')}s ({kinds} benchmarks): {_params(c['params'])}: worst margin "
            f"{c['worst_margin']:+.3f}, mean margin {c['mean_margin']:+.3f} ({figures})"
        )
    if not chosen.get("paper") or not chosen.get("short_text"):
        return lines
    lines += [
        "",
        "The row of `ranking.MODEL_SETTINGS`:",
        "",
        "```python",
        f'"{model}": (\n    {chosen["paper"]["python"]},\n    {chosen["short_text"]["python"]},\n),',
        "```",
    ]
    return lines
