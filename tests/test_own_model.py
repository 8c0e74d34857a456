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
from similar.encoders import ModelUnavailable, fingerprint_dir, fingerprint_matches, legacy_fingerprint, resolve_model
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


def test_weights_that_differ_at_the_same_size_are_another_model(tmp_path, own_model):
    """The fingerprint reads the weights: a copy whose weights changed in place (same names, same sizes) is another
    model, so an index built with it is served by it, never by the prepared copy of the first folder of that name."""
    altered = tmp_path / "elsewhere" / "my-minilm"
    shutil.copytree(own_model, altered)
    weights = bytearray((altered / "model.safetensors").read_bytes())
    weights[-4000:] = bytes(b ^ 0x40 for b in weights[-4000:])  # the last tensor's bytes, the header untouched
    (altered / "model.safetensors").write_bytes(bytes(weights))
    assert fingerprint_dir(altered) != fingerprint_dir(own_model)
    assert legacy_fingerprint(altered) == legacy_fingerprint(own_model)  # what indexes recorded before: blind to it
    corpus = write_jsonl(tmp_path / "c.jsonl", make_corpus(30))
    for name, model in (("stock", own_model), ("altered", altered)):  # the first prepares models/my-minilm
        out = run("build", corpus, "--index", name, "--model", model, "--quiet")
        assert out.exit_code == 0, out.output
    encoder = Index.open(tmp_path / "index" / "altered").encoder()
    assert encoder.fingerprint == fingerprint_dir(altered) and encoder.spec.path == altered.resolve()


def test_an_index_from_before_weights_were_fingerprinted_is_still_its_models(own_model):
    encoder = suite_encoder(str(own_model), print).inner
    assert fingerprint_matches(encoder, legacy_fingerprint(own_model)) and fingerprint_matches(
        encoder, encoder.fingerprint
    )
    assert not fingerprint_matches(encoder, "0123456789abcdef") and not fingerprint_matches(encoder, None)


@pytest.mark.parametrize("model", ["no-such-model", "{tmp}/not-a-model"])
def test_a_model_named_for_the_suite_that_does_not_load_stops_it(tmp_path, model):
    """Named on the command line, a model must load: one line and exit 1, not a lexical-only run that exits 0."""
    (tmp_path / "not-a-model").mkdir()
    corpus = write_jsonl(tmp_path / "c.jsonl", make_corpus(10))
    judgments = tmp_path / "j.tsv"
    judgments.write_text("".join(f"{1000 + s}\t{1001 + s}\t1\n" for s in range(4)))
    suite = tmp_path / "quality.yaml"
    suite.write_text(
        yaml.safe_dump({"suite": [{"name": "b", "kind": "pmid", "corpus": str(corpus), "judgments": str(judgments)}]})
    )
    out = CliRunner().invoke(
        main,
        [
            "bench",
            "quality",
            "--suite",
            str(suite),
            "--model",
            model.format(tmp=tmp_path),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ],
    )
    assert (
        out.exit_code == 1 and out.output.startswith("error: ") and len(out.output.strip().splitlines()) == 1
    ), out.output
    assert not (tmp_path / "out" / "suite.json").exists()


def test_an_export_of_other_weights_is_never_run_and_a_folder_given_by_path_is_prepared_as_a_copy(own_model):
    """Weights replaced in place in a prepared copy leave its OpenVINO export stale: it is not chosen, cannot be run,
    and `prepare` makes it again. A folder given by path is prepared under models/, never written to."""
    from similar import store
    from similar.encoders import OpenVINOEncoder, export_matches
    from similar.openvino_export import prepare_openvino

    info = prepare_openvino(str(own_model))
    copy = store.models_dir() / "my-minilm"
    assert info["exported"] and info["dest"] == str(copy) and not (own_model / "openvino").exists()
    assert export_matches(copy) and resolve_model("my-minilm").backend == "openvino"
    weights = bytearray((copy / "model.safetensors").read_bytes())
    weights[-4000:] = bytes(b ^ 0x40 for b in weights[-4000:])
    (copy / "model.safetensors").write_bytes(bytes(weights))
    assert not export_matches(copy) and resolve_model("my-minilm").backend == "torch"
    with pytest.raises(ModelUnavailable, match="was not made from the weights there now"):
        OpenVINOEncoder(resolve_model("my-minilm", backend="openvino"))
    again = prepare_openvino("my-minilm")
    assert again["exported"] and export_matches(copy) and again["fingerprint"] == fingerprint_dir(copy)
