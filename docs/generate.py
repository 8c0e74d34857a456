"""Writes the generated sections of the docs and the README into the Markdown itself, so a text editor, GitHub and
the site show the same thing. Each section lies between the lines `<!-- generated: NAME -->` and
`<!-- end generated: NAME -->` and is made from the code (`similar --help`, the method registry, the app's OpenAPI
schema) or from `benchmarks/results/`, never typed by hand.

    python docs/generate.py            # rewrite every stale section
    python docs/generate.py --check    # exit 1 naming the stale sections (tests/test_docs.py does the same)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SECTION = re.compile(
    r"^(?P<start><!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)^(?P<end><!-- end generated: (?P=name) -->)",
    re.S | re.M,
)


def cli_help() -> str:
    """`similar --help` and every subcommand's, as llm's docs do."""
    import click
    from click.testing import CliRunner

    from similar.cli import main

    out = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        text = CliRunner().invoke(main, [*path[1:], "--help"], prog_name="similar", terminal_width=100).output
        out.append(f"## {' '.join(path)}\n\n```\n{text.rstrip()}\n```\n")
        if isinstance(cmd, click.Group):
            for name in sorted(cmd.commands):
                walk(cmd.commands[name], [*path, name])

    walk(main, ["similar"])
    return "\n".join(out)


def methods() -> str:
    from similar import methods as registry

    rows = [f"| `{m.name}` | {'yes' if m.needs_vectors else 'no'} | {m.summary} |" for m in registry.REGISTRY.values()]
    return "| method | needs a model | what it does |\n|---|---|---|\n" + "\n".join(rows) + "\n"


class _Stub:
    """Stands in for an Index while the app is made only to read its schema."""

    build_id = ""

    def warm(self) -> "_Stub":
        return self


def openapi() -> str:
    from similar.server.app import create_app

    schema = create_app(ROOT / "index", index=_Stub()).openapi()  # the schema needs no index: a stand-in serves
    out = []
    for path, ops in schema["paths"].items():
        for verb, op in ops.items():
            params = ", ".join(f"`{p['name']}`" for p in op.get("parameters", []))
            out.append(f"| {verb.upper()} | `{path}` | {op.get('summary', '')} | {params} |")
    table = "| verb | path | summary | parameters |\n|---|---|---|---|\n" + "\n".join(out)
    return (
        table
        + "\n\n<details><summary>The schema</summary>\n\n```json\n"
        + json.dumps(schema, indent=1)
        + "\n```\n</details>\n"
    )


def results() -> str:
    out = []
    for md in sorted(RESULTS.glob("*.md")):
        text = md.read_text().replace("\n# ", "\n### ").replace("\n## ", "\n### ")
        if text.startswith("# "):
            text = "#" + text  # each file's title becomes a section of this page
        out.append(f"<!-- from benchmarks/results/{md.name} -->\n{text.rstrip()}\n")
    extra = sorted(p.name for p in RESULTS.glob("*.json") if not p.with_suffix(".md").exists())
    if extra:
        out.append("## Results kept as JSON only\n\n" + "\n".join(f"- `benchmarks/results/{n}`" for n in extra) + "\n")
    return "\n".join(out)


def scale() -> str:
    """The scale bench's report (benchmarks/results/scale.md), its title dropped: this page has its own."""
    md = RESULTS / "scale.md"
    if not md.exists():
        return "*No scale results yet: run `similar bench scale --papers 1000000 --out benchmarks/results`.*\n"
    text = md.read_text().split("\n", 1)[1].replace("\n## ", "\n### ")
    return text.strip() + "\n"


PUBMED = 36_000_000


def encoding() -> str:
    """Encoding rates measured by `bench speed` (this CPU) and on a lent GPU, and what they mean for all of PubMed."""
    rows = ["| encoder | where | docs/s | all of PubMed |", "|---|---|---|---|"]
    speed = RESULTS / "speed.json"
    if speed.exists():
        data = json.loads(speed.read_text())
        cpu = data.get("cpu", {})
        where = f"{cpu.get('model', '?')} ({cpu.get('isa', '?')}), {data.get('encode', {}).get('threads', '?')} threads"
        for run in data.get("encode", {}).get("runs", []):
            if run.get("docs_per_s"):
                days = PUBMED / run["docs_per_s"] / 86400
                rows.append(f"| {run['backend']} | {where} | {run['docs_per_s']:,} | {days:,.1f} days |")
    gpu = RESULTS / "gpu-encode-h200.json"
    if gpu.exists():
        data = json.loads(gpu.read_text())
        best = max(data["runs"], key=lambda r: r["docs_per_s"])
        hours = PUBMED / best["docs_per_s"] / 3600
        rows.append(
            f"| torch {best['precision']}, batch {best['batch']} | {data['device']} | {best['docs_per_s']:,} | "
            f"{hours:,.1f} hours |"
        )
    return "\n".join(rows) + "\n"


