"""Build and update index folders: records -> staging -> checkpointed embedding -> backends -> store."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from . import lock, publish, rowtable, store
from .backends.dense import DenseBackend
from .backends.lexical import LexicalBackend
from .encoders import Encoder, build_encoder, describe
from .errors import SimilarError
from .ingest import Ingest, check_inputs, input_entries, insert_papers, paper_row

SHARD_ROWS = 512  # rows per embedding checkpoint; an interrupted build loses at most one shard of work
STAGING = "staging.sqlite"
STATE = "state.json"


@dataclass
class BuildReport:
    """What a build or add did, for the CLI and the manifest."""

    index: str
    read: int = 0
    kept: int = 0
    skipped: int = 0
    deleted: int = 0
    replaced: int = 0
    unchanged: int = 0
    embedded: int = 0
    resumed_rows: int = 0
    files_skipped: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    record_notes: list = field(default_factory=list)  # "place: what was cut" for records kept with a field cut
    notes: list = field(default_factory=list)
    method: str = ""
    seconds: float = 0.0
    added: list = field(default_factory=list)  # PMIDs appended by an add (new or revised), for watches
    lists_recomputed: int = 0  # stored lists an add recomputed (the others stay as they were)
    watch_error: str = ""  # an add that changed the index but could not record its watches says so here (update.py)
    stages: dict = field(default_factory=dict)  # seconds per stage (reading, embedding, lexical, lists, ...)

    def counts(self) -> dict:
        return {k: getattr(self, k) for k in ("read", "kept", "skipped", "deleted", "replaced", "unchanged")}

    @contextlib.contextmanager
    def stage(self, name: str):
        """Time one stage of the work into `stages` (added to, if the stage runs twice)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round(self.stages.get(name, 0.0) + time.perf_counter() - started, 2)


# --- staging: read every input once, resolve repeats and deletions --------------------------------------------

STAGING_SCHEMA = """
CREATE TABLE IF NOT EXISTS staged (seq INTEGER PRIMARY KEY AUTOINCREMENT, pmid TEXT UNIQUE NOT NULL, title TEXT NOT NULL,
    abstract TEXT NOT NULL, journal TEXT NOT NULL, year INTEGER, mesh TEXT NOT NULL, text_hash TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS deletions (pmid TEXT PRIMARY KEY, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS problems (source TEXT NOT NULL, place TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notes (source TEXT NOT NULL, place TEXT NOT NULL, note TEXT NOT NULL);
"""


def _stage(inputs: Sequence[Path], conn: sqlite3.Connection, report: BuildReport, progress: bool) -> None:
    """Apply the inputs with the one ingest policy (ingest.py) and keep the outcome in the staging database."""
    conn.executescript(STAGING_SCHEMA)
    ingest = Ingest()
    bar = tqdm(desc="reading", unit=" rec", disable=not progress)
    for path in inputs:
        ingest.apply(path, tick=lambda: bar.update(1))
    bar.close()
    for k, v in ingest.counts.items():
        setattr(report, k, v)
    conn.executemany(
        "INSERT INTO staged (pmid,title,abstract,journal,year,mesh,text_hash,details) VALUES (?,?,?,?,?,?,?,?)",
        (paper_row(p) for p in ingest.papers),
    )
    conn.executemany("INSERT INTO deletions VALUES (?,?)", ingest.deletions.items())
    conn.executemany("INSERT INTO problems VALUES (?,?,?)", ingest.problems)
    conn.executemany("INSERT INTO notes VALUES (?,?,?)", ingest.notes)
    conn.commit()


# --- embedding with checkpoints --------------------------------------------------------------------------------


def embed_checkpointed(
    count: int,
    texts_of: Callable[[int, int], list[str]],
    encoder: Encoder,
    shard_dir: Path,
    progress: bool = True,
    shard_rows: int = SHARD_ROWS,
) -> tuple[np.ndarray, int]:
    """Embed rows [0, count) shard by shard; shards already on disk are kept, not recomputed."""
    shard_dir.mkdir(parents=True, exist_ok=True)
    n_shards = (count + shard_rows - 1) // shard_rows
    done = [i for i in range(n_shards) if (shard_dir / f"shard-{i:06d}.npy").exists()]
    resumed = sum(min(shard_rows, count - i * shard_rows) for i in done)
    bar = tqdm(total=count, initial=resumed, desc="embedding", unit=" doc", disable=not progress, smoothing=0.1)
    for i in range(n_shards):
        final = shard_dir / f"shard-{i:06d}.npy"
        if final.exists():
            continue
        start, stop = i * shard_rows, min(count, (i + 1) * shard_rows)
        vectors = encoder.encode(texts_of(start, stop))
        if vectors.shape != (stop - start, encoder.dim):
            raise SimilarError(f"encoder returned {vectors.shape} for {stop - start} texts")
        tmp = shard_dir / f".shard-{i:06d}.tmp.npy"
        np.save(tmp, vectors.astype(np.float32))
        tmp.rename(final)  # a shard exists whole or not at all
        bar.update(stop - start)
    bar.close()
    if n_shards == 0:
        return np.empty((0, encoder.dim), np.float32), 0
    out = np.empty((count, encoder.dim), np.float32)  # filled shard by shard: no second copy of every vector
    for i in range(n_shards):
        out[i * shard_rows : min(count, (i + 1) * shard_rows)] = np.load(shard_dir / f"shard-{i:06d}.npy")
    return out, resumed


