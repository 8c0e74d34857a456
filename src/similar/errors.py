"""The one exception type the faces turn into a one-line message and a non-zero exit."""


class SimilarError(Exception):
    """A user-facing problem: the message names what is wrong and what to do."""

    exit_code = 1


class CorruptIndex(SimilarError):
    """An index file that fails a check (checks.py): the message names the folder and the file; the server answers 500."""


class IndexChanged(SimilarError):
    """A file of the open index changed in place since it was opened (truncated, rewritten): similar publishes by
    rename and never writes a published file, so this is tampering. The server answers 503 until it is reloaded."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"index files changed under the server ({name}); reload")


class NotFound(SimilarError):
    """A PMID that the index does not hold (never indexed, or deleted)."""

    exit_code = 3


def edge_message(exc: BaseException) -> str:
    """One line for an unexpected exception that reached a face (the CLI, a server reload)."""
    import errno
    import sqlite3

    first = (str(exc).strip().splitlines() or [""])[0]
    short_write = isinstance(exc, OSError) and exc.errno is None and " requested and " in first  # numpy's save
    if (
        (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT))
        or short_write
        or (isinstance(exc, sqlite3.OperationalError) and "disk is full" in first)
    ):
        where = f" writing {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"disk full{where}: free some space and rerun the same command (the index is unchanged; a build resumes where it stopped)"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return f"unexpected {type(exc).__name__}" + (f": {first}" if first else "") + " (rerun with -v for the traceback)"
