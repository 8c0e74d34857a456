"""`similar add`: append new or revised records and apply deletions to an index, re-embedding only what changed."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import checks, lock, methods, publish, rowtable, store
from .backends.dense import DenseBackend
from .backends.lexical import LexicalBackend
from .build import BuildReport, embed_checkpointed, lists_spec, save_neighbours, stage_engines
from .encoders import Encoder, ModelUnavailable, fingerprint_matches, load_index_model
from .errors import CorruptIndex, SimilarError
from .ingest import Ingest, check_inputs, input_entries, insert_papers, paper_row, restate
from .medline import Details


def _index_encoder(manifest: store.Manifest, encoder: Encoder | None) -> Encoder | None:
    model = manifest.model or {}
    if not manifest.dense:
        return None
    if encoder is None:
        try:
            return load_index_model(model)
        except ModelUnavailable as exc:
            raise SimilarError(
                f"cannot add to {manifest.name}: its model {model['name']} is not available ({exc})"
            ) from exc
    if not fingerprint_matches(encoder, model.get("fingerprint")):
        raise SimilarError(
            f"cannot add to {manifest.name}: model {encoder.name} differs from the one that built it "
            f"(fingerprint {encoder.fingerprint} != {model.get('fingerprint')}); rebuild instead"
        )
    return encoder


def add_to_index(
    inputs: Sequence[str | Path],
    dest: str | Path,
    encoder: Encoder | None = None,
    progress: bool = True,
    wait: bool = False,
    notify: Callable[[str], None] | None = None,
    engine: str = "local",
    ray_address: str | None = None,
) -> BuildReport:
    """Apply input files in order to an existing index; a file applied before (same SHA-256) is a no-op.
    engine="ray" embeds, counts and weighs terms and ranks the lists that change on Ray (distributed.py).

    One writer at a time: another build or add of `dest` is a Busy error, or queued with wait=True."""
    given = Path(dest)
    check_inputs(inputs)
    dest = publish.resolve_target(given)  # a symlinked index is written where it points; the link stays
    if os.path.lexists(dest) or not publish.interrupted(dest):  # one-line refusals before the lock: they create nothing
        store.read_manifest(dest)  # "no index at ...", "not a similar index ..."
        publish.check_replaceable(dest, "update")
    with lock.writing(dest, wait, notify) as recovered:
        report = _add(inputs, dest, encoder, progress, engine, ray_address)
        # watch lists live beside the name the user gave (watch.py)
        _record_watches(report, given, encoder, changed=len(report.files_skipped) < len(inputs))
    report.index = str(given)
    report.notes[:0] = recovered
    return report


WATCHES_FAILED_EXIT = 4  # `similar add`: the index was updated (or was already), its watches could not be recorded


def _record_watches(report: BuildReport, dest: Path, encoder, changed: bool) -> None:
    """Watch lists record the papers added since they last looked (watch.py): after this add, and after an earlier
    one that could not record them, so a rerun catches them up. A failure here leaves the published index as it is
    and is said in report.watch_error: what happened to the index, which file, why, and what to do."""
    from .errors import edge_message
    from .watch import WatchesUnavailable, record_new, watches_path

    try:
        report.notes.extend(record_new(dest, report.added, encoder))
    except Exception as exc:  # noqa: BLE001 - the index is already published: say what happened, never hide it
        if isinstance(exc, WatchesUnavailable):
            why = exc.reason
        else:
            why = str(exc) if isinstance(exc, SimilarError) else edge_message(exc)
        done = (
            f"the index was updated ({len(report.added)} papers added or revised, {report.deleted} deleted)"
            if changed
            else "the index is unchanged (every input was applied before)"
        )
        report.watch_error = (
            f"{done}, but its watches could not be recorded in {watches_path(dest)} because {why}; "
            "once that is fixed, rerun the same `similar add`: the applied files are skipped and the watches catch up"
        )


def _add(
    inputs: Sequence[str | Path], dest: Path, encoder: Encoder | None, progress: bool, engine: str, address: str | None
) -> BuildReport:
    started = time.time()
    paths = check_inputs(inputs)
    manifest = store.read_manifest(dest)
    problem = methods.manifest_problem(manifest)
    if problem:
        raise checks.corrupt(dest, store.MANIFEST, problem)
    publish.check_replaceable(dest, "update")  # an add republishes the folder: nothing in it may be the user's
    store.read_rows(dest, manifest.count)
    store.check_files(dest, manifest, hash_limit=None)  # an add rewrites the index: never on top of a damaged one
    report = BuildReport(index=str(dest), method="dense+lexical" if manifest.dense else "tfidf")
    applied = {e["sha256"] for e in manifest.inputs}
    entries = []
    for entry, path in zip(input_entries(paths), paths):
        if entry["sha256"] in applied:
            report.files_skipped.append(str(path))
        else:
            entries.append((entry, path))
            applied.add(entry["sha256"])
    if not entries:
        report.seconds = round(time.time() - started, 2)
        return report

    db = checks.GuardedDB(store.connect(dest / store.PAPERS, readonly=True), dest, store.PAPERS)
    try:
        checks.papers_table(db, dest, store.PAPERS, manifest.count)  # its rows steer the add: checked first
        live = {
            pmid: (row, h) for row, pmid, h in db.execute("SELECT row, pmid, text_hash FROM papers WHERE status='live'")
        }
    except CorruptIndex:
        db.close()
        raise
    count = db.execute("SELECT count(*) FROM papers").fetchone()[0]
    details = {}  # row -> stored details JSON (an index built before details were kept has none)
    if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='details'").fetchone():
        details = dict(db.execute("SELECT row, data FROM details"))
    db.close()
    try:  # before any work: the row table of the added index parses every one of them (rowtable.compute)
        for data in details.values():
            Details.from_json(data)
    except ValueError as exc:
        raise checks.corrupt(dest, store.PAPERS, f"holds {exc}") from exc

    ingest = Ingest(live=live, details=details)
    for _, path in entries:
        ingest.apply(path)
    for k, v in ingest.counts.items():
        setattr(report, k, v)
    papers, retire, problems = ingest.papers, ingest.retire, ingest.problems
    deletions = list(ingest.deletions.items())
    report.kept = len(papers)
    report.record_notes = [f"{place or source}: {note}" for source, place, note in ingest.notes]
    report.added = [p.pmid for p in papers]
    if ingest.restated:
        report.notes.append(
            f"{len(ingest.restated)} unchanged papers have a new record (authors, types, links ...): kept, not re-embedded"
        )

    encoder = _index_encoder(manifest, encoder)
    work = publish.sibling_path(dest, "add-work")  # this run's own; a killed run's is removed by the next writer
    ray = engine == "ray"
    if ray:
        from . import distributed
    with publish.atomic_dir(dest, check=lambda d: publish.check_replaceable(d, "update")) as tmp, _named(tmp, dest):
        if ray:  # Ray's tasks read and write there from the start; a local add makes it only to embed
            shutil.rmtree(work, ignore_errors=True)
            publish.make_owned_dir(work)
        with report.stage("copying"):
            for f in dest.iterdir():
                if f.is_file() and not f.name.startswith(store.LEXICAL_PREFIX):  # the lexical files are all rewritten
                    shutil.copy2(f, tmp / f.name)
        with report.stage("lexical"):
            lexical = LexicalBackend.load(
                dest, (manifest.count, None)
            )  # its counts move into memory on add: nothing stays mapped from dest
            if ray:  # counted in Ray tasks, a block of the new rows each
                distributed.write_texts(work / "texts.sqlite", ((p.title, p.abstract) for p in papers))
                lexical = distributed.counts_with_ray(work / "texts.sqlite", len(papers), work, address, base=lexical)
            else:
                lexical.add([p.title for p in papers], [p.abstract for p in papers])
        if encoder is not None:
            dense = DenseBackend.load(tmp, manifest.dense, mmap=False, count=manifest.count)
            if papers:
                if not ray:
                    shutil.rmtree(work, ignore_errors=True)
                    publish.make_owned_dir(work)
                with report.stage("embedding"):
                    if ray:
                        vectors, _ = distributed.embed_with_ray(
                            [p.text for p in papers], encoder, encoder.dim, work / "ray-shards", address, progress
                        )
                    else:
                        vectors, _ = embed_checkpointed(
                            len(papers), lambda a, b: [p.text for p in papers[a:b]], encoder, work, progress
                        )
                with report.stage("dense index"):
                    dense.add(vectors)
                report.embedded = len(papers)
            dense.save(tmp)
            manifest = manifest.replace(dense=dense.describe())
        with report.stage("metadata"):
            conn = store.connect(tmp / store.PAPERS)
            conn.executemany("UPDATE papers SET status=? WHERE row=?", [(s, r) for r, s in retire.items()])
            conn.executemany("INSERT OR REPLACE INTO deletions VALUES (?,?)", deletions)
            conn.executemany("DELETE FROM deletions WHERE pmid=?", [(p.pmid,) for p in papers])
            conn.executemany("INSERT INTO problems VALUES (?,?,?)", problems)
            restate(conn, ingest.restated)
            insert_papers(conn, count, (paper_row(p) for p in papers))
            conn.commit()
            conn.close()
            live = rowtable.live_rows(rowtable.write(tmp))
            live_count = int(live.sum())
        with report.stage("lexical"):
            lexical.set_live(live)  # the saved weights leave the new tombstones out of document frequencies
            if ray:
                distributed.weigh_with_ray(lexical, work, address)
            lexical.save(tmp)
            lexical = LexicalBackend.load(tmp)  # mapped: the lists below read what is served, not a second copy
            lexical.set_live(live)
        make = None
        if manifest.precomputed and ray:  # each Ray task opens the index files just written in tmp
            make = distributed.lists_maker(work, tmp, manifest.dense, tmp, address) if encoder is not None else None
        if manifest.precomputed:
            with report.stage("stored lists"):
                manifest = _update_lists(
                    tmp,
                    manifest,
                    dense if encoder is not None else None,
                    lexical,
                    live,
                    count,
                    retire,
                    report,
                    progress,
                    make,
                )
        with open(tmp / store.ROWS, "a") as f:
            f.writelines(f"{p.pmid}\n" for p in papers)
        report.seconds = round(time.time() - started, 2)
        update = {"files": [e["name"] for e, _ in entries], **report.counts(), "seconds": report.seconds}
        update["engines"] = stage_engines(
            engine, embedding=bool(papers) and encoder is not None, lists=make is not None
        )
        manifest = manifest.replace(
            build_id=store.new_build_id(),
            updated=store.now_iso(),
            count=count + len(papers),
            live=live_count,
            inputs=manifest.inputs + [e for e, _ in entries],
            lexical=lexical.describe(),
            versions=store.library_versions(),
            updates=(manifest.updates or []) + [update],
        )
        store.write_manifest(tmp, manifest.replace(files=store.describe_files(tmp)))
    shutil.rmtree(work, ignore_errors=True)
    report.problems = [f"{place or source}: {reason}" for source, place, reason in problems]
    return report


@contextlib.contextmanager
def _named(tmp: Path, dest: Path):
    """A check failing on the add's copy of a file names the index the file was copied from."""
    try:
        yield
    except CorruptIndex as exc:
        raise CorruptIndex(str(exc).replace(f"corrupt index {tmp}:", f"corrupt index {dest}:")) from exc


