"""Publishing an index folder safely, and owning only what similar made: atomic replace, kill recovery, refusals."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import uuid
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import config, store
from .errors import SimilarError
from .store import (
    FORMAT,
    FORMAT_VERSION,
    LEGACY_NEIGHBOURS,
    LEXICAL,
    LEXICAL_LEGACY,
    LEXICAL_PREFIX,
    LEXICAL_VOCABULARY,
    MANIFEST,
    NEIGHBOUR_EXACT,
    NEIGHBOUR_FLOORS,
    NEIGHBOUR_SCORES,
    NEIGHBOUR_TOPS,
    NEIGHBOURS,
    PAPERS,
    ROWS,
    ROWTABLE,
    VECTORS,
)

# --- publishing: a folder replaces the index in two renames, each step a place a kill may land --------------------

# a publish is these steps in order; a kill may land between any two (tests inject one at each, see crash_point)
PUBLISH_STEPS = ("written", "synced", "old-moved", "new-moved", "old-removed")
CRASH_ENV = "SIMILAR_CRASH_AT"


def crash_point(step: str) -> None:
    """Fault injection for tests: SIGKILL this process at the named publish step when $SIMILAR_CRASH_AT names it."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sibling_path(final: Path, kind: str) -> Path:
    return final.parent / f".{final.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


# --- ownership: similar replaces or removes only what it made -----------------------------------------------------

WRITING_MARK = ".similar-writing"  # inside every folder similar is writing (tmp, work): `recover` removes only these
KNOWN_FORMAT_VERSIONS = (FORMAT_VERSION,)
INDEX_FILES = frozenset(
    {
        MANIFEST,
        ROWS,
        PAPERS,
        f"{PAPERS}-journal",
        f"{PAPERS}-wal",
        f"{PAPERS}-shm",
        VECTORS,
        LEXICAL,
        LEXICAL_VOCABULARY,
        LEXICAL_LEGACY,
        NEIGHBOURS,
        NEIGHBOUR_SCORES,
        NEIGHBOUR_FLOORS,
        NEIGHBOUR_TOPS,
        NEIGHBOUR_EXACT,
        ROWTABLE,
        LEGACY_NEIGHBOURS,
        WRITING_MARK,
    }
)
_ATOMIC_TEMP = re.compile(r"\.(.+)\.tmp-\d+")  # `.FILE.tmp-PID`: an atomic write of one of the index's files


def listing(folder: Path, names: Iterable[Path] | None = None, limit: int = 4) -> str:
    """`thesis.tex, sub/, ...`: what a folder holds (or the given entries), folders marked, for a one-line error."""
    try:
        entries = sorted(Path(folder).iterdir() if names is None else names, key=lambda p: p.name)
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    shown = [p.name + ("/" if p.is_dir() and not p.is_symlink() else "") for p in entries[:limit]]
    return ", ".join(shown + (["..."] if len(entries) > limit else []))


def resolve_target(dest: Path) -> Path:
    """The real place an index path names: symbolic links followed (the link stays a link; the lock and the siblings
    go beside the target). A dangling link or a link loop is a one-line error."""
    dest = Path(os.path.abspath(dest))
    if dest.is_symlink():
        try:
            return Path(os.path.realpath(dest, strict=True))
        except FileNotFoundError:
            target = Path(os.path.realpath(dest))
            if interrupted(target):  # a publish there was cut between its renames: the writer or open restores it
                return target
            raise SimilarError(
                f"{dest} is a symbolic link to {os.readlink(dest)}, which does not exist: fix or remove the link"
            ) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise SimilarError(
                    f"{dest} is a symbolic link that never ends (a loop): fix or remove the link"
                ) from None
            target = Path(os.path.realpath(dest))
            raise SimilarError(f"{dest} is a symbolic link to {target}, which {_unusable(target, exc)}") from None
    try:
        resolved = Path(os.path.realpath(dest.parent, strict=True)) / dest.name
    except FileNotFoundError:
        resolved = Path(os.path.realpath(dest.parent)) / dest.name  # a new folder: made where the links point
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SimilarError(
                f"{dest.parent} is a symbolic link that never ends (a loop): fix or remove the link"
            ) from None
        raise SimilarError(f"{dest} {_unusable(dest, exc)}") from None
    if not os.path.lexists(resolved):  # to be made: not under a file, not too long (what is there: check_replaceable)
        problem = config.folder_problem(resolved)
        if problem:
            raise SimilarError(f"{dest} {problem}")
    return resolved


