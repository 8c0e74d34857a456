"""Ray for builds beyond one machine: embedding actors, and lexical counting, weighting and stored lists as tasks."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import SimilarError

RAY_BATCH = 256


def _same(encoder):
    return encoder


def encoder_factory(model):
    """Something each actor calls once. A model name or path, or a loaded model (by its folder, device and backend),
    is loaded again in the actor; any other encoder object travels pickled."""
    from .encoders import load_encoder

    if model is None or isinstance(model, str):
        return functools.partial(load_encoder, model)
    spec = getattr(model, "spec", None)
    if spec is not None:
        return functools.partial(load_encoder, str(spec.path), getattr(model, "device", "cpu"), spec.backend)
    return functools.partial(_same, model)


class EmbedActor:
    """One per worker: holds the model, embeds batches of (row, text) and writes each batch as a shard."""

    def __init__(self, factory, shard_dir: str):
        self.encoder = factory()
        self.shard_dir = Path(shard_dir)

    def __call__(self, batch: dict) -> dict:
        rows = np.asarray(batch["row"], dtype=np.int64)
        vectors = self.encoder.encode([str(t) for t in batch["text"]])
        name = f"rows-{rows.min():09d}-{rows.max():09d}-{len(rows)}"
        tmp = self.shard_dir / f".{name}.tmp.npz"
        np.savez(tmp, rows=rows, vectors=vectors.astype(np.float32))
        os.replace(tmp, self.shard_dir / f"{name}.npz")  # a shard exists whole or not at all
        return {"row": rows, "done": np.ones(len(rows), dtype=bool)}


def _done_rows(shard_dir: Path) -> dict[int, np.ndarray]:
    found = {}
    for f in sorted(shard_dir.glob("rows-*.npz")):
        with np.load(f) as data:
            for r, v in zip(data["rows"].tolist(), data["vectors"]):
                found[r] = v
    return found


def ray_init(address: str | None = None, **kwargs):
    """ray.init, with Ray's files kept out of HOME: a new local cluster would write its token to ~/.ray/auth_token,
    so unless the environment names a token, it gets one in the data folder (ray/auth_token, owner-only). Sessions and
    logs stay in Ray's temp folder (/tmp/ray, or $RAY_TMPDIR)."""
    import secrets

    import ray

    from .paths import home

    local = address is None and not os.environ.get("RAY_ADDRESS")
    if local and not (os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")):
        token = home() / "ray" / "auth_token"
        if not token.exists():
            token.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(token)
    return ray.init(address=address, **kwargs)


@contextlib.contextmanager
def local_cluster(folder: Path, nodes: int = 2, cpus: int = 1, env: dict | None = None):
    """A Ray cluster of `nodes` nodes of `cpus` CPUs on this machine, started with `ray start` (a head, then workers
    joining its address), its sessions, logs and auth token under `folder`; yields the address, with this process's
    environment set to join it. On exit every process naming `folder` in its command line or environment is stopped
    by its id: never `ray stop`, which would stop every Ray cluster of the machine. Linux (/proc)."""
    import secrets
    import signal
    import socket
    import subprocess
    import sys
    import time

    folder.mkdir(parents=True, exist_ok=True)
    token = folder / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    joined = {"RAY_AUTH_TOKEN_PATH": str(token), "RAY_AUTH_MODE": "token", **(env or {})}
    saved = {k: os.environ.get(k) for k in joined}
    os.environ.update(joined)
    _reload_auth()
    ray = [sys.executable, "-m", "ray.scripts.scripts", "start", "--num-cpus", str(cpus), "--disable-usage-stats"]
    ray += ["--node-ip-address", "127.0.0.1", "--object-store-memory", str(200 << 20)]
    try:
        for node in range(nodes):
            where = ["--head", "--port", str(port), "--include-dashboard=false"] if node == 0 else []
            args = [*ray, *where, "--address" if node else "--temp-dir", f"127.0.0.1:{port}" if node else str(folder)]
            done = subprocess.run(args, capture_output=True, text=True, timeout=180)
            if done.returncode:
                last = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
                raise SimilarError(f"ray start (node {node}) failed: {last[-1]}")
        yield f"127.0.0.1:{port}"
    finally:
        if "ray" in sys.modules and sys.modules["ray"].is_initialized():
            sys.modules["ray"].shutdown()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in _naming(str(folder)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            for _ in range(15):
                if not _naming(str(folder)):
                    break
                time.sleep(0.2)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _reload_auth()


def _reload_auth() -> None:
    """Ray reads its auth mode and token once: a process that imported it before must reread them (Ray's own way,
    as its tests do; ray is pinned in the test extra)."""
    with contextlib.suppress(ImportError):
        from ray._private.authentication_test_utils import reset_auth_token_state

        reset_auth_token_state()


def _naming(text: str) -> list[int]:
    """Ids of the processes whose command line or environment holds `text` (this one's aside)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        for part in ("cmdline", "environ"):
            with contextlib.suppress(OSError):
                if text.encode() in (proc / part).read_bytes():
                    found.append(int(proc.name))
                    break
    return found


def embed_with_ray(
    texts: Sequence[str],
    model,
    dim: int,
    shard_dir: Path,
    address: str | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> tuple[np.ndarray, int]:
    """Embed rows [0, len(texts)) on a Ray cluster (the running one, `address`, or a local one); rows already in a
    shard from an interrupted run are not embedded again. Returns (vectors in row order, rows resumed)."""
    try:
        import ray
    except ImportError as exc:
        raise SimilarError(f"--engine ray needs Ray ({exc}): pip install 'ray[data]'") from exc
    shard_dir.mkdir(parents=True, exist_ok=True)
    done = _done_rows(shard_dir)
    resumed = len(done)
    todo = [{"row": i, "text": t} for i, t in enumerate(texts) if i not in done]
    if todo:
        if not ray.is_initialized():
            ray_init(address=address, ignore_reinit_error=True, log_to_driver=False)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = progress
        workers = workers or max(1, int(ray.available_resources().get("CPU", 1)))
        ds = ray.data.from_items(todo, override_num_blocks=max(1, min(len(todo) // RAY_BATCH, 4 * workers)))
        out = ds.map_batches(
            EmbedActor,
            fn_constructor_args=(encoder_factory(model), str(shard_dir)),
            batch_size=RAY_BATCH,
            concurrency=workers,
            num_cpus=1,
            batch_format="numpy",
        )
        finished = sum(int(b["done"].sum()) for b in out.iter_batches(batch_format="numpy"))
        if finished != len(todo):
            raise SimilarError(f"Ray embedded {finished} of {len(todo)} papers")
        done = _done_rows(shard_dir)
    if len(done) != len(texts):
        raise SimilarError(f"vector shards hold {len(done)} rows, expected {len(texts)}: rerun to resume")
    vectors = np.zeros((len(texts), dim), np.float32)
    for r, v in done.items():
        vectors[r] = v
    return vectors, resumed


# --- every other heavy stage as Ray tasks over blocks of rows ------------------------------------------------------
# Each task reads its inputs from the work folder (texts in SQLite, arrays memory-mapped: a filesystem every node
# shares is assumed) and writes its result there as one shard, whole or not at all; the driver assembles the shards
# into the very files a local build writes.

RAY_BLOCK = 16 * 1024  # rows a task; a multiple of lists.CHUNK, so a block's lists come from a local build's searches
TEXTS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS staged (seq INTEGER PRIMARY KEY, title TEXT NOT NULL, abstract TEXT NOT NULL)"
)


def connect(address: str | None):
    """The Ray module, connected to the cluster at `address` (or the running one, or a new local one)."""
    try:
        import ray
    except ImportError as exc:
        raise SimilarError(f"--engine ray needs Ray ({exc}): pip install 'ray[data]'") from exc
    if not ray.is_initialized():
        ray_init(address=address, ignore_reinit_error=True, log_to_driver=False)
    return ray


def blocks(count: int, size: int | None = None) -> list[tuple[int, int]]:
    size = size or RAY_BLOCK
    return [(start, min(count, start + size)) for start in range(0, count, size)]


def write_texts(path: Path, pairs) -> None:
    """(title, abstract) pairs as a staging-like table rows 1..n, for tasks to read their block from (an add's)."""
    import sqlite3

    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute(TEXTS_SCHEMA)
    conn.executemany("INSERT INTO staged (title, abstract) VALUES (?, ?)", pairs)
    conn.commit()
    conn.close()


def read_texts(texts: str, start: int, stop: int) -> tuple[list[str], list[str]]:
    """Titles and abstracts of rows [start, stop) of a staging database, opened read-only."""
    import sqlite3

    conn = sqlite3.connect(f"file:{texts}?mode=ro", uri=True)
    try:
        got = conn.execute(
            "SELECT title, abstract FROM staged WHERE seq > ? AND seq <= ? ORDER BY seq", (start, stop)
        ).fetchall()
    finally:
        conn.close()
    return [t for t, _ in got], [a for _, a in got]


def save_shard(folder: Path, name: str, **arrays) -> None:
    tmp = folder / f".{name}.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, folder / f"{name}.npz")  # a shard exists whole or not at all


def block_terms(texts: str, start: int, stop: int) -> list[str]:
    """The words of a block of rows, as the local build's vectorizer finds them."""
    from .backends.terms import make_vectorizer

    titles, abstracts = read_texts(texts, start, stop)
    vec = make_vectorizer()
    try:
        vec.fit(titles + abstracts)
    except ValueError:  # nothing but stop words
        return []
    return sorted(vec.vocabulary_)


def block_counts(texts: str, vocabulary_file: str, start: int, stop: int, out: str) -> None:
    """Title and abstract term counts of a block of rows under the merged vocabulary, as one shard."""
    from .backends.terms import make_vectorizer

    terms = Path(vocabulary_file).read_text(encoding="utf-8").splitlines()
    vec = make_vectorizer({t: i for i, t in enumerate(terms)})
    titles, abstracts = read_texts(texts, start, stop)
    parts = {}
    for what, matrix in (("title", vec.transform(titles).tocsr()), ("abstract", vec.transform(abstracts).tocsr())):
        parts.update({f"{what}_data": matrix.data, f"{what}_indices": matrix.indices, f"{what}_indptr": matrix.indptr})
    save_shard(Path(out), f"counts-{start:012d}", **parts)


def _rows_of(folder: Path, name: str, start: int, stop: int, width: int):
    """Rows [start, stop) of a CSR matrix saved as lexical arrays, read through memory maps."""
    import scipy.sparse as sp

    from .store import lexical_array

    data, indices, indptr = (
        np.load(folder / lexical_array(f"{name}.{part}"), mmap_mode="r") for part in ("data", "indices", "indptr")
    )
    a, b = int(indptr[start]), int(indptr[stop])
    return sp.csr_matrix(
        (np.array(data[a:b]), np.array(indices[a:b]), np.array(indptr[start : stop + 1]) - a),
        shape=(stop - start, width),
    )


def block_weights(folder: str, method: str, avgdl: float, width: int, start: int, stop: int, out: str) -> None:
    """A method's weights and self scores of a block of rows, from the mapped counts and the corpus's idf."""
    from .backends.weightings import weighting

    w, where = weighting(method), Path(folder)
    idf = np.load(where / f"idf-{method}.npy")
    title, abstract = (_rows_of(where, name, start, stop, width) for name in ("title", "abstract"))
    counts = (title * w.title_weight + abstract).tocsr()
    weights = w.weigh(counts, idf, avgdl)
    queries = counts if w.queries_with_counts else weights
    self_scores = np.asarray(queries.multiply(weights).sum(axis=1)).ravel().astype(np.float32)
    weights = weights.tocsr()
    save_shard(
        Path(out),
        f"{method}-{start:012d}",
        data=weights.data,
        indices=weights.indices,
        indptr=weights.indptr,
        self=self_scores,
    )


def _run(ray, fn, calls: list[tuple], what: str) -> list:
    """fn(*args) for every args as Ray tasks of one CPU each, their results in order; a task's error is one line."""
    task = ray.remote(num_cpus=1, max_retries=2)(fn)
    try:
        return ray.get([task.remote(*args) for args in calls])
    except ray.exceptions.RayError as exc:
        raise SimilarError(f"a Ray task {what} failed: {str(exc).strip().splitlines()[-1]}") from exc


def counts_with_ray(texts: Path, count: int, work: Path, address: str | None, base=None):
    """A LexicalBackend of `base`'s rows (None: none) and `count` more read from `texts`, counted in Ray tasks: the
    vocabulary is the words of each block merged, as one vectorizer over every text finds them (new words after
    `base`'s, sorted, as LexicalBackend.add appends them); then every block counted with it."""
    import scipy.sparse as sp

    from .backends.lexical import LexicalBackend

    ray = connect(address)
    spans = blocks(count)
    words = set().union(*_run(ray, block_terms, [(str(texts), a, b) for a, b in spans], "finding words"))
    vocabulary = dict(base.vocabulary) if base is not None else {}
    vocabulary.update({w: len(vocabulary) + i for i, w in enumerate(sorted(words - vocabulary.keys()))})
    shards = work / "ray-counts"
    shutil.rmtree(shards, ignore_errors=True)
    shards.mkdir(parents=True)
    terms = shards / "vocabulary.txt"
    terms.write_text("".join(f"{t}\n" for t in sorted(vocabulary, key=vocabulary.__getitem__)), encoding="utf-8")
    _run(ray, block_counts, [(str(texts), str(terms), a, b, str(shards)) for a, b in spans], "counting terms")
    width = len(vocabulary)
    parts: dict[str, list] = {"title": [], "abstract": []}
    if base is not None:
        for what, matrix in (("title", base.title_counts), ("abstract", base.abstract_counts)):
            m = sp.csr_matrix(matrix)
            parts[what].append(sp.csr_matrix((m.data, m.indices, m.indptr), shape=(m.shape[0], width)))
    for a, b in spans:
        with np.load(shards / f"counts-{a:012d}.npz") as z:
            for what in parts:
                parts[what].append(
                    sp.csr_matrix((z[f"{what}_data"], z[f"{what}_indices"], z[f"{what}_indptr"]), shape=(b - a, width))
                )
    title, abstract = (
        sp.vstack(parts[w], format="csr") if parts[w] else sp.csr_matrix((0, width), dtype=np.float32)
        for w in ("title", "abstract")
    )
    shutil.rmtree(shards, ignore_errors=True)
    return LexicalBackend(vocabulary, title, abstract)


def weigh_with_ray(lexical, work: Path, address: str | None) -> None:
    """Every method's weights of `lexical` (under its live mask) made in Ray tasks, a block of rows each, from the
    counts mapped from the work folder and the corpus's idf and mean length; handed to it for save() to write."""
    import scipy.sparse as sp

    from .backends.lexical import index_dtype, write_sparse
    from .backends.weightings import METHODS

    ray = connect(address)
    folder = work / "ray-weights"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    title, abstract = sp.csr_matrix(lexical.title_counts), sp.csr_matrix(lexical.abstract_counts)
    dtype = index_dtype(max(title.nnz, abstract.nnz), *title.shape)
    write_sparse(folder, "title", title, dtype)
    write_sparse(folder, "abstract", abstract, dtype)
    spans, width = blocks(lexical.count), lexical.terms
    calls = []
    for method in METHODS:
        idf, avgdl = lexical.statistics(method)
        np.save(folder / f"idf-{method}.npy", idf)
        calls += [(str(folder), method, avgdl, width, a, b, str(folder)) for a, b in spans]
    _run(ray, block_weights, calls, "weighing terms")
    for method in METHODS:
        rows, self_scores = [], []
        for a, b in spans:
            with np.load(folder / f"{method}-{a:012d}.npz") as z:
                rows.append(sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=(b - a, width)))
                self_scores.append(z["self"])
        matrix = sp.vstack(rows, format="csr") if rows else sp.csr_matrix((0, width), dtype=np.float32)
        lexical.use_weights(method, matrix, np.concatenate(self_scores) if self_scores else np.zeros(0, np.float32))
    shutil.rmtree(folder, ignore_errors=True)


def block_lists(
    dense_dir: str, spec: dict, lexical_dir: str, job: str, method: str, k: int, settings: tuple, a: int, b: int
) -> None:
    """Stored lists of seeds [a, b) of the job (lists.precompute over a Ranker on the mapped index files, with the
    driver's ranker's settings: those of the index's model; their pools from the job's candidates where it has them)."""
    from .backends.dense import DenseBackend
    from .backends.lexical import LexicalBackend
    from .lists import precompute
    from .ranking import Ranker

    folder = Path(job)
    live = np.load(folder / "live.npy")
    seeds = np.load(folder / "seeds.npy", mmap_mode="r")[a:b]
    given = folder / "candidates.npy"
    candidates = np.asarray(np.load(given, mmap_mode="r")[a:b]) if given.exists() else None
    lexical = LexicalBackend.load(Path(lexical_dir))
    lexical.set_live(live)
    ranker = Ranker(DenseBackend.load(Path(dense_dir), spec, count=len(live)), lexical, live, *settings)
    rows, scores, floors, tops = precompute(
        ranker, method, k, progress=False, rows=np.asarray(seeds), workers=1, candidates=candidates, tops=True
    )
    save_shard(folder, f"lists-{a:012d}-{b:012d}", rows=rows, scores=scores, floors=floors, tops=tops)


def lists_maker(work: Path, dense_dir: Path, spec: dict, lexical_dir: Path, address: str | None):
    """A stand-in for lists.precompute (same call) whose seeds are ranked in Ray tasks, a block each, every task
    opening its own Ranker over the saved dense index and lexical arrays. Shards of an interrupted run are kept."""

    def make(
        ranker, method: str, k: int | None = None, progress=True, rows=None, workers=None, candidates=None, tops=False
    ):
        from tqdm.auto import tqdm

        from .lists import PRECOMPUTED, empty_lists

        k = PRECOMPUTED if k is None else k

        seeds = np.flatnonzero(ranker.live) if rows is None else np.asarray(rows, dtype=np.int64)
        job = work / "ray-lists"
        job.mkdir(parents=True, exist_ok=True)
        same = (
            (job / "seeds.npy").exists()
            and np.array_equal(np.load(job / "seeds.npy"), seeds)
            and (job / "candidates.npy").exists() == (candidates is not None)
        )
        if same and candidates is not None:
            same = np.array_equal(np.load(job / "candidates.npy"), candidates)
        if not same:
            shutil.rmtree(job)
            job.mkdir()
            np.save(job / "live.npy", np.asarray(ranker.live, dtype=bool))
            np.save(job / "seeds.npy", seeds)
            if candidates is not None:  # pools known to the driver (an update's): each task reads its block
                np.save(job / "candidates.npy", np.asarray(candidates))
        spans = blocks(len(seeds))
        todo = [(a, b) for a, b in spans if not (job / f"lists-{a:012d}-{b:012d}.npz").exists()]
        if todo:
            ray = connect(address)
            args = (str(dense_dir), spec, str(lexical_dir), str(job), method, k, (ranker.hybrid, ranker.short_text))
            task = ray.remote(num_cpus=1, max_retries=2)(block_lists)
            sizes = {task.remote(*args, a, b): b - a for a, b in todo}
            pending = list(sizes)
            with tqdm(total=len(seeds), desc="neighbour lists (ray)", unit=" paper", disable=not progress) as bar:
                bar.update(len(seeds) - sum(b - a for a, b in todo))
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    try:
                        ray.get(done)
                    except ray.exceptions.RayError as exc:
                        raise SimilarError(
                            f"a Ray task ranking stored lists failed: {str(exc).strip().splitlines()[-1]}"
                        ) from exc
                    bar.update(sizes[done[0]])
        out = empty_lists(len(seeds), k, tops=True)
        for a, b in spans:
            with np.load(job / f"lists-{a:012d}-{b:012d}.npz") as z:
                for whole, name in zip(out, ("rows", "scores", "floors", "tops")):
                    if name in z.files:  # a shard of an interrupted run made before tops were kept: -inf, any counts
                        whole[a:b] = z[name]
        return out if tops else out[:3]

    return make
