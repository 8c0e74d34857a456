"""The files of an open index, fingerprinted: a file truncated in place under a memory map kills the process with
SIGBUS on the next access (Python cannot catch it), so the server checks them before each request."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import SimilarError

_SKIP = ("-wal", "-shm", "-journal")  # SQLite's companions come and go; the database itself is read-only


def _key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Fingerprints:
    """Device, inode, size and mtime of every regular file of an index folder, taken before the index reads it.
    `changed` stats each path: a file that is gone or is another inode was replaced by rename (a new index published
    over the folder), which leaves the mapped one whole; the same inode with another size or mtime was written in
    place. No descriptor is held, so an open index costs none. A few microseconds a file."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.files: list[tuple[str, tuple[int, int, int, int]]] = []
        try:
            with os.scandir(folder) as found:
                entries = sorted(
                    (e for e in found if e.is_file(follow_symlinks=False) and not e.name.endswith(_SKIP)),
                    key=lambda e: e.name,
                )
                self.files = [(e.name, _key(e.stat(follow_symlinks=False))) for e in entries]
        except (FileNotFoundError, NotADirectoryError):
            self.files = []  # no index there: reading its manifest says so, in the words a user needs
        except OSError as exc:
            raise SimilarError(f"cannot open index {folder}: {exc.strerror or exc} ({exc.filename})") from exc

    def confirm(self) -> None:
        """After the index read its files: each path still names the file fingerprinted (nothing was swapped in
        while it was read)."""
        for name, key in self.files:
            try:
                now = os.stat(self.folder / name)
            except OSError:
                now = None
            if now is None or not stat.S_ISREG(now.st_mode) or _key(now) != key:
                raise SimilarError(f"index {self.folder}: {name} changed while it was opened; open it again")

    def changed(self) -> str | None:
        """The first file written in place (same inode, another size or mtime) since open, or None."""
        for name, key in self.files:
            try:
                now = _key(os.stat(self.folder / name))
            except OSError:
                continue  # gone: unlinked or renamed away, the mapped file stays whole
            if now[:2] == key[:2] and now != key:
                return name
        return None

    def close(self) -> None:
        self.files = []
