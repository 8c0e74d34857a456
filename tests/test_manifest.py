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
    ],
)
def test_bad_fields_are_one_line_errors(change, message):
    data = {"format": store.FORMAT, "format_version": store.FORMAT_VERSION, "build_id": "b", "count": 0, "inputs": []}
    with pytest.raises(SimilarError, match=message):
        store.Manifest.from_dict({**data, **change}, "ix")
