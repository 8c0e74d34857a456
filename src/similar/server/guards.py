"""ASGI middleware at the server's edge: a request body limit read as it streams, JSON bodies only, and CORS open to
the widget's reads (GET and HEAD of the public routes) and nothing else."""

from __future__ import annotations

import json

BODY_ENV = "SIMILAR_MAX_BODY_BYTES"
PUBLIC_PREFIXES = ("/v1/", "/widget/", "/widget.js", "/embed/")
READ_METHODS = ("GET", "HEAD")
# request headers a cross-origin read may ask for (beyond the CORS-safelisted ones, which need no preflight)
CORS_HEADERS = frozenset({"accept", "accept-language", "content-language", "if-none-match"})


async def send_error(send, status: int, message: str, headers: list | None = None) -> None:
    """The API's error shape, {"error": ..., "status": ...}, sent straight from the middleware."""
    body = json.dumps({"error": message, "status": status}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _headers(scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers") or []}


class BodyGuard:
    """A body over `limit` bytes is answered 413 before it is read: by its Content-Length when it has one, else
    (chunked) as soon as the bytes received pass the limit; at most `limit` bytes are ever held. A body that is not
    JSON is 415: the API reads JSON only (and a cross-site form or text/plain post is refused before any work)."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    def _too_large(self, size: str) -> str:
        return f"request body too large: {size}, the limit is {self.limit} bytes (set {BODY_ENV} on the server)"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        close = [(b"connection", b"close")]  # the unread body makes the connection unusable
        try:
            length = int(headers[b"content-length"]) if b"content-length" in headers else None
        except ValueError:  # uvicorn's parser refuses it first; another server might not
            return await send_error(send, 400, "Content-Length is not a number", close)
        if length is not None and length > self.limit:
            return await send_error(send, 413, self._too_large(f"{length} bytes"), close)
        if not length and not chunked:
            return await self.app(scope, receive, send)
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        if media != "application/json" and not media.endswith("+json"):
            got = f"got {media}" if media else "none was given"
            return await send_error(
                send, 415, f"the body must be JSON, sent with Content-Type: application/json ({got})", close
            )
        if not chunked:
            return await self.app(scope, receive, send)  # h11 delivers no more than Content-Length bytes
        parts, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            part = message.get("body", b"")
            size += len(part)
            if size > self.limit:
                return await send_error(send, 413, self._too_large(f"over {self.limit} bytes sent chunked"), close)
            parts.append(part)
            if not message.get("more_body"):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(parts), "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


class PublicCORS:
    """Another origin may read the public routes (GET, HEAD: the widget's fetch) and nothing else: no CORS header is
    ever sent for POST or for /admin/*, and a preflight asking for more (another method, Authorization, a custom
    header) is 403 JSON without Access-Control-Allow-* headers. No credentials: the allowed origin is `*`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        if b"origin" not in headers:
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        public = path.startswith(PUBLIC_PREFIXES)
        asked = headers.get(b"access-control-request-method")
        if method == "OPTIONS" and asked is not None:
            wanted = asked.decode("latin-1").strip().upper()
            extra = [h.strip().lower() for h in headers.get(b"access-control-request-headers", b"").decode().split(",")]
            refused = sorted({h for h in extra if h} - CORS_HEADERS)
            if public and wanted in READ_METHODS and not refused:
                allow = [
                    (b"access-control-allow-origin", b"*"),
                    (b"access-control-allow-methods", b"GET, HEAD"),
                    (b"access-control-max-age", b"600"),
                ]
                if extra != [""]:
                    allow.append((b"access-control-allow-headers", ", ".join(h for h in extra if h).encode()))
                await send({"type": "http.response.start", "status": 204, "headers": allow})
                return await send({"type": "http.response.body", "body": b""})
            what = f"{wanted} {path}" + (f" with {', '.join(refused)}" if refused else "")
            return await send_error(
                send,
                403,
                f"cross-origin {what} is not allowed: other origins may only GET or HEAD the public routes "
                "(/v1/..., /widget, /embed), without credentials",
            )
        if not (public and method in READ_METHODS):
            return await self.app(scope, receive, send)

        async def with_cors(message):
            if message["type"] == "http.response.start":
                extra = [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", b"ETag")]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return await self.app(scope, receive, with_cors)
