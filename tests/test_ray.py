"""A Ray build on a local 2-CPU Ray instance started here writes the same index files as the single-process build."""

import os
from pathlib import Path

import faiss
import numpy as np
import pytest

from fixtures import SHARED, FakeEncoder
from similar.build import build_index
from similar.distributed import ray_init
from similar.index import Index

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[test]')")
SAMPLE = SHARED / "trec2005-d2d" / "corpus.jsonl.gz"


@pytest.fixture(scope="module")
def local_ray():
    tests = str(Path(__file__).parent)
    path = os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])
    ray_init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path, "SIMILAR_NO_MODEL": ""}},
    )
    yield
    ray.shutdown()


def test_ray_build_equals_local_build(tmp_path, local_ray):
    local = build_index([SAMPLE], tmp_path / "local", model=FakeEncoder(), progress=False)
    distributed = build_index([SAMPLE], tmp_path / "ray", model=FakeEncoder(), progress=False, engine="ray")
    assert local.kept == distributed.kept == 2544
    for name in sorted(os.listdir(tmp_path / "local")):  # vectors, lexical arrays, vocabulary, lists: byte-equal
        if name not in ("manifest.json", "papers.sqlite"):
            assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes(), name
    a = faiss.read_index(str(tmp_path / "local" / "vectors.faiss"))
    b = faiss.read_index(str(tmp_path / "ray" / "vectors.faiss"))
    np.testing.assert_array_equal(a.reconstruct_n(0, a.ntotal), b.reconstruct_n(0, b.ntotal))
    ia, ib = Index.open(tmp_path / "local"), Index.open(tmp_path / "ray")
    for pmid in ia.pmids[::397]:
        assert [n.pmid for n in ia.similar(pmid, n=10).neighbors] == [n.pmid for n in ib.similar(pmid, n=10).neighbors]


def test_loaded_models_travel_as_their_folder():
    from similar.distributed import encoder_factory
    from similar.encoders import ModelSpec

    class Loaded:  # stands for a loaded model, whose compiled weights cannot be pickled
        spec = ModelSpec("m", Path("/models/m"), "openvino")
        device = "cpu"

    factory = encoder_factory(Loaded())
    assert factory.args == ("/models/m", "cpu", "openvino")
    assert encoder_factory("name").args == ("name",)
    fake = FakeEncoder()
    assert encoder_factory(fake)() is fake
