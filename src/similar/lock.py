"""One writer per index: an exclusive flock on the sibling file `.NAME.lock`, held for a whole build or add."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Callable, Iterator

from . import store
from .errors import SimilarError


class Busy(SimilarError):
    """Another process is writing this index (exit 75, EX_TEMPFAIL: try again later, or use --wait)."""

    exit_code = 75


def lock_path(dest: Path) -> Path:
    """Beside the index, not in it: publishing renames the index folder, the lock must outlive that."""
    return dest.parent / f".{dest.name}.lock"


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
    fd = os.open(lock_path(dest), os.O_RDWR | os.O_CREAT, 0o644)
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
        yield store.recover(dest)


def recover_for_reading(dest: Path, timeout: float = 30.0) -> list[str]:
    """Before opening: a publish cut between its renames is undone (under the lock, so never while one runs)."""
    dest = Path(dest)
    if not store.interrupted(dest):
        return []
    try:
        with writer_lock(dest, wait=True, timeout=timeout):
            return store.recover(dest)
    except (Busy, OSError):  # a read-only place or a writer that holds on: open reports what it finds
        return []
