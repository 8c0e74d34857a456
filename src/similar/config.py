"""Every SIMILAR_* environment variable in one place: what it means, which values it takes, one check at start."""

from __future__ import annotations

import errno
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import SimilarError


class ConfigError(SimilarError):
    """An environment variable with a value outside its range: named with what it takes (exit 78, EX_CONFIG)."""

    exit_code = 78


@dataclass(frozen=True)
class Var:
    name: str
    kind: str  # folder, flag, seconds, bytes, token, url, hook
    help: str
    default: float | int | None = None
    low: float | int | None = None
    high: float | int | None = None


MiB = 1 << 20
VARS = {
    v.name: v
    for v in (
        Var("SIMILAR_HOME", "folder", "data home: indexes, models, results, pubmed (default: the user data folder)"),
        Var("SIMILAR_INDEX_DIR", "folder", "where indexes given by name live (default: SIMILAR_HOME/index)"),
        Var("SIMILAR_MODELS_DIR", "folder", "prepared and trained models (default: SIMILAR_HOME/models)"),
        Var("SIMILAR_CACHE", "folder", "embedding cache (default: the user cache folder)"),
        Var("SIMILAR_SCALE_WORK", "folder", "scratch folder of `similar bench scale` (default: SIMILAR_HOME/scale)"),
        Var("SIMILAR_NO_MODEL", "flag", "1: never load an embedding model (lexical methods only)"),
        Var("SIMILAR_ADMIN_TOKEN", "token", "bearer token for POST /admin/reload (unset: reload over HTTP is off)"),
        Var("SIMILAR_HEADER_TIMEOUT", "seconds", "seconds a client may take to send its headers", 10.0, 0.1, 3600),
        Var("SIMILAR_MAX_BODY_BYTES", "bytes", "largest request body the server reads", MiB, 1024, 1024 * MiB),
        Var(
            "SIMILAR_PUBLIC_URL",
            "url",
            "the server's address as other sites reach it, for the embed snippets: http(s)://host[:port][/path] "
            "(unset: the address a request came in on, when its Host is the server's own)",
        ),
        Var("SIMILAR_CRASH_AT", "hook", "tests only: kill the process at this publish step"),
    )
}
COMMAND_LINE = ("SIMILAR_HOME", "SIMILAR_INDEX_DIR", "SIMILAR_MODELS_DIR", "SIMILAR_CACHE", "SIMILAR_NO_MODEL")
SERVER = COMMAND_LINE + (
    "SIMILAR_ADMIN_TOKEN",
    "SIMILAR_HEADER_TIMEOUT",
    "SIMILAR_MAX_BODY_BYTES",
    "SIMILAR_PUBLIC_URL",
)
_FLAGS = {
    "": False,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
}


def _raw(name: str) -> str:
    return os.environ.get(name, "").strip()


def _bad(var: Var, value: str, what: str) -> ConfigError:
    return ConfigError(f"{var.name}={value!r} {what} ({var.help})")


def folder_problem(path: Path) -> str | None:
    """Why `path` cannot be a folder (absent is fine: it is created), or None: a file or something else there or above
    it, a name too long, a link loop. Never raises: only stats, never opens, so a FIFO cannot hang it."""
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return "is too long a path (a name in it, or the whole): give a shorter one"
        if exc.errno == errno.ELOOP:
            return "is a symbolic link that never ends (a loop), or runs through one: fix or remove the link"
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            return f"cannot be reached ({exc.strerror})"
        for above in path.parents:  # absent: the nearest thing above it that is there must be a folder
            try:
                info = os.stat(above)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                return None
            what = "a file" if stat.S_ISREG(info.st_mode) else "not a folder"
            return f"is under {above}, which is {what}: give a folder (it is created if missing)"
        return None
    if stat.S_ISDIR(info.st_mode):
        return None
    what = "is a file" if stat.S_ISREG(info.st_mode) else "is not a folder (a FIFO, device or socket)"
    return f"{what}: give a folder (it is created if missing)"


def folder(name: str) -> Path | None:
    """The folder a variable names (absolute, ~ expanded), or None when unset or empty."""
    var, value = VARS[name], _raw(name)
    if not value:
        return None
    path = Path(value).expanduser().absolute()
    problem = folder_problem(path)
    if problem:
        raise _bad(var, value, problem)
    return path


def flag(name: str) -> bool:
    var, value = VARS[name], _raw(name)
    if value.lower() not in _FLAGS:
        raise _bad(var, value, "is not a yes/no value: give 1 or 0 (true/false, yes/no, on/off)")
    return _FLAGS[value.lower()]


def number(name: str) -> float | int:
    """A bounded number: SIMILAR_HEADER_TIMEOUT (seconds, decimals allowed) or SIMILAR_MAX_BODY_BYTES (whole bytes)."""
    var, value = VARS[name], _raw(name)
    assert var.default is not None and var.low is not None and var.high is not None
    if not value:
        return var.default
    whole = var.kind == "bytes"
    unit = "bytes" if whole else "seconds"
    allowed = f"give {'a whole number of ' if whole else ''}{unit} from {var.low:g} to {var.high:g}"
    try:
        got: float | int = int(value) if whole else float(value)
    except ValueError:
        raise _bad(var, value, f"is not a number: {allowed}") from None
    if not math.isfinite(got) or not var.low <= got <= var.high:
        raise _bad(var, value, f"is out of range: {allowed}")
    return got


def token(name: str) -> str | None:
    """A secret: never echoed. Unset or empty is None; spaces around it or control characters are refused."""
    var, value = VARS[name], os.environ.get(name, "")
    if not value:
        return None
    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConfigError(
            f"{var.name} has spaces around it or control characters: give the bare token ({var.help}); "
            "its value is not shown"
        )
    return value


def url(name: str) -> str | None:
    """A public address: http or https, a host, an optional port and path; no user, query or fragment. Unset or empty
    is None; the value is returned without its trailing slash."""
    from urllib.parse import urlsplit

    var, value = VARS[name], _raw(name)
    if not value:
        return None
    allowed = "give http(s)://host[:port][/path], such as https://similar.example.org"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise _bad(var, value, f"is not a web address: {allowed}") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
        or "?" in value
        or "#" in value
        or any(c.isspace() or ord(c) < 32 or c in "\"'<>`\\" for c in value)
    ):
        raise _bad(var, value, f"is not a web address: {allowed}")
    return value.rstrip("/")


def check(names=COMMAND_LINE) -> None:
    """Read every named variable once: the first bad one is a ConfigError naming it and what it takes."""
    read = {"folder": folder, "flag": flag, "seconds": number, "bytes": number, "token": token, "url": url}
    for name in names:
        kind = VARS[name].kind
        if kind in read:
            read[kind](name)
