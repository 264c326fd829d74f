"""HTTP plumbing shared by every route: request timing, the body-size limit, plain-worded errors, fast JSON.

Both middlewares are pure ASGI (no BaseHTTPMiddleware): they add microseconds, not a task per request,
and they leave streaming responses (server-sent events) alone.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is optional; the stdlib path is slower, not different
    orjson = None  # type: ignore[assignment]


# ------------------------------------------------------------------------------------- JSON
def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(content: Any) -> bytes:
    """JSON bytes; numpy arrays go straight to text (orjson) instead of through Python lists."""
    if orjson is not None:
        return orjson.dumps(content, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(content, default=_default, separators=(",", ":")).encode()


class FastJSONResponse(JSONResponse):
    """For large numeric payloads (encode, units, samples): skips pydantic re-validation of what the route
    built from arrays. Routes using it still declare response_model, so the OpenAPI schema is exact and
    the schemathesis test checks that the bodies match it."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


# ------------------------------------------------------------------------------- middleware
class TimingMiddleware:
    """Adds `X-Process-Time` (ms) and `Server-Timing: app;dur=...` from request start to response start."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = f"{(time.perf_counter() - start) * 1000:.3f}"
                headers = list(message.get("headers", []))
                headers.append((b"x-process-time", ms.encode()))
                headers.append((b"server-timing", f"app;dur={ms}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


class BodyLimitMiddleware:
    """413 with a JSON message for request bodies over `max_bytes`, declared (Content-Length) or streamed.

    A streamed body is read up to the limit before the app sees it, then replayed; memory is bounded
    by the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        mb = self.max_bytes / (1024 * 1024)
        response = JSONResponse({"detail": f"Request body too large: the limit is {mb:g} MB"}, status_code=413)
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await JSONResponse({"detail": "Invalid Content-Length header"}, status_code=400)(scope, receive, send)
                return
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the server enforces the declared length
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH") and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            if total > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# ----------------------------------------------------------------------------------- errors
def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body",)) or "body"


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with one readable line per problem (the contract's plain `detail`) plus the structured list.
    The offending input is not echoed back: it may be a whole image."""
    errors = [{k: v for k, v in e.items() if k not in ("input", "url", "ctx")} for e in exc.errors()]
    shown = errors[:5]
    text = "; ".join(f"{_where(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in shown)
    if len(errors) > len(shown):
        text += f"; and {len(errors) - len(shown)} more"
    return JSONResponse({"detail": f"Invalid request: {text}", "errors": jsonable_encoder(errors)}, status_code=422)


METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The documented methods of the OpenAPI path template that `path` fits."""
    table = getattr(app.state, "allow_table", None)
    if table is None:
        table = [
            (re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(tpl)) + "$"), sorted(m.upper() for m in ops))
            for tpl, ops in app.openapi().get("paths", {}).items()
        ]
        app.state.allow_table = table
    return next((methods for rx, methods in table if rx.match(path)), [])


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """As FastAPI's, except that a 405 lists in `Allow` every documented method of the path (Starlette
    names only those of the first route it matched, e.g. POST for /api/jobs, which has GET too)."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        methods = allowed_methods(request.app, request.url.path)
        if methods:
            headers["Allow"] = ", ".join(methods)
    return await http_exception_handler(request, StarletteHTTPException(exc.status_code, exc.detail, headers))


def install(app: FastAPI, max_body_bytes: int) -> None:
    """Middlewares (timing outermost, so it times the limit too), error handlers and the 422 schema."""
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(TimingMiddleware)

    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default_openapi()
            # our 422 body is {"detail": str, "errors": [...]}, not FastAPI's {"detail": [...]}
            schema.setdefault("components", {}).setdefault("schemas", {})["HTTPValidationError"] = {
                "title": "HTTPValidationError",
                "type": "object",
                "properties": {
                    "detail": {"type": "string", "title": "Detail"},
                    "errors": {"type": "array", "items": {"type": "object"}, "title": "Errors"},
                },
                "required": ["detail"],
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