def _load(r: dict) -> str:
    """Whether a run shared the machine: its recorded load average at start (older runs recorded none: contended)."""
    load = r.get("load_average_at_start")
    if load is None:
        return "contended"
    return f"{'quiet' if load < 0.5 else 'contended'}: load average {load} at start"


def ray_stages() -> str:
    """Papers/s of each heavy stage, local against a 2-node Ray cluster (benchmarks/ray_stages.py)."""
    path = RESULTS / "ray-stages.json"
    if not path.exists():
        return "*No results yet: run `python benchmarks/ray_stages.py --out benchmarks/results`.*\n"
    r = json.loads(path.read_text())
    rows = [
        f"Command: `{r['command']}`. CPU: {r['cpu']['model']} ({r['cpu']['cores']} cores), {_load(r)}. "
        f"Corpus: `{r['corpus']}`, {r['papers']:,} papers; encoder: {r['encoder']}. Starting the cluster took "
        f"{r['cluster_start_seconds']} s; the two builds' files are {'equal' if r['files_equal'] else 'NOT equal'}.",
        "",
        "| stage | local, papers/s (1 process) | Ray, papers/s (2 workers) | Ray, papers/s per worker | per worker / local |",
        "|---|---|---|---|---|",
    ]
    for stage, ratio in r["per_worker_vs_local"].items():
        local, ray = r["local"]["papers_per_s"][stage], r["ray"]
        rows.append(
            f"| {stage} | {local:,.1f} | {ray['papers_per_s'][stage]:,.1f} | "
            f"{ray['papers_per_s_per_worker'][stage]:,.1f} | {ratio:.2f} |"
        )
    return "\n".join(rows) + "\n"


PLAN_PAPERS = 37_000_000  # the plan's corpus: PubMed with some room
PLAN_NODE_CORES = 16  # the plan's node: 16 cores (the shape of the lent GPU machines), one Ray worker a core
PLAN_NODES = (4, 16, 64)


def scaling_plan() -> str:
    """A plan for 37 M papers on a Ray cluster: arithmetic from the rates in benchmarks/results (scale.json at 1 M
    papers on 2 cores, speed.json's CPU and gpu-encode-h200.json's GPU encoding, ray-stages.json's per-worker Ray
    efficiency), never a measurement of its own."""
    need = ["scale.json", "speed.json", "gpu-encode-h200.json", "ray-stages.json"]
    if not all((RESULTS / n).exists() for n in need):
        return f"*Needs {', '.join(need)} in benchmarks/results.*\n"
    scale, speed, gpu, ray = (json.loads((RESULTS / n).read_text()) for n in need)
    n, stages, cores = scale["papers"], scale["build"]["stages"], scale["cpu"]["cores"]
    cpu = max(speed["encode"]["runs"], key=lambda r: r["docs_per_s"])
    efficiency = ray["per_worker_vs_local"]
    # papers/s of one core (GPU) for each stage the cluster runs, and the Ray per-worker efficiency it is scaled by
    rows = [
        ("embedding, CPU (" + cpu["backend"].split(" (")[0] + ")", cpu["docs_per_s"] / speed["encode"]["threads"], 1.0),
        (f"embedding, GPU ({gpu['device']}, one a node)", max(r["docs_per_s"] for r in gpu["runs"]), 1.0),
        ("lexical counts and weights", n / stages["lexical"], efficiency["lexical"]),
        ("stored lists", n / stages["stored lists"] / cores, efficiency["stored lists"]),
    ]
    out = [
        f"Arithmetic, not measurement: {PLAN_PAPERS / 1e6:.0f} M papers, nodes of {PLAN_NODE_CORES} cores, one Ray "
        "worker a core (one GPU a node for GPU embedding). A rate per core is the 1 M-paper build's on 2 cores "
        f"(`scale.json`: lexical in one process, lists in {cores}), the CPU model rate is `speed.json`'s "
        f"({cpu['backend']}, {speed['encode']['threads']} threads), the GPU's `gpu-encode-h200.json`'s; each is "
        "multiplied by the per-worker efficiency of Ray against a local build measured on a 2-node cluster "
        f"(`ray-stages.json`, {ray['papers']:,} papers, {_load(ray)}). Embedding keeps its rate on Ray "
        "(`ray-vs-local.json`: the same build took the same time with `--engine ray`). Rates per core were measured "
        f"on {scale['cpu']['model']}, Ray's efficiency on {ray['cpu']['model']}; every rate is taken as constant in "
        "the corpus size (a list's dense search grows with log n: an assumption, not measured past 1 M).",
        "",
        "| stage | papers/s per core (GPU), measured | Ray per-worker efficiency | core (GPU) hours | "
        + " | ".join(f"hours on {k} nodes" for k in PLAN_NODES)
        + " |",
        "|---|---|---|---|" + "---|" * len(PLAN_NODES),
    ]
    walls = {}
    for name, rate, eff in rows:
        hours = PLAN_PAPERS / (rate * eff) / 3600
        per_node = 1 if "GPU" in name else PLAN_NODE_CORES
        walls[name] = [hours / (k * per_node) for k in PLAN_NODES]
        cells = " | ".join(f"{h:,.1f}" for h in walls[name])
        out.append(f"| {name} | {rate:,.1f} | {eff:.2f} | {hours:,.0f} | {cells} |")
    one = {s: stages[s] * PLAN_PAPERS / n / 3600 for s in ("reading", "dense index", "writing")}
    for i, (name, _, _) in enumerate(rows[:2]):
        total = [
            sum(w[j] for w in list(walls.values())[2:]) + walls[name][j] + sum(one.values())
            for j in range(len(PLAN_NODES))
        ]
        out.append(
            f"| **whole build, {name.split(', ')[1].split(' (')[0]} embedding** (with the driver's stages below) | | | | "
            + " | ".join(f"**{t:,.1f}**" for t in total)
            + " |"
        )
    disk = scale["build"]["disk_mb"] * 1e6 / n * PLAN_PAPERS / 1e9
    mapped = scale["serve"]["serving_file_mb"] * PLAN_PAPERS / n / 1e3
    driver = scale["build"]["peak_rss_mb"] * PLAN_PAPERS / n / 1e3
    out += [
        "",
        "| on the driver (one machine, not split) | at 1 M papers, measured | at 37 M, linear |",
        "|---|---|---|",
        *(f"| {s} | {stages[s]:,.1f} s | {h:,.1f} h |" for s, h in one.items()),
        f"| index on disk (the shared filesystem holds it, and the work folder about as much again) | "
        f"{scale['build']['disk_mb'] / 1e3:,.2f} GB | {disk:,.0f} GB |",
        f"| build peak RSS (the driver assembles counts, weights and postings) | "
        f"{scale['build']['peak_rss_mb'] / 1e3:,.2f} GB | {driver:,.0f} GB |",
        f"| index pages a node keeps mapped (a server's working set after its queries) | "
        f"{scale['serve']['serving_file_mb'] / 1e3:,.2f} GB | {mapped:,.0f} GB |",
    ]
    return "\n".join(out) + "\n"


