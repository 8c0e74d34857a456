"""`similar bench quality --check`: rerun the benchmarks listed in a YAML file and compare each expected figure."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import yaml

from ..errors import SimilarError
from .quality import run_quality


def check_quality(path: str | Path, out_dir: str | Path, progress: bool, echo: Callable[[str], None]) -> bool:
    """Prints OK / FAIL per expected figure; True when every figure is within its tolerance."""
    path = Path(path)
    if not path.is_file():
        raise SimilarError(f"no benchmark list at {path}")
    spec = yaml.safe_load(path.read_text())
    all_ok = True
    for bench in spec["benchmarks"]:
        tolerance = float(bench.get("tolerance", spec.get("tolerance", 0.005)))
        results = run_quality(
            bench["corpus"], bench["judgments"], models=bench.get("models", []), name=bench["name"],
            out_dir=out_dir, topics_path=bench.get("topics"), progress=progress,
        )
        for protocol, methods in bench["expected"].items():
            for method, metrics in methods.items():
                for metric, expected in metrics.items():
                    got = results["summary"].get(protocol, {}).get(method, {}).get(metric, {}).get("mean")
                    ok = got is not None and abs(got - expected) <= tolerance
                    all_ok &= ok
                    shown = "missing" if got is None else f"{got:.4f}"
                    echo(f"{'OK  ' if ok else 'FAIL'} {bench['name']} {protocol} {method} {metric}: {shown} (expected {expected:.4f} ± {tolerance})")
    return all_ok
