"""The real all-MiniLM-L6-v2 model from its PyPI package, loaded once per session with the hub switched off."""

import gzip
import json
import os

import numpy as np
import pytest

from fixtures import TREC, write_jsonl
from similar.build import build_index
from similar.encoders import DEFAULT_MODEL, ModelUnavailable, load_encoder, resolve_model
from similar.index import Index

pytestmark = pytest.mark.model


@pytest.fixture(scope="session")
def minilm(tmp_path_factory):
    """The packaged model itself, whatever a developer has prepared under ./models."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SIMILAR_MODELS_DIR", str(tmp_path_factory.mktemp("no-models")))
    try:
        return load_encoder(backend="torch")
    finally:
        mp.undo()


def test_packaged_model_loads_offline(minilm):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert minilm.name == DEFAULT_MODEL and minilm.dim == 384 and "site-packages" in str(minilm.spec.path)
    v = minilm.encode(
        [
            "BRCA1 mutations in hereditary breast cancer",
            "BRCA1 germline variants and breast cancer risk",
            "Beta blockers in chronic heart failure",
        ]
    )
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert v[0] @ v[1] > 0.7 > v[0] @ v[2]


def test_real_build_and_text_query(tmp_path, minilm):
    with gzip.open(TREC / "corpus.jsonl.gz", "rt") as f:
        rows = [json.loads(next(f)) for _ in range(48)]
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    build_index([path], tmp_path / "ix", model=minilm, progress=False)
    index = Index.open(tmp_path / "ix", encoder=minilm)
    assert index.manifest.model["fingerprint"] == minilm.fingerprint
    seed = rows[5]
    result = index.similar_text(seed["abstract"], title=seed["title"], n=3, method="dense")
    assert result.neighbors[0].pmid == seed["pmid"] and result.neighbors[0].score > 0.99
    assert len(index.similar(seed["pmid"], n=10).neighbors) == 10


def test_no_model_switch(monkeypatch):
    monkeypatch.setenv("SIMILAR_NO_MODEL", "1")
    with pytest.raises(ModelUnavailable, match="^embedding model disabled by SIMILAR_NO_MODEL=1$"):
        resolve_model()


def test_openvino_export_agrees_with_torch(tmp_path, monkeypatch, minilm, capfd):
    from similar.encoders import OpenVINOEncoder
    from similar.openvino_export import prepare_openvino

    monkeypatch.setenv("SIMILAR_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("SIMILAR_CACHE", str(tmp_path / "cache"))
    capfd.readouterr()
    info = prepare_openvino()
    noise = capfd.readouterr()
    assert (noise.out, noise.err) == ("", "")  # no FutureWarning / TracerWarning / loss_type notes
    assert info["exported"] is True and info["dest"] == str(tmp_path / "models" / DEFAULT_MODEL)
    assert prepare_openvino()["exported"] is False  # a second prepare says so, exports nothing
    assert info["fingerprint"] == minilm.fingerprint  # same model: indexes work with either backend
    encoder = load_encoder()
    assert isinstance(encoder, OpenVINOEncoder) and encoder.fingerprint == minilm.fingerprint
    with gzip.open(TREC / "corpus.jsonl.gz", "rt") as f:
        texts = [(lambda r: f"{r['title']} {r['abstract']}")(json.loads(next(f))) for _ in range(24)]
    a, b = minilm.encode(texts), encoder.encode(texts)
    assert b.shape == a.shape and float((a * b).sum(axis=1).min()) > 0.999


def test_openvino_tokenizer_matches_transformers(minilm):
    """The OpenVINO path tokenizes with `tokenizers` (no transformers import): the same ids, masks and padding."""
    from transformers import AutoTokenizer

    from similar.encoders import batch_tokenizer

    with gzip.open(TREC / "corpus.jsonl.gz", "rt") as f:
        texts = [(lambda r: f"{r['title']} {r['abstract']}")(json.loads(next(f))) for _ in range(40)]
    texts += ["", "a", "Ünïcode straße — β-catenin IL-6 p53", "word " * 600]
    hf = AutoTokenizer.from_pretrained(str(minilm.spec.path), local_files_only=True)
    mine = batch_tokenizer(minilm.spec.path, minilm.max_seq_length)
    for start in range(0, len(texts), 16):
        batch = texts[start : start + 16]
        want = hf(batch, padding=True, truncation=True, max_length=minilm.max_seq_length, return_tensors="np")
        got = mine(batch)
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            assert np.array_equal(got[key], want[key]), key
