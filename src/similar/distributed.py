"""Ray Data embedding for builds beyond one machine: actor workers load the encoder once and write vector shards."""

from __future__ import annotations

import functools
import os
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
