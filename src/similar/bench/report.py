"""Write benchmark results: JSON, a markdown table, and a PNG chart, under benchmarks/results/."""

from __future__ import annotations

import json
from pathlib import Path

QUALITY_METRICS = ("ndcg@10", "ndcg@20", "p@5", "p@10", "map", "recall@100")


def _cell(entry: dict | None) -> str:
    if not entry:
        return "-"
    lo, hi = entry["ci"]
    return f"{entry['mean']:.3f} [{lo:.3f}, {hi:.3f}]"


def quality_markdown(results: dict) -> str:
    lines = [f"# Quality: {results['name']}", ""]
    if results.get("command"):
        lines += [f"Command: `{results['command']}`", ""]
    cov = results["coverage"]
    lines += [
        f"Date {results['date']}; corpus `{results['data']['corpus']['path']}` (sha256 {results['data']['corpus']['sha256'][:12]}), "
        f"judgments `{results['data']['judgments']['path']}` (sha256 {results['data']['judgments']['sha256'][:12]}); "
        f"models: {', '.join(m['name'] + ' ' + m['fingerprint'] for m in results['models']) or 'none'}.",
        "",
        f"Coverage: {cov['seeds_evaluated']} of {cov['seeds']} seeds evaluated; {cov['seeds_without_text']} seeds without text, "
        f"{cov['seeds_without_judged_candidates']} with no judged candidate that has text; "
        f"of the {cov.get('candidates_of_seeds_with_text', cov['candidates'])} judged candidates of seeds with text, "
        f"{cov['candidates_without_text']} have no text ({cov['candidates']} judged pairs in all); "
        f"{cov['self_pairs_dropped']} seed-to-itself pairs dropped.",
        "",
    ]
    for protocol, title in (
        ("full", "Full protocol: retrieve from the whole corpus, seed excluded"),
        ("rerank", "Re-rank protocol: order each seed's judged candidates"),
    ):
        table = results["summary"].get(protocol, {})
        metrics = [m for m in QUALITY_METRICS if any(m in v for v in table.values())]
        lines += [
            f"## {title}",
            "",
            "| method | " + " | ".join(metrics) + " | ms/seed |",
            "|---" * (len(metrics) + 2) + "|",
        ]
        for method, vals in table.items():
            ms = results.get("ms_per_seed", {}).get(method, "")
            lines.append(f"| {method} | " + " | ".join(_cell(vals.get(m)) for m in metrics) + f" | {ms} |")
        lines.append("")
        paired = results.get("paired_ndcg@10", {}).get(protocol)
        if paired:
            base = next(m for m in table if m not in paired)
            lines += [
                f"Paired nDCG@10 difference, {base} minus each method (95% bootstrap interval over seeds):",
                "",
                "| method | difference | interval | significant |",
                "|---|---|---|---|",
            ]
            for other, d in paired.items():
                lines.append(
                    f"| {other} | {d['diff']:+.3f} | [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}] | {'yes' if d['significant'] else 'no'} |"
                )
            lines.append("")
    topics = results.get("per_topic_ndcg@10")
    if topics:
        names = sorted(next(iter(topics.values())))
        lines += [
            "## Per-topic nDCG@10 (full protocol)",
            "",
            "| method | " + " | ".join(names) + " | min | max |",
            "|---" * (len(names) + 3) + "|",
        ]
        for method, vals in topics.items():
            v = [vals.get(t, float("nan")) for t in names]
            lines.append(f"| {method} | " + " | ".join(f"{x:.3f}" for x in v) + f" | {min(v):.3f} | {max(v):.3f} |")
        lines.append("")
    return "\n".join(lines)


def quality_chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(14, 5), sharey=True)
    for ax, protocol in zip(axes, ("full", "rerank")):
        table = results["summary"].get(protocol, {})
        metrics = [m for m in QUALITY_METRICS if any(m in v for v in table.values())]
        width = 0.8 / max(len(table), 1)
        x = np.arange(len(metrics))
        for i, (method, vals) in enumerate(table.items()):
            means = [vals[m]["mean"] for m in metrics]
            err = [
                [vals[m]["mean"] - vals[m]["ci"][0] for m in metrics],
                [vals[m]["ci"][1] - vals[m]["mean"] for m in metrics],
            ]
            ax.bar(x + i * width, means, width, yerr=err, capsize=2, label=method)
        ax.set_xticks(x + width * (len(table) - 1) / 2, metrics)
        ax.set_title(f"{results['name']}: {protocol} protocol")
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_quality(results: dict, per_seed: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {
        **results,
        "per_seed_ndcg@10": {
            p: {m: {s: round(v["ndcg@10"], 5) for s, v in seeds.items()} for m, seeds in by.items()}
            for p, by in per_seed.items()
        },
    }
    (out_dir / f"{results['name']}.json").write_text(json.dumps(data, indent=1) + "\n")
    (out_dir / f"{results['name']}.md").write_text(quality_markdown(results))
    quality_chart(results, out_dir / f"{results['name']}.png")
