"""Index.open(dir).similar(pmid, n): an index folder opened and checked, its rows and papers, its ranked lists."""

from __future__ import annotations

from .queries import Index
from .results import MAX_N, Neighbor, PaperInfo, SimilarList, check_n

__all__ = ["Index", "MAX_N", "Neighbor", "PaperInfo", "SimilarList", "check_n"]
