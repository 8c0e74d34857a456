"""Fault table, ownership (issue 19, part 1): `build --force`, `add` and every publish replace only a similar index that
holds nothing but its own files; the exists check holds under the writer lock; symlinked indexes are written where
they point; siblings similar did not make (lock, work, tmp, old) are never used, replaced or removed.

Every row asserts the exit code, the one-line message, and that everything the user had is byte for byte as before."""

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fixtures import make_corpus, write_jsonl
from similar import lock, publish
from similar.build import build_index
from similar.cli import main
from similar.errors import SimilarError
from similar.index import Index

SRC = str(Path(__file__).resolve().parents[1] / "src")
FAST = ("--method", "tfidf", "--quiet")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def tree(root: Path, skip=()) -> dict:
    """Everything under `root` (links not followed): kind and content hash or link target, by relative path."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(folder) / name
            rel = str(p.relative_to(root))
            if any(rel == s or rel.startswith(s + os.sep) for s in skip):
                continue
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir",)
            elif p.is_file():
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
            else:
                out[rel] = ("other",)
    return out


def one_line(res) -> str:
    lines = res.output.strip().splitlines()
    assert len(lines) == 1, res.output
    assert "Traceback" not in res.output and "unexpected" not in res.output
    return lines[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A small TF-IDF index, built once; each test works on its own copy."""
    root = tmp_path_factory.mktemp("built")
    src = write_jsonl(root / "base.jsonl", make_corpus(20))
    build_index([src], root / "ix", method="tfidf", progress=False)
    return root / "ix"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMILAR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SIMILAR_NO_MODEL", "1")
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "a.jsonl", make_corpus(6))
    write_jsonl(
        tmp_path / "b.jsonl", [{"pmid": str(7000 + i), "title": f"other {i} neuron", "abstract": "x"} for i in range(4)]
    )
    return tmp_path


