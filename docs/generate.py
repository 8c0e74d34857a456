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


def suite_table() -> str:
    """The README's quality table: nDCG@10 per method (and model) and benchmark, with each model's cost, from the committed suite results."""
    from similar.bench.suite_report import summary_table

    return summary_table(json.loads((RESULTS / "suite.json").read_text())) + "\n"


GENERATORS = {
    "cli-help": cli_help,
    "methods": methods,
    "openapi": openapi,
    "results": results,
    "scale": scale,
    "encoding": encoding,
    "suite-table": suite_table,
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
