"""The web app for people: search, paper pages (map, why, exports, embed panel) and collections, as Jinja2 pages."""

from __future__ import annotations

import logging
import weakref
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader

from .. import config
from ..collection import recommend_collection
from ..errors import CorruptIndex, IndexChanged, NotFound, SimilarError
from ..explain import explain_list
from ..index import Index
from ..outward import clean
from . import webform, webmap
from .webform import Form, asked

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
API_PREFIXES = ("/v1", "/admin", "/docs", "/openapi.json", "/widget", "/embed")  # answered as JSON (or widget pages)
PUBLIC_ENV = "SIMILAR_PUBLIC_URL"
PLACEHOLDER = "https://YOUR-SIMILAR-SERVER"  # in a snippet when the server's public address is not known
REPLACE = f"Replace {PLACEHOLDER} with this server's address, or ask its operator to set {PUBLIC_ENV} so the snippet names it."

env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True)
env.filters["clean"] = clean
env.filters["lines"] = lambda text: "\n".join(clean(line) for line in str(text).splitlines())  # a form's text echoed
_dois: "weakref.WeakKeyDictionary[Index, dict[str, str]]" = weakref.WeakKeyDictionary()


def for_people(path: str) -> bool:
    """Whether a path belongs to the pages for people (an error there is a page), not to the API, its docs or the
    widget (whose errors stay JSON, or the widget's own page)."""
    return not path.startswith(API_PREFIXES)


def public_base(request: Request) -> str | None:
    """The address other sites reach this server at, for snippets pasted elsewhere: SIMILAR_PUBLIC_URL when set, else
    the request's own only when its Host names the address the connection came in on (never an arbitrary Host
    header); None when neither."""
    configured = config.url(PUBLIC_ENV)
    if configured:
        return configured
    host, server = request.headers.get("host", ""), request.scope.get("server")
    if not server or not server[0]:
        return None
    name, port = server[0], server[1]
    name = f"[{name}]" if ":" in name else name
    scheme = request.scope.get("scheme", "http")
    default = {"http": 80, "https": 443}.get(scheme)
    own = {f"{name}:{port}"} | ({name} if port == default or port is None else set())
    return f"{scheme}://{host}" if host.lower() in {o.lower() for o in own} else None


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
    what = asked(form.q)
    if what is None:
        return None
    kind, value = what
    filters = checked(index, form.filters)
    if kind == "doi":
        found = doi_rows(index).get(value.lower())
        if found is None:
            raise NotFound(f"No paper with DOI {value} is in this index.")
        return "doi", index.similar(found, n=form.n, filters=filters)
    if kind == "pmid":
        return "pmid", index.similar(known(index, value), n=form.n, filters=filters)
    return "text", index.similar_text(value, n=form.n, filters=filters)


def page(name: str, status: int = 200, headers: dict | None = None, **context) -> HTMLResponse:
    return HTMLResponse(
        env.get_template(name).render(**context), status_code=status, headers={**HEADERS, **(headers or {})}
    )


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


def no_route(method: str, status: int) -> HTMLResponse:
    """A page for an address with no page (404) or a method pages do not answer (405, Allow: GET, HEAD)."""
    if status == 405:
        line = f"This page answers GET and HEAD, not {method}."
        return page("error.html", 405, {"Allow": "GET, HEAD"}, message=line, title="Not allowed")
    return page("error.html", 404, message="There is no page at this address.", title="Not found")


def answered(make: Callable[[], Response]) -> Response:
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
        form = Form(request.query_params)
        kind, result = search(index, form, checked) or (None, None)
        return page("search.html", form=form, kind=kind, result=result, types=index.facts.types())

    def paper(request: Request, given: str) -> HTMLResponse | RedirectResponse:
        index = holder.index
        form = Form(request.query_params)
        pmid = webform.pmid(given)
        if pmid != given:  # leading zeros, full-width digits: the one address of the paper
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(f"/papers/{pmid}{query}", status_code=308)
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
            exports=[(name, f"/v1/papers/{info.pmid}/similar?{form.export(fmt)}") for fmt, name in EXPORTS],
            embed=Embed(request, info.pmid),
        )

    def collection(request: Request) -> HTMLResponse:
        index = holder.index
        form = Form(request.query_params)
        params = request.query_params
        pos, neg = (webform.pmid_list(params.getlist(name), name) for name in ("positive", "negative"))
        seeds = {p: index.paper(known(index, p)) for p in pos + neg}
        result = recommend_collection(index, pos, neg, n=form.n, filters=checked(index, form.filters)) if pos else None
        links = Seeds(pos, neg, form)
        return page(
            "collection.html",
            form=form,
            result=result,
            positive=[seeds[p] for p in pos],
            negative=[seeds[p] for p in neg],
            links=links,
            exports=[(name, f"/v1/recommendations?{links.seeds()}&{form.export(fmt)}") for fmt, name in EXPORTS],
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

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")


class Seeds:
    """Links that change a collection by one paper (work without JavaScript); each keeps the page's filters."""

    def __init__(self, positive: list[str], negative: list[str], form: Form):
        self.positive, self.negative, self.form = positive, negative, form

    @staticmethod
    def _seeds(pos: list[str], neg: list[str]) -> str:
        return urlencode(
            {**({"positive": ",".join(pos)} if pos else {}), **({"negative": ",".join(neg)} if neg else {})}
        )

    def _href(self, pos: list[str], neg: list[str]) -> str:
        query = "&".join(q for q in (self._seeds(pos, neg), self.form.link()) if q)
        return f"/collection?{query}" if query else "/collection"

    def seeds(self) -> str:
        return self._seeds(self.positive, self.negative)

    def here(self) -> str:
        return self._href(self.positive, self.negative)

    def without(self, pmid: str) -> str:
        return self._href([p for p in self.positive if p != pmid], [p for p in self.negative if p != pmid])

    def add(self, pmid: str) -> str:
        return self._href([p for p in self.positive if p != pmid] + [pmid], [p for p in self.negative if p != pmid])

    def unlike(self, pmid: str) -> str:
        return self._href([p for p in self.positive if p != pmid], [p for p in self.negative if p != pmid] + [pmid])


class Embed:
    """The "Embed this widget" panel's choices (kind, theme, number of papers) and the snippet they make. Its address is
    public_base's, else a placeholder the page tells the operator to fill in (SIMILAR_PUBLIC_URL)."""

    def __init__(self, request: Request, pmid: str):
        params = request.query_params
        self.pmid = pmid
        self.kind = "iframe" if params.get("embed") == "iframe" else "script"
        self.theme = "dark" if params.get("theme") == "dark" else "light"
        self.count = webform.embed_count(params.get("count", ""))
        found = public_base(request)
        self.known = found is not None
        self.base = found or PLACEHOLDER
        self.replace = REPLACE

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
