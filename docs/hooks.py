"""mkdocs hook: fills `<!-- generated: ... -->` markers from the code and benchmarks/results, so no figure is typed twice."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


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


GENERATORS = {"cli-help": cli_help, "methods": methods, "openapi": openapi, "results": results}


def on_page_markdown(markdown: str, **kwargs) -> str:
    for name, make in GENERATORS.items():
        marker = f"<!-- generated: {name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
