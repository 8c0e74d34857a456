"""Papers/s of each heavy build stage, local (one process) against a 2-node Ray cluster started here (1 CPU a node).

    PYTHONPATH=src python benchmarks/ray_stages.py [CORPUS] [--out benchmarks/results]

Both builds use the scale bench's stand-in encoder (hashed word directions), so the embedding row measures Ray's
overhead around a cheap encoder, not a model: model rates are speed.json's (CPU) and gpu-encode-h200.json's.
Without --out the results are printed only; with it they are written to OUT/ray-stages.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from similar import distributed
from similar.bench.machine import cpu_info
from similar.bench.scale import StandInEncoder
from similar.build import build_index

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "pubmed-sample" / "abstracts.jsonl.gz"
STAGES = ("embedding", "lexical", "stored lists")


def rates(report, workers: int) -> dict:
    return {
        "workers": workers,
        "seconds": round(report.seconds, 1),
        "stages": report.stages,
        "papers_per_s": {s: round(report.kept / report.stages[s], 1) for s in STAGES},
        "papers_per_s_per_worker": {s: round(report.kept / report.stages[s] / workers, 1) for s in STAGES},
    }


def main(argv: list[str]) -> int:
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else None
    corpus = Path(next((a for a in argv if not a.startswith("--") and Path(a).suffix in (".gz", ".jsonl")), CORPUS))
    load = os.getloadavg()[0]  # recorded: a figure taken while other jobs ran says so
    with tempfile.TemporaryDirectory(prefix="similar-ray-") as tmp:
        os.environ["SIMILAR_HOME"] = str(Path(tmp) / "home")
        local = build_index([corpus], Path(tmp) / "local", model=StandInEncoder(), progress=False)
        # the cluster's workers import similar and this file's encoder from this checkout
        path = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
        started = time.perf_counter()
        with distributed.local_cluster(Path(tmp) / "cluster", nodes=2, cpus=1, env={"PYTHONPATH": path}) as address:
            cluster_start = time.perf_counter() - started
            ray = build_index(
                [corpus], Path(tmp) / "ray", model=StandInEncoder(), progress=False, engine="ray", ray_address=address
            )
        same = {
            f.name: f.read_bytes() == (Path(tmp) / "ray" / f.name).read_bytes()
            for f in sorted((Path(tmp) / "local").iterdir())
            if f.name not in ("manifest.json", "papers.sqlite")
        }
    result = {
        "what": "papers/s of each heavy build stage: local build (one process) vs --engine ray on a 2-node Ray cluster "
        "started on this machine with `ray start` (1 CPU a node)",
        "load_average_at_start": round(load, 2),  # 1-minute load average before the builds: other jobs' share
        "command": "PYTHONPATH=src python benchmarks/ray_stages.py --out benchmarks/results",
        "cpu": cpu_info(),
        "corpus": str(corpus.relative_to(ROOT.parent)) if corpus.is_relative_to(ROOT.parent) else str(corpus),
        "papers": local.kept,
        "encoder": f"{StandInEncoder.name} (stand-in: its embedding rate is Ray's overhead, not a model's)",
        "cluster_start_seconds": round(cluster_start, 1),
        "local": rates(local, 1),
        "ray": rates(ray, 2),
        "files_equal": all(same.values()),
        "files_differing": sorted(n for n, ok in same.items() if not ok),
    }
    result["per_worker_vs_local"] = {
        s: round(result["ray"]["papers_per_s_per_worker"][s] / result["local"]["papers_per_s"][s], 2) for s in STAGES
    }
    text = json.dumps(result, indent=1)
    print(text)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "ray-stages.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
