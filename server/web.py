"""HTTP plumbing shared by every route: request timing, the Host/Origin guard, the body-size and body-time
limits, plain-worded JSON errors (5xx included), fast JSON.

The middlewares are pure ASGI (no BaseHTTPMiddleware): they add microseconds, not a task per request,
and they leave streaming responses (server-sent events) alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any, TypeVar
from urllib.parse import urlsplit

import numpy as np
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.config import Settings, host_name
from server.store import StorageError

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is optional; the stdlib path is slower, not different
    orjson = None  # type: ignore[assignment]

log = logging.getLogger("drsae.web")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


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
# Sent with every response, the dashboard's included (docs/hardening.md): no framing by other sites (a framed
# Training page was one click from starting a job), no MIME sniffing, no full URLs to other sites.
SECURITY_HEADERS = (
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"content-security-policy", b"frame-ancestors 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


class HeadersMiddleware:
    """Adds the security headers, `X-Process-Time` (ms) and `Server-Timing: app;dur=...` (request start to
    response start) to every response."""

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
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                headers.append((b"x-process-time", ms.encode()))
                headers.append((b"server-timing", f"app;dur={ms}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return value.decode("latin-1")
    return None


class GuardMiddleware:
    """Refuses requests a web page on another site could make the visitor's browser send:

    - a Host header outside the allowed names (DNS rebinding: the page's own name pointing at us) -> 400;
      the address the server socket is bound to is accepted too, so `--host 0.0.0.0` works by IP;
    - a POST/PUT/PATCH/DELETE whose Origin header (browsers send it) is not this server -> 403.

    Job actions also need a JSON content type or the token (server/deps.py): the check for browsers that
    send no Origin.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...]) -> None:
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.allowed = frozenset(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._check(scope)
        if problem is None:
            await self.app(scope, receive, send)
            return
        code, detail = problem
        await JSONResponse({"detail": detail}, status_code=code)(scope, receive, send)

    def _host_ok(self, name: str, scope: Scope) -> bool:
        if self.any_host or name in self.allowed:
            return True
        server = scope.get("server")
        bound = server[0].lower() if server and server[0] else None
        return bound is not None and name.strip("[]") == bound.strip("[]")

    def _check(self, scope: Scope) -> tuple[int, str] | None:
        host = _header(scope, b"host")
        if host is not None and not self._host_ok(host_name(host), scope):
            return 400, (
                f"Unknown Host header {host[:100]!r}: this server answers to {', '.join(sorted(self.allowed))} "
                "(add names with DRSAE_ALLOWED_HOSTS)"
            )
        if scope.get("method") not in UNSAFE:
            return None
        origin = _header(scope, b"origin")
        if origin is not None:
            netloc = urlsplit(origin).netloc.lower() if origin != "null" else ""
            if not netloc or host is None or netloc != host.lower():
                return 403, f"Cross-origin request refused: Origin {origin[:100]!r} is not this server"
        return None


class BodyLimitMiddleware:
    """413 with a JSON message for request bodies over `max_bytes`, declared (Content-Length) or streamed;
    408 when a body does not arrive within `timeout_s` (a client that never finishes would otherwise hold
    a connection and a task for ever).

    Every body, the dashboard's included, is read up to the limit before the app sees it, then replayed;
    memory is bounded by the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

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
            if size == 0:
                await self.app(scope, receive, send)
                return
        elif scope.get("method") not in ("POST", "PUT", "PATCH") and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        total = 0
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                detail = f"Request body not received within {self.timeout_s:g} s"
                await JSONResponse({"detail": detail}, status_code=408, headers={"Connection": "close"})(
                    scope, receive, send
                )
                return
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


# ----------------------------------------------------------------------------------- bodies
MAX_ERRORS = 20  # problems a 422 lists: a body of 100k unknown keys is one mistake, not a 9 MB answer
INLINE_BODY_BYTES = 16 * 1024  # smaller bodies are validated on the event loop: too small to hold it up
# object members in one body; the largest valid one (encode with 1024 interventions) has about 4,100
MAX_MEMBERS = 5000
M = TypeVar("M", bound=BaseModel)
_BODY_MODELS: dict[str, type[BaseModel]] = {}  # request bodies parsed by parse_json, for the OpenAPI document


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` of a route whose body `parse_json` reads: the model's schema in components, where
    its references resolve."""
    _BODY_MODELS[model.__name__] = model
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def parse_json(request: Request, model: type[M]) -> M:
    """The body as `model`, by pydantic-core's JSON parser. A large body is checked and validated in a
    worker thread, and one with more than MAX_MEMBERS object members is refused before pydantic builds an
    error per member (that alone held the event loop for seconds)."""
    body = await request.body()
    if len(body) <= INLINE_BODY_BYTES:
        return _validate(model, body)
    return await asyncio.to_thread(_validate_large, model, body)


def _validate(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body or b"null")
    except ValidationError as e:
        raise _request_error(e, body) from None


def _validate_large(model: type[M], body: bytes) -> M:
    try:
        parsed = orjson.loads(body) if orjson is not None else json.loads(body)
    except ValueError:
        return _validate(model, body)  # says where the JSON breaks
    if _members(parsed, MAX_MEMBERS) > MAX_MEMBERS:
        raise RequestValidationError(
            [{"type": "too_many_members", "loc": ("body",), "msg": f"more than {MAX_MEMBERS} object members"}]
        )
    return _validate(model, body)


def _members(value: Any, limit: int) -> int:
    """Object members in a parsed JSON value, counted up to just past `limit`."""
    count, stack = 0, [value]
    while stack and count <= limit:
        v = stack.pop()
        if isinstance(v, dict):
            count += len(v)
            stack.extend(x for x in v.values() if isinstance(x, dict | list))
        elif isinstance(v, list):
            stack.extend(x for x in v if isinstance(x, dict | list))
    return count


def _request_error(e: ValidationError, body: bytes) -> RequestValidationError:
    """FastAPI's shape (locations under "body"); invalid JSON names the character, as FastAPI's does."""
    errors = e.errors(include_url=False, include_input=False)
    if errors and errors[0]["type"] == "json_invalid":
        try:
            json.loads(body)
        except ValueError as bad:
            pos, why = getattr(bad, "pos", None), getattr(bad, "msg", str(bad))
            loc = ("body", pos) if pos is not None else ("body",)
            return RequestValidationError([{"type": "json_invalid", "loc": loc, "msg": why, "ctx": {"error": why}}])
    return RequestValidationError([{**err, "loc": ("body", *err["loc"])} for err in errors[:MAX_ERRORS]])


# ----------------------------------------------------------------------------------- errors
def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body",)) or "body"


def _line(e: dict[str, Any]) -> str:
    if e.get("type") == "json_invalid":  # loc is (body, character offset) or just (body,)
        loc = [p for p in e.get("loc", ()) if isinstance(p, int)]
        why = (e.get("ctx") or {}).get("error") or e.get("msg", "")
        where = f" at character {loc[0]}" if loc else ""
        return f"the body is not valid JSON{where} ({str(why).removeprefix('Invalid JSON: ')})"
    return f"{_where(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}"


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with one readable line per problem (the contract's plain `detail`) plus the structured list, at
    most MAX_ERRORS of them. The offending input is not echoed back: it may be a whole image."""
    raw = exc.errors()
    errors = [{k: v for k, v in e.items() if k not in ("input", "url", "ctx")} for e in raw[:MAX_ERRORS]]
    shown = raw[:5]
    text = "; ".join(_line(e) for e in shown)
    if len(raw) > len(shown):
        text += f"; and {len(raw) - len(shown)} more" if len(raw) < MAX_ERRORS else "; and more"
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


async def storage_error(_: Request, exc: StorageError) -> JSONResponse:
    """503: the job database or run folder cannot be written (disk full, read-only); names cause and path."""
    log.error("storage: %s", exc)
    return JSONResponse({"detail": f"Storage unavailable: {exc}"}, status_code=503, headers={"Retry-After": "60"})


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    """Any other failure: a JSON 500 like every other error (the traceback goes to the log only)."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": f"Internal server error ({type(exc).__name__}); the server log has details"},
                        status_code=500)


