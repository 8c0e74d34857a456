"""The quality suite's tables, its check against expected figures, and the rule that picks the default model."""

from __future__ import annotations

from typing import Callable, Sequence

from ..encoders import model_name

# how each kind of benchmark asks its questions
KINDS = {
    "pmid": "each seed paper queried by its PMID; retrieve from the whole corpus (seed excluded)",
    "title": "each seed paper's title alone queried as text; retrieve from the whole corpus (seed excluded)",
    "abstract": "each seed paper's title and abstract pasted as one text query; retrieve from the whole corpus (seed excluded)",
    "text": "each claim queried as text; retrieve from the whole corpus",
    "rerank": "each seed paper's judged candidates ordered by the method (re-rank protocol)",
}

DEFAULT_RULE = (
    "a model replaces the default model only if its default method beats the default model's on EVERY benchmark of "
    "the suite by a paired 95% interval above zero (over the same queries); among several such, the one with the "
    "highest worst lower bound"
)


def models_of(results: dict) -> dict[str, dict]:
    """{model: {"model", "cost", "benchmarks"}} of a suite's results; results of one model written before the suite
    had a model dimension (a top-level "benchmarks") read as that one model's."""
    if "models" in results and isinstance(results["models"], dict):
        return results["models"]
    name = (results.get("model") or {}).get("name", "none")
    return {name: {"model": results.get("model"), "cost": {}, "benchmarks": results["benchmarks"]}}


def default_model(results: dict) -> str:
    """The model the run treated as the default (its first)."""
    return results.get("default_model") or next(iter(models_of(results)))


def choose_default(current: str, challengers: dict[str, dict[str, dict]]) -> tuple[str, dict[str, dict]]:
    """DEFAULT_RULE as code. `challengers`: {model: {benchmark: paired difference (challenger's default method minus
    the current default model's, metrics.paired_difference) or None where it could not be paired}}. Returns the chosen
    model and, per challenger, whether it won every benchmark and its worst lower bound."""
    verdicts = {}
    for model, paired in challengers.items():
        lows = [d["ci"][0] if d else float("-inf") for d in paired.values()]
        worst = min(lows) if lows else float("-inf")
        verdicts[model] = {"wins_every": bool(lows) and worst > 0, "worst_lower": worst}
    winners = [m for m, v in verdicts.items() if v["wins_every"]]
    return (max(winners, key=lambda m: verdicts[m]["worst_lower"]) if winners else current), verdicts


def choice_lines(choice: dict) -> list[str]:
    """The rule and its verdict, one line each (printed by the suite, written to its markdown)."""
    lines = [f"Default model rule: {choice['rule']}."]
    for model, v in choice["challengers"].items():
        beaten = [b for b, d in v["benchmarks"].items() if not d or d["ci"][0] <= 0]
        lines.append(
            f"{model} vs {choice['current']}: "
            + (
                f"wins every benchmark (worst lower bound {v['worst_lower']:+.3f})."
                if v["wins_every"]
                else f"does not win {', '.join(beaten)} by an interval above zero."
            )
        )
    lines.append(
        f"Default model: {choice['chosen']}"
        + (" (unchanged)." if choice["chosen"] == choice["current"] else f" (replaces {choice['current']}).")
    )
    return lines


def _cell(entry: dict | None) -> str:
    if not entry:
        return "-"
    return f"{entry['mean']:.3f} [{entry['ci'][0]:.3f}, {entry['ci'][1]:.3f}]"


def _paired(d: dict | None) -> str:
    if d is None:
        return "-"
    return f"{d['diff']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]{' *' if d['significant'] else ''}"


def _mb(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:.1f}"


