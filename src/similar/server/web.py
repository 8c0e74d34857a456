"""The web app for people: search, paper pages (map, why, exports, embed panel) and collections, as Jinja2 pages."""

from __future__ import annotations

import logging
import re
import weakref
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader

from ..collection import recommend_collection
from ..errors import CorruptIndex, IndexChanged, NotFound, SimilarError
from ..explain import explain_list
from ..filters import Filters
from ..index import Index
from ..outward import clean
from . import webmap

log = logging.getLogger("similar.server")
HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
EXPORTS = (("ris", "RIS"), ("bibtex", "BibTeX"), ("csl-json", "CSL-JSON"), ("csv", "CSV"))
PMID_Q = re.compile(r"(?:pmid:?\s*)?([0-9]{1,9})", re.I)
DOI_Q = re.compile(r"(?:https?://(?:dx\.)?doi\.org/|doi:\s*)?(10\.[0-9]{4,9}/\S+)", re.I)
PMID_ITEM = re.compile(r"[0-9]{1,9}")
MAX_QUERY = 20000
MAX_N = 50

env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True)
env.filters["clean"] = clean
env.filters["lines"] = lambda text: "\n".join(clean(line) for line in str(text).splitlines())  # a form's text echoed
_dois: "weakref.WeakKeyDictionary[Index, dict[str, str]]" = weakref.WeakKeyDictionary()


class Form:
    """A page's query parameters, read leniently (empty means not given) and checked into Filters; one line if bad."""

    def __init__(self, request: Request, n: int = 10):
        params = request.query_params
        self.q = params.get("q", "")[:MAX_QUERY]
        self.types = [t for t in params.getlist("type") if t.strip()]
        self.min_year, self.max_year = self._year(params, "min_year"), self._year(params, "max_year")
        self.species = params.get("species", "")
        self.language = params.get("language", "").strip()
        self.exclude_retracted = params.get("exclude_retracted", "") in ("on", "true", "1")
        self.n = self._number(params.get("n", ""), n)
        self.why = params.get("why", "") in ("1", "true", "on")
        self.filters = Filters.of(
            self.min_year,
            self.max_year,
            self.types,
            None,
            None,
            [self.language] if self.language else None,
            self.species or None,
            self.exclude_retracted,
        )

    @staticmethod
    def _year(params, name: str) -> int | None:
        value = params.get(name, "").strip()
        if not value:
            return None
        if not value.isascii() or not value.isdigit() or not 1000 <= int(value) <= 3000:
            raise SimilarError(f"The {name.replace('_', ' ')} must be a year such as 2010, not {value[:20]!r}.")
        return int(value)

    @staticmethod
    def _number(value: str, default: int) -> int:
        value = value.strip()
        if not value:
            return default
        if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_N:
            raise SimilarError(f"The number of papers must be from 1 to {MAX_N}, not {value[:20]!r}.")
        return int(value)

    def link(self, **changes) -> str:
        """The query string of these filters, with some parameters changed (None drops one)."""
        pairs = [("type", t) for t in self.types]
        for key, value in (
            ("min_year", self.min_year),
            ("max_year", self.max_year),
            ("species", self.species),
            ("language", self.language),
            ("exclude_retracted", "on" if self.exclude_retracted else ""),
        ):
            if value:
                pairs.append((key, str(value)))
        pairs = [(k, v) for k, v in pairs if k not in changes]
        return urlencode(pairs + [(k, str(v)) for k, v in changes.items() if v is not None])


def pmid_list(value: str, name: str) -> list[str]:
    """PMIDs separated by commas (empty items skipped, repeats dropped), or one line saying what a list should be."""
    items = [p.strip() for p in value.split(",") if p.strip()]
    if any(not PMID_ITEM.fullmatch(p) for p in items):
        raise SimilarError(f"The {name} papers must be PMIDs separated by commas, such as 7504954,8011234.")
    return list(dict.fromkeys(items))


def known(index: Index, pmid: str) -> str:
    """The PMID, when the index holds it; else NotFound in a reader's words (the API's advises the operator)."""
    if pmid not in index:
        raise NotFound(f"PMID {int(pmid)} is not in this index.")
    return pmid


def doi_rows(index: Index) -> dict[str, str]:
    """DOI (lower case) -> PMID over the index, gathered once per open index."""
    if index not in _dois:
        _dois[index] = {d.doi.lower(): str(index.pmids[row]) for row, d in index.details().items() if d.doi}
    return _dois[index]


def search(index: Index, form: Form, checked: Callable):
    """What the search box holds, answered: (kind, list) for a PMID, a DOI or a text; None when it is empty."""
    q = form.q.strip()
    if not q:
        return None
    filters = checked(index, form.filters)
    pmid, doi = PMID_Q.fullmatch(q), DOI_Q.fullmatch(q)
    if doi:
        found = doi_rows(index).get(doi.group(1).lower())
        if found is None:
            raise NotFound(f"No paper with DOI {doi.group(1)} is in this index.")
        return "doi", index.similar(found, n=form.n, filters=filters)
    if pmid:
        return "pmid", index.similar(known(index, pmid.group(1)), n=form.n, filters=filters)
    return "text", index.similar_text(q, n=form.n, filters=filters)


