"""`similar bench speed`: encoding rate per backend, build cost, and query latency/recall/memory per index type and size."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import store

DIM = 384
PARTS = ("encode", "build", "methods", "query", "startup", "int8")
QUERIES = 200


def _texts(corpus: Path, limit: int) -> list[str]:
    out = []
    with gzip.open(corpus, "rt") if corpus.suffix == ".gz" else open(corpus) as f:
        for line in f:
            r = json.loads(line)
            out.append(f"{r.get('title', '')} {r.get('abstract', '')}".strip())
            if len(out) >= limit:
                break
    return out


def _top10(vectors: np.ndarray) -> np.ndarray:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1)[:, :10]


def bench_encode(corpus: Path, docs: int = 512) -> dict:
    """docs/s of each backend on the same texts, and agreement with torch fp32 (cosine, top-10 neighbour overlap)."""
    from ..encoders import (
        DEFAULT_MODEL,
        ModelSpec,
        ModelUnavailable,
        OpenVINOEncoder,
        SentenceTransformerEncoder,
        _batch_tokenizer,
        resolve_model,
    )
    from .machine import encoder_flops, fp32_matmul_peak

    texts = _texts(corpus, docs)
    runs = []
    torch_spec = resolve_model(DEFAULT_MODEL, backend="torch")
    tokens = [int(m.sum()) for m in _batch_tokenizer(torch_spec.path, 256)(texts)["attention_mask"]]
    flops_per_doc = encoder_flops(torch_spec.path, tokens) / len(texts)
    peak = fp32_matmul_peak()
    encoders = [("torch fp32", lambda: SentenceTransformerEncoder(torch_spec))]
    prepared = store.models_dir() / DEFAULT_MODEL
    if (prepared / "openvino" / "model.xml").exists():
        encoders.append(("openvino fp32", lambda: OpenVINOEncoder(ModelSpec(DEFAULT_MODEL, prepared, "openvino"))))
    reference = None
    for label, make in encoders:
        try:
            enc = make()
        except ModelUnavailable as exc:
            runs.append({"backend": label, "error": str(exc)})
            continue
        enc.encode(texts[:32])  # warm-up
        started = time.perf_counter()
        vectors = enc.encode(texts)
        seconds = time.perf_counter() - started
        if getattr(enc, "precision", "f32") != "f32":  # OpenVINO picks bf16 on AMX / AVX-512 BF16 CPUs
            label = f"{label.split()[0]} (computes in {enc.precision} on this CPU)"
        run = {
            "backend": label,
            "docs": len(texts),
            "seconds": round(seconds, 2),
            "docs_per_s": round(len(texts) / seconds, 1),
        }
        run["gflops"] = round(run["docs_per_s"] * flops_per_doc / 1e9, 1)
        run["fraction_of_fp32_peak"] = round(run["gflops"] / peak, 2)
        if reference is None:
            reference, ref_top = vectors, _top10(vectors)
        else:
            top = _top10(vectors)
            run["mean_cosine_to_torch"] = float((vectors * reference).sum(axis=1).mean())
            run["min_cosine_to_torch"] = float((vectors * reference).sum(axis=1).min())
            run["top10_overlap"] = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top, ref_top)]))
            run["speedup_vs_torch"] = round(run["docs_per_s"] / runs[0]["docs_per_s"], 2)
        runs.append(run)
        print(run, file=sys.stderr, flush=True)
    return {
        "corpus": str(corpus),
        "threads": os.cpu_count(),
        "fp32_matmul_peak_gflops": round(peak, 1),
        "gflop_per_doc": round(flops_per_doc / 1e9, 3),
        "mean_tokens": round(float(np.mean(tokens)), 1),
        "runs": runs,
    }


def agreement(vectors: np.ndarray, reference: np.ndarray) -> dict:
    """Per-document cosine of L2-normalized vectors to the reference (mean, min) and top-10 neighbour overlap among the
    same documents (each document's 10 nearest others, compared as sets)."""
    cos = (vectors * reference).sum(axis=1)
    top, ref_top = _top10(vectors), _top10(reference)
    return {
        "mean_cosine_to_fp32": float(cos.mean()),
        "min_cosine_to_fp32": float(cos.min()),
        "top10_overlap": float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top, ref_top)])),
    }


INT8_TARGET = {"cosine": 0.99, "top10_overlap": 0.95}


def meets_target(a: dict) -> bool:
    """The issue's bar for int8: cosine >= 0.99 to fp32 (every document, the min) and top-10 overlap >= 0.95."""
    return a["min_cosine_to_fp32"] >= INT8_TARGET["cosine"] and a["top10_overlap"] >= INT8_TARGET["top10_overlap"]


