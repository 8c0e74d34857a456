"""`similar bench speed` parts encode and int8: encoding rate per backend, and int8 against fp32 and bf16."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import store


def corpus_texts(corpus: Path, limit: int) -> list[str]:
    """The first `limit` papers of a JSON-lines corpus (.gz ok) as 'title abstract' texts."""
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
    """docs/s of each backend on the same texts (torch fp32, then every OpenVINO precision the prepared export runs,
    int8 when exported), agreement with torch fp32 (cosine, top-10 neighbour overlap), and the recorded choice."""
    from .. import encoder_choice
    from ..encoders import (
        DEFAULT_MODEL,
        ModelUnavailable,
        SentenceTransformerEncoder,
        batch_tokenizer,
        fingerprint_dir,
        resolve_model,
    )
    from ..openvino_export import backend_candidates
    from .machine import encoder_flops, fp32_matmul_peak

    texts = corpus_texts(corpus, docs)
    runs = []
    torch_spec = resolve_model(DEFAULT_MODEL, backend="torch")
    tokens = [int(m.sum()) for m in batch_tokenizer(torch_spec.path, 256)(texts)["attention_mask"]]
    flops_per_doc = encoder_flops(torch_spec.path, tokens) / len(texts)
    peak = fp32_matmul_peak()
    encoders = [(encoder_choice.REFERENCE, lambda: SentenceTransformerEncoder(torch_spec))]
    prepared = store.models_dir() / DEFAULT_MODEL
    chosen = None
    if (prepared / "modules.json").exists():
        others = backend_candidates(prepared, DEFAULT_MODEL)
        encoders += [(label, make) for label, make in others.items() if label != encoder_choice.REFERENCE]
        choice = encoder_choice.read_choice(prepared, fingerprint_dir(prepared))
        chosen = choice["chosen"] if choice else None
    reference = None
    for label, make in encoders:
        try:
            enc = make()
        except (ModelUnavailable, RuntimeError) as exc:  # RuntimeError: a precision this CPU's plugin cannot compile
            runs.append({"backend": label, "error": (str(exc).strip().splitlines() or [""])[-1][:200]})
            continue
        enc.encode(texts[:32])  # warm-up
        started = time.perf_counter()
        vectors = enc.encode(texts)
        seconds = time.perf_counter() - started
        run = {
            "backend": label,
            "docs": len(texts),
            "seconds": round(seconds, 2),
            "docs_per_s": round(len(texts) / seconds, 1),
            "inference_precision": getattr(enc, "precision", "f32"),
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
        "chosen": chosen,  # what `similar models prepare` recorded for this CPU (build and query use it), or None
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

    texts = corpus_texts(corpus, docs)
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
        "import json, sys; from pathlib import Path; from similar.bench.speed_encoding import int8_runs; "
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
