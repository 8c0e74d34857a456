"""Start-up cost of the command in fresh processes: --help, a one-line error, info, and a cold `query --text`."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import paths
from .speed_encoding import corpus_texts

QUERY_TEXT = "BRCA1 germline mutations and hereditary breast cancer risk"


def _run(args: list[str], env: dict, repeats: int) -> dict:
    times, code = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "similar.cli", *args], env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        code = proc.returncode
    return {
        "command": "similar " + " ".join(args),
        "exit_code": code,
        "runs": repeats,
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
    }


def bench_startup(corpus: Path, papers: int = 200, repeats: int = 5) -> list[dict]:
    """Median wall time of each command in a new process. The text query runs against a small index built here
    with the default model; 'first' has an empty OpenVINO compile cache, 'later' reuses it (a cold process both times)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="similar-startup-") as tmp:
        env = {
            **os.environ,
            paths.HOME_ENV: str(Path(tmp) / "home"),
            "SIMILAR_CACHE": str(Path(tmp) / "cache"),
            "SIMILAR_MODELS_DIR": str(paths.models_dir()),
        }
        rows.append(_run(["--help"], env, repeats))
        rows.append(_run(["query", "1", "--index", "nosuch"], env, repeats))
        rows.append(_run(["info"], env, repeats))
        small = Path(tmp) / "small.jsonl"
        small.write_text(
            "".join(
                json.dumps({"pmid": str(i + 1), "title": t}) + "\n" for i, t in enumerate(corpus_texts(corpus, papers))
            )
        )
        built = subprocess.run(
            [sys.executable, "-m", "similar.cli", "build", str(small), "--index", "small", "--quiet"],
            env=env,
            capture_output=True,
            text=True,
        )
        if built.returncode != 0:
            raise RuntimeError(f"start-up benchmark: build failed: {built.stderr.strip()[-500:]}")
        rows.append(_run(["info", "--index", "small"], env, repeats))
        rows.append(_run(["query", "1", "--index", "small"], env, repeats))
        first = _run(
            ["query", "--text", QUERY_TEXT, "--index", "small"], {**env, "SIMILAR_CACHE": str(Path(tmp) / "cold")}, 1
        )
        rows.append({**first, "command": first["command"] + "  (first: empty compile cache)"})
        later = _run(["query", "--text", QUERY_TEXT, "--index", "small"], env, repeats)
        rows.append({**later, "command": later["command"] + "  (cold process, compile cache warm)"})
    return rows
