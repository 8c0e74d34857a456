"""similar: similar-paper recommendations for biomedical literature."""

from __future__ import annotations

from .paths import keep_out_of_home

keep_out_of_home()  # before any library that would write under HOME is imported

__version__ = "0.1.0"
__all__ = ["Index", "Neighbor", "PaperInfo", "SimilarList", "SimilarError", "NotFound", "__version__"]


def __getattr__(name: str):
    # imported on first use, so `similar --help` and the training/encoding paths start without FAISS
    if name in ("Index", "Neighbor", "PaperInfo", "SimilarList"):
        from . import index

        return getattr(index, name)
    if name in ("SimilarError", "NotFound"):
        from . import errors

        return getattr(errors, name)
    raise AttributeError(name)
