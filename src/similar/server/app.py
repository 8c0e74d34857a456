"""The HTTP face: a FastAPI app over one open Index (JSON API, widget page, widget script, embed page, reload, web pages)."""

from __future__ import annotations

import hmac
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import config
from .. import methods as registry
from ..backends.dense import set_threads
from ..collection import recommend_collection
from ..errors import CorruptIndex, IndexChanged, NotFound, SimilarError, edge_message
from ..explain import explain_list
from ..filters import Filters, check_against
from ..index import Index
from ..watch import WatchesUnavailable
from . import pages, web
from .guards import BODY_ENV, BodyGuard, PublicCORS

log = logging.getLogger("similar.server")
TOKEN_ENV = "SIMILAR_ADMIN_TOKEN"
HEADER_TIMEOUT_ENV = "SIMILAR_HEADER_TIMEOUT"
MAX_API_N = 100
PMID_PATH = PathParam(..., pattern=r"^[0-9]{1,9}$", description="PubMed ID")
PMID_LIST = r"^[0-9]{1,9}(,[0-9]{1,9})*$"
COLLECTION_METHODS = "^(fused|centroid|linear|rocchio)$"
MAX_EXAMPLES = 1000


class RecommendationRequest(BaseModel):
    """A collection: papers like `positive` (and `text`), unlike `negative`."""

    model_config = ConfigDict(extra="forbid")
    positive: list[Annotated[str, StringConstraints(pattern=r"^[0-9]{1,9}$")]] = Field(
        default_factory=list, max_length=MAX_EXAMPLES
    )
    negative: list[Annotated[str, StringConstraints(pattern=r"^[0-9]{1,9}$")]] = Field(
        default_factory=list, max_length=MAX_EXAMPLES
    )
    text: str | None = Field(None, max_length=20000)
    n: int = Field(10, ge=1, le=MAX_API_N)
    method: str | None = Field(None, pattern=COLLECTION_METHODS)
    min_year: int | None = Field(None, ge=1000, le=3000)
    max_year: int | None = Field(None, ge=1000, le=3000)
    explain: bool = False
    type: list[str] = Field(default_factory=list, max_length=50)
    mesh: list[str] = Field(default_factory=list, max_length=50)
    journal: list[str] = Field(default_factory=list, max_length=50)
    language: list[str] = Field(default_factory=list, max_length=50)
    species: str | None = Field(None, pattern="^(humans|animals)$")
    exclude_retracted: bool = False
    all_versions: bool = False

    def filters(self) -> Filters:
        return Filters.of(
            self.min_year,
            self.max_year,
            self.type,
            self.mesh,
            self.journal,
            self.language,
            self.species,
            self.exclude_retracted,
        )


FORMAT_PATTERN = "^(json|ris|bibtex|csl-json|csv)$"


def list_filters(
    min_year: int | None = Query(None, ge=1000, le=3000),
    max_year: int | None = Query(None, ge=1000, le=3000),
    types: list[str] = Query(
        [], alias="type", description="Publication type: review, clinical-trial ... (repeat: any of them)"
    ),
    mesh: list[str] = Query([], description="MeSH descriptor name or UI, exact (repeat: any of them)"),
    journal: list[str] = Query([], description="Journal title, any case"),
    language: list[str] = Query([], description="MEDLINE language code: eng, fre ..."),
    species: str | None = Query(None, pattern="^(humans|animals)$", description="The check tag Humans or Animals"),
    exclude_retracted: bool = Query(False, description="Leave retracted papers out (they are always marked)"),
) -> Filters:
    """The filters every list endpoint takes, as query parameters."""
    return Filters.of(min_year, max_year, types, mesh, journal, language, species, exclude_retracted)


