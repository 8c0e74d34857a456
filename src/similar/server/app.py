"""The HTTP face: a FastAPI app over one open Index (JSON API, widget page, widget script, embed page, reload)."""
from __future__ import annotations

import hmac
import logging
import os
import threading
from pathlib import Path

from fastapi import FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ..errors import NotFound, SimilarError
from ..index import Index
from . import pages

log = logging.getLogger("similar.server")
TOKEN_ENV = "SIMILAR_ADMIN_TOKEN"
MAX_API_N = 100
PMID_PATH = PathParam(..., pattern=r"^[0-9]{1,9}$", description="PubMed ID")


class IndexHolder:
    """The index being served; `reload` opens the folder anew and swaps it in, requests in flight keep the old one."""

    def __init__(self, path: Path, index: Index | None = None):
        self.path = path
        self._lock = threading.Lock()
        self.index = index or Index.open(path)
        self.reloads = 0

    def reload(self) -> Index:
        fresh = Index.open(self.path)  # opened fully before the swap: a bad folder leaves the old index serving
        with self._lock:
            self.index = fresh
            self.reloads += 1
        log.info("reloaded %s: build %s", self.path, fresh.build_id)
        return fresh


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def create_app(index_path: str | Path, index: Index | None = None) -> FastAPI:
    from ..backends.dense import set_threads

    set_threads(1)  # one query per request thread: OpenMP teams would only fight over the cores
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
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"], allow_headers=["*"], expose_headers=["ETag"])

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", [])[1:]) or "request"
        return _error(422, f"invalid {where}: {first.get('msg')}")

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return _error(404, str(exc))

    @app.exception_handler(SimilarError)
    async def _bad(request: Request, exc: SimilarError):
        return _error(422, str(exc))

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
        index = holder.index
        return {"status": "ok", "papers": len(index), "build_id": index.build_id, "methods": list(index.methods), "reloads": holder.reloads}

    @app.get("/v1/index")
    def manifest(request: Request):
        index = holder.index
        return cached(request, index, index.manifest)

    @app.get("/v1/papers/{pmid}")
    def paper(request: Request, pmid: str = PMID_PATH):
        index = holder.index
        p = index.paper(pmid)
        return cached(request, index, {"pmid": p.pmid, "title": p.title, "journal": p.journal, "year": p.year, "url": p.url})

    @app.get("/v1/papers/{pmid}/similar")
    def similar(
        request: Request,
        pmid: str = PMID_PATH,
        n: int = Query(10, ge=1, le=MAX_API_N),
        method: str | None = Query(None, pattern="^(hybrid|dense|tfidf|bm25|pmra)$"),
        min_year: int | None = Query(None, ge=1000, le=3000),
        max_year: int | None = Query(None, ge=1000, le=3000),
    ):
        index = holder.index
        result = index.similar(pmid, n=n, method=method, min_year=min_year, max_year=max_year)
        return cached(request, index, result.to_dict())

    @app.post("/admin/reload")
    def reload(authorization: str | None = Header(None)):
        token = os.environ.get(TOKEN_ENV)
        if not token:
            return _error(403, f"reload over HTTP is off: set {TOKEN_ENV} on the server (or send SIGHUP)")
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given, token):
            return _error(403, "wrong or missing admin token (Authorization: Bearer ...)")
        try:
            index = holder.reload()
        except SimilarError as exc:
            return _error(500, f"reload failed, still serving the previous index: {exc}")
        return {"status": "reloaded", "build_id": index.build_id, "papers": len(index)}

    @app.get("/widget/{pmid}", response_class=HTMLResponse)
    def widget(request: Request, pmid: str = PMID_PATH, n: int = Query(5, ge=1, le=MAX_API_N),
               theme: str = Query("light", pattern="^(light|dark)$")):
        index = holder.index
        try:
            result = index.similar(pmid, n=n)
        except NotFound:  # the API's message advises the operator (`similar add`); a reader gets a plain sentence
            return HTMLResponse(pages.widget_error(pages.NOT_FOUND_TEXT, theme), status_code=404)
        return cached(request, index, pages.widget_page(result, theme))

    @app.get("/widget.js")
    def widget_js():
        return Response(pages.WIDGET_JS, media_type="application/javascript", headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/embed/{pmid}", response_class=HTMLResponse)
    def embed(request: Request, pmid: str = PMID_PATH):
        index = holder.index
        p = index.paper(pmid)
        return HTMLResponse(pages.embed_page(p, str(request.base_url).rstrip("/")))

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
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - API docs",
                                   oauth2_redirect_url="/docs/oauth2-redirect",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def docs_redirect():
        return get_swagger_ui_oauth2_redirect_html()


def serve(index_path: str | Path, host: str = "127.0.0.1", port: int = 8000, ready=None) -> None:
    """Run under uvicorn; SIGHUP reloads the index in place. `ready()` is called once the index is open."""
    import signal

    import uvicorn

    app = create_app(index_path)
    if ready is not None:
        ready()
    if hasattr(signal, "SIGHUP"):
        def _hup(signum, frame):
            try:
                app.state.holder.reload()
            except SimilarError as exc:
                log.error("reload failed, still serving the previous index: %s", exc)
        signal.signal(signal.SIGHUP, _hup)
    uvicorn.run(app, host=host, port=port, log_level="warning")