def int8_runs(corpus: Path, docs: int) -> dict:
    """In this process: OpenVINO forced f32, OpenVINO's default precision, and the int8 IR with the rest of the graph
    at the default precision and forced to f32 (what an AVX2-only CPU computes them in), on the same texts."""
    from ..encoders import DEFAULT_MODEL, ModelSpec, ModelUnavailable, OpenVINOEncoder

    texts = _texts(corpus, docs)
    prepared = store.models_dir() / DEFAULT_MODEL
    runs, reference = [], None
    choices = (
        ("openvino f32", "f32", None),
        ("openvino default", None, None),
        ("openvino int8", "int8", None),
        ("openvino int8, rest f32", "int8", "f32"),
    )
    for label, precision, hint in choices:
        try:
            enc = OpenVINOEncoder(ModelSpec(DEFAULT_MODEL, prepared, "openvino"), precision=precision, hint=hint)
        except ModelUnavailable as exc:
            runs.append({"backend": label, "error": str(exc)})
            continue
        except (
            RuntimeError
        ) as exc:  # e.g. under ONEDNN_MAX_CPU_ISA=AVX2 the plugin still picks bf16, which has no kernels
            runs.append({"backend": label, "error": f"does not compile: {str(exc).strip().splitlines()[-1][:200]}"})
            continue
        enc.encode(texts[:32])  # warm-up
        started = time.perf_counter()
        vectors = enc.encode(texts)
        seconds = time.perf_counter() - started
        run = {
            "backend": label,
            "inference_precision": enc.precision,
            "weights": enc.weights,
            "docs": len(texts),
            "seconds": round(seconds, 2),
            "docs_per_s": round(len(texts) / seconds, 1),
        }
        if reference is None:
            reference = vectors
        else:
            run.update(agreement(vectors, reference))
            run["meets_target"] = meets_target(run)
            run["speedup_vs_f32"] = round(run["docs_per_s"] / runs[0]["docs_per_s"], 2)
        runs.append(run)
    return {"runs": runs}


def bench_int8(corpus: Path, docs: int = 512) -> dict:
    """int8 against fp32 and bf16, natively and with oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA, set in a child process
    before OpenVINO loads) to stand in for an AVX2-only CPU. Each setting runs in its own child process with its own
    compiled-model cache, so no blob compiled for one ISA is loaded under another."""
    out: dict = {"corpus": str(corpus), "docs": docs, "threads": os.cpu_count(), "target": INT8_TARGET, "settings": []}
    code = (
        "import json, sys; from pathlib import Path; from similar.bench.speed import int8_runs; "
        "print(json.dumps(int8_runs(Path(sys.argv[1]), int(sys.argv[2]))))"
    )
    for setting, isa in (("native", None), ("AVX2 (emulated: ONEDNN_MAX_CPU_ISA=AVX2)", "AVX2")):
        with tempfile.TemporaryDirectory(prefix="similar-int8-") as tmp:
            env = {**os.environ, "SIMILAR_CACHE": tmp}
            env.pop("ONEDNN_MAX_CPU_ISA", None)
            if isa:
                env["ONEDNN_MAX_CPU_ISA"] = isa
            proc = subprocess.run(
                [sys.executable, "-c", code, str(corpus), str(docs)], capture_output=True, text=True, env=env
            )
        if proc.returncode != 0:
            out["settings"].append({"setting": setting, "error": proc.stderr.strip()[-1500:]})
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        out["settings"].append({"setting": setting, "onednn_max_cpu_isa": isa, **result})
        print(out["settings"][-1], file=sys.stderr, flush=True)
    out["avx2_cap_honoured"] = _cap_honoured(out["settings"])
    return out


def _cap_honoured(settings: list[dict]) -> dict:
    """Did OpenVINO's CPU plugin see the AVX2 cap? Evidence: its default precision falls back from bf16 to f32 (bf16
    needs AVX-512 BF16 / AMX), and the f32 rate changes (AVX-512 kernels are no longer used)."""
    by = {s["setting"].split()[0]: {r["backend"]: r for r in s.get("runs", []) if "error" not in r} for s in settings}
    if not all(by.values()):
        return {"honoured": None, "why": "a setting did not run"}
    native, capped = by.get("native", {}), by.get("AVX2", {})
    default_native = native.get("openvino default", {}).get("inference_precision")
    default_capped = capped.get("openvino default", {}).get("inference_precision", "does not compile")
    f32 = [d.get("openvino f32", {}).get("docs_per_s") for d in (native, capped)]
    ratio = round(f32[1] / f32[0], 2) if all(f32) else None
    honoured = default_native != default_capped or (ratio is not None and abs(1 - ratio) > 0.15)
    return {
        "honoured": honoured,
        "default_precision_native": default_native,
        "default_precision_capped": default_capped,
        "f32_rate_capped_over_native": ratio,
    }


