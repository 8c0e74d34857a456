"""Fault injection: hostile inputs, damaged and tampered indexes, kills at every publish step, two writers, a full
disk, bad reloads. Each case asserts its exact outcome: exit code, one-line message, the index intact and complete."""

import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fixtures import FakeEncoder, make_corpus, write_jsonl
from similar import publish, store
from similar.build import build_index
from similar.cli import main
from similar.errors import SimilarError
from similar.index import Index
from similar.lock import writer_lock
from similar.update import add_to_index

SRC = str(Path(__file__).resolve().parents[1] / "src")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def count_of(path) -> int:
    index = Index.open(path)
    try:
        return len(index)
    finally:
        index.close()


def leftovers(dest: Path) -> list[str]:
    """Everything beside the index but the index and its lock file."""
    return sorted(p.name for p in dest.parent.glob(f".{dest.name}.*") if p.name != f".{dest.name}.lock")


@pytest.fixture
def dense_ix(tmp_path):
    """40 papers, dense (fake encoder) + lexical + lists: every index file there is."""
    dest = tmp_path / "index" / "d"
    build_index([write_jsonl(tmp_path / "base.jsonl", make_corpus(40))], dest, model=FakeEncoder(), progress=False)
    return dest


@pytest.fixture
def tfidf_ix(tmp_path):
    """40 papers, TF-IDF only: what the command line can add to without a model."""
    dest = tmp_path / "index" / "t"
    build_index([write_jsonl(tmp_path / "base.jsonl", make_corpus(40))], dest, method="tfidf", progress=False)
    return dest


def more(tmp_path, name: str, start: int, n: int) -> Path:
    rows = [
        {"pmid": str(start + i), "title": f"Extra paper {i} on cardiac ventricular function", "abstract": "heart"}
        for i in range(n)
    ]
    return write_jsonl(tmp_path / name, rows)


# --- 1. hostile input files: a bad record is a counted problem with file:line, a bad file is one line ----------------

GOOD = [{"pmid": str(i), "title": f"good paper {i}", "abstract": "cells"} for i in (1, 2)]
GZ = gzip.compress(
    ("\n".join(json.dumps({"pmid": str(100 + i), "title": f"t{i}"}) for i in range(400)) + "\n").encode(), mtime=0
)


def _jsonl(line: bytes) -> bytes:
    return b"\n".join(json.dumps(r).encode() for r in GOOD) + b"\n" + line + b"\n"