# --- shared writers ----------------------------------------------------------------------------------------------


def lists_spec(method: str, k: int, model: dict | None, tops: bool = False, exact: bool = False) -> dict:
    """The manifest's record of the stored lists: method, length, the ranking setting they were made with (the
    hybrid's setting for papers of the index's model: ranking.settings_for), the rule their top floors follow
    (neighbours.tops.npy, where stored: lists.top_floors), and whether their exact marks (neighbours.exact.npy) were
    kept by this writer: a writer that does not know them leaves the file stale and this flag out, and an add then
    searches every pool."""
    from .lists import TOP, TOP_MARGIN
    from .ranking import settings_for

    spec: dict = {"method": method, "k": k}
    if method == "hybrid":
        spec["params"] = settings_for(model)[0].describe()
    if tops:
        spec["tops"] = {"top": TOP, "margin": TOP_MARGIN}
    if exact:
        spec["exact"] = True
    return spec


def stage_engines(engine: str, embedding: bool, lists: bool) -> dict:
    """The manifest's record of which engine ran each heavy stage that ran (store.ENGINE_STAGES)."""
    ran = {"embedding": embedding, "lexical": True, "lists": lists}
    return {stage: engine for stage, did in ran.items() if did}


def save_neighbours(
    folder, dense, lexical, live: np.ndarray, method: str, progress: bool, make=None, model: dict | None = None
):
    """Every live paper's list under the default method (see lists.precompute, or `make`, called as it is: Ray's)
    with the settings of the index's model (none given: the default model's), with their top floors
    (lists.top_floors) and marks that each holds its whole dense pool when hybrid; written to `folder` if given.
    Returns (rows, scores, floors, tops or None, exact or None) for every row, tombstones' lists empty."""
    from .lists import empty_lists, precompute
    from .ranking import Ranker

    lexical.set_live(live)
    seeds = np.flatnonzero(live)
    ranker = Ranker.for_model(dense, lexical, live, model)
    hybrid = method == "hybrid" and dense is not None
    made = (make or precompute)(ranker, method, progress=progress, rows=seeds, tops=hybrid)
    stored = empty_lists(len(live), tops=hybrid)
    for whole, part in zip(stored, made):
        whole[seeds] = part
    lists = (*stored, live.copy()) if hybrid else (*stored, None, None)  # tops, then exact marks
    if folder is not None:
        store.save_lists(Path(folder), *lists)
    return lists


# --- build ---------------------------------------------------------------------------------------------------------


def build_index(
    inputs: Sequence[str | Path],
    dest: str | Path,
    model: str | Encoder | None = None,
    method: str = "auto",
    dense_type: str = "auto",
    progress: bool = True,
    shard_rows: int = SHARD_ROWS,
    engine: str = "local",
    ray_address: str | None = None,
    precompute: bool = True,
    wait: bool = False,
    notify: Callable[[str], None] | None = None,
    device: str = "cpu",
    force: bool = True,
    name: str | None = None,
) -> BuildReport:
    """Build a new index folder at `dest` from input files; resumable after any interruption.

    Without `force` an existing index is refused (`name` is how the user called it, for the message); with it only a
    similar index holding nothing but its own files is replaced (publish.check_replaceable).

    engine="ray" runs every heavy stage on Ray (distributed.py): embedding in Ray Data actors, lexical counts and
    weights and the stored lists in Ray tasks over blocks of rows, all writing the files a local build writes.
    precompute=True stores every paper's list under the default method, so a query by PMID is a lookup.
    One writer at a time: another build or add of `dest` is a Busy error, or queued with wait=True."""
    check_inputs(inputs)
    given = Path(dest)
    dest = publish.resolve_target(given)  # a symlinked index is written where it points; the link stays
    check_target(dest, force, name or str(given))  # before the lock: a refusal creates nothing
    with lock.writing(dest, wait, notify) as recovered:
        check_target(dest, force, name or str(given))  # again under the lock: what another writer made meanwhile counts
        report = _build_index(
            inputs, dest, model, method, dense_type, progress, shard_rows, engine, ray_address, precompute, device
        )
    report.index = str(given)
    report.notes[:0] = recovered
    return report


def no_usable_records(paths: Sequence[Path], skipped: int, first: list[str]) -> str:
    """The one line for a build with nothing to index: the first problems (file:line: reason), not just a count."""
    shown = "; ".join(first[:3]) + ("; ..." if skipped > 3 else "")
    why = f"{skipped} skipped: {shown}" if first else f"{skipped} skipped"
    return f"no usable records in {', '.join(str(p) for p in paths)} ({why}): nothing to index"


def check_target(dest: Path, force: bool, name: str) -> None:
    """A build may write `dest` if nothing is there (or an empty folder), or, with `force`, a similar index that holds
    only its own files; anything else is refused in one line (and never with advice to force it)."""
    publish.check_replaceable(dest)
    if not force and os.path.lexists(dest) and (not dest.is_dir() or any(dest.iterdir())):
        raise SimilarError(
            f"index {dest} already exists: add papers with `similar add INPUT --index {name}`, "
            f"or replace it with `similar build ... --index {name} --force`"
        )


def _work_folder(dest: Path) -> Path:
    """The build's resumable work folder `.NAME.work` beside the index; one that similar did not make is refused."""
    work = dest.parent / f".{dest.name}.work"
    if os.path.lexists(work):
        ours = (
            not work.is_symlink()
            and work.is_dir()
            and ((work / publish.WRITING_MARK).is_file() or (work / STATE).is_file())
        )
        if not ours:
            raise SimilarError(
                f"refusing to use {work} as the build's work folder: similar did not make it "
                f"(it holds {publish.listing(work) if work.is_dir() and not work.is_symlink() else 'a link or a file'}); "
                "move it away"
            )
    return work


