"""One writer per index: an exclusive flock on the sibling file `.NAME.lock`, held for a whole build or add."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import time
from pathlib import Path
from typing import Callable, Iterator

from . import publish
from .errors import SimilarError


class Busy(SimilarError):
    """Another process is writing this index (exit 75, EX_TEMPFAIL: try again later, or use --wait)."""

    exit_code = 75


def lock_path(dest: Path) -> Path:
    """Beside the index, not in it: publishing renames the index folder, the lock must outlive that."""
    return dest.parent / f".{dest.name}.lock"


def _open_lock(path: Path) -> int:
    """Open (or create) the lock file itself: never through a symbolic link, never a user's file, FIFO or folder."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SimilarError(f"refusing to use {path} as the writer lock: it is a symbolic link; remove it") from None
        if exc.errno == errno.EISDIR:
            raise SimilarError(f"refusing to use {path} as the writer lock: it is a folder; remove it") from None
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise SimilarError(
                f"cannot create the writer lock {path}: {exc.strerror} (the index is written beside it, in {path.parent})"
            ) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise SimilarError(f"refusing to use {path} as the writer lock: it is not a regular file; remove it")
    return fd


def _ours(fd: int) -> bool:
    """A lock file holds nothing or a writer's pid: anything else is somebody's file, never truncated."""
    try:
        content = os.pread(fd, 64, 0)
    except OSError:
        return False
    return re.fullmatch(rb"(\d{1,12}\n?)?", content) is not None


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


@contextlib.contextmanager
def writer_lock(
    dest: Path, wait: bool = False, notify: Callable[[str], None] | None = None, timeout: float | None = None
) -> Iterator[None]:
    """Hold the index's writer lock; without `wait` a held lock is a Busy error, with it we queue (up to `timeout`)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_lock(lock_path(dest))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                raise Busy(
                    f"index {dest} is being written by another process{holder}: "
                    "wait for it to finish, or rerun with --wait to queue"
                ) from None
            if notify is not None:
                notify(f"waiting for another writer of {dest}{holder} to finish ...")
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() > deadline:
                        raise Busy(
                            f"index {dest} is still being written by another process{holder} "
                            f"after {timeout:.0f}s: try again later"
                        ) from None
                    time.sleep(0.05)
        if not _ours(fd):
            raise SimilarError(
                f"refusing to use {lock_path(dest)} as the writer lock: it holds something else; move it away"
            )
        with contextlib.suppress(OSError):  # the pid is only for the message above; a full disk must not stop the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would let two writers lock two different files)


@contextlib.contextmanager
def writing(dest: Path, wait: bool = False, notify: Callable[[str], None] | None = None) -> Iterator[list[str]]:
    """The writer lock plus recovery of what a killed writer left; yields the recovery notes."""
    with writer_lock(dest, wait, notify):
        yield publish.recover(dest)


def recover_for_reading(dest: Path, timeout: float = 30.0) -> list[str]:
    """Before opening: a publish cut between its renames is undone (under the lock, so never while one runs)."""
    try:
        dest = publish.resolve_target(Path(dest))  # through a link: the cut publish happened where it points
    except SimilarError:
        return []  # a dangling link or a loop: open says so
    if not publish.interrupted(dest):
        return []
    try:
        with writer_lock(dest, wait=True, timeout=timeout):
            return publish.recover(dest)
    except (SimilarError, OSError):  # a read-only place or a writer that holds on: open reports what it finds
        return []
