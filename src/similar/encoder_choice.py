"""Which backend encodes fastest here: time each candidate on the same texts, keep the fastest that agrees with torch."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import SimilarError

CHOICE_FILE = "backend-choice.json"  # in a prepared model folder; not part of the model's fingerprint
MIN_COSINE = 0.999  # every text's vector within this cosine of torch's, or the backend is not a candidate
REFERENCE = "torch"
# label -> (backend, OpenVINO precision): the candidates `similar models prepare` times, torch (the reference) first
BACKENDS: dict[str, tuple[str, str | None]] = {
    "torch": ("torch", None),
    "openvino-f32": ("openvino", "f32"),
    "openvino-bf16": ("openvino", "bf16"),
    "openvino-int8": ("openvino", "int8"),
}
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")


def isa_of(flags: set[str]) -> str:
    """The widest matrix/vector ISA a CPU's flags announce: AMX, AVX-512, AVX2, or SSE/other."""
    if {"amx_tile", "amx_bf16"} & flags:
        return "AMX"
    if "avx512f" in flags:
        return "AVX-512"
    if "avx2" in flags:
        return "AVX2"
    return "SSE/other"


def cpu_info() -> dict:
    """Model name, ISA and cores of this machine's CPU (from /proc/cpuinfo where there is one)."""
    model = platform.processor() or platform.machine()
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {
        "model": model,
        "isa": isa_of(flags),
        "flags": [f for f in CPU_FLAGS if f in flags],
        "cores": os.cpu_count(),
    }


def measure(
    candidates: dict[str, Callable[[], object]],
    texts: Sequence[str],
    clock: Callable[[], float] = time.perf_counter,
    errors: tuple[type[BaseException], ...] = (SimilarError, RuntimeError),
) -> list[dict]:
    """docs/s of each candidate (label -> encoder factory, torch first) on the same texts after a warm-up, and every
    text's cosine to torch's vector. A candidate that cannot load or run is a row with its one-line error."""
    if not texts or next(iter(candidates), None) != REFERENCE:
        raise ValueError("measure needs texts and torch as the first candidate")
    runs: list[dict] = []
    reference = None
    for label, make in candidates.items():
        try:
            encoder = make()
            encoder.encode(list(texts[:16]))  # type: ignore[attr-defined]  # warm-up: threads, compiled kernels
            started = clock()
            vectors = np.asarray(encoder.encode(list(texts)), dtype=np.float32)  # type: ignore[attr-defined]
            seconds = clock() - started
        except errors as exc:
            if label == REFERENCE:
                raise SimilarError(f"the torch reference cannot run: {(str(exc).splitlines() or [''])[0]}") from exc
            runs.append({"backend": label, "error": (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]})
            continue
        run = {
            "backend": label,
            "docs": len(texts),
            "seconds": round(seconds, 3),
            "docs_per_s": round(len(texts) / seconds, 1) if seconds > 0 else float("inf"),
        }
        precision = getattr(encoder, "precision", None)
        if precision:
            run["inference_precision"] = str(precision)
        if reference is None:
            reference = vectors
        else:
            cosines = (vectors * reference).sum(axis=1)
            run["mean_cosine_to_torch"] = round(float(cosines.mean()), 6)
            run["min_cosine_to_torch"] = round(float(cosines.min()), 6)
        runs.append(run)
    return runs


def acceptable(run: dict, min_cosine: float = MIN_COSINE) -> bool:
    """A run that may be chosen: it ran, and it is torch or agrees with torch on every text."""
    if "error" in run:
        return False
    return run["backend"] == REFERENCE or run.get("min_cosine_to_torch", -1.0) >= min_cosine


def choose(runs: Sequence[dict], min_cosine: float = MIN_COSINE) -> str:
    """The label of the fastest acceptable run; torch on a tie (it is the reference, never slower than itself)."""
    ok = [r for r in runs if acceptable(r, min_cosine)]
    if not any(r["backend"] == REFERENCE for r in ok):
        raise SimilarError("no torch run to compare with: the backends cannot be chosen")
    return max(ok, key=lambda r: (r["docs_per_s"], r["backend"] == REFERENCE))["backend"]


def record(model: str, fingerprint: str, runs: Sequence[dict], texts_source: str, min_cosine: float = MIN_COSINE):
    """The choice file's content: the chosen label, every run, this CPU, the bar it was chosen by."""
    chosen = choose(runs, min_cosine)
    rate = next(r["docs_per_s"] for r in runs if r["backend"] == chosen)
    return {
        "model": model,
        "fingerprint": fingerprint,
        "chosen": chosen,
        "backend": BACKENDS[chosen][0],
        "precision": BACKENDS[chosen][1],
        "rule": f"fastest with min cosine to torch >= {min_cosine} on every text; torch if it is fastest",
        "rejected_faster": [
            r["backend"] for r in runs if "error" not in r and not acceptable(r, min_cosine) and r["docs_per_s"] > rate
        ],
        "cpu": cpu_info(),
        "texts": texts_source,
        "runs": list(runs),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_choice(folder: Path, content: dict) -> Path:
    """Write the choice file into a prepared model folder (atomic replace)."""
    path = Path(folder) / CHOICE_FILE
    tmp = path.with_name(f".{CHOICE_FILE}.tmp")
    tmp.write_text(json.dumps(content, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def read_choice(folder: Path, fingerprint: str | None = None) -> dict | None:
    """The recorded choice of a prepared folder, if there is one made on this CPU for this model (a folder copied to
    another machine, or a model replaced since, has none); an unreadable file counts as none."""
    path = Path(folder) / CHOICE_FILE
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict) or content.get("chosen") not in BACKENDS:
        return None
    here = cpu_info()
    made_on = content.get("cpu") or {}
    if (made_on.get("model"), made_on.get("flags")) != (here["model"], here["flags"]):
        return None
    if fingerprint is not None and content.get("fingerprint") != fingerprint:
        return None
    return content