def guard(app: FastAPI, settings: Settings) -> None:
    """The middlewares every route passes: called last, so they sit outside the dashboard's own (headers
    outermost, so the timing covers the limits, then the Host/Origin check, then the body limits)."""
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    app.add_middleware(GuardMiddleware, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(HeadersMiddleware)


def install(app: FastAPI, settings: Settings) -> None:
    """Error handlers and the OpenAPI fixes (the middlewares come from `guard`, after the dashboard)."""
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(StorageError, storage_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, server_error)

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
            components = schema["components"]["schemas"]
            for name, model in _BODY_MODELS.items():  # bodies parse_json reads, with their nested models
                body = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(body.pop("$defs", {}))
                components[name] = body
            if settings.max_job_seconds is not None and "JobCreate" in components:  # this server's ceiling
                limits = [components["JobCreate"]["properties"]["time_limit"]]
                if "SweepCreate" in components:
                    limits.append(components["SweepCreate"]["properties"]["grid"]["properties"]["time_limit"]["items"])
                for limit in limits:
                    for branch in limit.get("anyOf", [limit]):
                        if branch.get("type") == "number":
                            branch["maximum"] = settings.max_job_seconds
            if settings.token is None:  # nothing needs the bearer token: the schema must not ask for it
                schema.get("components", {}).pop("securitySchemes", None)
                for ops in schema.get("paths", {}).values():
                    for op in ops.values():
                        if isinstance(op, dict) and op.pop("security", None) is not None:
                            op.get("responses", {}).pop("401", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
