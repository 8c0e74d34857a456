"""store.Manifest: the one reader and writer of manifest.json."""

from __future__ import annotations

import json

import pytest

from similar import store
from similar.errors import SimilarError


def test_round_trip_keeps_order_and_unknown_keys(tmp_path):
    data = {
        "format": store.FORMAT,
        "format_version": store.FORMAT_VERSION,
        "name": "ix",
        "build_id": "b1",
        "count": 3,
        "inputs": [],
        "future_key": {"kept": True},
    }
    (tmp_path / store.MANIFEST).write_text(json.dumps(data))
    manifest = store.read_manifest(tmp_path)
    assert manifest.count == 3 and manifest.extra == {"future_key": {"kept": True}} and manifest.updates is None
    store.write_manifest(tmp_path, manifest.replace(count=4))
    written = json.loads((tmp_path / store.MANIFEST).read_text())
    assert list(written)[:4] == ["format", "format_version", "name", "build_id"]
    assert written["count"] == 4 and written["future_key"] == {"kept": True} and "updates" not in written


def test_updates_are_written_once_there_is_one():
    m = store.Manifest(build_id="b", count=0, inputs=[]).replace(updates=[{"files": ["a.jsonl"]}])
    assert list(m.to_dict())[-1] == "updates"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"count": -1}, "has no valid 'count'"),
        ({"build_id": 5}, "has no valid 'build_id'"),
        ({"format_version": 99}, "has format version 99"),
        ({"count": True}, "has no valid 'count'"),
        ({"count": 10**30}, "has no valid 'count'"),
        ({"count": 4, "live": 5}, "says 5 live rows of 4"),
        ({"live": "3"}, "has no valid 'live'"),
        ({"model": {"name": 5}}, "has no valid 'model.name'"),
        ({"model": {"name": "m", "dim": "64"}}, "has no valid 'model.dim'"),
        ({"dense": {"dim": 64}}, "describes vectors but no 'model'"),
        ({"dense": [], "model": {"name": "m"}}, "has no valid 'dense'"),
        ({"lexical": {"vocabulary": -1}}, "has no valid 'lexical.vocabulary'"),
        ({"precomputed": {"method": "bm25", "k": 0}}, "has no valid 'precomputed.k'"),
        ({"precomputed": {"method": "bm25", "k": 5, "params": []}}, "has no valid 'precomputed.params'"),
        ({"precomputed": {"method": "bm25", "k": 5, "exact": "yes"}}, "has no valid 'precomputed.exact'"),
        ({"precomputed": {"k": 5}}, "has no valid 'precomputed.method'"),
        ({"files": {"../x": {"bytes": 1, "sha256": "0" * 64}}}, "has no valid 'files' entry '../x'"),
        ({"files": {"rows.txt": {"bytes": -1, "sha256": "0" * 64}}}, "has no valid 'files' entry 'rows.txt'"),
        ({"inputs": [{"name": "a"}]}, "has no valid 'inputs' entry 0"),
        ({"updates": {}}, "has no valid 'updates'"),
        ({"build_seconds": "1"}, "has no valid 'build_seconds'"),
        ({"engines": ["ray"]}, "has no valid 'engines'"),
        ({"engines": {"embedding": "spark"}}, "has no valid 'engines'"),
        ({"engines": {"reading": "ray"}}, "has no valid 'engines'"),
        ({"engines": {"lists": 1}}, "has no valid 'engines'"),
    ],
)
def test_bad_fields_are_one_line_errors(change, message):
    data = {"format": store.FORMAT, "format_version": store.FORMAT_VERSION, "build_id": "b", "count": 0, "inputs": []}
    with pytest.raises(SimilarError, match=message):
        store.Manifest.from_dict({**data, **change}, "ix")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"precomputed": {"method": "bogus", "k": 5}}, "names an unknown method 'bogus' as 'precomputed.method'"),
        ({"default_method": "dense"}, "names method 'dense' as 'default_method', which needs vectors this index has"),
    ],
)
def test_methods_a_manifest_names_are_registered(change, message):
    from similar import methods

    data = {"format": store.FORMAT, "format_version": store.FORMAT_VERSION, "build_id": "b", "count": 0, "inputs": []}
    assert message in methods.manifest_problem(store.Manifest.from_dict({**data, **change}, "ix"))


def test_a_deeply_nested_manifest_is_one_line(tmp_path):
    (tmp_path / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SimilarError) as err:
        store.read_manifest(tmp_path)
    assert str(err.value) == f"corrupt index {tmp_path}: manifest.json cannot be read (nested too deeply); rebuild it"


def test_engines_are_kept_and_optional(tmp_path):
    """Which engine ran each stage travels through a round trip; a manifest without it (older) opens and is written
    without it."""
    m = store.Manifest(build_id="b", count=0, inputs=[])
    assert "engines" not in m.to_dict()
    engines = {"embedding": "ray", "lexical": "ray", "lists": "local"}
    store.write_manifest(tmp_path, m.replace(engines=engines))
    assert store.read_manifest(tmp_path).engines == engines
    assert list(json.loads((tmp_path / store.MANIFEST).read_text())).index("engines") == len(store.Manifest.ORDER) - 3
