"""`similar models prepare`: export a sentence-transformers model to OpenVINO IR under models/NAME/openvino/."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path

from . import encoder_choice, publish, store
from .encoders import (
    DEFAULT_MODEL,
    ModelSpec,
    ModelUnavailable,
    export_matches,
    fingerprint_dir,
    model_name,
    resolve_model,
)
from .errors import SimilarError

OV_DIR = "openvino"
OV_MODEL = "model.xml"
OV_INT8 = "model-int8.xml"
CALIBRATION = "../shared/data/ohsumed/abstracts.jsonl.gz"  # never a benchmark corpus
CALIBRATION_TEXTS = 300
TIMING_TEXTS = 256  # per backend: a few hundred texts tell the rates apart without a long wait
BUILD_TIMING_TEXTS = 64  # the first build's own timing, once per model: short; `models prepare` measures longer


def prepare_openvino(
    name: str | None = None,
    force: bool = False,
    int8: bool = False,
    calibration: str | Path = CALIBRATION,
    loaded=None,
) -> dict:
    """Copy the model folder to models/NAME (same fingerprint) and add an OpenVINO IR with pooling and
    normalization built in; a built index can then be queried or extended with either backend.
    With int8, also a post-training int8 quantization (NNCF) of that IR beside it, openvino/model-int8.xml.
    `loaded`: a SentenceTransformerEncoder already in memory, exported instead of loading `name` again.
    Returns the export's facts with `dest` and `exported` (False when an export was already there)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    wanted = name or DEFAULT_MODEL
    dest = store.models_dir() / model_name(wanted)  # a folder given by path is prepared as a copy, never in place
    # the folder to export; a name found nowhere says so without advising this very command
    source = loaded.spec if loaded is not None else resolve_model(wanted, backend="torch", advise=False)
    # an export made from the weights the copy holds now is kept (even of another model of that name: the caller
    # compares fingerprints; --force replaces it); a stale one (weights replaced in place) is made again
    if (dest / OV_DIR / OV_MODEL).exists() and export_matches(dest) and not force:
        info, exported = json.loads((dest / OV_DIR / "export.json").read_text()), False
    else:
        with _quiet():
            info, exported = _export(source, dest, loaded), True
    if int8 and (force or exported or not (dest / OV_DIR / OV_INT8).exists() or "int8" not in info):
        info["int8"] = quantize_int8(dest, Path(calibration))
        _write_json(dest / OV_DIR / "export.json", info)
        exported = True
    return {**info, "dest": str(dest), "exported": exported, "source_fingerprint": fingerprint_dir(source.path)}


def backend_candidates(folder: Path, name: str) -> dict:
    """label -> encoder factory for every backend this prepared folder can run (torch first, int8 when exported)."""
    from .encoders import ModelSpec, OpenVINOEncoder, SentenceTransformerEncoder

    out: dict = {}
    for label, (backend, precision) in encoder_choice.BACKENDS.items():
        if backend == "torch":
            out[label] = lambda: SentenceTransformerEncoder(ModelSpec(name, folder, "torch"))
        elif precision == "int8" and not (folder / OV_DIR / OV_INT8).exists():
            continue
        elif (folder / OV_DIR / OV_MODEL).exists():
            out[label] = lambda p=precision: OpenVINOEncoder(ModelSpec(name, folder, "openvino", p), precision=p)
    return out


def choose_backend(name: str | None = None, texts_from: str | Path = CALIBRATION, limit: int = TIMING_TEXTS) -> dict:
    """Time every backend of the prepared model on the same `limit` texts, record the fastest whose vectors agree with
    torch's (cosine >= 0.999 on every text) in the folder's choice file, and return that record."""
    folder = store.models_dir() / (name or DEFAULT_MODEL)
    if not (folder / "modules.json").exists():
        raise SimilarError(f"{folder} is not a prepared model: run `similar models prepare --model {folder.name}`")
    texts_from = Path(texts_from)
    if not texts_from.is_file():
        raise SimilarError(f"timing texts not found: {texts_from} (give --texts FILE.jsonl[.gz])")
    texts = calibration_texts(texts_from, limit)
    with _quiet():
        runs = encoder_choice.measure(backend_candidates(folder, folder.name), texts)
    content = encoder_choice.record(folder.name, fingerprint_dir(folder), runs, f"{len(texts)} texts of {texts_from}")
    encoder_choice.write_choice(folder, content)
    return content


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def calibration_texts(corpus: Path, limit: int = CALIBRATION_TEXTS) -> list[str]:
    """Title + abstract of the first `limit` records with an abstract (the text the encoder sees when building)."""
    import gzip

    out: list[str] = []
    with gzip.open(corpus, "rt") if corpus.suffix == ".gz" else open(corpus) as f:
        for line in f:
            r = json.loads(line)
            if r.get("abstract"):
                out.append(f"{r.get('title', '')} {r.get('abstract', '')}".strip())
            if len(out) >= limit:
                break
    return out


