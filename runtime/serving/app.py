"""HTTP wiring only: the two scoring routes as a lean raw-ASGI path, everything else through FastAPI.

Every error becomes `{"error": {"code", "message"}}` here, in `error_response`, and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from runtime.serving.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    NotReady,
    Overloaded,
    PayloadTooLarge,
    RequestTimeout,
    ServingError,
)
from runtime.serving.service import Call, ServingState
from runtime.serving.settings import ServeSettings

log = logging.getLogger("mlplat.serve.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SCORING_PATHS = frozenset(("/invocations", "/v1/predict"))
JSON_HEADERS = [(b"content-type", b"application/json")]
CLOSE = (b"connection", b"close")
# a body over the limit is read and discarded up to this many times the limit (within the body timeout), so the
# client gets to read its 413 instead of a connection reset; beyond it the connection is simply closed
DISCARD_FACTOR = 16


def error_response(error: Exception) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The one mapping from errors to HTTP: status, headers and the JSON error body."""
    if not isinstance(error, ServingError):
        log.error("unexpected error", exc_info=error)
        error = ServingError("internal error; see the server log")
    body = orjson.dumps({"error": {"code": error.code, "message": error.message}})
    return error.status, [*JSON_HEADERS, *error.headers()], body


def _as_response(error: Exception) -> Response:
    status, headers, body = error_response(error)
    return Response(body, status_code=status, headers={k.decode(): v.decode() for k, v in headers})


class _Headers:
    """The request headers the scoring routes read, in one pass."""

    __slots__ = ("authorization", "content_type", "declared", "entity", "expects_continue", "tenant")

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.content_type = self.authorization = self.tenant = self.entity = None
        self.declared: int | None = None
        self.expects_continue = False
        for name, value in headers:
            if name == b"content-type":
                self.content_type = value.decode("latin-1")
            elif name == b"content-length":
                self.declared = int(value) if value.isdigit() else None
            elif name == b"authorization":
                self.authorization = value.decode("latin-1")
            elif name == b"x-mlplat-tenant":
                self.tenant = value.decode("latin-1")
            elif name == b"x-mlplat-entity":
                self.entity = value.decode("latin-1")
            elif name == b"expect":
                self.expects_continue = value.lower() == b"100-continue"


class _Body:
    """Reads one request body within the size limit and the body timeout; remembers whether it read it all."""

    def __init__(self, receive: Receive, declared: int | None, limit: int, timeout_s: float) -> None:
        self.receive = receive
        self.declared = declared
        self.limit = limit
        self.timeout_s = timeout_s
        self.complete = declared == 0

    async def read(self) -> bytes:
        if self.declared is not None and self.declared > self.limit:
            raise PayloadTooLarge(
                f"body of {self.declared} bytes exceeds the {self.limit}-byte limit (MLPLAT_MAX_BODY_BYTES)"
            )
        chunks = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    message = await self.receive()
                    if message["type"] == "http.disconnect":
                        self.complete = True
                        raise BadRequest("client disconnected")
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    self.complete = not message.get("more_body", False)
                    if size > self.limit:
                        raise PayloadTooLarge(f"body exceeds the {self.limit}-byte limit (MLPLAT_MAX_BODY_BYTES)")
                    chunks.append(chunk)
                    if self.complete:
                        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        except TimeoutError:
            raise RequestTimeout(
                f"the request body did not arrive within {self.timeout_s:g} s (MLPLAT_BODY_TIMEOUT_SECONDS)"
            ) from None

    async def discard(self, budget: int) -> None:
        """Reads and drops the rest of a refused body (bounded in bytes and time), like a lingering close, so the
        client reads its error instead of a connection reset."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeout_s):
                while not self.complete and budget > 0:
                    message = await self.receive()
                    self.complete = message["type"] == "http.disconnect" or not message.get("more_body", False)
                    budget -= len(message.get("body", b""))


class ServingApp:
    """The ASGI application: scoring routes handled directly, the rest delegated to FastAPI."""

    def __init__(self, state: ServingState, api: FastAPI) -> None:
        self.state = state
        self.api = api
        settings = state.settings
        self.max_body = settings.max_body_bytes
        self.body_timeout_s = settings.body_timeout_seconds
        self.max_inflight = settings.max_inflight_requests
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in SCORING_PATHS:
            await self._score(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    async def _score(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        endpoint = scope["path"]
        client = scope.get("client")
        call = Call(caller=client[0] if client else None)
        head = _Headers(scope["headers"])
        body = _Body(receive, head.declared, self.max_body, self.body_timeout_s)
        self.inflight += 1
        try:
            if scope["method"] != "POST":
                raise MethodNotAllowed(f"{endpoint} accepts POST only")
            if self.inflight > self.max_inflight:
                raise Overloaded(
                    f"{self.max_inflight} requests already in progress (MLPLAT_MAX_INFLIGHT_REQUESTS); retry shortly"
                )
            claims = self.state.authorize(head.authorization)
            if claims is not None and isinstance(claims.get("sub"), str):
                call.caller = claims["sub"]
            data = await body.read()
            if endpoint == "/invocations":
                answer = await self.state.invocations(data, head.content_type, head.tenant, head.entity, call)
            else:
                answer = await self.state.predict(data, call)
            status, headers, payload = 200, JSON_HEADERS, answer.body
        except Exception as error:
            status, headers, payload = error_response(error)
            if not body.complete:
                if not isinstance(error, RequestTimeout) and not head.expects_continue:
                    await body.discard(DISCARD_FACTOR * self.max_body)
                headers = [*headers, CLOSE]
        finally:
            self.inflight -= 1
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        self.state.record(endpoint, call.variant, status, time.perf_counter() - started)


def create_app(settings: ServeSettings) -> ServingApp:
    state = ServingState(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    api = FastAPI(title="mlplat-serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @api.exception_handler(ServingError)
    async def _serving_error(_: Request, error: ServingError) -> Response:
        return _as_response(error)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 405:
            return _as_response(MethodNotAllowed(str(error.detail)))
        return _as_response(NotFound(f"no such route ({error.detail})"))

    @api.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, error: RequestValidationError) -> Response:
        return _as_response(BadRequest(str(error)))

    @api.get("/health/live")
    async def live() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @api.get("/health/ready")
    async def ready() -> Response:
        checks = await state.readiness()
        if not checks["ready"]:
            failing = ", ".join(name for name, ok in checks.items() if not ok and name != "ready")
            return _as_response(NotReady(f"not ready: {failing}"))
        return Response(orjson.dumps(checks), media_type="application/json")

    @api.get("/ping")
    @api.get("/health")
    async def mlflow_ping() -> Response:
        """MLflow's scoring-server health routes, for clients that probe them (ready, unlike MLflow's)."""
        if not state.is_loaded():
            return _as_response(NotReady("models still loading"))
        return Response(b"\n", media_type="application/json")

    @api.get("/version")
    async def version() -> Response:
        import mlflow

        return Response(mlflow.__version__.encode(), media_type="application/json")

    @api.get("/metrics")
    async def metrics() -> Response:
        return Response(state.metrics.render(), media_type=state.metrics.content_type)

    @api.get("/v1/models")
    async def models() -> Response:
        return Response(orjson.dumps(state.describe()), media_type="application/json")

    app = ServingApp(state, api)
    return app
