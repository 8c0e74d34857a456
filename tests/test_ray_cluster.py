"""On a 2-node Ray cluster started with `ray start` (1 CPU a node), `build` and `add` with engine ray write the very
files a local build and add write: lexical arrays and vocabulary, vectors, stored lists (rows, scores, floors)."""

import gzip
import json
import os
from pathlib import Path

import pytest

from fixtures import TREC, FakeEncoder, write_jsonl
from similar import distributed, store
from similar.build import build_index
from similar.errors import SimilarError
from similar.update import add_to_index

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[test]')")
pytestmark = pytest.mark.skipif(not (TREC / "corpus.jsonl.gz").exists(), reason="needs ../shared/data/trec2005-d2d")
FIRST, MORE = 1100, 1400  # papers built, then added: two blocks of 1024 rows each way, the second one short


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tests = str(Path(__file__).parent)
    path = os.pathsep.join([tests, str(Path(distributed.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])
    folder = Path(tmp_path_factory.mktemp("ray"))  # short enough for Ray's socket paths under pytest's temp root
    try:
        with distributed.local_cluster(folder, nodes=2, cpus=1, env={"PYTHONPATH": path}) as address:
            yield address
    except SimilarError as exc:  # only where ray cannot start here
        pytest.skip(f"no local Ray cluster: {exc}")


def index_files(folder: Path) -> dict[str, bytes]:
    """Every file an index owns, papers.sqlite (timestamps) and manifest.json (ids, times, engines) aside."""
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir()) if f.name not in (store.MANIFEST, store.PAPERS)}


def test_build_and_add_on_a_two_node_cluster_equal_local(tmp_path, cluster, monkeypatch):
    monkeypatch.setattr(distributed, "RAY_BLOCK", 1024)
    with gzip.open(TREC / "corpus.jsonl.gz", "rt") as f:
        papers = [json.loads(line) for _, line in zip(range(FIRST + MORE), f)]
    revised = {**papers[5], "abstract": papers[5]["abstract"] + " Revised."}
    first = write_jsonl(tmp_path / "first.jsonl", papers[:FIRST])
    more = write_jsonl(tmp_path / "more.jsonl", [*papers[FIRST:], revised])
    for engine in ("local", "ray"):
        address = cluster if engine == "ray" else None
        kw = {"progress": False, "engine": engine, "ray_address": address}
        build_index([first], tmp_path / engine, model=FakeEncoder(), **kw)
        if engine == "ray":
            assert ray.cluster_resources()["CPU"] == 2 and len(ray.nodes()) == 2
            built = index_files(tmp_path / engine)
        else:
            expected = index_files(tmp_path / engine)
        report = add_to_index([more], tmp_path / engine, encoder=FakeEncoder(), **kw)
        assert report.kept == MORE + 1 and report.replaced == 1
    assert built.keys() == expected.keys() and {"lexical.vocabulary.txt", "neighbours.floors.npy"} <= built.keys()
    assert [name for name in built if built[name] != expected[name]] == []
    local, dist = index_files(tmp_path / "local"), index_files(tmp_path / "ray")
    assert [name for name in local if local[name] != dist.get(name)] == []
    manifest = store.read_manifest(tmp_path / "ray")
    assert manifest.engines == {"embedding": "ray", "lexical": "ray", "lists": "ray"}
    assert manifest.updates[-1]["engines"] == manifest.engines
    assert store.read_manifest(tmp_path / "local").engines == {
        "embedding": "local",
        "lexical": "local",
        "lists": "local",
    }
