"""`similar pubmed fetch`: download NLM's baseline or update files, resuming partial files and verifying each .md5."""

from __future__ import annotations

import hashlib
import http.client
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .errors import SimilarError

DEFAULT_BASE_URL = "https://ftp.ncbi.nlm.nih.gov/pubmed"
FOLDERS = {"baseline": "baseline", "updates": "updatefiles"}
FILE_NAME = re.compile(r'href="(pubmed\d+n\d{4}\.xml\.gz)"')
MD5 = re.compile(r"\b([0-9a-fA-F]{32})\b")
ATTEMPTS = 4
CHUNK = 1 << 20


@dataclass
class FetchReport:
    """What a fetch did, file by file."""

    downloaded: list = field(default_factory=list)
    already_verified: list = field(default_factory=list)
    resumed: list = field(default_factory=list)
    failed: list = field(default_factory=list)  # (name, reason)


def _get(url: str, headers: dict | None = None, timeout: float = 60):
    return urllib.request.urlopen(
        urllib.request.Request(url, headers=headers or {"User-Agent": "similar"}), timeout=timeout
    )


def list_files(folder_url: str) -> list[str]:
    """The pubmedNNnNNNN.xml.gz names that the folder's listing links to, in order."""
    try:
        with _get(folder_url + "/") as r:
            page = r.read().decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        raise SimilarError(f"cannot list {folder_url}/: {exc}") from exc
    return sorted(set(FILE_NAME.findall(page)))


def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def published_md5(url: str) -> str:
    """The checksum NLM publishes beside a file (`MD5(name)= hex`)."""
    try:
        with _get(url + ".md5") as r:
            text = r.read().decode("ascii", errors="replace")
    except urllib.error.HTTPError as exc:
        raise SimilarError(
            f"no .md5 published for {url.rsplit('/', 1)[1]} (HTTP {exc.code}): not downloaded, it could not be verified"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise SimilarError(f"cannot read {url}.md5: {exc}") from exc
    found = MD5.search(text)
    if not found:
        raise SimilarError(f"{url}.md5 holds no MD5 checksum")
    return found.group(1).lower()


def _download(url: str, part: Path, bar: tqdm) -> bool:
    """Append the rest of `url` to `part`, resuming from its size; True if it resumed a partial file."""
    resumed = False
    for attempt in range(ATTEMPTS):
        have = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": "similar"}
        if have:
            headers["Range"] = f"bytes={have}-"
            resumed = True
        try:
            with _get(url, headers) as r:
                if have and r.status != 206:  # the server ignored the range: start again
                    part.unlink()
                    have = 0
                total = int(r.headers.get("Content-Length") or 0) + have
                bar.reset(total=total or None)
                bar.update(have)
                with open(part, "ab") as out:
                    while block := r.read(CHUNK):
                        out.write(block)
                        bar.update(len(block))
                if total and part.stat().st_size < total:
                    raise OSError(f"connection dropped at {part.stat().st_size} of {total} bytes")
            return resumed
        except urllib.error.HTTPError as exc:
            if exc.code == 416:  # nothing left to fetch: the part is already whole
                return resumed
            raise SimilarError(f"cannot download {url}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            if attempt == ATTEMPTS - 1:
                raise SimilarError(f"cannot download {url} after {ATTEMPTS} tries: {exc}") from exc
            time.sleep(min(2**attempt, 10) * 0.1)
    return resumed


def fetch(
    kind: str, dest: str | Path, base_url: str = DEFAULT_BASE_URL, limit: int | None = None, progress: bool = True
) -> FetchReport:
    """Download every file of `kind` (baseline or updates) into dest, never re-downloading a verified one."""
    if kind not in FOLDERS:
        raise SimilarError(f"unknown kind {kind!r}: use baseline or updates")
    folder_url = f"{base_url.rstrip('/')}/{FOLDERS[kind]}"
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    names = list_files(folder_url)
    if not names:
        raise SimilarError(f"no pubmed*.xml.gz files listed at {folder_url}/")
    report = FetchReport()
    for name in names[:limit]:
        url = f"{folder_url}/{name}"
        target, part, verified = dest / name, dest / f"{name}.part", dest / f"{name}.md5"
        try:
            expected = published_md5(url)
            if target.exists() and verified.exists() and verified.read_text().split()[0] == expected:
                report.already_verified.append(name)
                continue
            for fresh_try in range(2):
                with tqdm(desc=name, unit="B", unit_scale=True, disable=not progress, leave=False) as bar:
                    if _download(url, part, bar):
                        report.resumed.append(name)
                got = md5_of(part)
                if got == expected:
                    break
                part.unlink()  # corrupt: one clean retry, then give up on this file
            else:
                raise SimilarError(f"{name}: MD5 {got} does not match the published {expected}; removed")
            part.replace(target)
            verified.write_text(f"{expected}  {name}\n")
            report.downloaded.append(name)
        except SimilarError as exc:
            report.failed.append((name, str(exc)))
    return report