def _index_copy(built, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(built, dest)
    return dest


# --- 1. what --index names: only a similar index holding only its own files is ever replaced ------------------------


def _user_folder(d, built):
    (d / "sub").mkdir(parents=True)
    (d / "thesis.tex").write_text("my thesis")
    (d / "sub" / "results.csv").write_text("a,b\n1,2\n")


def _manifest(content):
    def make(d, built):
        d.mkdir()
        (d / "manifest.json").write_bytes(content if isinstance(content, bytes) else content.encode())

    return make


def _index_with(*names, folder=False):
    def make(d, built):
        _index_copy(built, d)
        for n in names:
            if folder:
                (d / n).mkdir()
                (d / n / "keep.txt").write_text("mine")
            else:
                (d / n).write_text("mine")

    return make


def _index_listing_a_user_file(d, built):
    """A tampered manifest that lists the user's thesis (with its true size and hash) does not make it the index's."""
    _index_copy(built, d)
    thesis = d / "thesis.tex"
    thesis.write_text("mine")
    data = json.loads((d / "manifest.json").read_text())
    data["files"]["thesis.tex"] = {"bytes": 4, "sha256": hashlib.sha256(b"mine").hexdigest()}
    (d / "manifest.json").write_text(json.dumps(data))


def _manifest_link(d, built):
    d.mkdir()
    (d / "rows.txt").write_text("1\n")
    os.symlink(built / "manifest.json", d / "manifest.json")  # a real manifest, but not this folder's own


def _file(d, built):
    d.write_text("just a file")


def _fifo(d, built):
    os.mkfifo(d)


NOT_OURS = "refusing to replace {dest}: not a similar index"
REPLACE = [
    # id, what is at --index, the message ({dest} is the absolute path)
    ("user-folder", _user_folder, NOT_OURS + " (it holds sub/, thesis.tex)"),
    (
        "foreign-manifest",
        _manifest('{"name": "left-pad", "version": "1.0.0"}'),
        NOT_OURS + " (its manifest.json is not a similar manifest; it holds manifest.json)",
    ),
    (
        "manifest-array",
        _manifest("[1, 2]"),
        NOT_OURS + " (its manifest.json is not a similar manifest; it holds manifest.json)",
    ),
    (
        "manifest-garbled",
        _manifest('{"format": "similar-index", "forma'),
        "refusing to replace {dest}: its manifest.json cannot be read, so it is not known to be a similar index "
        "(it holds manifest.json); if it is one, remove it yourself",
    ),
    (
        "manifest-binary",
        _manifest(b"\xff\xfe{}"),
        "refusing to replace {dest}: its manifest.json cannot be read, so it is not known to be a similar index "
        "(it holds manifest.json); if it is one, remove it yourself",
    ),
    (
        "unknown-version",
        _manifest('{"format": "similar-index", "format_version": 99, "build_id": "x", "count": 0, "inputs": []}'),
        "refusing to replace {dest}: it is a similar index of format version 99, this similar knows 1",
    ),
    (
        "version-as-text",
        _manifest('{"format": "similar-index", "format_version": "1"}'),
        "refusing to replace {dest}: it is a similar index of format version '1', this similar knows 1",
    ),
    (
        "version-true",
        _manifest('{"format": "similar-index", "format_version": true}'),
        "refusing to replace {dest}: it is a similar index of format version True, this similar knows 1",
    ),
    (
        "manifest-a-link",
        _manifest_link,
        NOT_OURS + " (its manifest.json is a symbolic link; it holds manifest.json, rows.txt)",
    ),
    ("a-file", _file, NOT_OURS + " (it is a file)"),
    ("a-fifo", _fifo, NOT_OURS + " (it is not a folder)"),
    (
        "index-with-user-file",
        _index_with("notes.txt"),
        "refusing to replace {dest}: it holds files that are not the index's (notes.txt): move them out first",
    ),
    (
        "index-with-user-folder",
        _index_with("sub", folder=True),
        "refusing to replace {dest}: it holds files that are not the index's (sub/): move them out first",
    ),
    (
        "index-with-folder-named-like-its-file",
        _index_with("lexical.mine.npy", folder=True),
        "refusing to replace {dest}: it holds files that are not the index's (lexical.mine.npy/): move them out first",
    ),
    (
        "index-with-hidden-temp-like-file",
        _index_with(".thesis.tex.tmp-1"),
        "refusing to replace {dest}: it holds files that are not the index's (.thesis.tex.tmp-1): move them out first",
    ),
    (
        "index-with-user-file-in-its-manifest",
        _index_listing_a_user_file,
        "refusing to replace {dest}: it holds files that are not the index's (thesis.tex): move them out first",
    ),
    (
        "index-with-several",
        _index_with("a.txt", "b.txt", "c.txt", "d.txt", "e.txt"),
        "refusing to replace {dest}: it holds files that are not the index's (a.txt, b.txt, c.txt, d.txt, ...): "
        "move them out first",
    ),
]


@pytest.mark.parametrize("force", [True, False], ids=["force", "no-force"])
@pytest.mark.parametrize("make,message", [c[1:] for c in REPLACE], ids=[c[0] for c in REPLACE])
def test_build_replaces_nothing_that_is_not_an_index_of_its_own(home, built, make, message, force):
    dest = home / "victim"
    make(dest, built)
    before = tree(home)
    res = run("build", "a.jsonl", "--index", "./victim", *FAST, *(["--force"] if force else []))
    assert res.exit_code == 1
    line = one_line(res)
    assert line == "error: " + message.format(dest=dest)
    assert "--force" not in line  # never advice to force what is not ours
    assert tree(home) == before  # nothing touched, nothing created (not even a lock file)


@pytest.mark.parametrize(
    "make,message",
    [c[1:] for c in REPLACE if c[0].startswith("index-with")],
    ids=[c[0] for c in REPLACE if c[0].startswith("index-with")],
)
def test_add_onto_an_index_holding_user_files_refuses_and_keeps_them(home, built, make, message):
    dest = home / "victim"
    make(dest, built)
    before = tree(home)
    res = run("add", "b.jsonl", "--index", "./victim", "--quiet")
    assert res.exit_code == 1
    assert one_line(res) == "error: " + message.format(dest=dest).replace("to replace", "to update")
    assert tree(home, skip=[".victim.lock"]) == before


def test_the_whole_family_of_big_places(home, built, monkeypatch):
    """--index at the data home, $HOME, the folder of the input, the current folder: refused, all kept."""
    data_home = home / "home"
    run("build", "a.jsonl", "--index", "kept", *FAST)
    (home / "in").mkdir()
    shutil.copy(home / "a.jsonl", home / "in" / "a.jsonl")
    (home / "userhome").mkdir()
    (home / "userhome" / ".bashrc").write_text("alias ll='ls -l'")
    monkeypatch.setenv("HOME", str(home / "userhome"))
    cases = [
        (["--index", str(data_home), "--force"], data_home, "index/"),
        (["--index", "~", "--force"], home / "userhome", ".bashrc"),
        (["--index", "./in", "--force"], home / "in", "a.jsonl"),
        (["--index", ".", "--force"], home, "a.jsonl, b.jsonl, home/, in/, ..."),
    ]
    before = tree(home)
    for args, dest, holds in cases:
        res = run("build", "in/a.jsonl", *args, *FAST)
        assert res.exit_code == 1
        assert one_line(res) == f"error: refusing to replace {dest}: not a similar index (it holds {holds})"
    assert tree(home) == before


def test_root_is_refused_before_anything_is_written(home):
    res = run("build", "a.jsonl", "--index", "/", "--force", *FAST)
    assert res.exit_code == 1
    assert one_line(res).startswith("error: refusing to replace /: not a similar index (it holds ")
    assert not os.path.lexists("/..lock") and not os.path.lexists("/..work")


def test_a_real_index_of_its_own_is_still_replaced_with_force(home, built):
    dest = _index_copy(built, home / "ix")
    (dest / "papers.sqlite-journal").write_bytes(b"")  # the index's own files, listed or not, are its own
    (dest / ".manifest.json.tmp-123").write_text("{}")  # and what an atomic write of one of them left
    res = run("build", "b.jsonl", "--index", "./ix", "--force", *FAST)
    assert res.exit_code == 0, res.output
    assert json.loads((dest / "manifest.json").read_text())["count"] == 4
    assert sorted(p.name for p in home.iterdir() if p.name.startswith(".ix")) == [".ix.lock"]


def test_a_file_dropped_into_the_index_while_it_builds_is_kept_and_the_publish_refused(home, built, monkeypatch):
    """The ownership check runs again at the publish, under the lock: what appeared meanwhile is never deleted."""
    dest = _index_copy(built, home / "ix")
    manifest = (dest / "manifest.json").read_text()

    def crash_point(step):
        if step == "synced":
            (dest / "late.txt").write_text("written while the build ran")

    monkeypatch.setattr(publish, "crash_point", crash_point)
    with pytest.raises(SimilarError, match=r"it holds files that are not the index's \(late.txt\)"):
        build_index([home / "b.jsonl"], dest, method="tfidf", progress=False)
    assert (dest / "late.txt").read_text() == "written while the build ran"
    assert (dest / "manifest.json").read_text() == manifest
    # the work folder stays, as after any failed build: once the file is moved out, the same command resumes
    assert sorted(p.name for p in home.iterdir() if p.name.startswith(".ix")) == [".ix.lock", ".ix.work"]
    monkeypatch.undo()
    (dest / "late.txt").rename(home / "late.txt")
    build_index([home / "b.jsonl"], dest, method="tfidf", progress=False)
    assert json.loads((dest / "manifest.json").read_text())["count"] == 4
    assert sorted(p.name for p in home.iterdir() if p.name.startswith(".ix")) == [".ix.lock"]


# --- 2. the exists check and the replace happen under the writer lock ------------------------------------------------


def _similar(*args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "similar.cli", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_builds_of_a_new_name_one_wins_the_other_says_exists(home):
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [_similar("build", f, "--index", "race", "--wait", *FAST, env=env) for f in ("a.jsonl", "b.jsonl")]
    outs = [p.communicate(timeout=180) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1], outs
    loser = outs[[p.returncode for p in procs].index(1)]
    dest = home / "home" / "index" / "race"
    assert loser[1].strip().splitlines()[-1] == (
        f"error: index {dest} already exists: add papers with `similar add INPUT --index race`, "
        "or replace it with `similar build ... --index race --force`"
    )
    winner = ("a.jsonl", "b.jsonl")[[p.returncode for p in procs].index(0)]
    index = Index.open(dest)
    try:
        assert [e["name"] for e in index.manifest.inputs] == [winner]
    finally:
        index.close()


def test_add_racing_a_build_of_a_new_name_never_loses_the_add_silently(home):
    env = {**os.environ, "PYTHONPATH": SRC}
    build = _similar("build", "a.jsonl", "--index", "race", "--wait", *FAST, env=env)
    add = _similar("add", "b.jsonl", "--index", "race", "--wait", "--quiet", env=env)
    (_, berr), (_, aerr) = build.communicate(timeout=180), add.communicate(timeout=180)
    assert build.returncode == 0, berr
    index = Index.open(home / "home" / "index" / "race")
    try:
        names = [e["name"] for e in index.manifest.inputs]
    finally:
        index.close()
    if add.returncode == 0:  # the add came after the build: both are in
        assert names == ["a.jsonl", "b.jsonl"]
    else:  # the add came first: it said so, and nothing was made by it
        assert add.returncode == 1 and aerr.strip().startswith("error: no index at "), aerr
        assert names == ["a.jsonl"]


# --- 3. symbolic links: written where they point, the link stays, nothing stale, no false notes ----------------------


@pytest.fixture
def linked(home, built):
    """An index elsewhere, linked into the data folder's index/ as `lnk`."""
    target = _index_copy(built, home / "elsewhere" / "ix")
    (home / "home" / "index").mkdir(parents=True)
    os.symlink(target, home / "home" / "index" / "lnk")
    return target


@pytest.mark.parametrize(
    "args",
    [["add", "b.jsonl", "--index", "lnk", "--quiet"], ["build", "b.jsonl", "--index", "lnk", "--force", *FAST]],
    ids=["add", "build-force"],
)
def test_a_symlinked_index_is_written_where_it_points(home, linked, args):
    link = home / "home" / "index" / "lnk"
    for _ in range(2):  # and again: nothing stale from the first time
        res = run(*args)
        assert res.exit_code == 0, res.output
        assert "note:" not in res.output
        assert link.is_symlink() and os.readlink(link) == str(linked)
        assert sorted(os.listdir(link.parent)) == ["lnk"]  # no lock, no .lnk.old-* beside the link
        assert sorted(os.listdir(linked.parent)) == [".ix.lock", "ix"]  # the lock beside the real folder
    assert run("query", "7000", "--index", "lnk", "-n", "2").exit_code == 0
    assert run("verify", "--index", "lnk").exit_code == 0


def test_build_without_force_onto_a_linked_index_says_exists(home, linked):
    res = run("build", "b.jsonl", "--index", "lnk", *FAST)
    assert res.exit_code == 1
    assert one_line(res) == (
        f"error: index {linked} already exists: add papers with `similar add INPUT --index lnk`, "
        "or replace it with `similar build ... --index lnk --force`"
    )


NO_MANIFEST = "{target} is not a similar index (no manifest.json): rebuild it with `similar build`"


def _dangling(index_dir, home):
    os.symlink(home / "nowhere", index_dir / "bad")
    line = f"{index_dir}/bad is a symbolic link to {home}/nowhere, which does not exist: fix or remove the link"
    return line, line


def _loop(index_dir, home):
    os.symlink(index_dir / "bad2", index_dir / "bad")
    os.symlink(index_dir / "bad", index_dir / "bad2")
    line = f"{index_dir}/bad is a symbolic link that never ends (a loop): fix or remove the link"
    return line, line


def _to_user_folder(index_dir, home):
    _user_folder(home / "victim", None)
    os.symlink(home / "victim", index_dir / "bad")
    return (
        f"refusing to replace {home}/victim: not a similar index (it holds sub/, thesis.tex)",
        NO_MANIFEST.format(target=home / "victim"),
    )


def _to_file(index_dir, home):
    (home / "thesis.tex").write_text("mine")
    os.symlink(home / "thesis.tex", index_dir / "bad")
    return (
        f"refusing to replace {home}/thesis.tex: not a similar index (it is a file)",
        NO_MANIFEST.format(target=home / "thesis.tex"),
    )


def _to_under_a_file(index_dir, home):
    """A link whose target lies under a file: ENOTDIR, not a loop (issue 19 replay, item 6)."""
    (home / "thesis.tex").write_text("mine")
    os.symlink(home / "thesis.tex" / "sub", index_dir / "bad")
    line = (
        f"{index_dir}/bad is a symbolic link to {home}/thesis.tex/sub, which is under {home}/thesis.tex, "
        "which is a file: give a folder (it is created if missing)"
    )
    return line, line


LINKS = [
    ("dangling", _dangling),
    ("loop", _loop),
    ("to-user-folder", _to_user_folder),
    ("to-a-file", _to_file),
    ("to-under-a-file", _to_under_a_file),
]


@pytest.mark.parametrize("op", ["build", "build-force", "add"])
@pytest.mark.parametrize("make", [c[1] for c in LINKS], ids=[c[0] for c in LINKS])
def test_a_bad_link_is_one_line_and_touches_nothing(home, make, op):
    index_dir = home / "home" / "index"
    index_dir.mkdir(parents=True)
    for_build, for_add = make(index_dir, home)
    before = tree(home)
    args = {
        "build": ["build", "a.jsonl", "--index", "bad", *FAST],
        "build-force": ["build", "a.jsonl", "--index", "bad", "--force", *FAST],
        "add": ["add", "a.jsonl", "--index", "bad", "--quiet"],
    }[op]
    res = run(*args)
    assert res.exit_code == 1
    line = one_line(res)
    assert line == "error: " + (for_add if op == "add" else for_build)
    assert "--force" not in line
    assert tree(home) == before


# --- 4. siblings: the lock, work, tmp and old names are similar's only when similar made them ------------------------


def _lock_link(parent):
    (parent / "precious.txt").write_text("precious")
    os.symlink(parent / "precious.txt", parent / ".ix.lock")
    return "refusing to use {lock} as the writer lock: it is a symbolic link; remove it"


def _lock_user_file(parent):
    (parent / ".ix.lock").write_text("my notes about the index\n")
    return "refusing to use {lock} as the writer lock: it holds something else; move it away"


def _lock_folder(parent):
    (parent / ".ix.lock").mkdir()
    (parent / ".ix.lock" / "k").write_text("mine")
    return "refusing to use {lock} as the writer lock: it is a folder; remove it"


def _lock_fifo(parent):
    os.mkfifo(parent / ".ix.lock")
    return "refusing to use {lock} as the writer lock: it is not a regular file; remove it"


LOCKS = [("link", _lock_link), ("user-file", _lock_user_file), ("folder", _lock_folder), ("fifo", _lock_fifo)]


@pytest.mark.parametrize("op", ["add", "build-force"])
@pytest.mark.parametrize("make", [c[1] for c in LOCKS], ids=[c[0] for c in LOCKS])
def test_a_lock_file_that_is_not_a_lock_is_never_used(home, built, make, op):
    dest = _index_copy(built, home / "ix")
    message = make(home)
    before = tree(home)
    args = ["add", "b.jsonl", "--index", "./ix", "--quiet"] if op == "add" else ["build", "b.jsonl", "--index", "./ix"]
    res = run(*args, *(FAST + ("--force",) if op != "add" else ()))
    assert res.exit_code == 1
    assert one_line(res) == "error: " + message.format(lock=dest.parent / ".ix.lock")
    assert tree(home) == before


def test_a_read_only_place_for_the_lock_is_one_line(home, built, monkeypatch):
    """(Root ignores permissions, so the refusal of the operating system is injected.)"""
    real_open = os.open

    def denied(path, *a, **k):
        if str(path).endswith(".ix.lock"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(lock.os, "open", denied)
    res = run("build", "a.jsonl", "--index", "./ro/ix", *FAST)
    assert res.exit_code == 1
    assert one_line(res) == (
        f"error: cannot create the writer lock {home}/ro/.ix.lock: Permission denied "
        f"(the index is written beside it, in {home}/ro)"
    )


def _user_sibling_folders(parent, built):
    for name in (".ix.tmp-1-abcdef", ".ix.old-2-abcdef", ".ix.add-work-3-abcdef", ".ix.tmp-4-mine"):
        (parent / name).mkdir()
        (parent / name / "keep.txt").write_text("mine")  # the right names, but no mark of similar's


def _user_sibling_files(parent, built):
    for name in (".ix.tmp-1-abcdef", ".ix.old-2-abcdef", ".ix.add-work-3-abcdef"):
        (parent / name).write_text("mine")


def _sibling_links(parent, built):
    (parent / "userdir").mkdir()
    (parent / "userdir" / "keep.txt").write_text("mine")
    _index_copy(built, parent / "user-index")  # even a link to a real index is not a previous version
    os.symlink(parent / "userdir", parent / ".ix.tmp-1-abcdef")
    os.symlink(parent / "userdir", parent / ".ix.add-work-3-abcdef")
    os.symlink(parent / "user-index", parent / ".ix.old-2-abcdef")
    os.symlink(parent / "nowhere", parent / ".ix.old-5-abcdef")  # dangling: never stat'ed for its age


def _similar_manifest_and_user_file(parent, built):
    """A similar manifest is not enough: a folder holding it beside the user's file is the user's (issue 19 replay)."""
    for name in (".ix.tmp-1-abcdef", ".ix.old-2-abcdef", ".ix.add-work-3-abcdef"):
        (parent / name).mkdir()
        (parent / name / "manifest.json").write_text('{"format": "similar-index", "format_version": 1}')
        (parent / name / "thesis.tex").write_text("mine")


def _index_copy_and_user_file(parent, built):
    """Even a whole index: with a user's file (or folder) in it, it is not similar's to remove or restore."""
    for name in (".ix.tmp-1-abcdef", ".ix.old-2-abcdef"):
        _index_copy(built, parent / name)
        (parent / name / "thesis.tex").write_text("mine")
    _index_copy(built, parent / ".ix.old-3-abcdef")
    (parent / ".ix.old-3-abcdef" / "sub").mkdir()
    (parent / ".ix.old-3-abcdef" / "sub" / "keep.txt").write_text("mine")


def _fifo_manifest(parent, built):
    """A FIFO where the manifest would be is never read (it would block for ever)."""
    for name in (".ix.tmp-1-abcdef", ".ix.old-2-abcdef"):
        (parent / name).mkdir()
        os.mkfifo(parent / name / "manifest.json")


SIBLINGS = [
    ("folders", _user_sibling_folders),
    ("files", _user_sibling_files),
    ("links", _sibling_links),
    ("similar-manifest-and-user-file", _similar_manifest_and_user_file),
    ("index-and-user-file", _index_copy_and_user_file),
    ("fifo-manifest", _fifo_manifest),
]


@pytest.mark.parametrize("make", [c[1] for c in SIBLINGS], ids=[c[0] for c in SIBLINGS])
def test_recovery_never_removes_a_sibling_it_did_not_make(home, built, make):
    dest = _index_copy(built, home / "ix")
    make(home, built)
    before = tree(home, skip=["ix", ".ix.lock"])
    res = run("add", "b.jsonl", "--index", "./ix", "--quiet")
    assert res.exit_code == 0, res.output
    assert "note:" not in res.output  # no "removed ..." for what was not removed
    assert tree(home, skip=["ix", ".ix.lock"]) == before
    # and with the index gone, a user's .ix.old-* is never "restored" in its place
    shutil.rmtree(dest)
    res = run("query", "1000", "--index", "./ix")
    assert res.exit_code == 1 and one_line(res).startswith(f"error: no index at {dest}")
    res = run("add", "b.jsonl", "--index", "./ix", "--quiet")
    assert res.exit_code == 1 and one_line(res).startswith(f"error: no index at {dest}")
    assert tree(home, skip=[".ix.lock"]) == before


@pytest.mark.parametrize("make", [c[1] for c in SIBLINGS], ids=[c[0] for c in SIBLINGS])
def test_a_build_of_a_new_index_never_removes_a_sibling_it_did_not_make(home, built, make):
    make(home, built)
    before = tree(home)
    res = run("build", "a.jsonl", "--index", "./ix", *FAST)
    assert res.exit_code == 0, res.output
    assert "note:" not in res.output
    assert tree(home, skip=["ix", ".ix.lock"]) == before


@pytest.mark.parametrize("kind", ["folder", "link", "file", "similar-manifest"])
def test_a_work_folder_similar_did_not_make_is_refused(home, kind):
    work = home / ".ix.work"
    (home / "userdir").mkdir()
    (home / "userdir" / "keep.txt").write_text("mine")
    if kind == "similar-manifest":  # a similar manifest beside the user's file does not make it similar's
        work.mkdir()
        (work / "keep.txt").write_text("mine")
        (work / "manifest.json").write_text('{"format": "similar-index", "format_version": 1}')
    elif kind == "folder":
        work.mkdir()
        (work / "keep.txt").write_text("mine")
    elif kind == "link":
        os.symlink(home / "userdir", work)
    else:
        work.write_text("mine")
    before = tree(home, skip=[".ix.lock"])
    res = run("build", "a.jsonl", "--index", "./ix", *FAST)
    assert res.exit_code == 1
    holds = {"folder": "keep.txt", "similar-manifest": "keep.txt, manifest.json"}.get(kind, "a link or a file")
    assert one_line(res) == (
        f"error: refusing to use {work} as the build's work folder: similar did not make it (it holds {holds}); "
        "move it away"
    )
    assert tree(home, skip=[".ix.lock"]) == before


def test_the_published_index_carries_no_writing_mark_and_a_killed_copy_does(home, built):
    dest = home / "ix"
    build_index([home / "a.jsonl"], dest, method="tfidf", progress=False)
    assert not (dest / publish.WRITING_MARK).exists()
    assert sorted(p.name for p in home.iterdir() if p.name.startswith(".ix")) == [".ix.lock"]
    with pytest.raises(RuntimeError), publish.atomic_dir(home / "other") as tmp:
        assert (tmp / publish.WRITING_MARK).is_file()
        raise RuntimeError("killed")
    assert sorted(p.name for p in home.iterdir() if p.name.startswith(".other")) == []


# --- 5. the other publish: `similar train NAME` replaces models/NAME only if it trained it ---------------------------


def test_train_never_replaces_a_model_folder_it_did_not_make(tmp_path):
    from similar.training import TRAINING_INFO, check_model_dest

    theirs = tmp_path / "downloaded"
    theirs.mkdir()
    (theirs / "config.json").write_text("{}")
    with pytest.raises(SimilarError) as err:
        check_model_dest(theirs)
    assert str(err.value) == (
        f"refusing to replace {theirs}: not a model similar trained (it holds config.json); choose another name"
    )
    (tmp_path / "file").write_text("x")
    with pytest.raises(SimilarError, match="not a model similar trained \\(it is a file\\)"):
        check_model_dest(tmp_path / "file")
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / TRAINING_INFO).write_text("{}")
    check_model_dest(ours)  # a model it trained, an empty folder, nothing: all fine
    check_model_dest(tmp_path / "empty-not-yet")


def test_a_publish_cut_behind_a_link_is_restored_through_the_link(home, linked):
    """A kill between the renames of a linked index leaves the link dangling for a moment: open and add restore it."""
    link = home / "home" / "index" / "lnk"
    os.rename(linked, linked.parent / ".ix.old-1-abcdef")
    res = run("query", "1000", "--index", "lnk", "-n", "2")
    assert res.exit_code == 0 and res.output.startswith("Papers similar to PMID 1000"), res.output
    assert link.is_symlink() and sorted(os.listdir(linked.parent)) == [".ix.lock", "ix"]
    os.rename(linked, linked.parent / ".ix.old-1-abcdef")
    res = run("add", "b.jsonl", "--index", "lnk", "--quiet")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == f"note: restored {linked} from .ix.old-1-abcdef, left by an interrupted write"
    assert sorted(os.listdir(linked.parent)) == [".ix.lock", "ix"] and sorted(os.listdir(link.parent)) == ["lnk"]


def test_a_complete_unpublished_copy_left_by_an_older_similar_is_still_removed(home, built):
    """Before the writing mark, a copy killed after it was written held only the index's files and its manifest."""
    dest = _index_copy(built, home / "ix")
    shutil.copytree(built, home / ".ix.tmp-7-abcdef")
    res = run("add", "b.jsonl", "--index", "./ix", "--quiet")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == "note: removed .ix.tmp-7-abcdef, left by an interrupted write"
    assert sorted(p.name for p in home.iterdir() if p.name.startswith(".ix")) == [".ix.lock"]
    assert json.loads((dest / "manifest.json").read_text())["count"] == 24


# --- 6. a path under a file: one line naming the file, never "a loop" (issue 19 replay) --------------------------------


@pytest.mark.parametrize("op", ["build", "add"])
@pytest.mark.parametrize("where", ["afile/sub", "afile/sub/deeper"])
def test_an_index_path_under_a_file_names_the_file(home, op, where):
    (home / "afile").write_text("mine")
    before = tree(home)
    args = ["build", "a.jsonl", *FAST] if op == "build" else ["add", "a.jsonl", "--quiet"]
    res = run(*args, "--index", f"./{where}")
    assert res.exit_code == 1
    assert one_line(res) == (
        f"error: {home}/{where} is under {home}/afile, which is a file: give a folder (it is created if missing)"
    )
    assert tree(home) == before


@pytest.mark.parametrize("var", ["SIMILAR_INDEX_DIR", "SIMILAR_MODELS_DIR", "SIMILAR_HOME", "SIMILAR_CACHE"])
def test_a_data_folder_setting_under_a_file_is_one_config_line(home, monkeypatch, var):
    (home / "afile").write_text("mine")
    monkeypatch.setenv(var, str(home / "afile" / "sub"))
    before = tree(home)
    res = run("build", "a.jsonl", "--index", "ix", *FAST)
    assert res.exit_code == 78
    line = one_line(res)
    assert line.startswith(
        f"error: {var}='{home}/afile/sub' is under {home}/afile, which is a file: give a folder (it is created if missing) ("
    )
    assert "loop" not in line
    assert tree(home) == before