def suite_table() -> str:
    """The README's quality table: nDCG@10 per method (and model) and benchmark, with each model's cost, from the committed suite results."""
    from similar.bench.suite_report import summary_table

    return summary_table(json.loads((RESULTS / "suite.json").read_text())) + "\n"


def web_pages() -> str:
    """Server time per web page from benchmarks/results/web-pages.json (benchmarks/web_pages.py)."""
    path = RESULTS / "web-pages.json"
    if not path.exists():
        return "*No results yet: run `python benchmarks/web_pages.py --out benchmarks/results`.*\n"
    data = json.loads(path.read_text())
    cpu = data.get("cpu", {})
    rows = ["| page | p50 ms | p95 ms | requests |", "|---|---|---|---|"]
    rows += [f"| {name} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['n']} |" for name, r in data["pages"].items()]
    return (
        f"{data['papers']:,} papers, {data['encoder']}; {cpu.get('model', '?')}, measured {data['date'][:10]} with "
        f"`{data['command']}` (target: p50 at most {data['target_p50_ms']:.0f} ms a page).\n\n" + "\n".join(rows) + "\n"
    )


GENERATORS = {
    "cli-help": cli_help,
    "methods": methods,
    "openapi": openapi,
    "results": results,
    "scale": scale,
    "encoding": encoding,
    "scaling-plan": scaling_plan,
    "ray-stages": ray_stages,
    "suite-table": suite_table,
    "web-pages": web_pages,
}


def regenerate(text: str, made: dict[str, str] | None = None) -> str:
    """text with every generated section made afresh (`made` caches each generator's output across pages)."""
    made = {} if made is None else made

    def fill(m: re.Match) -> str:
        name = m.group("name")
        if name not in GENERATORS:
            raise KeyError(f"unknown generated section {name!r}: one of {sorted(GENERATORS)}")
        if name not in made:
            made[name] = GENERATORS[name]().rstrip("\n") + "\n"
        return m.group("start") + made[name] + m.group("end")

    return SECTION.sub(fill, text)


def stale(text: str, made: dict[str, str] | None = None) -> list[str]:
    """Names of the sections of text whose content is not what they would be generated as now."""
    starts = re.findall(r"^<!-- generated: ([\w-]+) -->", text, re.M)
    closed = [m.group("name") for m in SECTION.finditer(text)]
    if starts != closed:
        raise ValueError(f"generated sections {starts} but only {closed} have their `<!-- end generated: NAME -->`")
    fresh = {m.group("name"): m.group("body") for m in SECTION.finditer(regenerate(text, made))}
    return [m.group("name") for m in SECTION.finditer(text) if fresh[m.group("name")] != m.group("body")]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    made: dict[str, str] = {}
    found = []
    for page in PAGES:
        old = page.read_text()
        names = stale(old, made)
        if names:
            found.append(f"{page.relative_to(ROOT)}: {', '.join(names)}")
            if not check:
                page.write_text(regenerate(old, made))
    for line in found:
        print(("stale " if check else "rewrote ") + line, file=sys.stderr)
    if check and found:
        print("regenerate with: python docs/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