def bench_build(corpora: Sequence[Path]) -> list[dict]:
    """Wall time, peak RSS and on-disk size of `similar build` on each corpus, in a child process each."""
    out = []
    for corpus in corpora:
        with tempfile.TemporaryDirectory(prefix="similar-speed-") as tmp:
            dest = Path(tmp) / "ix"
            started = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "similar.cli", "build", str(corpus), "--index", str(dest), "--quiet"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, "SIMILAR_CACHE": str(Path(tmp) / "cache")},
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            stdout, stderr = proc.stdout.read().decode(), proc.stderr.read().decode()
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"build of {corpus} failed: {stderr[-2000:]}")
            manifest = store.read_manifest(dest)
            size = sum(f.stat().st_size for f in dest.iterdir())
            out.append(
                {
                    "corpus": str(corpus),
                    "papers": manifest.count,
                    "backend": (manifest.model or {}).get("backend"),
                    "wall_s": round(wall, 1),
                    "docs_per_s": round(manifest.count / wall, 1),
                    "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                    "disk_mb": round(size / 2**20, 2),
                    "files": {f.name: f.stat().st_size for f in dest.iterdir()},
                    "output": stdout.strip(),
                }
            )
            print(out[-1], file=sys.stderr, flush=True)
    return out


def synthetic(n: int, seed: int = 0, clusters: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Clustered unit vectors (like sentence embeddings, unlike uniform noise) and held-out queries from the same law."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, DIM)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)

    def draw(count):
        x = centers[rng.integers(0, clusters, count)] + 0.05 * rng.standard_normal((count, DIM)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return np.vstack([draw(min(n - i, 100_000)) for i in range(0, n, 100_000)]), draw(QUERIES)


def _latencies(fn, queries: np.ndarray) -> np.ndarray:
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q[None, :])
        out.append(time.perf_counter() - t)
    return np.array(out) * 1000


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_query(sizes: Sequence[int], kinds: Sequence[str] = ("flat", "hnsw", "ivf")) -> list[dict]:
    import faiss

    from ..backends.dense import DenseBackend

    rows = []
    for n in sizes:
        x, queries = synthetic(n)
        exact = x @ queries.T
        truth = np.argsort(-exact, axis=0)[:10].T
        del exact
        faiss.omp_set_num_threads(1)
        brute = _latencies(lambda q: np.argpartition(-(x @ q[0]), 10)[:10], queries)
        rows.append(
            {
                "n": n,
                "index": "numpy brute force",
                "p50_ms": float(np.percentile(brute, 50)),
                "p95_ms": float(np.percentile(brute, 95)),
                "p99_ms": float(np.percentile(brute, 99)),
                "recall@10": 1.0,
                "memory_mb": x.nbytes / 2**20,
                "build_s": 0.0,
            }
        )
        print(rows[-1], file=sys.stderr, flush=True)
        for kind in kinds:
            faiss.omp_set_num_threads(os.cpu_count() or 1)
            before = _rss_mb()
            started = time.perf_counter()
            backend = DenseBackend.build(x, kind)
            build_s = time.perf_counter() - started
            size_mb = len(faiss.serialize_index(backend.index)) / 2**20
            grown = _rss_mb() - before
            faiss.omp_set_num_threads(1)
            lat = _latencies(lambda q: backend.search(q, 10), queries)
            _, found = backend.search(queries, 10)
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))
            faiss.omp_set_num_threads(os.cpu_count() or 1)
            started = time.perf_counter()
            backend.search(np.repeat(queries, 5, axis=0), 10)
            qps = 5 * len(queries) / (time.perf_counter() - started)
            rows.append(
                {
                    "n": n,
                    "index": kind,
                    "params": backend.params,
                    "p50_ms": float(np.percentile(lat, 50)),
                    "p95_ms": float(np.percentile(lat, 95)),
                    "p99_ms": float(np.percentile(lat, 99)),
                    "batch_qps": round(qps, 1),
                    "recall@10": recall,
                    "memory_mb": round(size_mb, 1),
                    "rss_growth_mb": round(grown, 1),
                    "build_s": round(build_s, 1),
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
            backend = None  # free the index before the next one is built
        x = None
    return rows


def bench_methods(corpus: Path, queries: int = 300) -> list[dict]:
    """Single-thread latency of each ranking method on a real index (the hybrid's cost against plain dense)."""
    import faiss

    from ..build import build_index
    from ..encoders import CachedEncoder, load_encoder
    from ..index import Index

    faiss.omp_set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="similar-speed-") as tmp:
        build_index([corpus], Path(tmp) / "ix", model=CachedEncoder(load_encoder()), progress=False)
        index = Index.open(Path(tmp) / "ix")
        pmids = index.pmids[:queries].tolist()
        out = []
        stored = index.default_method
        runs = [(m, m if m != stored else f"{m} (precomputed list)", index) for m in index.methods]
        runs.append((stored, f"{stored} (computed live: text queries, filters past the list)", index.live_only()))
        for method, label, ix in runs:
            for p in pmids[:20]:
                ix.similar(p, n=10, method=method)
            lat = []
            for p in pmids:
                t = time.perf_counter()
                ix.similar(p, n=10, method=method)
                lat.append((time.perf_counter() - t) * 1000)
            out.append(
                {
                    "corpus": str(corpus),
                    "papers": len(index),
                    "method": label,
                    "p50_ms": float(np.percentile(lat, 50)),
                    "p95_ms": float(np.percentile(lat, 95)),
                    "p99_ms": float(np.percentile(lat, 99)),
                }
            )
        dense = next(r for r in out if r["method"] == "dense")
        for r in out:
            r["x_dense_p50"] = round(r["p50_ms"] / dense["p50_ms"], 2)
        # text queries (a paper that is not indexed): encoding the text is part of the cost
        index = index.with_encoder(load_encoder())
        rows = [index.row(p) for p in pmids[:60]]
        abstracts = index.abstracts(rows) or {}
        kinds = {
            "title only": [index.paper(p).title for p in pmids[:60]],
            "title + abstract": [f"{index.paper(p).title} {abstracts.get(r, '')}".strip() for p, r in zip(pmids, rows)],
        }
        text_rows = []
        for kind, texts in kinds.items():
            base = None
            for method in ("dense", "hybrid"):
                lat = []
                for text in texts:
                    t = time.perf_counter()
                    index.similar_text(text, n=10, method=method)
                    lat.append((time.perf_counter() - t) * 1000)
                row = {
                    "corpus": str(corpus),
                    "papers": len(index),
                    "method": f"{method} (text query, {kind}, encoding included)",
                    "p50_ms": float(np.percentile(lat[10:], 50)),
                    "p95_ms": float(np.percentile(lat[10:], 95)),
                    "p99_ms": float(np.percentile(lat[10:], 99)),
                }
                base = base or row
                row["x_dense_p50"] = round(row["p50_ms"] / base["p50_ms"], 2)
                text_rows.append(row)
        out += text_rows
        index.close()
    return out


def run_speed(
    parts: Sequence[str],
    encode_corpus: Path,
    build_corpora: Sequence[Path],
    sizes: Sequence[int],
    out_dir: Path,
    name: str = "speed",
) -> dict:
    from .machine import cpu_info

    results = {
        "name": name,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["similar"] + sys.argv[1:]),
        "cpus": os.cpu_count(),
        "cpu": cpu_info(),
        "versions": store.library_versions(),
    }
    if "startup" in parts:
        from .startup import bench_startup

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
    results["runs"] = {part: {"command": results["command"], "date": results["date"]} for part in parts}
    previous = out_dir / f"{name}.json"
    if previous.exists():  # parts not rerun keep their last figures, with the command and date that made them
        old = json.loads(previous.read_text())
        runs = {**old.get("runs", {}), **results["runs"]}
        results = {**{k: v for k, v in old.items() if k in PARTS}, **results, "runs": runs}
    (out_dir / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    (out_dir / f"{name}.md").write_text(speed_markdown(results))
    if results.get("query"):
        speed_chart(results["query"], out_dir / f"{name}.png")
    return results


def speed_markdown(r: dict) -> str:
    cpu = r.get("cpu") or {}
    where = (
        f"{cpu['model']} ({cpu['isa']}; {', '.join(cpu['flags'])}), {r['cpus']} cores"
        if cpu
        else f"{r['cpus']} CPUs (model not recorded)"
    )
    lines = [
        f"# Speed: {r['name']}",
        "",
        f"Measured on {where}. Each section names the command and date that measured it.",
        "",
    ]
    made = lambda part: (
        f"Measured by `{r['runs'][part]['command']}` on {r['runs'][part]['date']}." if part in r.get("runs", {}) else ""
    )
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
            lines.append(
                f"| {e['backend']} | {e['docs']} | {e['docs_per_s']} | {e.get('speedup_vs_torch', 1.0)} | {e.get('gflops', '-')} | "
                f"{e.get('fraction_of_fp32_peak', '-')} | {e.get('mean_cosine_to_torch', 1.0):.5f} | {e.get('top10_overlap', 1.0):.3f} |"
            )
        lines.append("")
    if r.get("int8"):
        lines += int8_markdown(r["int8"], where, made("int8"))
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