def _update_lists(
    tmp: Path, manifest, dense, lexical, live, old_count: int, retire: dict, report, progress: bool, make=None
):
    """Stored lists after an add: only the lists that can have changed are recomputed (lists.update_lists) when the
    stored ones were made with this code's ranking and recorded their pool floors (and, read with them, top floors
    made by this code's rule); otherwise all of them."""
    from .lists import PRECOMPUTED, update_lists
    from .ranking import Ranker, settings_for

    method = manifest.precomputed["method"]
    old = store.load_lists(tmp, mmap=False)
    incremental = (
        dense is not None
        and method == "hybrid"
        and old[2] is not None
        and old[0].shape == (old_count, PRECOMPUTED)
        and manifest.precomputed.get("params") == settings_for(manifest.model)[0].describe()
    )
    if incremental:
        ranker = Ranker.for_model(dense, lexical, live, manifest.model)
        same_rule = manifest.precomputed.get("tops") == lists_spec(method, PRECOMPUTED, None, tops=True)["tops"]
        tops = store.load_tops(tmp, old_count) if same_rule else None  # another rule's floors: pool floors alone
        lists, made = update_lists(
            ranker,
            (*old, tops, store.load_exact(tmp, old_count) if manifest.precomputed.get("exact") is True else None),
            np.arange(old_count, len(live)),
            np.asarray(sorted(retire), dtype=np.int64),
            progress,
            make,
        )
        store.save_lists(tmp, *lists)
    else:
        lists = save_neighbours(tmp, dense, lexical, live, method, progress, make, manifest.model)
        made = int(live.sum())
    report.lists_recomputed = made
    tops, exact = (len(lists) > i and lists[i] is not None for i in (3, 4))
    spec = lists_spec(method, int(lists[0].shape[1]), manifest.model, tops=tops, exact=exact)
    return manifest.replace(precomputed=spec)
