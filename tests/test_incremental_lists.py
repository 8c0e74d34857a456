"""An add recomputes only the stored lists that can change, and they match a full recompute's."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from fixtures import TREC, FakeEncoder
from similar import lists, store
from similar.backends.dense import DenseBackend
from similar.backends.lexical import LexicalBackend
from similar.build import build_index, save_neighbours
from similar.index import Index
from similar.lists import pair_base, precompute, top_floors, update_lists
from similar.ranking import HybridParams, Ranker
from similar.update import add_to_index

pytestmark = pytest.mark.skipif(not (TREC / "corpus.jsonl.gz").exists(), reason="needs ../shared/data/trec2005-d2d")


@pytest.fixture(scope="module")
def updated(tmp_path_factory):
    """The TREC corpus built from 2,400 papers, then an add of the other 144 and 12 revised ones."""
    folder = tmp_path_factory.mktemp("incremental")
    with gzip.open(TREC / "corpus.jsonl.gz", "rt") as f:
        records = [json.loads(line) for line in f]
    base, rest = records[:2400], records[2400:]
    revised = [{**r, "abstract": r["abstract"] + " Revised with new findings."} for r in records[100:1300:100]]
    (folder / "base.jsonl").write_text("".join(json.dumps(r) + "\n" for r in base))
    (folder / "update.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rest + revised))
    encoder = FakeEncoder(dim=64)
    build_index([folder / "base.jsonl"], folder / "ix", model=encoder, progress=False)
    report = add_to_index([folder / "update.jsonl"], folder / "ix", encoder=encoder, progress=False)
    return folder / "ix", report, encoder


def test_an_add_recomputes_only_the_lists_that_can_change(updated):
    path, report, _ = updated
    live = Index.open(path).live
    assert report.replaced == 12 and report.kept == 144 + 12
    assert 156 <= report.lists_recomputed < int(live.sum())  # the new papers' lists, and not every list


@pytest.mark.parametrize("kept", [True, False])
def test_an_add_trusts_exact_marks_only_when_the_manifest_says_its_writer_kept_them(tmp_path, monkeypatch, kept):
    """A build records that it kept the exact marks; an add then takes a stored list as its pool. A manifest without
    the flag (a writer that did not know the marks, leaving a stale file) has every stored list's pool searched."""
    with gzip.open(TREC / "corpus.jsonl.gz", "rt") as f:
        records = [json.loads(line) for line, _ in zip(f, range(700))]
    (tmp_path / "base.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[:600]))
    (tmp_path / "more.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[600:]))
    encoder = FakeEncoder(dim=32)
    build_index([tmp_path / "base.jsonl"], tmp_path / "ix", model=encoder, progress=False)
    manifest = json.loads((tmp_path / "ix" / store.MANIFEST).read_text())
    assert manifest["precomputed"]["exact"] is True
    if not kept:
        del manifest["precomputed"]["exact"]
        (tmp_path / "ix" / store.MANIFEST).write_text(json.dumps(manifest))
    from_pools = []  # stored seeds whose pools came from their stored lists
    make = lists.precompute

    def spy(*args, candidates=None, **kw):
        from_pools.extend([] if candidates is None else [r for r in kw["rows"].tolist() if r < 600])
        return make(*args, candidates=candidates, **kw)

    monkeypatch.setattr(lists, "precompute", spy)
    report = add_to_index([tmp_path / "more.jsonl"], tmp_path / "ix", encoder=encoder, progress=False)
    assert report.lists_recomputed > 100
    assert (len(from_pools) > 0) == kept
    assert json.loads((tmp_path / "ix" / store.MANIFEST).read_text())["precomputed"]["exact"] is True


def test_incremental_lists_match_a_full_recompute(updated):
    """Lists kept as they were differ from a full recompute only where the new papers' words shifted the lexical
    weights (idf and mean length) enough to swap two close papers: at most 1% of top-10 lists here."""
    path, _, encoder = updated
    index = Index.open(path, encoder=encoder)
    stored, _, floors = store.load_lists(path)
    full, *_ = save_neighbours(None, index.ranker.dense, index.ranker.lexical, index.live, "hybrid", progress=False)
    live = np.flatnonzero(index.live)
    same = np.mean([stored[r, :10].tolist() == full[r, :10].tolist() for r in live])
    assert same >= 0.99
    assert (stored[~index.live] == -1).all()  # retired rows keep no list
    assert not np.isin(stored[live], np.flatnonzero(~index.live)).any()  # and are in none


def test_update_lists_recomputes_what_a_new_paper_enters():
    """Oracle on a small index: a list is kept only when no new paper beats its pool floor and it held no retired
    paper; every recomputed list equals the one computed from scratch (real abstracts: a synthetic corpus ties
    scores exactly, and which of two tied papers a pool takes is arbitrary)."""
    with gzip.open(TREC / "corpus.jsonl.gz", "rt") as f:
        corpus = [json.loads(line) for line, _ in zip(f, range(300))]
    encoder = FakeEncoder(dim=32)
    vectors = encoder.encode([f"{r['title']} {r['abstract']}" for r in corpus])
    lexical = LexicalBackend.build([r["title"] for r in corpus], [r["abstract"] for r in corpus])
    dense = DenseBackend.build(vectors[:280], "flat")
    params = HybridParams(pool=20)
    old_live = np.ones(280, dtype=bool)
    base_lexical = LexicalBackend.build([r["title"] for r in corpus[:280]], [r["abstract"] for r in corpus[:280]])
    old = precompute(Ranker(dense, base_lexical, old_live, params), "hybrid", k=20, progress=False)
    dense.add(vectors[280:])
    live = np.ones(300, dtype=bool)
    live[5] = False
    lexical.set_live(live)
    ranker = Ranker(dense, lexical, live, params)
    (rows, scores, *_), made = update_lists(ranker, old, np.arange(280, 300), np.array([5]), progress=False)
    fresh = precompute(ranker, "hybrid", k=20, progress=False, rows=np.flatnonzero(live))
    kept = [r for r in np.flatnonzero(live) if r < 280 and rows[r].tolist() == old[0][r].tolist()]
    assert 20 <= made < 299
    recomputed = np.setdiff1d(np.flatnonzero(live), kept)
    position = {r: i for i, r in enumerate(np.flatnonzero(live).tolist())}
    for r in recomputed.tolist():
        assert rows[r].tolist() == fresh[0][position[r]].tolist()
    assert not (rows[np.flatnonzero(live)] == 5).any()


@pytest.mark.parametrize("marked", [False, True])
def test_with_top_floors_a_list_is_kept_only_when_no_new_paper_reaches_its_top(marked, monkeypatch):
    """Oracle by brute force: with top floors, a kept list is one where every new paper is below the pool floor or
    its base score with the seed is below the top floor; recomputed lists equal the ones computed from scratch and
    carry fresh top floors and pool floors; no list holds the retired paper. With exact marks (each stored list holds
    its whole pool), recomputed lists take their pools from the stored list and the new papers entering it, and give
    the same lists; a list kept while a new paper entered its pool loses its mark."""
    with gzip.open(TREC / "corpus.jsonl.gz", "rt") as f:
        corpus = [json.loads(line) for line, _ in zip(f, range(300))]
    encoder = FakeEncoder(dim=32)
    vectors = encoder.encode([f"{r['title']} {r['abstract']}" for r in corpus])
    params = HybridParams(pool=60)
    dense = DenseBackend.build(vectors[:290], "flat")
    base_lexical = LexicalBackend.build([r["title"] for r in corpus[:290]], [r["abstract"] for r in corpus[:290]])
    old_ranker = Ranker(dense, base_lexical, np.ones(290, dtype=bool), params)
    old = precompute(old_ranker, "hybrid", k=60, progress=False)
    old_tops = top_floors(old_ranker, np.arange(290), old[0])
    dense.add(vectors[290:])
    live = np.ones(300, dtype=bool)
    live[5] = False
    lexical = LexicalBackend.build([r["title"] for r in corpus], [r["abstract"] for r in corpus])
    lexical.set_live(live)
    ranker = Ranker(dense, lexical, live, params)
    new = np.arange(290, 300)
    marks = np.ones(290, dtype=bool) if marked else None
    searched = []  # the seeds whose pools were searched for
    make = lists.precompute

    def spy(*args, candidates=None, **kw):
        searched.extend(kw["rows"].tolist() if candidates is None else [])
        return make(*args, candidates=candidates, **kw)

    monkeypatch.setattr(lists, "precompute", spy)
    (rows, _, floors, tops, exact), made = update_lists(
        ranker, (*old, old_tops, marks), new, np.array([5]), progress=False
    )
    monkeypatch.undo()
    _, pool_only = update_lists(ranker, old, new, np.array([5]), progress=False)
    assert 10 <= made < pool_only  # the top floors spare lists a new paper enters only below the top
    fresh = precompute(ranker, "hybrid", k=60, progress=False, rows=np.flatnonzero(live))
    position = {r: i for i, r in enumerate(np.flatnonzero(live).tolist())}
    cos = vectors[:290] @ vectors[290:].T
    recomputed = []  # stored seeds whose lists were made again
    for seed in np.flatnonzero(live[:290]).tolist():
        reach = [c for c in new.tolist() if cos[seed, c - 290] > old[2][seed]]
        reach = [c for c in reach if pair_base(ranker, np.array([seed]), np.array([c]))[0] > old_tops[seed]]
        entered = (cos[seed] > old[2][seed]).any()
        if reach or 5 in old[0][seed]:
            recomputed.append(seed)
            assert rows[seed].tolist() == fresh[0][position[seed]].tolist()
            assert floors[seed] == pytest.approx(fresh[2][position[seed]], abs=1e-6)
            assert tops[seed] == pytest.approx(top_floors(ranker, np.array([seed]), rows[seed : seed + 1])[0])
            assert exact[seed]
        else:
            assert rows[seed].tolist() == old[0][seed].tolist() and tops[seed] == old_tops[seed]
            assert exact[seed] == (marked and not entered)
    assert exact[new].all() and not exact[5]
    # new papers' pools come from the block products; marked lists from themselves, unless a retired paper left a
    # hole no new paper fills (then, and for unmarked lists, a search)
    unfilled = [r for r in recomputed if 5 in old[0][r] and not (cos[r] > old[2][r]).any()]
    assert sorted(searched) == (unfilled if marked else recomputed) and (not marked or len(unfilled) < len(recomputed))
    assert not (rows[np.flatnonzero(live)] == 5).any()
