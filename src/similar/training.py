"""`similar models train`: unsupervised domain adaptation of a sentence-transformers model on title->abstract pairs."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import time
from pathlib import Path
from typing import Sequence

from . import publish, store
from .encoders import DEFAULT_MODEL, fingerprint_dir, resolve_model
from .errors import SimilarError


def _rows(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue


def _key(title: str) -> str:
    return hashlib.sha1(" ".join(title.lower().split()).encode()).hexdigest()


PAIRINGS = ("title-abstract", "halves")


def _pair(title: str, abstract: str, pairing: str) -> tuple[str, str] | None:
    if pairing == "title-abstract":
        return title, abstract
    words = abstract.split()  # "halves": title + first half of the abstract -> second half, closer to doc-to-doc
    if len(words) < 40:
        return None
    mid = len(words) // 2
    return f"{title} {' '.join(words[:mid])}", " ".join(words[mid:])


def training_pairs(
    paths: Sequence[str | Path],
    exclude: Sequence[str | Path] = (),
    max_pairs: int | None = None,
    seed: int = 0,
    pairing: str = "title-abstract",
) -> tuple[list[tuple[str, str]], dict]:
    """Training pairs from JSON-lines files; any paper whose title is in an `exclude` file is left out."""
    if pairing not in PAIRINGS:
        raise SimilarError(f"unknown pairing {pairing!r}: use {' or '.join(PAIRINGS)}")
    banned = {_key(r.get("title") or "") for p in exclude for r in _rows(Path(p))}
    pairs, seen, dropped = [], set(), 0
    for p in paths:
        if not Path(p).is_file():
            raise SimilarError(f"training data not found: {p}")
        for r in _rows(Path(p)):
            title, abstract = (r.get("title") or "").strip(), (r.get("abstract") or "").strip()
            if not title or not abstract:
                continue
            k = _key(title)
            if k in banned:
                dropped += 1
                continue
            if k in seen:
                continue
            seen.add(k)
            pair = _pair(title, abstract, pairing)
            if pair:
                pairs.append(pair)
    random.Random(seed).shuffle(pairs)
    if max_pairs:
        pairs = pairs[:max_pairs]
    if len(pairs) < 2:
        raise SimilarError(
            f"only {len(pairs)} usable title/abstract pairs in {', '.join(map(str, paths))}: nothing to train on"
        )
    return pairs, {"pairs": len(pairs), "excluded_overlap": dropped}


TRAINING_INFO = "similar-training.json"  # in every model folder `similar train` writes: its mark of ownership


def check_model_dest(dest: Path) -> None:
    """`train` replaces models/NAME only if it is absent, empty, or a model it trained (one-line refusal otherwise)."""
    import os

    if not os.path.lexists(dest):
        return
    if dest.is_symlink() or not dest.is_dir():
        raise SimilarError(
            f"refusing to replace {dest}: not a model similar trained (it is a file); choose another name"
        )
    if any(dest.iterdir()) and not (dest / TRAINING_INFO).is_file():
        raise SimilarError(
            f"refusing to replace {dest}: not a model similar trained (it holds {publish.listing(dest)}); "
            "choose another name"
        )


def train_model(
    data: Sequence[str | Path],
    name: str,
    base: str | None = None,
    exclude: Sequence[str | Path] = (),
    epochs: int = 1,
    batch_size: int = 64,
    lr: float = 2e-5,
    max_pairs: int | None = None,
    device: str = "cpu",
    seed: int = 0,
    pairing: str = "title-abstract",
    progress: bool = True,
) -> dict:
    """Fine-tune with in-batch negatives (MultipleNegativesRankingLoss: a title must pick its own abstract)."""
    import os

    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    import torch.nn.functional as F
    from sentence_transformers import SentenceTransformer
    from tqdm.auto import tqdm

    dest = publish.resolve_target(store.models_dir() / name)
    check_model_dest(dest)  # before hours of training: a folder that is not a model similar trained is never replaced
    torch.manual_seed(seed)
    spec = resolve_model(base or DEFAULT_MODEL)
    pairs, stats = training_pairs(data, exclude, max_pairs, seed, pairing)
    model = SentenceTransformer(str(spec.path), device=device, local_files_only=True)
    model.train()
    tokenize = getattr(model, "preprocess", None) or model.tokenize  # renamed in sentence-transformers 6
    steps_per_epoch = len(pairs) // batch_size
    total = steps_per_epoch * epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, int(0.1 * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up, then linear decay to zero
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total - s) / max(1, total - warmup))
    )
    labels = torch.arange(batch_size, device=device)
    losses, started = [], time.time()
    bar = tqdm(total=total, desc="training", unit=" step", disable=not progress)
    rng = random.Random(seed)
    use_amp = device.startswith("cuda")
    for _ in range(epochs):
        rng.shuffle(pairs)
        for step in range(steps_per_epoch):
            batch = pairs[step * batch_size : (step + 1) * batch_size]
            feats = [tokenize([t for t, _ in batch]), tokenize([a for _, a in batch])]
            feats = [{k: (v.to(device) if hasattr(v, "to") else v) for k, v in f.items()} for f in feats]
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
                a, b = (model(f)["sentence_embedding"] for f in feats)
                scores = F.normalize(a.float(), dim=-1) @ F.normalize(b.float(), dim=-1).T * 20.0
                loss = F.cross_entropy(scores, labels[: len(batch)])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(float(loss))
            bar.update(1)
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
    bar.close()
    model.eval()
    with publish.atomic_dir(dest, check=check_model_dest) as tmp:
        model.save(str(tmp))
        info = {
            "name": name,
            "base": {"name": spec.name, "path": str(spec.path), "fingerprint": fingerprint_dir(spec.path)},
            "data": [{"path": str(p), "sha256": store.file_sha256(Path(p))} for p in data],
            "exclude": [str(p) for p in exclude],
            **stats,
            "pairing": pairing,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "device": device,
            "steps": total,
            "loss_first": sum(losses[:20]) / max(1, len(losses[:20])),
            "loss_last": sum(losses[-20:]) / max(1, len(losses[-20:])),
            "seconds": round(time.time() - started, 1),
            "created": store.now_iso(),
        }
        (tmp / TRAINING_INFO).write_text(json.dumps(info, indent=2) + "\n")
    info["path"] = str(dest)
    return info
