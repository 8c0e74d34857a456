"""`similar bench speed`: runs the parts (speed_encoding: encode, int8; speed_indexes: build, methods, query;
startup) and writes their report: JSON, markdown and a chart."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Sequence

# The parts, in the order `--part` offers them; the command reads them at start-up, so the parts themselves are
# imported only when run. int8 needs NNCF and an int8 export: it runs only when asked for.
PARTS = ("encode", "build", "methods", "query", "startup", "int8")
DEFAULT_PARTS = tuple(part for part in PARTS if part != "int8")


def run_speed(
    parts: Sequence[str],
    encode_corpus: Path,
    build_corpora: Sequence[Path],
    sizes: Sequence[int],
    out_dir: Path,
    name: str = "speed",
) -> dict:
    from .. import store
    from .machine import cpu_info
    from .speed_encoding import bench_encode, bench_int8
    from .speed_indexes import bench_build, bench_methods, bench_query
    from .startup import bench_startup

    results = {
        "name": name,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["similar"] + sys.argv[1:]),
        "cpus": os.cpu_count(),
        "cpu": cpu_info(),
        "versions": store.library_versions(),
    }
    if "startup" in parts:
        results["startup"] = bench_startup(encode_corpus)
    if "encode" in parts:
        results["encode"] = bench_encode(encode_corpus)
    if "build" in parts:
        results["build"] = bench_build(build_corpora)
    if "methods" in parts:
        results["methods"] = [r for c in build_corpora for r in bench_methods(c)]
    if "query" in parts:
        results["query"] = bench_query(sizes)
    if "int8" in parts:
        results["int8"] = bench_int8(encode_corpus)
    out_dir.mkdir(parents=True, exist_ok=True)
    made_here = {"command": results["command"], "date": results["date"], "cpu": results["cpu"], "cpus": os.cpu_count()}
    results["runs"] = {part: made_here for part in parts}
    previous = out_dir / f"{name}.json"
    if previous.exists():  # parts not rerun keep their last figures, with the command, date and CPU that made them
        old = json.loads(previous.read_text())
        before = {"cpu": old.get("cpu"), "cpus": old.get("cpus")}  # runs recorded before runs named their CPU
        runs = {**{part: {**before, **run} for part, run in old.get("runs", {}).items()}, **results["runs"]}
        results = {**{k: v for k, v in old.items() if k in PARTS}, **results, "runs": runs}
    (out_dir / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    (out_dir / f"{name}.md").write_text(speed_markdown(results))
    if results.get("query"):
        speed_chart(results["query"], out_dir / f"{name}.png")
    return results


def _machine(cpu: dict | None, cpus) -> str:
    return f"{cpu['model']} ({cpu['isa']}; {', '.join(cpu['flags'])}), {cpus} cores" if cpu else f"{cpus} CPUs"


def speed_markdown(r: dict) -> str:
    lines = [
        f"# Speed: {r['name']}",
        "",
        "Each section names the command, date and machine that measured it (parts are rerun one at a time).",
        "",
    ]

    def made(part: str) -> str:
        run = r.get("runs", {}).get(part)
        if run is None:
            return ""
        machine = _machine(run.get("cpu", r.get("cpu")), run.get("cpus", r.get("cpus")))
        return f"Measured by `{run['command']}` on {run['date']}, on {machine}."

    if r.get("startup"):
        lines += [
            "## Start-up (a new process each time)",
            "",
            made("startup"),
            "",
            "| command | exit | median (s) | max (s) | runs |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| `{s['command']}` | {s['exit_code']} | {s['median_s']:.2f} | {s['max_s']:.2f} | {s['runs']} |"
            for s in r["startup"]
        ]
        lines.append("")
    if r.get("encode"):
        enc = r["encode"]
        peak = (
            (
                f"fp32 matmul peak {enc['fp32_matmul_peak_gflops']} GFLOP/s (numpy 2048² GEMM); {enc['gflop_per_doc']} GFLOP a document "
                f"({enc['mean_tokens']} tokens on average, padding not counted)"
            )
            if "fp32_matmul_peak_gflops" in enc
            else ""
        )
        lines += [
            "## Encoding (all-MiniLM-L6-v2, same texts, same run)",
            "",
            made("encode"),
            "",
            peak,
            "",
            "| backend | docs | docs/s | speed-up vs torch | GFLOP/s | of fp32 peak | mean cosine to torch | top-10 overlap |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for e in enc["runs"]:
            if "error" in e:
                lines.append(f"| {e['backend']} | - | {e['error']} | | | | | |")
                continue
            mark = " (chosen here)" if e["backend"] == enc.get("chosen") else ""
            lines.append(
                f"| {e['backend']}{mark} | {e['docs']} | {e['docs_per_s']} | {e.get('speedup_vs_torch', 1.0)} | {e.get('gflops', '-')} | "
                f"{e.get('fraction_of_fp32_peak', '-')} | {e.get('mean_cosine_to_torch', 1.0):.5f} | {e.get('top10_overlap', 1.0):.3f} |"
            )
        lines.append("")
    if r.get("int8"):
        run = r.get("runs", {}).get("int8", {})
        lines += int8_markdown(
            r["int8"], _machine(run.get("cpu", r.get("cpu")), run.get("cpus", r.get("cpus"))), made("int8")
        )
    if r.get("build"):
        lines += [
            "## Build (`similar build`, child process, embedding cache off)",
            "",
            made("build"),
            "",
            "| corpus | papers | encoder | wall (s) | docs/s | peak RSS (MB) | on disk (MB) |",
            "|---|---|---|---|---|---|---|",
        ]
        for b in r["build"]:
            lines.append(
                f"| {Path(b['corpus']).parent.name}/{Path(b['corpus']).name} | {b['papers']} | {b['backend']} | {b['wall_s']} | "
                f"{b['docs_per_s']} | {b['peak_rss_mb']} | {b['disk_mb']} |"
            )
        lines.append("")
    if r.get("methods"):
        lines += [
            "## Query latency per method on real indexes (`Index.similar`, n=10, one thread, warm)",
            "",
            made("methods"),
            "",
            "| corpus | papers | method | p50 (ms) | p95 (ms) | p99 (ms) | p50 / dense p50 (same kind of query) |",
            "|---|---|---|---|---|---|---|",
        ]
        for m in r["methods"]:
            lines.append(
                f"| {Path(m['corpus']).name} | {m['papers']} | {m['method']} | {m['p50_ms']:.3f} | {m['p95_ms']:.3f} | "
                f"{m['p99_ms']:.3f} | {m['x_dense_p50']} |"
            )
        lines.append("")
    if r.get("query"):
        lines += [
            "## Dense index types on synthetic clustered vectors (dim 384; 200 held-out queries; one thread)",
            "",
            made("query"),
            "",
            "| N | index | build (s) | p50 (ms) | p95 (ms) | p99 (ms) | batch q/s (2 threads) | recall@10 vs exact | index memory (MB) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for q in r["query"]:
            lines.append(
                f"| {q['n']:,} | {q['index']} | {q['build_s']} | {q['p50_ms']:.3f} | {q['p95_ms']:.3f} | {q['p99_ms']:.3f} | "
                f"{q.get('batch_qps', '-')} | {q['recall@10']:.3f} | {q['memory_mb']:.0f} |"
            )
        lines.append("")
    return "\n".join(lines)


def int8_markdown(q: dict, where: str, made: str) -> list[str]:
    cap = q.get("avx2_cap_honoured") or {}
    if cap.get("honoured"):
        note = (
            f"The AVX2 rows are emulated on this CPU ({where}) by capping oneDNN with ONEDNN_MAX_CPU_ISA=AVX2 in a child "
            f"process; oneDNN inside OpenVINO's CPU plugin honoured it (default precision {cap['default_precision_native']} "
            f"natively, {cap['default_precision_capped']} capped: the plugin still chooses bf16 by its own CPU check, and "
            "no bf16 kernel is left under the cap, so the capped rows force f32 for whatever is not int8, as an AVX2-only "
            f"CPU would compute it; f32 rate capped / native {cap['f32_rate_capped_over_native']}). An emulation keeps "
            "this CPU's caches, memory and clock: a real AVX2-only CPU will differ in absolute rates."
        )
    else:
        note = (
            f"ONEDNN_MAX_CPU_ISA=AVX2 was NOT visibly honoured by OpenVINO's CPU plugin ({cap}): the AVX2 rows are not an "
            "AVX2 measurement; only the native rows count."
        )
    lines = [
        "## int8 (NNCF post-training quantization) against OpenVINO fp32 and bf16",
        "",
        made,
        "",
        f"{q['docs']} abstracts of `{q['corpus']}`, {q['threads']} threads, measured on {where}. Agreement is to OpenVINO "
        f"forced f32 (INFERENCE_PRECISION_HINT=f32) in the same setting; target: cosine >= {q['target']['cosine']} "
        f"(every document) and top-10 overlap >= {q['target']['top10_overlap']}.",
        "",
        note,
        "",
        "| setting | backend | computes in | docs/s | vs f32 | mean cosine | min cosine | top-10 overlap | meets target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in q["settings"]:
        if "error" in s:
            lines.append(f"| {s['setting']} | - | - | {s['error'][-200:]} | | | | | |")
            continue
        for e in s["runs"]:
            if "error" in e:
                lines.append(f"| {s['setting']} | {e['backend']} | - | {e['error']} | | | | | |")
                continue
            computes = e["inference_precision"] + (" (int8 weights and activations)" if e["weights"] == "int8" else "")
            lines.append(
                f"| {s['setting']} | {e['backend']} | {computes} | {e['docs_per_s']} | {e.get('speedup_vs_f32', 1.0)} | "
                f"{e.get('mean_cosine_to_fp32', 1.0):.5f} | {e.get('min_cosine_to_fp32', 1.0):.5f} | "
                f"{e.get('top10_overlap', 1.0):.3f} | {'yes' if e.get('meets_target', True) else 'no'} |"
            )
    lines.append("")
    return lines


def speed_chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for kind in dict.fromkeys(r["index"] for r in rows):
        pts = [r for r in rows if r["index"] == kind]
        a.plot([p["n"] for p in pts], [p["p99_ms"] for p in pts], marker="o", label=kind)
        b.plot([p["n"] for p in pts], [p["memory_mb"] for p in pts], marker="o", label=kind)
    for ax, title, unit in ((a, "single-query p99 latency", "ms"), (b, "index memory", "MB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("vectors (N)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
