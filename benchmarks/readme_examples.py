"""Rerun the examples of docs/*.md and the README and write their real output back, so they cannot drift.

    SIMILAR_HOME=/tmp/readme-home python benchmarks/readme_examples.py [--check]

Runs from the repository root against ../shared/data, in the SIMILAR_HOME given (a fresh one reproduces the docs
from scratch: the first examples build the indexes, trec and medline, the others query them). In a fenced block,
every `$ similar ...` line is run and the lines under it replaced by what it prints; `$ similar serve ...` starts
the server in the background (stopped at the end) and shows its first line; `$ curl ...` runs in bash against it
(a `$ curl` with no server started on its page gets one for `--index trec` on the port it names). A line with a
`# ... not rerun` comment is left as written, with its reason (a mirror, a GPU or a fixture it needs is not made
here). The generated sections are rewritten too (docs/generate.py).

--check writes nothing and exits 1 when an output differs from the page, comparing with timings, rates, build ids,
dates and the data folder masked; it prints each difference. Scores are compared exactly: on another CPU (bf16 or
fp32, see docs/results.md) the third decimal can differ, which --check shows rather than hides.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

import generate  # noqa: E402

FIRST = ("commands.md", "medline.md")  # their first examples build the indexes (trec, medline) the other pages query
PAGES = [
    *(ROOT / "docs" / n for n in FIRST),
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name not in FIRST),
    ROOT / "README.md",
]
PROMPTS = ("$ similar ", "$ curl ")
DOCS_HOME = "/tmp/readme-home"  # the data folder the pages show
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "120"}
SERVERS: dict[int, subprocess.Popen] = {}


def command_of(line: str) -> str:
    return line[len("$ ") :].split("  #")[0].strip()


def run(line: str) -> list[str]:
    command = command_of(line)
    if command.startswith("curl "):
        port = re.search(r"(?:localhost|127\.0\.0\.1):(\d+)", command)
        if port and int(port.group(1)) not in SERVERS:
            serve(["serve", "--index", "trec", "--port", port.group(1)])
        proc = subprocess.run(["bash", "-c", command], cwd=ROOT, env=ENV, capture_output=True, text=True)
        return [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    args = shlex.split(command)[1:]
    if args[:1] == ["serve"]:
        return serve(args)
    proc = subprocess.run(
        [sys.executable, "-m", "similar.cli", *args], cwd=ROOT, env=ENV, capture_output=True, text=True
    )
    return final_bars([re.sub(r".*\r", "", line) for line in (proc.stderr + proc.stdout).splitlines() if line.strip()])


def serve(args: list[str]) -> list[str]:
    """`similar serve ...` in the background until this script ends; its first line once it answers."""
    port = int(args[args.index("--port") + 1]) if "--port" in args else 8000
    if port in SERVERS:  # one started for an earlier page's curl: this page starts its own
        SERVERS.pop(port).terminate()
    proc = subprocess.Popen(
        [sys.executable, "-m", "similar.cli", *args],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    SERVERS[port] = proc
    first = proc.stdout.readline().decode().rstrip() if proc.stdout else ""
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    return [first]


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


def regenerate(text: str, log=lambda line: print(line, file=sys.stderr)) -> str:
    out, lines, i = [], text.splitlines(), 0
    in_block = False
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if line.startswith("```"):
            in_block = not in_block
            continue
        if not (in_block and line.startswith(PROMPTS)) or "not rerun" in line:
            continue
        while i < len(lines) and not lines[i].startswith(("$ ", "```")) and lines[i].strip():
            i += 1  # the old output
        shown = run(line)
        out.extend(shown)
        log(f"{line} -> {len(shown)} lines")
    return "\n".join(out) + "\n"


VOLATILE = [
    (re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}"), "<build id>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00"), "<date>"),
    (re.compile(r"\[\d\d:\d\d<\d\d:\d\d, +[\d.]+ ?[\w/ ]*\]"), "[<time>]"),
    (re.compile(r"\b\d+(\.\d+)?s\b"), "<seconds>"),
    (re.compile(r"\b[\d.]+ (rec|doc|paper)/s\b"), "<rate>"),
]


def masked(text: str) -> str:
    text = text.replace(os.environ.get("SIMILAR_HOME", DOCS_HOME), "<home>").replace(DOCS_HOME, "<home>")
    for pattern, mask in VOLATILE:
        text = pattern.sub(mask, text)
    return text


def main() -> int:
    check = "--check" in sys.argv
    if not check and os.environ.get("SIMILAR_HOME") != DOCS_HOME:
        print(f"note: the pages show {DOCS_HOME}; run with SIMILAR_HOME={DOCS_HOME} to keep them so", file=sys.stderr)
    differ = False
    made: dict[str, str] = {}
    try:
        for page in PAGES:
            old = page.read_text()
            new = generate.regenerate(regenerate(old), made)
            if check:
                a, b = masked(old).splitlines(), masked(new).splitlines()
                for line in difflib.unified_diff(a, b, f"{page.name} (page)", f"{page.name} (now)", n=0, lineterm=""):
                    print(line)
                differ |= a != b
            elif new != old:
                page.write_text(new)
    finally:
        for proc in SERVERS.values():
            proc.terminate()
            proc.wait()
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
