"""Where similar keeps its data: one home ($SIMILAR_HOME, else the per-user data folder) for indexes, models, results."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import config

HOME_ENV = "SIMILAR_HOME"
APP = "similar"


def home() -> Path:
    """$SIMILAR_HOME, else the per-user data folder (~/.local/share/similar on Linux); never the current directory."""
    given = config.folder(HOME_ENV)
    if given:
        return given
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False)).absolute()


def index_root() -> Path:
    """Indexes by name: $SIMILAR_INDEX_DIR, else HOME/index."""
    return config.folder("SIMILAR_INDEX_DIR") or home() / "index"


def models_dir() -> Path:
    """Prepared and trained models: $SIMILAR_MODELS_DIR, else HOME/models."""
    return config.folder("SIMILAR_MODELS_DIR") or home() / "models"


def results_dir() -> Path:
    """Benchmark results unless --out says otherwise: HOME/results (outside any checkout)."""
    return home() / "results"


def pubmed_dir() -> Path:
    """NLM's baseline and update files fetched by `similar pubmed fetch`: HOME/pubmed."""
    return home() / "pubmed"


def cache_dir() -> Path:
    """Embedding cache (keyed by model fingerprint and text hash) and compiled models: $SIMILAR_CACHE, else
    $SIMILAR_HOME/cache when SIMILAR_HOME is set (nothing under HOME then), else the per-user cache folder."""
    given = config.folder("SIMILAR_CACHE")
    if given:
        return given
    if config.folder(HOME_ENV):
        return home() / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP, appauthor=False)).absolute()


def is_path(value: str | Path) -> bool:
    """A Path object, or a string with a path separator, or one starting with '.' or '~', is a path; else a name."""
    if isinstance(value, Path):
        return True
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(s in value for s in seps) or value.startswith((".", "~"))


def index_path(name_or_path: str | Path | None) -> Path:
    """The absolute folder of an index given by name (under index_root(), whatever the current directory) or by path."""
    if name_or_path is None or str(name_or_path) == "":
        return index_root() / "default"
    if is_path(name_or_path):
        return Path(name_or_path).expanduser().absolute()
    return index_root() / str(name_or_path)


def index_names() -> list[str]:
    """Names of the folders under index_root() that hold a manifest, sorted."""
    root = index_root()
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "manifest.json").exists()
    )


def keep_out_of_home() -> None:
    """Stop the libraries similar uses from writing under HOME; called when the package is imported, before any of
    them is. OpenVINO's telemetry is off (on import it writes a client id to ~/intel/openvino_ga_cid; without its
    telemetry package OpenVINO uses its own no-op stub). With SIMILAR_HOME set, matplotlib's config and font cache
    and Hugging Face's cache go to the cache folder (settings already in the environment win). Ray's token file:
    `distributed.ray_init`. A bad SIMILAR_HOME or SIMILAR_CACHE is left for config.check at start (exit 78)."""
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]  # None: "cannot be imported"
    if os.environ.get(HOME_ENV, "").strip():
        try:
            cache = cache_dir()
        except config.ConfigError:
            return  # nothing raises on import: the command's or the server's start-up check says it in one line
        os.environ.setdefault("MPLCONFIGDIR", str(cache / "matplotlib"))
        os.environ.setdefault("HF_HOME", str(cache / "huggingface"))