def _bad_crc() -> bytes:
    data = bytearray(GZ)
    data[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    return bytes(data)


BAD_FILES = [
    # name, content, papers kept, the skipped line (a regex for what depends on zlib)
    (
        "surrogate.jsonl",
        _jsonl(rb'{"pmid": "3", "title": "a \ud800 b"}'),
        2,
        re.escape("surrogate.jsonl:3: invalid Unicode (a lone surrogate)"),
    ),
    (
        "mesh-utf8.jsonl",
        _jsonl(b'{"pmid": "3", "title": "t", "mesh": ["ok", "bad \xff"]}'),
        2,
        re.escape("mesh-utf8.jsonl:3: invalid UTF-8"),
    ),
    (
        "mesh-int.jsonl",
        _jsonl(b'{"pmid": "3", "title": "t", "mesh": 5}'),
        2,
        re.escape("mesh-int.jsonl:3: mesh must be a string or a list of strings"),
    ),
    (
        "mesh-list.jsonl",
        _jsonl(b'{"pmid": "3", "title": "t", "mesh": [1, 2]}'),
        2,
        re.escape("mesh-list.jsonl:3: mesh must be a string or a list of strings"),
    ),
    (
        "title-utf8.json",
        b'[{"pmid": "1", "title": "ok"}, {"pmid": "2", "title": "bad \xff"}]',
        1,
        re.escape("title-utf8.json:1:32: invalid UTF-8"),
    ),
    (
        "notgzip.jsonl.gz",
        _jsonl(b""),
        0,
        re.escape(
            "notgzip.jsonl.gz: unreadable file after 0 records, rest of file skipped (Not a gzipped file (b'{\"'))"
        ),
    ),
    (
        "badcrc.jsonl.gz",
        _bad_crc(),
        400,
        r"badcrc\.jsonl\.gz: unreadable file after 400 records, rest of file skipped \(CRC check failed 0x[0-9a-f]+ != 0x[0-9a-f]+\)",
    ),
    (
        "truncated.jsonl.gz",
        GZ[: len(GZ) // 2],
        None,
        r"truncated\.jsonl\.gz: unreadable file after \d+ records, rest of file skipped \(truncated: the compressed stream ends early\)",
    ),
    (
        "truncated.xml.gz",
        gzip.compress(
            b"<PubmedArticleSet>"
            + b"".join(
                b"<PubmedArticle><MedlineCitation><PMID>%d</PMID><Article><ArticleTitle>T %d</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
                % (i, i * 7919)
                for i in range(1, 3000)
            )
            + b"</PubmedArticleSet>",
            mtime=0,
        )[:4000],
        None,
        r"truncated\.xml\.gz: unreadable file after \d+ records, rest of file skipped \(truncated: the compressed stream ends early\)",
    ),
]


@pytest.mark.parametrize("name,content,kept,skipped", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_input_is_a_counted_problem_never_an_abort(tmp_path, name, content, kept, skipped):
    good = write_jsonl(tmp_path / "good.jsonl", [{"pmid": "9000", "title": "always kept", "abstract": "x"}])
    (tmp_path / name).write_bytes(content)
    res = run("build", good, tmp_path / name, "--method", "tfidf", "--index", "b", "--quiet")
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    built = next(line for line in res.output.splitlines() if line.startswith("built "))
    got = int(re.search(r": (\d+) papers kept", built).group(1))
    assert got == (1 + kept if kept is not None else got) and got >= 1
    problems = [
        line.strip().removeprefix("skipped ") for line in res.output.splitlines() if line.startswith("  skipped ")
    ]
    assert len(problems) == 1 and re.fullmatch(skipped, problems[0]), problems
    assert count_of(tmp_path / "index" / "b") == got


# --- 2. damaged or tampered index files: one line, never a traceback, never a wrong answer ------------------------------


def _manifest(p: Path, edit) -> None:
    m = json.loads((p / "manifest.json").read_text())
    (p / "manifest.json").write_text(json.dumps(edit(m)))


def _legacy(p: Path) -> None:
    """As an index built before checksums were recorded: only the structural checks can see damage."""
    _manifest(p, lambda m: {k: v for k, v in m.items() if k != "files"})


def _overwrite(name: str, data=None, legacy=False, offset=None):
    def corrupt(p: Path) -> None:
        if legacy:
            _legacy(p)
        f = p / name
        size = f.stat().st_size
        if offset is None:
            f.write_bytes(data if data is not None else np.random.default_rng(0).bytes(size))
        else:  # same size, some bytes changed
            with open(f, "r+b") as fh:
                fh.seek(offset if offset >= 0 else size + offset)
                fh.write(np.random.default_rng(1).bytes(256))

    return corrupt


def _truncate(name: str):
    def corrupt(p: Path) -> None:
        f = p / name
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])

    return corrupt


def _swap_rows(legacy: bool):
    def corrupt(p: Path) -> None:
        if legacy:
            _legacy(p)
        rows = (p / "rows.txt").read_text().split()
        rows[0], rows[1] = rows[1], rows[0]
        (p / "rows.txt").write_text("\n".join(rows) + "\n")

    return corrupt


def _size(p: Path, name: str) -> int:
    return json.loads((p / "manifest.json").read_text())["files"][name]["bytes"]


CORRUPT = [
    # id, damage, message after "corrupt index {p}: " (regex), or the full message where it is not a corruption
    ("sqlite-garbage", _overwrite("papers.sqlite"), re.escape("papers.sqlite is not an SQLite database; rebuild it")),
    (
        "sqlite-truncated",
        _truncate("papers.sqlite"),
        r"papers\.sqlite is \d+ bytes, the manifest says {papers\.sqlite}; rebuild it",
    ),
    (
        "sqlite-empty",
        _overwrite("papers.sqlite", b""),
        r"papers\.sqlite is 0 bytes, the manifest says {papers\.sqlite}; rebuild it",
    ),
    ("sqlite-missing", lambda p: (p / "papers.sqlite").unlink(), re.escape("papers.sqlite is missing; rebuild it")),
    (
        "sqlite-garbage-legacy",
        _overwrite("papers.sqlite", legacy=True),
        re.escape("papers.sqlite is not an SQLite database; rebuild it"),
    ),
    (
        "sqlite-empty-legacy",
        _overwrite("papers.sqlite", b"", legacy=True),
        re.escape("papers.sqlite is not an SQLite database; rebuild it"),
    ),
    (
        "sqlite-truncated-legacy",
        lambda p: (_legacy(p), _truncate("papers.sqlite")(p)),
        r"papers\.sqlite cannot be read \(.+\); rebuild it",
    ),
    (
        "neighbours-truncated",
        _truncate("neighbours.rows.npy"),
        r"neighbours\.rows\.npy is \d+ bytes, the manifest says {neighbours\.rows\.npy}; rebuild it",
    ),
    (
        "neighbours-truncated-legacy",
        lambda p: (_legacy(p), _truncate("neighbours.rows.npy")(p)),
        r"neighbours\.rows\.npy is \d+ bytes, its header says {neighbours\.rows\.npy}; rebuild it",
    ),
    (
        "lexical-garbage-legacy",
        _overwrite("lexical.bm25.postings.indices.npy", legacy=True),
        r"lexical\.bm25\.postings\.indices\.npy cannot be read \(ValueError: the magic string is not correct; .+\); rebuild it",
    ),
    (
        "lexical-truncated-legacy",
        lambda p: (_legacy(p), _truncate("lexical.tfidf.rows.data.npy")(p)),
        r"lexical\.tfidf\.rows\.data\.npy is \d+ bytes, its header says \d+; rebuild it",
    ),
    (
        "lexical-description-garbage-legacy",
        _overwrite("lexical.json", legacy=True),
        r"lexical\.json cannot be read \([A-Za-z]+(: .+)?\); rebuild it",
    ),
    (
        "lexical-tampered",
        _overwrite("lexical.abstract.data.npy", offset=-300),
        re.escape("lexical.abstract.data.npy does not match its SHA-256 in the manifest; rebuild it"),
    ),
    (
        "rowtable-garbage-legacy",
        _overwrite("rowtable.npy", legacy=True),
        r"rowtable\.npy cannot be read \(.+\); rebuild it",
    ),
    (
        "rowtable-tampered",
        _overwrite("rowtable.npy", offset=200),
        re.escape("rowtable.npy does not match its SHA-256 in the manifest; rebuild it"),
    ),
    (
        "vectors-tampered",
        _overwrite("vectors.faiss", offset=2000),
        re.escape("vectors.faiss does not match its SHA-256 in the manifest; rebuild it"),
    ),
    (
        "rows-swapped",
        _swap_rows(legacy=False),
        re.escape("rows.txt does not match its SHA-256 in the manifest; rebuild it"),
    ),
    (
        "rows-swapped-legacy",
        _swap_rows(legacy=True),
        re.escape("rows.txt and papers.sqlite disagree at row 0; rebuild it"),
    ),
    (
        "manifest-no-count",
        lambda p: _manifest(p, lambda m: {k: v for k, v in m.items() if k != "count"}),
        re.escape("manifest.json has no valid 'count'; rebuild it"),
    ),
    (
        "manifest-no-build-id",
        lambda p: _manifest(p, lambda m: {k: v for k, v in m.items() if k != "build_id"}),
        re.escape("manifest.json has no valid 'build_id'; rebuild it"),
    ),
    (
        "manifest-count-text",
        lambda p: _manifest(p, lambda m: {**m, "count": "40"}),
        re.escape("manifest.json has no valid 'count'; rebuild it"),
    ),
    (
        "manifest-list",
        lambda p: (p / "manifest.json").write_text("[1, 2]"),
        re.escape("manifest.json is not a JSON object; rebuild it"),
    ),
    (
        "rows-binary",
        lambda p: (_legacy(p), (p / "rows.txt").write_bytes(b"\xff\xfe" * 40)),
        re.escape("rows.txt is not text; rebuild it"),
    ),
]


def _expected_corruption(p: Path, message: str) -> str:
    """The full one-line error (a regex) for a CORRUPT row, with the sizes the manifest records filled in."""
    sizes = {n: _size(p, n) for n in ("papers.sqlite", "neighbours.rows.npy")}
    filled = message.replace("{papers\\.sqlite}", str(sizes["papers.sqlite"]))
    return (
        "corrupt index "
        + re.escape(str(p))
        + ": "
        + filled.replace("{neighbours\\.rows\\.npy}", str(sizes["neighbours.rows.npy"]))
    )


ADD_ONTO = (
    "sqlite-garbage",
    "sqlite-truncated",
    "neighbours-truncated",
    "lexical-tampered",
    "vectors-tampered",
    "rows-swapped",
)


@pytest.mark.parametrize("corrupt,message", [c[1:] for c in CORRUPT if c[0] in ADD_ONTO], ids=list(ADD_ONTO))
def test_add_refuses_a_damaged_index_and_changes_nothing(tmp_path, dense_ix, corrupt, message):
    """An add rewrites the index: on top of a damaged one it would record fresh checksums over the damage."""
    expected = _expected_corruption(dense_ix, message)
    corrupt(dense_ix)
    before = {f.name: f.read_bytes() for f in dense_ix.iterdir()}
    res = run("add", more(tmp_path, "m.jsonl", 5000, 3), "--index", dense_ix, "--quiet")
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert re.fullmatch("error: " + expected, res.output.strip().splitlines()[-1]), res.output
    assert {f.name: f.read_bytes() for f in dense_ix.iterdir()} == before


@pytest.mark.parametrize("corrupt,message", [c[1:] for c in CORRUPT], ids=[c[0] for c in CORRUPT])
def test_damaged_index_is_one_line_error(dense_ix, corrupt, message):
    expected = _expected_corruption(dense_ix, message)
    corrupt(dense_ix)
    for args in (
        ["query", "1000", "--index", dense_ix],
        ["info", "--index", dense_ix],
        ["verify", "--index", dense_ix],
    ):
        res = run(*args)
        assert res.exit_code == 1, (args, res.output)
        last = res.output.strip().splitlines()[-1]
        assert re.fullmatch("error: " + expected, last), (args, res.output)
        assert "Traceback" not in res.output


def test_tampered_vectors_of_a_legacy_index_are_caught_by_verify(dense_ix):
    _overwrite("vectors.faiss", legacy=True, offset=2000)(dense_ix)
    res = run("verify", "--index", dense_ix)
    assert res.exit_code == 1
    assert (
        res.output.splitlines()[0]
        == "note: the manifest records no checksums (built before they were recorded): rebuild to have files verified"
    )
    assert re.fullmatch(
        rf"error: corrupt index {re.escape(str(dense_ix))}: vectors\.faiss (holds non-finite values \(rows 0\.\.39\)|row \d+ has length \S+, not 1); rebuild it",
        res.output.splitlines()[-1],
    )


def test_damaged_lexical_arrays_of_a_legacy_index_are_caught_by_verify(dense_ix):
    """Open maps the arrays without reading them; verify reads them whole."""
    _overwrite("lexical.tfidf.rows.indices.npy", legacy=True, offset=-300)(dense_ix)
    res = run("verify", "--index", dense_ix)
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == (
        f"error: corrupt index {dense_ix}: lexical.tfidf.rows.indices.npy holds indices outside 0..71; rebuild it"
    )


def test_verify_passes_a_sound_index_and_open_checks_no_more_than_sizes_above_the_limit(dense_ix, monkeypatch):
    res = run("verify", "--index", dense_ix)
    assert res.exit_code == 0, res.output
    files = json.loads((dense_ix / "manifest.json").read_text())["files"]
    assert len([f for f in files if f.startswith("lexical.")]) == 2 + 3 * 2 + 3 * (3 * 2 + 3)  # see backends/lexical.py
    assert (
        res.output.strip()
        == f"verified {dense_ix}: {len(files)} files match their SHA-256; 40 rows agree across rows.txt, papers.sqlite and the backends"
    )
    monkeypatch.setattr(store, "HASH_ON_OPEN_LIMIT", 1000)
    assert (
        store.check_files(dense_ix, store.read_manifest(dense_ix), hash_limit=1000) == 0
    )  # sizes only: big indexes open fast


# --- 3. a kill at every step of the publish, and the leftovers of killed writers ---------------------------------------


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs. The disk as it was at that instant is kept aside by the hook."""


def _kill_at(monkeypatch, step: str, root: Path, snapshot: Path):
    def crash_point(name):
        if name == step:
            shutil.copytree(root, snapshot, symlinks=True)  # exactly what a kill at this instant leaves
            raise Killed(step)

    monkeypatch.setattr(publish, "crash_point", crash_point)


@pytest.mark.parametrize("op", ["add", "rebuild"])
@pytest.mark.parametrize("step", publish.PUBLISH_STEPS)
def test_kill_at_every_publish_step_recovers_intact(tmp_path, dense_ix, monkeypatch, op, step):
    root, snapshot = dense_ix.parent, tmp_path / "at-kill"
    update = more(tmp_path, "more.jsonl", 5000, 7)
    write = {
        "add": lambda: add_to_index([update], dense_ix, encoder=FakeEncoder(), progress=False),
        "rebuild": lambda: build_index(
            [tmp_path / "base.jsonl", update], dense_ix, model=FakeEncoder(), progress=False
        ),
    }[op]
    _kill_at(monkeypatch, step, root, snapshot)
    with pytest.raises(Killed):
        write()
    monkeypatch.undo()
    shutil.rmtree(root)
    shutil.copytree(snapshot, root, symlinks=True)
    published = publish.PUBLISH_STEPS.index(step) >= publish.PUBLISH_STEPS.index("new-moved")
    assert (dense_ix / "manifest.json").exists() == (step != "old-moved")
    # a reader first: it finds the whole old index or the whole new one, never a half
    assert count_of(dense_ix) == (47 if published else 40)
    assert run("verify", "--index", dense_ix).exit_code == 0
    # then the next writer: it cleans up, and the same command completes the work exactly once
    report = write()
    assert count_of(dense_ix) == 47
    assert leftovers(dense_ix) == []
    if op == "add" and published:
        assert report.files_skipped == [str(update)]
    assert run("verify", "--index", dense_ix).exit_code == 0


def test_real_sigkill_between_the_renames_then_open_restores(tmp_path, tfidf_ix):
    """The same as above with a real SIGKILL of `similar add` ($SIMILAR_CRASH_AT), then `similar query`."""
    update = more(tmp_path, "more.jsonl", 5000, 5)
    env = {**os.environ, "PYTHONPATH": SRC, publish.CRASH_ENV: "old-moved"}
    proc = subprocess.run(
        [sys.executable, "-m", "similar.cli", "add", str(update), "--index", str(tfidf_ix), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL
    assert not tfidf_ix.exists() and [n.split("-")[0] for n in leftovers(tfidf_ix)] == [".t.old", ".t.tmp"]
    res = run("query", "1000", "--index", tfidf_ix, "-n", "3")  # open restores the previous index, drops the copy
    assert res.exit_code == 0 and res.output.startswith("Papers similar to PMID 1000")
    assert count_of(tfidf_ix) == 40 and leftovers(tfidf_ix) == []
    res = run("add", update, "--index", tfidf_ix, "--quiet")
    assert res.exit_code == 0 and res.output.startswith(f"updated {tfidf_ix}: 5 papers kept"), res.output
    assert count_of(tfidf_ix) == 45 and leftovers(tfidf_ix) == []


def test_stale_copies_of_killed_adds_are_removed_by_the_next_writer(tmp_path, tfidf_ix):
    for name in (".t.tmp-99-abcdef", ".t.add-work-99-abcdef"):  # similar's own: they carry its writing mark
        publish.make_owned_dir(tfidf_ix.parent / name)
        (tfidf_ix.parent / name / "big.bin").write_bytes(b"x" * 1000)
    shutil.copytree(tfidf_ix, tfidf_ix.parent / ".t.old-99-abcdef")  # a previous version: a similar index
    res = run("add", more(tmp_path, "m.jsonl", 5000, 2), "--index", tfidf_ix, "--quiet")
    assert res.exit_code == 0, res.output
    assert sorted(line for line in res.output.splitlines() if line.startswith("note:")) == [
        f"note: removed {n}, left by an interrupted write"
        for n in (".t.add-work-99-abcdef", ".t.old-99-abcdef", ".t.tmp-99-abcdef")
    ]
    assert leftovers(tfidf_ix) == [] and count_of(tfidf_ix) == 42


# --- 4. two writers -----------------------------------------------------------------------------------------------------


def test_second_writer_is_refused_with_a_clear_message_and_nothing_changes(tmp_path, tfidf_ix):
    before = (tfidf_ix / "manifest.json").read_text()
    with writer_lock(tfidf_ix):
        for args in (
            ["add", more(tmp_path, "m.jsonl", 5000, 3), "--index", tfidf_ix, "--quiet"],
            ["build", tmp_path / "base.jsonl", "--method", "tfidf", "--index", tfidf_ix, "--force", "--quiet"],
        ):
            res = run(*args)
            assert res.exit_code == 75
            assert res.output.strip() == (
                f"error: index {tfidf_ix} is being written by another process (pid {os.getpid()}): "
                "wait for it to finish, or rerun with --wait to queue"
            )
    assert (tfidf_ix / "manifest.json").read_text() == before


def test_a_waiting_writer_queues_and_applies_after_the_first(tmp_path, tfidf_ix):
    update = more(tmp_path, "m.jsonl", 5000, 3)
    result, notes = {}, []
    with writer_lock(tfidf_ix):
        t = threading.Thread(
            target=lambda: result.update(
                r=add_to_index([update], tfidf_ix, progress=False, wait=True, notify=notes.append)
            )
        )
        t.start()
        time.sleep(0.5)
        assert t.is_alive() and count_of(tfidf_ix) == 40  # queued, not applied
    t.join(60)
    assert notes == [f"waiting for another writer of {tfidf_ix} (pid {os.getpid()}) to finish ..."]
    assert result["r"].kept == 3 and count_of(tfidf_ix) == 43


def test_two_concurrent_adds_keep_both_sets_of_papers(tmp_path, tfidf_ix):
    """The race of the report: two `similar add --wait` processes at once end with both files applied."""
    a, b = more(tmp_path, "a.jsonl", 5000, 30), more(tmp_path, "b.jsonl", 6000, 40)
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "similar.cli", "add", str(f), "--index", str(tfidf_ix), "--quiet", "--wait"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in (a, b)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    index = Index.open(tfidf_ix)
    assert len(index) == 110 and {"5000", "5029", "6000", "6039"} <= set(index.pmids)
    assert sorted(e["name"] for e in index.manifest.inputs) == ["a.jsonl", "b.jsonl", "base.jsonl"]
    assert leftovers(tfidf_ix) == []


# --- 5. a full disk: one line, the index intact, the rerun completes -----------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 6 MiB tmpfs; skipped where the test cannot mount one (needs root)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a small filesystem needs root to mount a tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(folder: Path, leave: int = 0) -> Path:
    """Fill the filesystem of `folder`, leaving about `leave` bytes."""
    filler = folder / "filler.bin"
    free = shutil.disk_usage(folder).free - leave
    with open(filler, "wb") as f:
        try:
            f.write(b"\0" * max(0, free))
        except OSError:
            pass  # full: that was the point
    return filler


DISK_FULL = "disk full{where}: free some space and rerun the same command (the index is unchanged; a build resumes where it stopped)"


@pytest.mark.parametrize("op,leave", [("build", 0), ("build", 180_000), ("add", 0), ("add", 200_000)])
def test_disk_full_is_one_line_and_the_rerun_completes(tmp_path, small_disk, op, leave):
    corpus = write_jsonl(tmp_path / "c.jsonl", make_corpus(400))
    dest = small_disk / "ix"
    update = more(tmp_path, "m.jsonl", 5000, 300)
    if op == "add":
        assert run("build", corpus, "--method", "tfidf", "--index", dest, "--quiet").exit_code == 0
        before = (dest / "manifest.json").read_text()
    filler = _fill(small_disk, leave)
    args = (
        ["build", corpus, "--method", "tfidf", "--index", dest, "--quiet"]
        if op == "build"
        else ["add", update, "--index", dest, "--quiet"]
    )
    res = run(*args)
    assert res.exit_code == 1, res.output
    assert re.fullmatch(
        "error: " + re.escape(DISK_FULL).replace(r"\{where\}", r"( writing \S+)?"), res.output.strip()
    ), res.output
    if op == "add":
        assert (dest / "manifest.json").read_text() == before and count_of(dest) == 400  # intact
    else:
        assert not dest.exists()
    filler.unlink()
    res = run(*args)
    assert res.exit_code == 0, res.output
    assert count_of(dest) == (400 if op == "build" else 700) and leftovers(dest) == []


# --- 6. the server survives every reload ------------------------------------------------------------------------------


@pytest.fixture
def client(dense_ix, monkeypatch):
    from fastapi.testclient import TestClient

    from similar.server.app import create_app

    monkeypatch.setenv("SIMILAR_ADMIN_TOKEN", "s3cret")
    return TestClient(create_app(dense_ix), raise_server_exceptions=False)


RELOAD_DAMAGE = [
    c
    for c in CORRUPT
    if c[0] in ("sqlite-garbage", "sqlite-missing", "neighbours-truncated-legacy", "manifest-list", "rows-swapped")
]


@pytest.mark.parametrize("corrupt,message", [c[1:] for c in RELOAD_DAMAGE], ids=[c[0] for c in RELOAD_DAMAGE])
def test_http_reload_of_a_damaged_index_is_409_and_the_old_one_serves(client, dense_ix, corrupt, message):
    build = client.get("/v1/health").json()["build_id"]
    damaged = dense_ix.parent / "damaged"
    shutil.copytree(dense_ix, damaged)
    corrupt(damaged)
    dense_ix.rename(dense_ix.parent / "served")  # a new folder at the path, as every writer publishes one
    damaged.rename(dense_ix)
    r = client.post("/admin/reload", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 409
    assert set(r.json()) == {"error", "status"} and r.json()["status"] == 409
    assert re.fullmatch(
        r"reload failed, still serving the previous index: corrupt index \S+: .+; rebuild it", r.json()["error"]
    )
    health = client.get("/v1/health").json()
    assert health["build_id"] == build and health["papers"] == 40
    assert client.get("/v1/papers/1000/similar?n=3").status_code == 200


def test_http_reload_of_an_unexpected_failure_is_500_json(client, monkeypatch):
    from similar.server import app as server_app

    def boom(path, **kwargs):
        raise RuntimeError("faiss exploded\nsecond line")

    monkeypatch.setattr(server_app.Index, "open", boom)
    r = client.post("/admin/reload", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 500
    assert r.json() == {
        "error": "reload failed, still serving the previous index: unexpected RuntimeError: faiss exploded "
        "(rerun with -v for the traceback)",
        "status": 500,
    }
    assert client.get("/v1/health").json()["papers"] == 40


@pytest.mark.parametrize(
    "token,header,status",
    [
        ("s3cret", "Bearer \u00e9t\u00e9".encode("latin-1"), 403),  # a non-ASCII guess: refused, not a 500
        ("s3cret", b"Bearer \xff\xfe", 403),
        ("s\u00e9cret", "Bearer s\u00e9cret".encode("utf-8"), 200),  # a non-ASCII token works as UTF-8 bytes
        ("s\u00e9cret", b"Bearer s3cret", 403),
    ],
)
def test_admin_token_is_compared_as_bytes(client, monkeypatch, token, header, status):
    monkeypatch.setenv("SIMILAR_ADMIN_TOKEN", token)
    r = client.post("/admin/reload", headers={"Authorization": header})
    assert r.status_code == status
    if status == 403:
        assert r.json() == {"error": "wrong or missing admin token (Authorization: Bearer ...)", "status": 403}


@pytest.mark.parametrize(
    "method,url,status,error",
    [
        ("GET", "/v1/nope", 404, "no route /v1/nope: see /docs"),
        ("GET", "/v1/papers", 404, "no route /v1/papers: see /docs"),
        ("GET", "/docs/nope", 404, "no route /docs/nope: see /docs"),
        ("GET", "/widgets", 404, "no route /widgets: see /docs"),
        ("POST", "/v1/health", 405, "POST is not allowed on /v1/health"),
        ("DELETE", "/v1/papers/1000", 405, "DELETE is not allowed on /v1/papers/1000"),
        ("GET", "/admin/reload", 405, "GET is not allowed on /admin/reload"),
        ("POST", "/widget.js", 405, "POST is not allowed on /widget.js"),
    ],
)
def test_every_route_error_is_the_documented_json(client, method, url, status, error):
    r = client.request(method, url)
    assert r.status_code == status and r.json() == {"error": error, "status": status}


@pytest.mark.parametrize(
    "method,url,status,line",
    [
        ("GET", "/nope", 404, "There is no page at this address."),  # the pages for people answer with a page
        ("GET", "/papers/1000/x", 404, "There is no page at this address."),
        ("POST", "/", 405, "This page answers GET and HEAD, not POST."),
        ("POST", "/collection", 405, "This page answers GET and HEAD, not POST."),
    ],
)
def test_an_address_or_method_with_no_page_is_a_page(client, method, url, status, line):
    r = client.request(method, url)
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    assert re.findall(r'<p class="error" role="alert">(.*?)</p>', r.text) == [line]
    assert r.headers.get("allow") == ("GET, HEAD" if status == 405 else None)


@pytest.mark.parametrize(
    "url,status,line",
    [
        (
            "/papers/\u0661\u0662\u0663",
            422,
            "'\u0661\u0662\u0663' is not a PubMed ID: a PMID is a number, such as 7504954.",
        ),
        ("/papers/1000?n=1e3", 422, "The number of papers must be from 1 to 50, not '1e3'."),
        (
            "/search?q=1000&min_year=\uff12\uff10\uff11\uff10",
            422,
            "The min year must be a year such as 2010, not '\uff12\uff10\uff11\uff10'.",
        ),
        ("/search?q=%ED%A0%80cells", 200, None),  # a lone surrogate's bytes: decoded as replacement characters
        ("/search?q=cells%00%1b[31m%E2%80%AEgood", 200, None),  # NUL, an escape sequence, a BiDi override
        ("/search?q=" + "cells+" * 5000, 200, None),  # 30,000 characters: the first 20,000 are the query
        ("/collection?positive=1000,,,1001&negative=", 200, None),
        ("/collection?positive=" + ",".join(str(1000 + i) for i in range(40)), 200, None),  # every paper a seed
    ],
)
def test_web_pages_take_hostile_queries_without_a_500(client, url, status, line):
    r = client.get(url)
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    if line is not None:
        from markupsafe import escape

        assert re.findall(r'<p class="error" role="alert">(.*?)</p>', r.text) == [str(escape(line))]
    assert "\x00" not in r.text and "\u202e" not in r.text and "\x1b" not in r.text


def test_head_is_answered_and_the_manifest_shows_no_paths(client, dense_ix):
    r = client.head("/v1/papers/1000/similar?n=3")
    assert r.status_code == 200 and r.content == b"" and int(r.headers["content-length"]) > 0
    assert client.head("/v1/health").status_code == 200
    body = client.get("/v1/index").text
    assert str(dense_ix.parent.parent) not in body and '"path"' not in body
    assert client.get("/v1/index").json()["inputs"][0]["name"] == "base.jsonl"


def test_server_process_survives_sighup_onto_a_damaged_index_and_drops_slow_headers(dense_ix):
    import httpx

    from browser import free_port

    port = free_port()
    env = {**os.environ, "PYTHONPATH": SRC, "SIMILAR_HEADER_TIMEOUT": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "similar.cli", "serve", "--index", str(dense_ix), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/v1/health"
    try:
        deadline = time.time() + 60
        while True:
            try:
                first = httpx.get(url, timeout=1).json()
                break
            except httpx.HTTPError:
                assert time.time() < deadline and proc.poll() is None, "server did not start"
                time.sleep(0.2)
        for damage, name in (
            (_overwrite("papers.sqlite"), "papers.sqlite"),
            (_truncate("neighbours.rows.npy"), "neighbours.rows.npy"),
            (lambda p: (p / "manifest.json").write_text("[]"), "manifest.json"),
        ):
            damage(dense_ix)
            proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)
            assert proc.poll() is None, "SIGHUP killed the server"
            health = httpx.get(url, timeout=5).json()  # the old index, its files changed in place: health says which
            assert health == {**first, "status": f"index files changed under the server ({name}); reload"}
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            started = time.time()
            assert s.recv(1024) == b""  # closed by the server
            assert time.time() - started < 5
        assert httpx.get(url, timeout=5).status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    failures = [line for line in err.splitlines() if "reload failed" in line]
    assert len(failures) == 3 and "Traceback" not in err, err


# --- 7. the command line's small cases -------------------------------------------------------------------------------


@pytest.mark.parametrize("pmid", ["\u00b2", "\u0661\u0662\u0663", "１２３", "1e3", "0x10"])
def test_query_takes_ascii_digits_only(dense_ix, pmid):
    res = run("query", pmid, "--index", dense_ix)
    assert res.exit_code == 1 and res.output.strip() == f"error: PMID must be a number, got {pmid!r}"


def test_year_filter_that_excludes_everything_says_so(dense_ix):
    res = CliRunner().invoke(main, ["query", "1000", "--index", str(dense_ix), "--min-year", "2090"])
    assert res.exit_code == 0
    assert res.output.splitlines()[0] == "note: no paper in the index matches the year filter (2090-...)"


def test_add_to_a_missing_index_creates_nothing(tmp_path):
    res = run("add", more(tmp_path, "m.jsonl", 1, 1), "--index", tmp_path / "index" / "nope")
    assert res.exit_code == 1 and res.output.startswith("error: no index at ")
    assert not (tmp_path / "index").exists()


def test_unexpected_error_is_one_line_unless_verbose(dense_ix, monkeypatch):
    from similar import index as index_module

    def boom(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(index_module.Index, "open", boom)
    res = CliRunner().invoke(main, ["query", "1000", "--index", str(dense_ix)])
    assert res.exit_code == 1
    assert (
        res.output.strip() == "error: unexpected ZeroDivisionError: division by zero (rerun with -v for the traceback)"
    )
    res = CliRunner().invoke(main, ["-v", "query", "1000", "--index", str(dense_ix)])
    assert isinstance(res.exception, ZeroDivisionError)


def test_a_bad_record_never_reaches_the_hash(tmp_path):
    """The library path too: build_index counts a lone surrogate instead of raising UnicodeEncodeError."""
    src = write_jsonl(tmp_path / "s.jsonl", ['{"pmid": "1", "title": "ok"}', '{"pmid": "2", "title": "\\ud800"}'])
    report = build_index([src], tmp_path / "ix", method="tfidf", progress=False)
    assert (report.kept, report.skipped) == (1, 1) and report.problems == [
        "s.jsonl:2: invalid Unicode (a lone surrogate)"
    ]
    with pytest.raises(SimilarError, match="no usable records"):
        build_index(
            [write_jsonl(tmp_path / "only.jsonl", ['{"pmid": "2", "title": "\\ud800"}'])],
            tmp_path / "ix2",
            method="tfidf",
            progress=False,
        )
