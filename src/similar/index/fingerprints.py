"""The files of an open index, held open and fingerprinted: a file truncated in place under a memory map kills the
process with SIGBUS on the next access (Python cannot catch it), so the server checks them before each request."""

from __future__ import annotations

import os
import stat
import weakref
from pathlib import Path

from ..errors import SimilarError

_SKIP = ("-wal", "-shm", "-journal")  # SQLite's companions come and go; the database itself is read-only


def _key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Fingerprints:
    """Every regular file of an index folder, opened (one descriptor each) before the index reads it. `check` is an
    fstat per file on those descriptors, so it follows the files actually mapped, not the path: a new index
    published over the folder by rename leaves them as they were; a truncation or a write in place changes their size
    or mtime. A few microseconds a file."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.files: list[tuple[str, int, tuple[int, int, int, int]]] = []
        try:
            with os.scandir(folder) as found:
                names = sorted(e.name for e in found if e.is_file(follow_symlinks=False) and not e.name.endswith(_SKIP))
        except (FileNotFoundError, NotADirectoryError):
            names = []  # no index there: reading its manifest says so, in the words a user needs
        try:
            for name in names:
                fd = os.open(folder / name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                self.files.append((name, fd, _key(os.fstat(fd))))
        except OSError as exc:
            self.close()
            raise SimilarError(f"cannot open index {folder}: {exc.strerror or exc} ({exc.filename})") from exc
        self._finalizer = weakref.finalize(self, _close, [fd for _, fd, _ in self.files])

    def confirm(self) -> None:
        """After the index read its files: each path still names the file fingerprinted (nothing was swapped in
        while it was read)."""
        for name, fd, key in self.files:
            try:
                now = os.stat(self.folder / name)
            except OSError:
                now = None
            if now is None or not stat.S_ISREG(now.st_mode) or _key(now) != key or _key(os.fstat(fd)) != key:
                raise SimilarError(f"index {self.folder}: {name} changed while it was opened; open it again")

    def changed(self) -> str | None:
        """The first file whose size or mtime is not what it was at open, or None."""
        for name, fd, key in self.files:
            if _key(os.fstat(fd)) != key:
                return name
        return None

    def close(self) -> None:
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer()
        else:
            _close([fd for _, fd, _ in self.files])
        self.files = []  # a closed descriptor's number may be reused: never fstat it again


def _close(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
