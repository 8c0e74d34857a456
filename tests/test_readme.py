"""The README and docs cannot drift: the README's two set-up commands, every `$ similar ...` example (README and
docs/*.md) parses against the CLI, and example outputs are the ones benchmarks/readme_examples.py wrote (it reruns
them; `--check` compares). The generated sections, the README's quality table among them: tests/test_docs.py."""

import re
import shlex
from pathlib import Path

import click
import pytest

from similar.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = README + "\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
EXAMPLES = [line for line in PAGES.splitlines() if line.startswith("$ similar ")]


def test_two_setup_commands_open_the_readme():
    block = README.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert block == [
        "pip install -e . && similar build ../shared/data/trec2005-d2d/corpus.jsonl.gz --index trec && similar query 7504954 --index trec",
        "pip install -e '.[test]' && python -m pytest",
    ]


def _leaf(args: list[str]) -> click.Command:
    """Parse args down to the command they name; raises click.UsageError on an unknown command or option."""
    cmd, ctx = main, main.make_context("similar", list(args))
    while isinstance(cmd, click.Group):
        rest = [*ctx._protected_args, *ctx.args]
        name, cmd, rest = cmd.resolve_command(ctx, rest)
        ctx = cmd.make_context(name, rest, parent=ctx)
    return cmd


def test_every_example_is_rerun_or_says_why_not():
    """benchmarks/readme_examples.py reruns `$ similar` and `$ curl` lines in fenced blocks; any other shown command,
    or one it cannot run here, carries a `# ... not rerun` reason, so no example is silently stale."""
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        in_block = False
        for line in page.read_text().splitlines():
            if line.startswith("```"):
                in_block = not in_block
            elif in_block and line.startswith("$ "):
                rerun = line.startswith(("$ similar ", "$ curl "))
                assert rerun or "not rerun" in line, f"{page.name}: {line}"
                if "not rerun" in line:
                    assert re.search(r"  # .*\w.*not rerun", line), f"{page.name}: say why it is not rerun: {line}"


@pytest.mark.parametrize("line", EXAMPLES)
def test_every_example_parses(line):
    args = shlex.split(line.split("  #")[0])[2:]
    assert _leaf(args).name in {
        c for g in (main, *[c for c in main.commands.values() if isinstance(c, click.Group)]) for c in g.commands
    }


def test_examples_show_what_the_command_prints():
    """Outputs are pasted by the script: no hand-rounded JSON, no paths relative to a working directory."""
    for line in PAGES.splitlines():
        if line.startswith("{") and '"score"' in line:
            assert re.search(r"\"score\": ?\d\.\d{4,}", line), line  # --json and HTTP print scores unrounded
        if line.startswith(("built ", "updated ", "serving ")):
            assert re.match(r"\w+ /", line), line  # absolute index paths
    assert "index/trec: " not in PAGES.replace("/index/trec: ", "")


def test_the_check_masks_only_what_changes_run_to_run(monkeypatch):
    """`readme_examples.py --check` ignores timings, rates, build ids, dates and the data folder, nothing else."""
    import sys

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    monkeypatch.setenv("SIMILAR_HOME", "/tmp/elsewhere")
    sys.modules.pop("readme_examples", None)
    from readme_examples import masked

    page = (
        "embedding: 100%|██████████| 604/604 [00:18<00:00, 31.92 doc/s]\n"
        "updated /tmp/readme-home/index/trec: 604 papers kept; 33.0s\n"
        "method: hybrid   index build: 20261127T131123Z-6b2fa5   updated 2026-11-27T13:11:23+00:00"
    )
    now = (
        "embedding: 100%|██████████| 604/604 [00:52<00:00, 11.44 doc/s]\n"
        "updated /tmp/elsewhere/index/trec: 604 papers kept; 77.6s\n"
        "method: hybrid   index build: 20261128T061301Z-3b461d   updated 2026-11-28T06:13:01+00:00"
    )
    assert masked(page) == masked(now)
    assert masked("score 0.398 of 42 files") != masked("score 0.400 of 5 files")
