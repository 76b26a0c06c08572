"""HTTP wiring only: the two scoring routes as a lean raw-ASGI path, everything else through FastAPI.

Every error becomes `{"error": {"code", "message"}}` here, in `error_response`, and nowhere else.
"""

from __future__ import annotations

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
    PayloadTooLarge,
    ServingError,
)
from runtime.serving.protocol import decode_json
from runtime.serving.service import ServingState
from runtime.serving.settings import ServeSettings

log = logging.getLogger("mlplat.serve.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SCORING_PATHS = frozenset(("/invocations", "/v1/predict"))
JSON_HEADERS = [(b"content-type", b"application/json")]


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


async def _read_body(receive: Receive, declared: int | None, limit: int) -> bytes:
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class ServingApp:
    """The ASGI application: scoring routes handled directly, the rest delegated to FastAPI."""

    def __init__(self, state: ServingState, api: FastAPI) -> None:
        self.state = state
        self.api = api
        self.max_body = state.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in SCORING_PATHS:
            await self._score(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    async def _score(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        endpoint = scope["path"]
        variant = "none"
        content_type = authorization = tenant = entity = None
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                declared = int(value) if value.isdigit() else None
            elif name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-mlplat-tenant":
                tenant = value.decode("latin-1")
            elif name == b"x-mlplat-entity":
                entity = value.decode("latin-1")
        try:
            if scope["method"] != "POST":
                raise MethodNotAllowed(f"{endpoint} accepts POST only")
            self.state.authorize(authorization)
            body = await _read_body(receive, declared, self.max_body)
            if endpoint == "/invocations":
                answer = await self.state.invocations(body, content_type, tenant, entity)
            else:
                answer = await self.state.predict(decode_json(body))
            status, headers, payload = 200, JSON_HEADERS, answer.body
            variant = answer.variant
        except Exception as error:
            status, headers, payload = error_response(error)
            variant = getattr(error, "variant", variant)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        self.state.record(endpoint, variant, status, time.perf_counter() - started)


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
