"""One home for data: names resolve the same from any directory, paths are paths, misses name the absolute place."""

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from fixtures import make_corpus, write_jsonl
from similar import paths
from similar.cli import main

REPO = Path(__file__).resolve().parents[1]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Two unrelated working directories; tests chdir between them."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    monkeypatch.chdir(a)
    return a, b


# value given to --index -> where it points, with {home} = SIMILAR_HOME and {cwd} = the current directory
INDEX_VALUES = [
    (None, "{home}/index/default"),
    ("", "{home}/index/default"),
    ("trec", "{home}/index/trec"),
    ("trec-2", "{home}/index/trec-2"),
    ("./trec", "{cwd}/trec"),
    ("sub/trec", "{cwd}/sub/trec"),
    ("../trec", "{cwd}/../trec"),
    (".", "{cwd}"),
    ("/srv/ix", "/srv/ix"),
    ("~/ix", "{user}/ix"),
]


@pytest.mark.parametrize("value,expected", INDEX_VALUES)
def test_index_values_resolve(tmp_path, elsewhere, value, expected):
    got = paths.index_path(value)
    want = expected.format(home=tmp_path, cwd=elsewhere[0], user=Path.home())
    assert got == Path(want) and got.is_absolute()


def test_a_name_resolves_the_same_from_any_directory(elsewhere, monkeypatch):
    first = paths.index_path("trec")
    monkeypatch.chdir(elsewhere[1])
    assert paths.index_path("trec") == first
    (elsewhere[1] / "trec").mkdir()  # a folder of that name in the current directory does not capture the name
    assert paths.index_path("trec") == first


def test_home_without_similar_home_is_the_user_data_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("SIMILAR_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.home() == tmp_path / "xdg" / "similar"
    assert paths.index_root() == tmp_path / "xdg" / "similar" / "index"
    assert paths.models_dir() == tmp_path / "xdg" / "similar" / "models"
    assert paths.results_dir() == tmp_path / "xdg" / "similar" / "results"
    assert paths.pubmed_dir() == tmp_path / "xdg" / "similar" / "pubmed"


def test_built_by_name_in_one_directory_queried_from_another(tmp_path, elsewhere, monkeypatch):
    monkeypatch.setenv("SIMILAR_NO_MODEL", "1")
    corpus = write_jsonl(tmp_path / "c.jsonl", make_corpus())
    assert run("build", corpus, "--index", "trec", "--quiet").exit_code == 0
    assert not (elsewhere[0] / "index").exists()
    monkeypatch.chdir(elsewhere[1])
    res = run("query", "1002", "--index", "trec", "-n", "2")
    assert res.exit_code == 0 and res.output.startswith("Papers similar to PMID 1002")


def test_a_path_is_a_path_also_for_a_new_build(tmp_path, elsewhere, monkeypatch):
    monkeypatch.setenv("SIMILAR_NO_MODEL", "1")
    corpus = write_jsonl(tmp_path / "c.jsonl", make_corpus())
    out = run("build", corpus, "--index", "./here", "--quiet")
    assert out.exit_code == 0 and f"built {elsewhere[0]}/here:" in out.output
    assert (elsewhere[0] / "here" / "manifest.json").exists() and not (tmp_path / "index" / "here").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["query", "1", "--index", "nope"],
            "error: no index at {home}/index/nope: build one with `similar build INPUT --index {home}/index/nope`",
        ),
        (
            ["query", "1", "--index", "./nope"],
            "error: no index at {cwd}/nope: build one with `similar build INPUT --index {cwd}/nope`",
        ),
        (
            ["info", "--index", "nope"],
            "error: no index at {home}/index/nope: build one with `similar build INPUT --index {home}/index/nope`",
        ),
        (
            ["serve", "--index", "nope"],
            "error: no index at {home}/index/nope: build one with `similar build INPUT --index {home}/index/nope`",
        ),
    ],
)
def test_not_found_names_the_absolute_place(tmp_path, elsewhere, args, message):
    res = run(*args)
    assert res.exit_code == 1
    assert res.output.strip() == message.format(home=tmp_path, cwd=elsewhere[0])  # serve: no "serving ..." first


def test_build_refuses_an_existing_index_unless_forced(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMILAR_NO_MODEL", "1")
    four = write_jsonl(tmp_path / "four.jsonl", make_corpus(4))
    two = write_jsonl(tmp_path / "two.jsonl", make_corpus(2))
    assert run("build", four, "--index", "x", "--quiet").exit_code == 0
    res = run("build", two, "--index", "x", "--quiet")
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == (
        f"error: index {tmp_path}/index/x already exists: add papers with `similar add INPUT --index x`, "
        "or replace it with `similar build ... --index x --force`"
    )
    assert json.loads(run("info", "--index", "x", "--json").output)["count"] == 4
    assert run("build", two, "--index", "x", "--quiet", "--force").exit_code == 0
    assert json.loads(run("info", "--index", "x", "--json").output)["count"] == 2


def test_info_without_an_index_lists_the_indexes(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMILAR_NO_MODEL", "1")
    assert run("info").output.splitlines() == [
        f"home: {tmp_path}  (set SIMILAR_HOME to move it)",
        f"models: {tmp_path}/models",
        f"no indexes in {tmp_path}/index: build one with `similar build INPUT --index NAME`",
    ]
    corpus = write_jsonl(tmp_path / "c.jsonl", make_corpus(6))
    for name in ("b", "a"):
        assert run("build", corpus, "--index", name, "--quiet").exit_code == 0
    lines = run("info").output.splitlines()
    assert lines[2] == f"indexes in {tmp_path}/index:"
    assert [line.split("\t")[:3] for line in lines[3:]] == [["  a", "6 papers", "tfidf"], ["  b", "6 papers", "tfidf"]]


def test_prepared_model_is_found_from_any_directory(tmp_path, elsewhere, monkeypatch):
    from similar.encoders import fingerprint_dir, resolve_model

    prepared = tmp_path / "models" / "all-MiniLM-L6-v2"
    (prepared / "openvino").mkdir(parents=True)
    (prepared / "modules.json").write_text("[]")
    made_from = {"fingerprint": fingerprint_dir(prepared)}  # an export of the weights the copy holds
    (prepared / "openvino" / "export.json").write_text(json.dumps(made_from))
    monkeypatch.chdir(elsewhere[1])
    spec = resolve_model()
    assert (spec.backend, spec.path) == ("openvino", prepared)
    lines = run("models", "list").output.splitlines()
    assert lines == [f"all-MiniLM-L6-v2\topenvino\t{prepared}"]  # once, not twice


def test_models_help_lists_every_command():
    out = run("models", "--help").output
    assert all(f"  {c} " in out for c in ("list", "prepare", "train"))


def _tracked_state() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


def test_a_benchmark_run_changes_no_file_in_the_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMILAR_NO_MODEL", "1")
    monkeypatch.chdir(REPO)  # where the old defaults (benchmarks/results, pubmed/) would have written
    corpus = write_jsonl(tmp_path / "c.jsonl", make_corpus(12))
    judgments = tmp_path / "j.tsv"
    judgments.write_text("".join(f"1000\t{1000 + i}\t{2 if i % 4 == 0 else 0}\n" for i in range(1, 12)))
    before = _tracked_state()
    res = run("bench", "quality", "--corpus", corpus, "--judgments", judgments, "--name", "tiny", "--quiet")
    assert res.exit_code == 0, res.output
    assert _tracked_state() == before
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["tiny.json", "tiny.md", "tiny.png"]
