"""Connection-level protections uvicorn lacks, on its own httptools protocol: a header read timeout, a header
size limit and a connection limit answered `503` with `Retry-After`.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) but never times out a request whose headers
trickle in, its httptools protocol has no header size limit (h11's `h11_max_incomplete_event_size` does not
apply), and its `limit_concurrency` answers a plain-text 503 without `Retry-After`. The body read timeout
and the in-flight request limit live in the ASGI app (`app.py`), where the request is known.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

RETRY_AFTER_SECONDS = 1
# request line and headers of one request at most (nginx's default large_client_header_buffers is 4 x 8 KiB)
MAX_HEADER_BYTES = 64 * 1024
TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


def _overloaded_body(max_connections: int) -> bytes:
    return orjson.dumps({
        "error": {
            "code": "overloaded",
            "message": f"too many open connections (MLPLAT_MAX_CONNECTIONS={max_connections}); retry shortly",
        }
    })  # fmt: skip


def guarded_protocol(*, header_timeout_s: float, max_connections: int) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a header deadline and a connection limit (pass it as `http=`)."""
    overloaded = _overloaded_body(max_connections)
    shed_headers = [
        (b"content-type", b"application/json"),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        (b"connection", b"close"),
    ]

    async def shed(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": shed_headers})
        await send({"type": "http.response.body", "body": overloaded})

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _header_bytes = 0

        def data_received(self, data: bytes) -> None:
            awaiting = self._header_timer is not None
            super().data_received(data)
            if awaiting and self._header_timer is not None:  # still reading this request's headers
                self._header_bytes += len(data)
                if self._header_bytes > MAX_HEADER_BYTES:
                    self._refuse(TOO_LARGE)

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                # answered at its first request's headers (so the client reads the 503), then closed
                self.app = shed
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()  # each request on a keep-alive connection gets its own header deadline

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def _arm(self) -> None:
            self._disarm()
            self._header_bytes = 0
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._refuse(TIMED_OUT)

        def _refuse(self, answer: bytes) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self.transport.write(answer)
                self.transport.close()

    return GuardedHttpToolsProtocol
