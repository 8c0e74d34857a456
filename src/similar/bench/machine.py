"""The CPU a figure was measured on (model, vector ISA, cores) and its fp32 matmul peak, for honest speed figures."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..encoder_choice import cpu_info as cpu_info
from ..encoder_choice import isa_of as isa_of


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