def _build_index(
    inputs, dest: Path, model, method, dense_type, progress, shard_rows, engine, ray_address, precompute, device
) -> BuildReport:
    started = time.time()
    paths = check_inputs(inputs)
    report = BuildReport(index=str(dest))
    encoder, notes = build_encoder(model, method, device)
    report.notes.extend(notes)
    report.method = "dense+lexical" if encoder is not None else "tfidf"
    inputs_meta = input_entries(paths)

    work = _work_folder(dest)
    state = {
        "inputs": [e["sha256"] for e in inputs_meta],
        "model": describe(encoder)["fingerprint"] if encoder else None,
        "shard_rows": shard_rows,
        "engine": engine,
        "staging": 3,  # staging with details and notes: a work folder of an older layout is restaged
    }
    previous = json.loads((work / STATE).read_text()) if (work / STATE).exists() else None
    if previous is None or {k: previous.get(k) for k in state} != state:
        shutil.rmtree(work, ignore_errors=True)
        previous = None
    if not work.exists():
        publish.make_owned_dir(work)

    staging_path = work / STAGING
    with report.stage("reading"):
        if previous is None or not previous.get("staged"):
            staging_path.unlink(missing_ok=True)
            conn = sqlite3.connect(staging_path)
            _stage(paths, conn, report, progress)
            conn.execute("CREATE TABLE report (data TEXT)")
            conn.execute("INSERT INTO report VALUES (?)", (json.dumps(report.counts()),))
            conn.commit()
            store.write_json_atomic(work / STATE, {**state, "staged": True})
        else:
            conn = sqlite3.connect(staging_path)
            for k, v in json.loads(conn.execute("SELECT data FROM report").fetchone()[0]).items():
                setattr(report, k, v)
        count = conn.execute("SELECT count(*) FROM staged").fetchone()[0]
        if count and conn.execute("SELECT max(seq) FROM staged").fetchone()[0] != count:
            raise SimilarError(f"the staging database in {work} is not numbered 1..{count}: rerun the same command")
    report.kept = count
    report.record_notes = [f"{place or source}: {note}" for source, place, note in conn.execute("SELECT * FROM notes")]
    if not count:
        first = [
            f"{place or source}: {reason}" for source, place, reason in conn.execute("SELECT * FROM problems LIMIT 4")
        ]
        conn.close()
        shutil.rmtree(work, ignore_errors=True)
        raise SimilarError(no_usable_records(paths, report.skipped, first))

    def texts_of(start: int, stop: int) -> list[str]:  # rows [start, stop) read from staging: never all in memory
        got = conn.execute("SELECT title, abstract FROM staged WHERE seq > ? AND seq <= ? ORDER BY seq", (start, stop))
        return [f"{t} {a}".strip() for t, a in got]

    dense = None
    if encoder is not None:
        with report.stage("embedding"):
            if engine == "ray":
                from .distributed import embed_with_ray

                vectors, report.resumed_rows = embed_with_ray(
                    texts_of(0, count), encoder, encoder.dim, work / "ray-shards", ray_address, progress
                )
            else:
                vectors, report.resumed_rows = embed_checkpointed(
                    count, texts_of, encoder, work / "shards", progress, shard_rows
                )
        report.embedded = count - report.resumed_rows
        with report.stage("dense index"):
            dense = DenseBackend.build(vectors, dense_type)
        del vectors
    with report.stage("lexical"):  # saved at once and mapped back: the lists below do not hold a second copy
        lexical_dir = work / "lexical"
        shutil.rmtree(lexical_dir, ignore_errors=True)
        lexical_dir.mkdir()
        if engine == "ray":  # counted and weighed in Ray tasks, a block of rows each, into the same files
            from .distributed import counts_with_ray, weigh_with_ray

            built = counts_with_ray(staging_path, count, work, ray_address)
            weigh_with_ray(built, work, ray_address)
        else:
            built = LexicalBackend.build(
                [t for (t,) in conn.execute("SELECT title FROM staged ORDER BY seq")],
                [a for (a,) in conn.execute("SELECT abstract FROM staged ORDER BY seq")],
            )  # the texts are freed once counted, before the weights are made
        built.save(lexical_dir)
        del built
        lexical = LexicalBackend.load(lexical_dir)
    default_method = "hybrid" if dense else "tfidf"
    # stored lists pay off for the hybrid (a lookup instead of its expansion); TF-IDF answers live in one sparse product
    lists = precompute and dense is not None
    make = None
    if (
        lists and dense is not None and engine == "ray"
    ):  # each Ray task opens the saved dense index and lexical arrays itself
        from .distributed import lists_maker

        (work / "dense").mkdir(exist_ok=True)
        dense.save(work / "dense")
        make = lists_maker(work, work / "dense", dense.describe(), lexical_dir, ray_address)
    with report.stage("stored lists"):
        neighbours = (
            save_neighbours(
                None, dense, lexical, np.ones(count, dtype=bool), default_method, progress, make, describe(encoder)
            )
            if lists
            else None
        )

    with report.stage("writing"), publish.atomic_dir(dest, check=publish.check_replaceable) as tmp:
        papers = store.connect(tmp / store.PAPERS)
        insert_papers(
            papers,
            0,
            conn.execute("SELECT pmid,title,abstract,journal,year,mesh,text_hash,details FROM staged ORDER BY seq"),
        )
        papers.executemany("INSERT INTO deletions VALUES (?,?)", conn.execute("SELECT pmid, source FROM deletions"))
        problems = conn.execute("SELECT source, place, reason FROM problems").fetchall()
        papers.executemany("INSERT INTO problems VALUES (?,?,?)", problems)
        papers.commit()
        papers.close()
        rowtable.write(tmp)
        store.write_rows(tmp, (r[0] for r in conn.execute("SELECT pmid FROM staged ORDER BY seq")))
        if dense is not None:
            dense.save(tmp)
        for f in lexical_dir.iterdir():  # the saved lexical files move in whole
            os.replace(f, tmp / f.name)
        if neighbours is not None:
            store.save_lists(tmp, *neighbours)
        report.seconds = round(time.time() - started, 2)
        build_id = store.new_build_id()
        manifest = store.Manifest(
            name=dest.name,
            build_id=build_id,
            lineage=build_id,
            created=store.now_iso(),
            updated=store.now_iso(),
            count=count,
            live=count,
            model=describe(encoder) if encoder else None,
            dense=dense.describe() if dense else None,
            lexical=lexical.describe(),
            default_method=default_method,
            precomputed=(
                lists_spec(
                    default_method,
                    int(neighbours[0].shape[1]),
                    describe(encoder),
                    tops=neighbours[3] is not None,
                    exact=neighbours[4] is not None,
                )
                if neighbours is not None
                else None
            ),
            inputs=inputs_meta,
            records=report.counts(),
            build_seconds=report.seconds,
            engines=stage_engines(engine, embedding=dense is not None, lists=neighbours is not None),
            versions=store.library_versions(),
            files=store.describe_files(tmp),
        )
        store.write_manifest(tmp, manifest)
    conn.close()
    shutil.rmtree(work, ignore_errors=True)
    report.problems = [f"{place or source}: {reason}" for source, place, reason in problems]
    if encoder is not None and (model is None or isinstance(model, str)):  # loaded here: ready it for text queries
        from .openvino_export import prepare_for_queries

        with report.stage("preparing text queries"):
            report.notes.extend(n for n in [prepare_for_queries(encoder)] if n)
    return report
