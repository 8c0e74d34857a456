"""The CPU a figure was measured on (model, vector ISA, cores) and its fp32 matmul peak, for honest speed figures."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Sequence

import numpy as np


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
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")
    return {"model": model, "isa": isa_of(flags), "flags": [f for f in wanted if f in flags], "cores": os.cpu_count()}


def fp32_matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of the best of a few n x n float32 matrix products through numpy's BLAS (all cores): the
    practical fp32 peak that a transformer's matmuls can approach on this CPU."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    a @ b  # warm-up: threads, caches
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def encoder_flops(model_path: Path, token_counts: Sequence[int]) -> float:
    """Multiply-add FLOPs of a BERT-style encoder over documents of the given token lengths (no padding counted):
    per layer 2·L·(4h² + 2h·i) for the projections and feed-forward, plus 4·L²·h for attention."""
    config = json.loads((Path(model_path) / "config.json").read_text())
    h, i, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    lengths = np.asarray(token_counts, dtype=np.float64)
    return float(layers * (2 * lengths * (4 * h * h + 2 * h * i) + 4 * lengths**2 * h).sum())