def _unusable(path: Path, exc: OSError) -> str:
    """Why an index path cannot be a folder (under a file, too long ...), for `{path} ...`: never the loop message
    for what is not a loop."""
    return config.folder_problem(path) or f"cannot be reached ({exc.strerror})"


def _owned_name(name: str) -> bool:
    """An index file by its name alone: a manifest that lists a file does not make it the index's (a tampered one
    could list the user's thesis)."""
    temp = _ATOMIC_TEMP.fullmatch(name)
    if temp is not None:
        return _owned_name(temp.group(1))
    return name in INDEX_FILES or (name.startswith(LEXICAL_PREFIX) and name.endswith(".npy"))


def _index_owns(entry: Path) -> bool:
    if entry.is_dir() and not entry.is_symlink():
        return False  # an index has no folders: a folder in it is the user's
    return _owned_name(entry.name)


def check_replaceable(dest: Path, verb: str = "replace") -> None:
    """Refuse, in one line naming what is there, to replace `dest` unless it is absent, an empty folder, or a similar
    index (its manifest says so: format and a known version) holding nothing but its own files."""
    dest = Path(dest)
    if not os.path.lexists(dest):
        return
    if dest.is_symlink():
        raise SimilarError(f"refusing to {verb} {dest}: it is a symbolic link (give the folder it points to)")
    if not dest.is_dir():
        kind = "a file" if dest.is_file() else "not a folder"
        raise SimilarError(f"refusing to {verb} {dest}: not a similar index (it is {kind})")
    try:
        entries = list(dest.iterdir())
    except OSError as exc:
        raise SimilarError(f"refusing to {verb} {dest}: its contents cannot be read ({exc.strerror})") from None
    if not entries:
        return
    holds = listing(dest, entries)
    manifest = dest / MANIFEST
    if manifest.is_symlink():
        raise SimilarError(
            f"refusing to {verb} {dest}: not a similar index (its {MANIFEST} is a symbolic link; it holds {holds})"
        )
    if not manifest.is_file():
        raise SimilarError(f"refusing to {verb} {dest}: not a similar index (it holds {holds})")
    try:
        data = store.manifest_json(dest)
    except (OSError, ValueError, RecursionError):
        raise SimilarError(
            f"refusing to {verb} {dest}: its {MANIFEST} cannot be read, so it is not known to be a similar index "
            f"(it holds {holds}); if it is one, remove it yourself"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SimilarError(
            f"refusing to {verb} {dest}: not a similar index (its {MANIFEST} is not a similar manifest; it holds {holds})"
        )
    version = data.get("format_version")
    if version not in KNOWN_FORMAT_VERSIONS or isinstance(version, bool):
        raise SimilarError(
            f"refusing to {verb} {dest}: it is a similar index of format version {version!r}, "
            f"this similar knows {', '.join(map(str, KNOWN_FORMAT_VERSIONS))}"
        )
    foreign = [e for e in entries if not _index_owns(e)]
    if foreign:
        raise SimilarError(
            f"refusing to {verb} {dest}: it holds files that are not the index's ({listing(dest, foreign)}): "
            "move them out first"
        )


def make_owned_dir(folder: Path) -> Path:
    """Create a folder similar is writing, with the mark that lets `recover` remove it after a kill."""
    folder.mkdir()
    (folder / WRITING_MARK).write_text(f"written by similar (pid {os.getpid()}); removed once published\n")
    return folder


def _marked(folder: Path) -> bool:
    mark = folder / WRITING_MARK
    return not folder.is_symlink() and folder.is_dir() and mark.is_file() and not mark.is_symlink()


def _our_index(folder: Path) -> bool:
    """A folder (not a link) whose manifest names the similar format: a previous version of an index."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    try:
        data = store.manifest_json(folder)
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def _only_ours(folder: Path) -> bool:
    """A similar index of a known version holding nothing but the index's own files (by name; a folder in it is the
    user's): what check_replaceable would replace, so what recovery may restore or remove without the writing mark."""
    if not _our_index(folder):
        return False
    try:
        check_replaceable(folder)
    except SimilarError:
        return False
    return True


@contextlib.contextmanager
def atomic_dir(final: Path, check: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces `final` by rename, on failure it is removed.

    `check(final)` runs just before the replace (under the writer lock of its caller) and may refuse it. A symlinked
    `final` is written where it points. A kill between the two renames leaves `final` absent and the previous folder in
    `.NAME.old-*`: `recover` (run by the next writer, and by open) puts it back."""
    final = resolve_target(Path(final))
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_owned_dir(sibling_path(final, "tmp"))
    try:
        yield tmp
        crash_point("written")
        for f in tmp.iterdir():  # make the files durable before the rename publishes them
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        _fsync_dir(tmp)
        crash_point("synced")
        if check is not None:
            check(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if os.path.lexists(final):
        old = sibling_path(final, "old")
        os.rename(final, old)
        crash_point("old-moved")
    try:
        os.rename(tmp, final)
    except BaseException:
        if old is not None:
            os.rename(old, final)  # put the previous folder back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (final / WRITING_MARK).unlink(missing_ok=True)  # published: the mark is only for copies not yet in place
    _fsync_dir(final.parent)
    crash_point("new-moved")
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    crash_point("old-removed")


def leftovers(final: Path) -> dict[str, list[Path]]:
    """Sibling folders that an interrupted writer left: previous versions, unpublished copies, add work folders.

    Only names of similar's own pattern (`.NAME.KIND-PID-HEX`) that are similar's count: a previous version is a
    similar index holding only the index's own files, an unpublished copy or work folder carries the writing mark (a
    complete copy left by an older similar: an index of only its own files). Anything else there, a similar manifest
    beside a user's file included, is the user's: never removed, never restored."""
    final = Path(final)
    if not final.parent.is_dir():
        return {"old": [], "tmp": [], "work": []}
    pattern = re.compile(rf"\.{re.escape(final.name)}\.(old|tmp|add-work)-\d+-[0-9a-f]{{6}}")
    found: dict[str, list[Path]] = {"old": [], "tmp": [], "work": []}
    try:
        entries = list(final.parent.iterdir())
    except OSError:
        return found
    for p in entries:
        m = pattern.fullmatch(p.name)
        if m is None:
            continue
        kind = m.group(1)
        if _only_ours(p) if kind == "old" else (_marked(p) or (kind == "tmp" and _only_ours(p))):
            found["work" if kind == "add-work" else kind].append(p)

    def mtime(p: Path) -> float:
        try:
            return p.lstat().st_mtime
        except OSError:
            return 0.0

    return {k: sorted(v, key=mtime) for k, v in found.items()}


def interrupted(final: Path) -> bool:
    """True when a publish was cut between its two renames: no index at the path, a previous one beside it."""
    return not os.path.lexists(final) and bool(leftovers(final)["old"])


def recover(final: Path) -> list[str]:
    """Undo what a killed writer left (call it holding the writer lock); returns one note per action taken."""
    final = Path(final)
    found = leftovers(final)
    notes = []
    olds = found["old"]
    if olds and not os.path.lexists(final):
        os.rename(olds[-1], final)  # the newest previous version: the cut publish never happened
        _fsync_dir(final.parent)
        notes.append(f"restored {final} from {olds[-1].name}, left by an interrupted write")
        olds = olds[:-1]
    for p in olds + found["tmp"] + found["work"]:
        shutil.rmtree(p, ignore_errors=True)
        if os.path.lexists(p):
            notes.append(f"could not remove {p.name}, left by an interrupted write")
        else:
            notes.append(f"removed {p.name}, left by an interrupted write")
    return notes