def _number(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def suite_markdown(results: dict) -> str:
    """Per model: one table (methods x benchmarks, nDCG@10 with 95% intervals), the default's paired differences and
    coverage; then, with several models, the cost of each and the default-model rule's verdict."""
    models = models_of(results)
    lines = [f"# Quality suite: {results['name']}", ""]
    if results.get("command"):
        lines += [f"Command: `{results['command']}`", ""]
    lines += [f"Date {results['date']}; {results['seconds']} s; models {', '.join(models)}.", ""]
    for name, entry in models.items():
        lines += _model_section(name, entry, len(models) > 1)
    if any(m.get("cost") for m in models.values()):
        lines += ["## Cost per model", "", *cost_table(results), ""]
    choice = results.get("model_choice")
    if choice and choice.get("challengers"):
        lines += [
            "## Models compared",
            "",
            f"Paired nDCG@10 difference, each model's default method minus {choice['current']}'s (95% bootstrap "
            "interval over the same queries; `*`: the interval excludes zero):",
            "",
            "| benchmark | " + " | ".join(choice["challengers"]) + " |",
            "|---" * (len(choice["challengers"]) + 1) + "|",
        ]
        for bench in next(iter(models.values()))["benchmarks"]:
            lines.append(
                f"| {bench} | "
                + " | ".join(_paired(v["benchmarks"].get(bench)) for v in choice["challengers"].values())
                + " |"
            )
        lines += ["", *choice_lines(choice), ""]
    for name, reason in (results.get("skipped_models") or {}).items():
        lines.append(f"Model {name} not measured: {reason}")
    return "\n".join(lines).rstrip("\n") + "\n"


def _model_section(name: str, entry: dict, several: bool) -> list[str]:
    benches = entry["benchmarks"]
    names = list(benches)
    methods = list(dict.fromkeys(m for b in benches.values() for m in b["summary"]))
    default = next((b["default"] for b in benches.values()), "")
    model = entry.get("model") or {}
    lines = [f"## Model {name}", ""] if several else []
    lines += [
        f"Model {model.get('name', 'none')} ({model.get('fingerprint', '-')}). nDCG@10 with 95% bootstrap intervals "
        f"over queries; default method **{default}**.",
        "",
        "| method | " + " | ".join(names) + " | worst margin |",
        "|---" * (len(names) + 2) + "|",
    ]
    for method in methods:
        cells = [_cell(benches[n]["summary"].get(method, {}).get("ndcg@10")) for n in names]
        lines.append(
            f"| {'**' + method + '**' if method == default else method} | "
            + " | ".join(cells)
            + f" | {_worst_margin(benches, method):+.3f} |"
        )
    lines += [
        "",
        "Worst margin: over the benchmarks, the lowest of (this method's nDCG@10 minus the best other "
        "method's). A default that is never beaten has a margin >= 0.",
        "",
        f"Paired nDCG@10 difference, {default} minus each method (95% bootstrap interval over the same queries):",
        "",
        "| benchmark | " + " | ".join(f"vs {m}" for m in methods if m != default) + " |",
        "|---" * (len(methods)) + "|",
    ]
    for n in names:
        paired = benches[n]["paired_ndcg@10"]
        lines.append(f"| {n} | " + " | ".join(_paired(paired.get(m)) for m in methods if m != default) + " |")
    lines += [
        "",
        "`*`: the interval excludes zero.",
        "",
        f"| benchmark | kind | queries evaluated | left out | ms/query ({default}) | note |",
        "|---|---|---|---|---|---|",
    ]
    for n in names:
        b = benches[n]
        cov = b["coverage"]
        left = f"{cov.get('without_text', 0)} without text, {cov['without_judged_papers']} without judged papers"
        lines.append(
            f"| {n} | {b['kind']}: {KINDS[b['kind']]} | {cov['evaluated']} of {cov['queries']} | {left} | "
            f"{b['ms_per_query'].get(default, '-')} | {b.get('note', '')} |"
        )
    return lines + [""]


def cost_table(results: dict) -> list[str]:
    """One row per model: dimensions, encoding rate on this CPU, the suite's indexes on disk, by-PMID query p50."""
    lines = [
        "| model | dims | docs/s (this CPU) | backend | index MB (the suite's corpora) | by-PMID query p50, default "
        "method (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in models_of(results).items():
        cost = entry.get("cost") or {}
        lines.append(
            f"| {name} | {(entry.get('model') or {}).get('dim', '-')} | {_number(cost.get('docs_per_s'))} | "
            f"{cost.get('backend') or '-'} | {_mb(cost.get('index_bytes'))} | {_number(cost.get('query_p50_ms', {}).get(_default_of(entry)), 2)} |"
        )
    sample = next((e["cost"].get("docs_per_s_from") for e in models_of(results).values() if e.get("cost")), None)
    if sample:
        lines += [
            "",
            f"docs/s: {sample}, on the backend shown (the one `similar models prepare` chose for this CPU; torch "
            "for a model not prepared); a text query pays one such encoding on top of its ranking. By-PMID p50: a "
            "stored list read. Every figure is one run's, on a machine that may have been shared.",
        ]
    return lines


def _default_of(entry: dict) -> str:
    return next((b["default"] for b in entry["benchmarks"].values()), "")


def _worst_margin(benches: dict, method: str) -> float:
    margins = []
    for b in benches.values():
        table = b["summary"]
        if method not in table:
            continue
        others = [v["ndcg@10"]["mean"] for m, v in table.items() if m != method]
        if others:
            margins.append(table[method]["ndcg@10"]["mean"] - max(others))
    return min(margins) if margins else float("nan")


def check_suite(results: dict, expected: dict[str, dict], tolerance: float, echo: Callable[[str], None]) -> bool:
    """OK / FAIL per expected figure ({benchmark: {model: {method: {metric: value}}}}) of every model the run
    measured; True when every figure is within the tolerance. A model the run was asked for but could not measure
    (skipped: not prepared, not loadable) fails its figures; a model it was not asked for is not checked."""
    all_ok = True
    models = models_of(results)
    skipped = results.get("skipped_models") or {}
    for model, why in skipped.items():
        if any(model_name(model) in by_model for by_model in expected.values()):
            all_ok = False
            echo(f"FAIL model {model} has expected figures but was not measured: {why}")
    asked = set(models) | {model_name(m) for m in skipped}
    for model in dict.fromkeys(m for by_model in expected.values() for m in by_model):
        if model not in asked:  # --model chose other models: said, not failed
            echo(f"NOT CHECKED model {model}: not in this run")
    for bench, by_model in expected.items():
        for model, figures in by_model.items():
            if model not in models:
                continue
            table = models[model]["benchmarks"].get(bench, {}).get("summary", {})
            tag = f" [{model}]" if len(models) > 1 else ""
            for method, metrics in figures.items():
                for metric, value in metrics.items():
                    got = table.get(method, {}).get(metric, {}).get("mean")
                    ok = got is not None and abs(got - value) <= tolerance
                    all_ok &= ok
                    shown = "missing" if got is None else f"{got:.4f}"
                    echo(
                        f"{'OK  ' if ok else 'FAIL'} {bench}{tag} {method} {metric}: {shown} "
                        f"(expected {value:.4f} ± {tolerance})"
                    )
    return all_ok


def summary_table(results: dict) -> str:
    """The README's compact table: nDCG@10 per method (and model) and benchmark, the best of each column in bold, each
    model's cost where measured, and a line saying where the default is not the best and which model is the default."""
    models = models_of(results)
    several = len(models) > 1
    first = default_model(results)
    names = list(models[first]["benchmarks"])
    rows: list[tuple[str, str, str]] = []  # (label, model, method)
    shared: set[str] = set(results.get("shared_methods") or ())  # answered without a model: one row for every model
    for model, entry in models.items():
        default = _default_of(entry)
        methods = list(dict.fromkeys(m for b in entry["benchmarks"].values() for m in b["summary"]))
        for method in methods:
            if method in shared and model != first:
                continue
            label = f"{method} · {model}" if several and method not in shared else method
            if model == first and method == default:
                label += " (default)"
            rows.append((label, model, method))

    def value(model: str, method: str, bench: str) -> float | None:
        return (
            models[model]["benchmarks"].get(bench, {}).get("summary", {}).get(method, {}).get("ndcg@10", {}).get("mean")
        )

    best = {n: max((v for _, mo, me in rows if (v := value(mo, me, n)) is not None), default=None) for n in names}
    costs = any(e.get("cost") for e in models.values())
    head = "| nDCG@10 | " + " | ".join(names) + (" | docs/s | index MB | p50 ms |" if costs else " |")
    lines = [head, "|---" * (len(names) + 1 + (3 if costs else 0)) + "|"]
    for label, model, method in rows:
        cells = []
        for n in names:
            v = value(model, method, n)
            text = "-" if v is None else f"{v:.3f}"
            cells.append(f"**{text}**" if v is not None and v == best[n] else text)
        if costs:
            cost = models[model].get("cost") or {}
            own = method not in shared  # a method answered without the model costs no embedding
            cells += [
                _number(cost.get("docs_per_s")) if own else "-",
                _mb(cost.get("index_bytes")) if own else "-",
                _number(cost.get("query_p50_ms", {}).get(method), 2),
            ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    default = _default_of(models[first])
    behind = [n for n in names if value(first, default, n) != best[n]]
    lines += [
        "",
        f"The default is not the best on: {', '.join(behind)}."
        if behind
        else f"The default ({default}) is the best method on every benchmark of the suite.",
    ]
    if costs:
        lines.append(
            "Cost: docs/s embedded on this CPU (a timed sample), the suite's indexes on disk, by-PMID query p50; "
            "one run's figures on a shared machine."
        )
    choice = results.get("model_choice")
    if choice and choice.get("challengers"):
        lines.append(" ".join(choice_lines(choice)[1:]))
    return "\n".join(lines)


def expected_figures(benchmarks: Sequence) -> dict[str, dict]:
    """{benchmark: {model: {method: {metric: value}}}} from the suite's entries (suite.Benchmark.expected)."""
    return {b.name: b.expected for b in benchmarks if b.expected}