def exported(result, fmt: str, name: str) -> Response:
    """The list as a download for a reference manager (exports.py)."""
    from ..exports import MEDIA_TYPES, SUFFIXES, export

    return Response(
        export(result, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{SUFFIXES[fmt]}"'},
    )


class IndexHolder:
    """The index being served; `reload` opens the folder anew and swaps it in, requests in flight keep the old one."""

    def __init__(self, path: Path, index: Index | None = None):
        self.path = path
        self._lock = threading.Lock()
        self.served = index or Index.open(path, guard=True)
        self.reloads = 0
        self._warm(self.served)

    @property
    def index(self) -> Index:
        """The index, its files checked first (an fstat each: about 100 microseconds for 43 files): a file truncated in place under
        its memory map would kill the server with SIGBUS on the next access, so a changed file fails the request with
        IndexChanged (503) and the server runs on. A truncation between this check and the access is not caught
        (docs/index-format.md)."""
        index = self.served
        index.check_files()
        set_threads(
            1
        )  # OpenMP's thread count is per thread: each request thread gets one (a team would fight for cores)
        return index

    @staticmethod
    def _warm(index: Index) -> None:
        """Load the vocabulary and model in the background; a failure is one log line (queries will say it too)."""

        def run() -> None:
            try:
                index.warm()
            except Exception as exc:  # noqa: BLE001 - a background thread: nothing may escape it
                log.warning("warming the index failed: %s", edge_message(exc))

        threading.Thread(target=run, name="warm-index", daemon=True).start()

    def reload(self) -> Index:
        fresh = Index.open(
            self.path, guard=True
        )  # opened fully before the swap: a bad folder leaves the old index serving
        with self._lock:
            self.served = fresh
            self.reloads += 1
        self._warm(fresh)
        log.info("reloaded %s: build %s", self.path, fresh.build_id)
        return fresh

    def try_reload(self) -> "Reload":
        """The one place a reload can fail: whatever goes wrong, the old index keeps serving and one line says why."""
        try:
            index = self.reload()
        except SimilarError as exc:  # a damaged or missing folder: the caller asked for something the disk cannot give
            outcome = Reload(409, f"reload failed, still serving the previous index: {exc}")
        except Exception as exc:  # noqa: BLE001 - the server's edge: nothing a folder holds may stop it
            outcome = Reload(500, f"reload failed, still serving the previous index: {edge_message(exc)}")
        else:
            return Reload(200, "reloaded", index.build_id, len(index))
        log.error("%s", outcome.message)
        return outcome


@dataclass(frozen=True)
class Reload:
    """How a reload went: HTTP status, one line, and the build now served when it worked."""

    status: int
    message: str
    build_id: str = ""
    papers: int = 0


def public_manifest(manifest: dict) -> dict:
    """The manifest without this machine's absolute paths (input files and model folder keep their names)."""
    out = dict(manifest)
    out["inputs"] = [
        {k: v for k, v in e.items() if k != "path"} for e in manifest.get("inputs") or [] if isinstance(e, dict)
    ]
    if isinstance(manifest.get("model"), dict):
        out["model"] = {k: v for k, v in manifest["model"].items() if k != "path"}
    return out


class HeadAsGet:
    """ASGI middleware: HEAD is answered as GET without the body (FastAPI's GET routes would say 405)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def headers_only(message):
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def _for_readers(request: Request) -> bool:
    return pages.for_readers(request.url.path)


def _page(request: Request, status: int, message: str) -> HTMLResponse:
    """A reader page's error: one line on a page that looks like the widget, never JSON inside an iframe."""
    theme = request.query_params.get("theme", "light")
    return HTMLResponse(
        pages.widget_error(message, theme if theme in pages.THEMES else "light"),
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def checked(index: Index, filters: Filters) -> Filters:
    """The filters, once each value can match some paper of the index (filters.check_against): decided before any
    ranking, so a misspelt type or journal is a 422 naming the nearest values, not an empty list."""
    if filters.on_details:  # else no facts are gathered
        check_against(index.facts, filters, index.path.name, live=index.live)
    return filters


def create_app(index_path: str | Path, index: Index | None = None) -> FastAPI:
    config.check(config.SERVER)  # a bad SIMILAR_* value is one line naming it, before the index is opened
    set_threads(1)  # one query per request thread (and again in each request's thread: IndexHolder.index)
    holder = IndexHolder(Path(index_path), index)
    app = FastAPI(
        title="similar",
        version=__import__("similar").__version__,
        description="Similar papers for biomedical literature: JSON API and embeddable widget.",
        docs_url=None,
        redoc_url=None,
    )
    _offline_docs(app)
    app.state.holder = holder
    app.add_middleware(PublicCORS)  # the widget's cross-origin reads, nothing more (guards.py)
    app.add_middleware(HeadAsGet)
    app.add_middleware(BodyGuard, limit=int(config.number(BODY_ENV)))  # outermost: before anything reads the body

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        message = {
            404: f"no route {request.url.path}: see /docs",
            405: f"{request.method} is not allowed on {request.url.path}",
        }
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":  # FastAPI's, e.g. too deep
            message[400] = "invalid JSON body: it could not be parsed (nested too deeply?)"
        if exc.status_code in (404, 405) and web.for_people(request.url.path):  # a page, not JSON (web.py)
            return web.no_route(request.method, exc.status_code)
        if _for_readers(request):
            message[404] = "There is no such page: the address should end in /widget/PMID or /embed/PMID."
            message[405] = f"This page answers GET, not {request.method}."
        status, line = exc.status_code, message.get(exc.status_code, str(exc.detail))
        response = _page(request, status, line) if _for_readers(request) else _error(status, line)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        if _for_readers(request):
            return _page(request, 500, pages.UNAVAILABLE)
        return _error(500, f"internal error: {edge_message(exc)}")

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        first = exc.errors()[0]
        if _for_readers(request):
            return _page(request, 422, pages.reader_line(first))
        if first.get("type") == "json_invalid":
            reason = (first.get("ctx") or {}).get("error") or first.get("msg")
            return _error(422, f"invalid JSON body at character {first['loc'][-1]}: {reason}")
        where = ".".join(str(p) for p in first.get("loc", [])[1:]) or "request"
        return _error(422, f"invalid {where}: {first.get('msg')}")

    @app.exception_handler(WatchesUnavailable)
    async def _watches(request: Request, exc: WatchesUnavailable):
        log.error("%s", exc)  # the operator's log has the full path; the client gets the file's name
        return _error(503, exc.public)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return _page(request, 404, str(exc)) if _for_readers(request) else _error(404, str(exc))

    @app.exception_handler(SimilarError)
    async def _bad(request: Request, exc: SimilarError):
        return _page(request, 422, str(exc)) if _for_readers(request) else _error(422, str(exc))

    @app.exception_handler(IndexChanged)
    async def _changed(request: Request, exc: IndexChanged):
        log.error("%s: %s", request.url.path, exc)
        return _page(request, 503, pages.UNAVAILABLE) if _for_readers(request) else _error(503, str(exc))

    @app.exception_handler(CorruptIndex)
    async def _corrupt(
        request: Request, exc: CorruptIndex
    ):  # the server's file, not the request: one line, no traceback
        log.error("%s: %s", request.url.path, exc)
        return _page(request, 500, pages.UNAVAILABLE) if _for_readers(request) else _error(500, str(exc))

    def cached(request: Request, index: Index, body) -> Response:
        """ETag from the index build: the same URL on the same build always gives the same answer."""
        etag = f'"{index.build_id}"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=3600"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        if isinstance(body, str):
            return HTMLResponse(body, headers=headers)
        return JSONResponse(body, headers=headers)

    @app.get("/v1/health")
    def health():
        index = holder.served  # answers even when a file changed: it says which
        try:
            index.check_files()
            status = "ok"
        except IndexChanged as exc:
            status = str(exc)
        return {
            "status": status,
            "papers": len(index),
            "build_id": index.build_id,
            "methods": list(index.methods),
            "reloads": holder.reloads,
        }

    @app.get("/v1/index")
    def manifest(request: Request):
        index = holder.index
        return cached(request, index, public_manifest(index.manifest.to_dict()))

    @app.get("/v1/papers/{pmid}")
    def paper(request: Request, pmid: str = PMID_PATH):
        index = holder.index
        p = index.paper(pmid)
        from dataclasses import asdict

        return cached(request, index, {**asdict(p), "authors_short": p.authors_short, "url": p.url})

    @app.get("/v1/papers/{pmid}/similar")
    def similar(
        request: Request,
        pmid: str = PMID_PATH,
        n: int = Query(10, ge=1, le=MAX_API_N),
        method: str | None = Query(None, pattern=registry.pattern()),
        filters: Filters = Depends(list_filters),
        all_versions: bool = Query(False, description="List every PMID of a work instead of one entry per work."),
        explain: bool = Query(
            False, description="Say why each paper is listed: shared terms with exact shares, MeSH, sentences."
        ),
        format: str = Query(
            "json", pattern=FORMAT_PATTERN, description="json, or a download: ris, bibtex, csl-json, csv"
        ),
    ):
        index = holder.index
        result = index.similar(pmid, n=n, method=method, filters=checked(index, filters), versions=not all_versions)
        if explain:
            result = explain_list(index, result)
        if format != "json":
            return exported(result, format, f"similar-{pmid}")
        return cached(request, index, result.to_dict())

    @app.post("/v1/recommendations")
    def recommendations(body: RecommendationRequest):
        """Papers like the positive PMIDs (and text), unlike the negative ones; none of them is listed."""
        index = holder.index
        result = recommend_collection(
            index,
            body.positive,
            body.negative,
            n=body.n,
            method=body.method,
            text=body.text,
            explain=body.explain,
            filters=checked(index, body.filters()),
            versions=not body.all_versions,
        )
        return result.to_dict()

    @app.get("/v1/recommendations")
    def recommendations_link(
        request: Request,
        positive: str = Query(..., pattern=PMID_LIST, description="Comma-separated PMIDs"),
        negative: str = Query("", pattern=f"^$|{PMID_LIST}", description="Comma-separated PMIDs"),
        n: int = Query(10, ge=1, le=MAX_API_N),
        method: str | None = Query(None, pattern=COLLECTION_METHODS),
        filters: Filters = Depends(list_filters),
        all_versions: bool = Query(False),
        explain: bool = Query(False),
        format: str = Query("json", pattern=FORMAT_PATTERN),
    ):
        index = holder.index
        result = recommend_collection(
            index,
            positive.split(","),
            [p for p in negative.split(",") if p],
            n=n,
            method=method,
            explain=explain,
            filters=checked(index, filters),
            versions=not all_versions,
        )
        if format != "json":
            return exported(result, format, "recommendations")
        return cached(request, index, result.to_dict())

    @app.get("/v1/watches")
    def watches():
        from ..watch import describe, list_watches

        return {"watches": [describe(w) for w in list_watches(holder.path)]}

    @app.get("/v1/watches/{name}/feed.atom")
    def watch_feed(request: Request, name: str = PathParam(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")):
        """A watch's new papers (recorded by each `similar add`) as an Atom feed."""
        from ..watch import feed

        return Response(feed(holder.path, name, str(request.base_url).rstrip("/")), media_type="application/atom+xml")

    @app.post("/admin/reload")
    def reload(authorization: str | None = Header(None)):
        token = config.token(TOKEN_ENV)
        if not token:
            return _error(403, f"reload over HTTP is off: set {TOKEN_ENV} on the server (or send SIGHUP)")
        # as bytes: header values arrive as latin-1 text, the token is UTF-8; compare_digest on str takes ASCII only
        given = (authorization or "").encode("latin-1", errors="replace").removeprefix(b"Bearer ").strip()
        if not hmac.compare_digest(given, token.encode("utf-8", errors="surrogateescape")):
            return _error(403, "wrong or missing admin token (Authorization: Bearer ...)")
        outcome = holder.try_reload()
        if outcome.status != 200:
            return _error(outcome.status, outcome.message)
        return {"status": "reloaded", "build_id": outcome.build_id, "papers": outcome.papers}

    @app.get("/widget/{pmid}", response_class=HTMLResponse)
    def widget(
        request: Request,
        pmid: str = PMID_PATH,
        n: int = Query(5, ge=1, le=MAX_API_N),
        theme: str = Query("light", pattern="^(light|dark)$"),
        explain: bool = Query(False),
        filters: Filters = Depends(list_filters),
    ):
        index = holder.index
        filters = checked(index, filters)  # a bad value: its line on a page (the handlers), before any ranking
        try:
            result = index.similar(pmid, n=n, filters=filters)
        except NotFound:  # the API's message advises the operator (`similar add`); a reader gets a plain sentence
            return HTMLResponse(pages.widget_error(pages.NOT_FOUND_TEXT, theme), status_code=404)
        if explain:
            result = explain_list(index, result)
        return cached(request, index, pages.widget_page(result, theme))

    @app.get("/widget.js")
    def widget_js():
        return Response(
            pages.WIDGET_JS,
            media_type="application/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    @app.get("/embed/{pmid}", response_class=HTMLResponse)
    def embed(request: Request, pmid: str = PMID_PATH):
        index = holder.index
        try:
            p = index.paper(pmid)
        except NotFound:  # the API's message advises the operator; the site owner reading this page gets a sentence
            return _page(
                request, 404, f"PMID {int(pmid)} is not in this index: there are no similar papers to embed yet."
            )
        base = web.public_base(request)
        return HTMLResponse(pages.embed_page(p, base or web.PLACEHOLDER, "" if base else web.REPLACE))

    web.install(app, holder, checked)  # the pages for people: search, papers, collections (web.py)
    return app


DOCS_ASSETS = "/docs-assets"


def _offline_docs(app: FastAPI) -> None:
    """/docs from Swagger UI files shipped in a PyPI package (swagger-ui-bundle-v2), so it works with no network;
    FastAPI's default page loads them from a CDN. ReDoc (CDN only) is off."""
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - API docs",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def docs_redirect():
        return get_swagger_ui_oauth2_redirect_html()


def serve(index_path: str | Path, host: str = "127.0.0.1", port: int = 8000, ready=None) -> None:
    """Run under uvicorn; SIGHUP reloads the index in place. `ready()` is called once the index is open."""
    import signal

    import uvicorn

    config.check(config.SERVER)  # before anything says "serving"
    timeout = float(config.number(HEADER_TIMEOUT_ENV))
    app = create_app(index_path)
    if ready is not None:
        ready()
    if hasattr(signal, "SIGHUP"):

        def _hup(signum, frame):
            app.state.holder.try_reload()  # never raises: a bad folder logs one line and the old index serves on

        signal.signal(signal.SIGHUP, _hup)
    # proxy_headers off: X-Forwarded-Proto/For are a client's words unless SIMILAR_PUBLIC_URL says where it is served
    uvicorn.run(
        app, host=host, port=port, log_level="warning", http=_header_timeout_protocol(timeout), proxy_headers=False
    )


def _header_timeout_protocol(seconds: float):
    """uvicorn's h11 protocol, closing a connection whose request headers do not arrive within `seconds`."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer = None

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(seconds, self._header_timeout)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                self._disarm()  # the headers are in

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.conn.their_state is h11.IDLE:
                self._arm()  # the next request on a kept-alive connection has the same limit

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol
