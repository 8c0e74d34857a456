"""What an Index answers: PaperInfo, Neighbor, SimilarList; the bounds on n and what a PMID looks like."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from ..errors import SimilarError
from ..medline import Details

MAX_N = 1000
PMID = re.compile(r"[0-9]{1,18}\Z")  # ASCII digits only: str.isdigit() takes '²' and '١٢٣'


@dataclass(frozen=True)
class PaperInfo:
    """An indexed paper's metadata."""

    pmid: str
    title: str
    journal: str
    year: int | None
    authors: tuple[str, ...] = ()
    doi: str = ""
    pmc: str = ""
    types: tuple[str, ...] = ()
    language: str = ""
    retracted: bool = False

    @property
    def url(self) -> str:
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"

    @property
    def authors_short(self) -> str:
        return Details(authors=self.authors).short_authors


@dataclass(frozen=True)
class Neighbor:
    """One similar paper in a ranked list."""

    rank: int
    pmid: str
    score: float
    title: str
    journal: str
    year: int | None
    duplicate: bool = False  # same title+abstract as the seed, under another PMID
    closest: str | None = None  # in a collection's list: the positive example (PMID, or "text") it is closest to
    why: object | None = None  # an explain.Why when asked for: shared terms with their shares, MeSH, sentences
    authors: tuple[str, ...] = ()  # what MEDLINE says (medline.Details); empty where the input said nothing
    doi: str = ""
    pmc: str = ""
    types: tuple[str, ...] = ()
    language: str = ""
    retracted: bool = False  # retracted, by its own record or a retraction notice in the index
    versions: tuple[str, ...] = ()  # other PMIDs of the same work (erratum, update, republished, same DOI or text)

    @property
    def url(self) -> str:
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"

    @property
    def authors_short(self) -> str:
        return Details(authors=self.authors).short_authors

    def to_dict(self) -> dict:
        d = {**asdict(self), "url": self.url, "authors_short": self.authors_short}
        d["authors"], d["types"], d["versions"] = list(self.authors), list(self.types), list(self.versions)
        for key in ("closest", "why"):  # only where asked for: plain lists keep their shape
            if d[key] is None:
                del d[key]
        return d


@dataclass(frozen=True)
class SimilarList:
    """The answer to one query: which method answered, for which seed, from which build."""

    method: str
    neighbors: list[Neighbor]
    seed: PaperInfo | None = None
    build_id: str = ""
    notes: list[str] = field(default_factory=list)
    versions: tuple[str, ...] = ()  # the seed's other versions in the index (never listed as neighbours)
    filters: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "seed": None
            if self.seed is None
            else {
                **asdict(self.seed),
                "url": self.seed.url,
                "authors_short": self.seed.authors_short,
                "versions": list(self.versions),
            },
            "method": self.method,
            "build_id": self.build_id,
            **({"filters": self.filters} if self.filters else {}),
            "neighbors": [n.to_dict() for n in self.neighbors],
            **({"notes": self.notes} if self.notes else {}),
        }


def check_n(n: int) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N:
        raise SimilarError(f"n must be between 1 and {MAX_N}, got {n}")
    return n
