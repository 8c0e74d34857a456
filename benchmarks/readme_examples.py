"""Rerun the `$ similar ...` examples of docs/*.md and the README and write their real output back, so they cannot drift.

    SIMILAR_HOME=/tmp/readme-home python benchmarks/readme_examples.py [--check | --table]

Runs from the repository root against ../shared/data, in the SIMILAR_HOME given (a fresh one reproduces the
README from scratch: the first example builds the index). Lines with a `# ... not rerun` comment are left as written
(a mirror, a GPU or a server they need is not started here). --check exits 1 when an output differs."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST = ("commands.md", "medline.md")  # their first examples build the indexes (trec, medline) the other pages query
PAGES = [*(ROOT / "docs" / n for n in FIRST), *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name not in FIRST),
         ROOT / "README.md"]
README = ROOT / "README.md"
PROMPT = "$ similar "


def run(command: str) -> list[str]:
    args = shlex.split(command[len("$ "):].split("  #")[0])
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "120"}
    proc = subprocess.run([sys.executable, "-m", "similar.cli", *args[1:]], cwd=ROOT, env=env, capture_output=True, text=True)
    return final_bars([re.sub(r".*\r", "", line) for line in (proc.stderr + proc.stdout).splitlines() if line.strip()])


def final_bars(lines: list[str]) -> list[str]:
    """Progress bars are redrawn in place: keep each bar's last state, as a terminal shows it."""
    out: list[str] = []
    for line in lines:
        label = BAR.match(line)
        if label and out and out[-1].startswith(label.group(0)):
            out[-1] = line
        else:
            out.append(line)
    return out


BAR = re.compile(r"^(reading|embedding|neighbour lists): ")


def regenerate(text: str) -> str:
    out, lines, i = [], text.splitlines(), 0
    in_block = False
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if line.startswith("```"):
            in_block = not in_block
            continue
        if not (in_block and line.startswith(PROMPT)) or "not rerun" in line:
            continue
        while i < len(lines) and not lines[i].startswith(("$ ", "```")) and lines[i].strip():
            i += 1  # the old output
        shown = run(line)
        out.extend(shown)
        print(line, f"-> {len(shown)} lines", file=sys.stderr)
    return "\n".join(out) + "\n"


TABLE_START, TABLE_END = "<!-- suite table: from benchmarks/results/suite.json -->", "<!-- end suite table -->"


def with_suite_table(text: str) -> str:
    """The README's quality table, rendered from the committed suite results (never typed by hand)."""
    import json

    from similar.bench.suite import summary_table

    if TABLE_START not in text:
        return text
    table = summary_table(json.loads((ROOT / "benchmarks" / "results" / "suite.json").read_text()))
    head, rest = text.split(TABLE_START, 1)
    return head + TABLE_START + "\n" + table + "\n" + TABLE_END + rest.split(TABLE_END, 1)[1]


def main() -> int:
    if "--table" in sys.argv:  # only the README's quality table (no example is rerun)
        README.write_text(with_suite_table(README.read_text()))
        return 0
    changed = False
    for page in PAGES:
        old = page.read_text()
        new = with_suite_table(regenerate(old))
        changed |= new != old
        if "--check" not in sys.argv:
            page.write_text(new)
    return 1 if changed and "--check" in sys.argv else 0


if __name__ == "__main__":
    sys.exit(main())
