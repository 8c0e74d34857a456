"""ingest.Ingest: the one policy build and add share (new, revised, unchanged, deleted, problem)."""

from __future__ import annotations

import json

from similar import store
from similar.ingest import Ingest


def _jsonl(path, *records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_build_policy_new_duplicate_problem(tmp_path):
    a = _jsonl(
        tmp_path / "a.jsonl",
        {"pmid": "1", "title": "one", "abstract": "x"},
        {"pmid": "1", "title": "again", "abstract": ""},
        {"pmid": "x", "title": "bad"},
    )
    b = _jsonl(tmp_path / "b.jsonl", {"pmid": "2", "title": "two", "abstract": ""})
    ingest = Ingest()
    ingest.apply(a)
    ingest.apply(b)
    assert [p.pmid for p in ingest.papers] == ["1", "2"] and ingest.papers[0].title == "one"
    assert ingest.counts == {"read": 3, "skipped": 2, "deleted": 0, "replaced": 0, "unchanged": 0}
    assert [reason for _, _, reason in ingest.problems] == ["duplicate PMID 1", "non-numeric PMID 'x'"]


def test_add_policy_against_live_rows(tmp_path):
    ingest = Ingest()
    ingest.apply(
        _jsonl(
            tmp_path / "base.jsonl",
            {"pmid": "1", "title": "one", "abstract": ""},
            {"pmid": "2", "title": "two", "abstract": ""},
        )
    )
    live = {p.pmid: (row, p.text_hash) for row, p in enumerate(ingest.papers)}
    add = Ingest(live=dict(live))
    add.apply(
        _jsonl(
            tmp_path / "upd.jsonl",
            {"pmid": "1", "title": "one", "abstract": ""},
            {"pmid": "2", "title": "two, revised", "abstract": ""},
            {"pmid": "3", "title": "three", "abstract": ""},
        )
    )
    add.delete("3", "upd.jsonl")
    add.delete("1", "upd.jsonl")
    assert add.papers and [p.pmid for p in add.papers] == ["2"]
    assert add.retire == {1: store.REPLACED, 0: store.DELETED}
    assert add.counts == {"read": 3, "skipped": 0, "deleted": 2, "replaced": 1, "unchanged": 1}
    assert add.deletions == {"3": "upd.jsonl", "1": "upd.jsonl"}
