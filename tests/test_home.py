"""With SIMILAR_HOME set, nothing appears under HOME: each flow runs in a fresh process whose HOME is an empty folder
(the product must keep libraries out of it: OpenVINO's telemetry id, Ray's token, matplotlib's and Hugging Face's
caches, similar's own cache), and the folder is still empty afterwards."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures import TREC, make_corpus, write_jsonl

ROOT = Path(__file__).resolve().parents[1]


def run_with_empty_home(tmp_path: Path, code: str, timeout: int = 300) -> list[str]:
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIMILAR_", "MPLCONFIGDIR", "HF_", "RAY_"))}
    env.update(
        HOME=str(home),
        SIMILAR_HOME=str(data),
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]),
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


def test_build_query_openvino_and_charts_leave_home_empty(tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", make_corpus())
    code = f"""
from fixtures import FakeEncoder
from similar.build import build_index
from similar.index import Index
from similar.paths import index_path
from similar.encoders import CachedEncoder

build_index([{str(corpus)!r}], index_path("t"), model=FakeEncoder(), progress=False)
index = Index.open("t", encoder=FakeEncoder())
assert index.similar("1000", n=3).neighbors and index.similar_text("cardiac heart failure", n=3).neighbors
CachedEncoder(FakeEncoder()).encode(["a cached text"])
import openvino
openvino.Core()
import matplotlib.pyplot as plt
plt.plot([0, 1]); plt.savefig({str(tmp_path / "chart.png")!r})
"""
    assert run_with_empty_home(tmp_path, code) == []
    assert (tmp_path / "data" / "cache").is_dir()  # similar's own cache went to the data folder


def test_local_ray_leaves_home_empty(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[test]')")
    code = """
import ray
from similar.distributed import ray_init
ray_init(num_cpus=1, include_dashboard=False, log_to_driver=False)
assert ray.get(ray.put(41)) + 1 == 42
ray.shutdown()
"""
    assert run_with_empty_home(tmp_path, code) == []
    assert (tmp_path / "data" / "ray" / "auth_token").stat().st_mode & 0o077 == 0  # the token is the owner's alone


@pytest.mark.model
def test_real_build_prepares_text_queries_and_leaves_home_empty(tmp_path):
    import gzip
    import json

    with gzip.open(TREC / "corpus.jsonl.gz", "rt") as f:
        rows = [json.loads(next(f)) for _ in range(24)]
    corpus = write_jsonl(tmp_path / "c.jsonl", rows)
    code = f"""
from click.testing import CliRunner
from similar.cli import main
from similar.index import Index
built = CliRunner().invoke(main, ["build", {str(corpus)!r}, "--index", "t"])
assert built.exit_code == 0 and "for fast text queries" in built.output, built.output  # the build prepared the model
result = CliRunner().invoke(main, ["query", "--text", "histone acetylation", "--index", "t"])
assert result.exit_code == 0, result.output
assert Index.open("t").encoder().backend == "openvino"  # text queries load the export, not torch
"""
    assert run_with_empty_home(tmp_path, code, timeout=600) == []


def test_a_build_given_an_encoder_object_prepares_nothing(tmp_path, corpus_file, fake_encoder):
    from similar.build import build_index
    from similar.openvino_export import prepare_for_queries

    assert prepare_for_queries(fake_encoder) is None  # only a torch model loaded by the build is exported
    report = build_index([corpus_file], tmp_path / "ix", model=fake_encoder, progress=False)
    assert "preparing text queries" not in report.stages and not (tmp_path / "models").exists()