def quantize_int8(dest: Path, calibration: Path, limit: int = CALIBRATION_TEXTS) -> dict:
    """Post-training int8 quantization (NNCF, transformer preset) of dest/openvino/model.xml, calibrated on `limit`
    texts tokenized as the encoder does (one text per sample: no padding in the activation statistics)."""
    try:
        import nncf
        import openvino as ov
    except ImportError as exc:
        raise SimilarError(f"int8 quantization needs NNCF ({exc}): pip install 'similar[int8]'") from exc
    from .encoders import batch_tokenizer

    if not calibration.exists():
        raise SimilarError(f"calibration texts not found: {calibration}")
    started = time.time()
    config = dest / "sentence_bert_config.json"
    max_len = json.loads(config.read_text()).get("max_seq_length", 256) if config.exists() else 256
    tokenize = batch_tokenizer(dest, max_len)
    texts = calibration_texts(calibration, limit)
    model = ov.Core().read_model(str(dest / OV_DIR / OV_MODEL))
    names = {name for port in model.inputs for name in port.get_names()}  # MPNet's IR has no token_type_ids
    samples = [{k: v for k, v in tokenize([t]).items() if k in names} for t in texts]
    with _quiet():
        quantized = nncf.quantize(
            model,
            nncf.Dataset(samples),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(samples),
        )
    tmp = dest / OV_DIR / "model-int8.tmp.xml"
    ov.save_model(quantized, str(tmp), compress_to_fp16=False)
    final = dest / OV_DIR / OV_INT8
    os.replace(tmp.with_suffix(".bin"), final.with_suffix(".bin"))
    os.replace(tmp, final)
    return {
        "file": f"{OV_DIR}/{OV_INT8}",
        "method": "NNCF post-training quantization, ModelType.TRANSFORMER, default (performance) preset",
        "nncf": nncf.__version__,
        "calibration": str(calibration),
        "calibration_texts": len(texts),
        "created": store.now_iso(),
        "seconds": round(time.time() - started, 1),
    }


@contextlib.contextmanager
def _quiet():
    """Tracing a model prints warnings meant for its authors (FutureWarning, TracerWarning, transformers' notes)."""
    import warnings

    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover
        hf_logging = None
    level = hf_logging.get_verbosity() if hf_logging else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if hf_logging:
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        try:
            yield
        finally:
            if hf_logging:
                hf_logging.set_verbosity(level)


def prepare_for_queries(encoder) -> str | None:
    """What a build that loaded a torch model itself does last: export it to OpenVINO (once) and compile that into the
    cache, so a text query right after loads the export in about a second instead of importing torch (about 10 s on
    2 cores); with the export, a short timing of the backends records which one later encodes (torch if it is the
    fastest). Returns a note for the build's report, or None when there was nothing to do; never fails the build."""
    from .encoders import OpenVINOEncoder, SentenceTransformerEncoder, resolve_model

    if not isinstance(encoder, SentenceTransformerEncoder) or encoder.device != "cpu":
        return None
    started = time.time()
    try:
        info = prepare_openvino(encoder.spec.name, loaded=encoder)
        if info["fingerprint"] != encoder.fingerprint:
            return f"{info['dest']} holds another model (fingerprint {info['fingerprint']}): text queries load torch"
        OpenVINOEncoder(resolve_model(encoder.spec.name, "openvino")).encode(["warm"])  # compiled into the cache
    except Exception as exc:  # a build never fails for want of a faster query path
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        return f"text queries will load torch ({reason}); `similar models prepare` makes them fast"
    if not info["exported"]:
        return None
    note = f"prepared {info['dest']} for fast text queries (OpenVINO export, once)"
    if Path(CALIBRATION).is_file():  # once, so that what runs by default is never slower than torch on this CPU
        try:
            choice = choose_backend(encoder.spec.name, CALIBRATION, limit=BUILD_TIMING_TEXTS)
        except Exception as exc:  # as above: the build is done; `similar models prepare` times them again
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            return f"{note}; backends not timed ({reason}): `similar models prepare` times them"
        note += f"; timed on {BUILD_TIMING_TEXTS} texts, {choice['chosen']} encodes fastest here"
    return f"{note}: {time.time() - started:.1f}s"


def _export(spec: ModelSpec, dest: Path, loaded=None) -> dict:
    """Export the model at `spec` (or `loaded`, its encoder already in memory) into dest/openvino, through a temp
    folder: the IR with pooling and normalization built in, and export.json naming the weights it was made from."""
    try:
        import openvino as ov
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise SimilarError(f"cannot export to OpenVINO ({exc}): pip install openvino") from exc
    started = time.time()
    if loaded is not None:
        model = loaded.model
    else:
        try:
            model = SentenceTransformer(str(spec.path), device="cpu", local_files_only=True)
        except Exception as exc:  # a damaged model folder (truncated weights, bad config): one line, as build says it
            raise ModelUnavailable(
                f"cannot load model {spec.name} from {spec.path}: {str(exc).splitlines()[0]}"
            ) from exc
    transformer = model[0].auto_model.eval()

    class Pooled(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}  # MPNet has none
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    example = model.tokenizer(
        ["an example title", "a second, longer example abstract text"], padding=True, return_tensors="pt"
    )
    inputs = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in example]
    with torch.no_grad():
        ir = ov.convert_model(
            Pooled(transformer),
            example_input={k: example[k] for k in inputs},
            input=[(k, [-1, -1], ov.Type.i64) for k in inputs],
        )
    with publish.atomic_dir(dest) as tmp:
        if spec.path.resolve() != dest.resolve():
            shutil.copytree(spec.path, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(OV_DIR))
        else:
            shutil.copytree(dest, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(OV_DIR))
        (tmp / OV_DIR).mkdir()
        ov.save_model(ir, str(tmp / OV_DIR / OV_MODEL), compress_to_fp16=False)
        info = {
            "source": str(spec.path),
            "fingerprint": fingerprint_dir(spec.path),
            "backend": "openvino",
            "openvino": ov.get_version(),
            "pooling": "mean, L2-normalized",
            "created": store.now_iso(),
            "seconds": round(time.time() - started, 1),
        }
        (tmp / OV_DIR / "export.json").write_text(json.dumps(info, indent=2) + "\n")
    if fingerprint_dir(dest) != info["fingerprint"]:
        raise SimilarError(f"the copy in {dest} does not match its source {spec.path}; remove it and prepare again")
    return info
