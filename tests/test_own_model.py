"""Your own model (`--model PATH` or a name under models/): build, info, text queries and the suite all use it."""

import json
import shutil

import pytest
import yaml
from click.testing import CliRunner

from fixtures import make_corpus, write_jsonl
from similar.bench.suite import suite_encoder
from similar.cli import main
from similar.encoder_choice import BACKENDS, read_choice
from similar.encoders import fingerprint_dir, resolve_model
from similar.index import Index

pytestmark = pytest.mark.model


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def own_model(tmp_path):
    """The packaged MiniLM copied under another name: a model of the user's, known by its folder."""
    folder = tmp_path / "my-minilm"
    shutil.copytree(resolve_model("all-MiniLM-L6-v2", backend="torch").path, folder)
    return folder


def test_build_info_and_text_query_use_the_model_named(tmp_path, own_model):
    rows = make_corpus(40)
    corpus = write_jsonl(tmp_path / "c.jsonl", rows)
    out = run("build", corpus, "--index", "mine", "--model", own_model, "--quiet")
    assert out.exit_code == 0, out.output
    fingerprint = fingerprint_dir(own_model)
    manifest = json.loads(run("info", "--index", "mine", "--json").output)
    assert (manifest["model"]["name"], manifest["model"]["fingerprint"]) == ("my-minilm", fingerprint)
    info = run("info", "--index", "mine").output
    assert f"model: my-minilm (fingerprint {fingerprint[:12]}, 384 dimensions)" in info
    index = Index.open(tmp_path / "index" / "mine")
    seed = rows[7]
    result = index.similar_text(seed["abstract"], title=seed["title"], n=3, method="dense")
    assert index.encoder().name == "my-minilm" and index.encoder().fingerprint == fingerprint
    assert result.neighbors[0].pmid == seed["pmid"] and result.neighbors[0].score > 0.99
    choice = read_choice(tmp_path / "models" / "my-minilm", fingerprint)  # the build timed the backends, once
    assert choice is not None and choice["runs"][0]["backend"] == "torch" and choice["chosen"] in BACKENDS
    assert index.encoder().backend == choice["backend"]  # no int8 export here: "torch" or "openvino"
    out = run("query", "--text", f"{seed['title']} {seed['abstract']}", "--index", "mine", "-n", "1")
    assert out.exit_code == 0 and seed["pmid"] in out.output


def test_the_suite_takes_a_model_by_path_or_by_name(tmp_path, own_model, monkeypatch):
    by_path = suite_encoder(str(own_model), print)
    assert (by_path.name, by_path.fingerprint) == ("my-minilm", fingerprint_dir(own_model))
    monkeypatch.setenv("SIMILAR_MODELS_DIR", str(tmp_path))  # the folder is now a name under models/
    by_name = suite_encoder("my-minilm", print)
    assert (by_name.name, by_name.fingerprint) == ("my-minilm", by_path.fingerprint)
    corpus = write_jsonl(tmp_path / "c.jsonl", make_corpus(40))
    judgments = tmp_path / "j.tsv"
    judgments.write_text(
        "".join(f"{1000 + s}\t{1000 + c}\t{int(c % 4 == s % 4)}\n" for s in range(4) for c in range(8))
    )
    suite = tmp_path / "quality.yaml"
    suite.write_text(
        yaml.safe_dump(
            {"suite": [{"name": "by-pmid", "kind": "pmid", "corpus": str(corpus), "judgments": str(judgments)}]}
        )
    )
    for model in (own_model, "my-minilm"):
        out = run("bench", "quality", "--suite", suite, "--model", model, "--out", tmp_path / "out", "--quiet")
        assert out.exit_code == 0, out.output
        results = json.loads((tmp_path / "out" / "suite.json").read_text())
        assert list(results["models"]) == ["my-minilm"]
        made = results["models"]["my-minilm"]["model"]
        assert (made["name"], made["fingerprint"]) == ("my-minilm", by_path.fingerprint)