def page(name: str, status: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(env.get_template(name).render(**context), status_code=status, headers=HEADERS)


UNAVAILABLE = "Similar papers are unavailable right now."


def failed(exc: SimilarError) -> HTMLResponse:
    """A one-line error on a page of the app: 404 for an unknown paper, 422 for a bad request, 503 or 500 (logged, the
    reader told only that the lists are unavailable) for an index changed under the server or damaged."""
    if isinstance(exc, (IndexChanged, CorruptIndex)):
        log.error("%s", exc)
        return page(
            "error.html", 503 if isinstance(exc, IndexChanged) else 500, message=UNAVAILABLE, title="Unavailable"
        )
    status = 404 if isinstance(exc, NotFound) else 422
    return page("error.html", status, message=str(exc), title="Not found" if status == 404 else "Cannot answer that")


def answered(make: Callable[[], HTMLResponse]) -> HTMLResponse:
    """A page, or the one line saying why there is none."""
    try:
        return make()
    except SimilarError as exc:
        return failed(exc)


def install(app: FastAPI, holder, checked: Callable) -> None:
    """Mount the pages and their static files on the app; `checked` is the API's check of filters against the index."""
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def home(request: Request) -> HTMLResponse:
        index = holder.index
        form = Form(request)
        kind, result = search(index, form, checked) or (None, None)
        return page("search.html", form=form, kind=kind, result=result, types=index.facts.types())

    def paper(request: Request, pmid: str) -> HTMLResponse:
        index = holder.index
        form = Form(request)
        if not PMID_Q.fullmatch(pmid):
            raise SimilarError(f"{pmid[:40]!r} is not a PubMed ID: a PMID is a number, such as 7504954.")
        row = index.row(known(index, pmid))
        info = index.paper(pmid)
        result = index.similar(pmid, n=form.n, filters=checked(index, form.filters))
        if form.why:
            result = explain_list(index, result)
        return page(
            "paper.html",
            paper=info,
            abstract=(index.abstracts([row]) or {}).get(row, ""),
            mesh=index.mesh([row]).get(row, ()),
            result=result,
            form=form,
            map=webmap.neighbourhood(index, result),
            edge_k=webmap.EDGE_K,
            exports=[(name, f"/v1/papers/{info.pmid}/similar?n=20&format={fmt}") for fmt, name in EXPORTS],
            embed=Embed(request, info.pmid),
        )

    def collection(request: Request) -> HTMLResponse:
        index = holder.index
        form = Form(request)
        pos, neg = (pmid_list(request.query_params.get(name, ""), name) for name in ("positive", "negative"))
        seeds = {p: index.paper(known(index, p)) for p in pos + neg}
        result = recommend_collection(index, pos, neg, n=form.n, filters=checked(index, form.filters)) if pos else None
        query = urlencode({"positive": ",".join(pos), **({"negative": ",".join(neg)} if neg else {})})
        return page(
            "collection.html",
            form=form,
            result=result,
            positive=[seeds[p] for p in pos],
            negative=[seeds[p] for p in neg],
            links=Seeds(pos, neg),
            exports=[(name, f"/v1/recommendations?{query}&n=20&format={fmt}") for fmt, name in EXPORTS],
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home_page(request: Request):
        return answered(lambda: home(request))

    @app.get("/search", response_class=HTMLResponse, include_in_schema=False)
    def search_page(request: Request):
        return answered(lambda: home(request))

    @app.get("/papers/{pmid}", response_class=HTMLResponse, include_in_schema=False)
    def paper_page(request: Request, pmid: str):
        return answered(lambda: paper(request, pmid))

    @app.get("/collection", response_class=HTMLResponse, include_in_schema=False)
    def collection_page(request: Request):
        return answered(lambda: collection(request))

    @app.get("/papers", include_in_schema=False)
    def papers_root():
        return RedirectResponse("/", status_code=307)


class Seeds:
    """Links that change a collection by one paper (work without JavaScript)."""

    def __init__(self, positive: list[str], negative: list[str]):
        self.positive, self.negative = positive, negative

    def _href(self, pos: list[str], neg: list[str]) -> str:
        if not pos and not neg:
            return "/collection"
        return "/collection?" + urlencode(
            {**({"positive": ",".join(pos)} if pos else {}), **({"negative": ",".join(neg)} if neg else {})}
        )

    def here(self) -> str:
        return self._href(self.positive, self.negative)

    def without(self, pmid: str) -> str:
        return self._href([p for p in self.positive if p != pmid], [p for p in self.negative if p != pmid])

    def add(self, pmid: str) -> str:
        return self._href([p for p in self.positive if p != pmid] + [pmid], [p for p in self.negative if p != pmid])

    def unlike(self, pmid: str) -> str:
        return self._href([p for p in self.positive if p != pmid], [p for p in self.negative if p != pmid] + [pmid])


class Embed:
    """The "Embed this widget" panel's choices (kind, theme, number of papers) and the snippet they make."""

    def __init__(self, request: Request, pmid: str):
        params = request.query_params
        self.pmid = pmid
        self.kind = "iframe" if params.get("embed") == "iframe" else "script"
        self.theme = "dark" if params.get("theme") == "dark" else "light"
        count = params.get("count", "5")
        self.count = int(count) if count.isascii() and count.isdigit() and 1 <= int(count) <= 20 else 5
        self.base = str(request.base_url).rstrip("/")

    @property
    def preview(self) -> str:
        return f"/widget/{self.pmid}?n={self.count}&theme={self.theme}"

    @property
    def snippet(self) -> str:
        if self.kind == "iframe":
            return (
                f'<iframe src="{self.base}/widget/{self.pmid}?n={self.count}&amp;theme={self.theme}" width="420" '
                f'height="480" style="border:0" title="Similar papers"></iframe>'
            )
        theme = f' data-similar-theme="{self.theme}"' if self.theme != "light" else ""
        return (
            f'<div data-similar-pmid="{self.pmid}" data-similar-n="{self.count}"{theme}></div>\n'
            f'<script src="{self.base}/widget.js" async></script>'
        )
