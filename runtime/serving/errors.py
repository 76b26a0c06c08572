"""Typed serving errors: each carries its HTTP status and a stable code; `app.py` maps them to responses."""

from __future__ import annotations


class ServingError(Exception):
    """Base of every error answered to a client as `{"error": {"code", "message"}}`."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def headers(self) -> list[tuple[bytes, bytes]]:
        if self.retry_after is None:
            return []
        return [(b"retry-after", str(max(1, round(self.retry_after))).encode())]


class BadRequest(ServingError):
    status = 400
    code = "bad_request"


class InvalidJson(BadRequest):
    code = "invalid_json"


class InvalidInput(ServingError):
    """The payload parsed but does not fit the model (wrong types, missing columns, bad format key)."""

    status = 422
    code = "invalid_input"


class Unauthorized(ServingError):
    status = 401
    code = "unauthorized"

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"www-authenticate", b'Bearer realm="mlplat-serve"')]


class Forbidden(ServingError):
    status = 403
    code = "forbidden"


class UnknownTenant(Forbidden):
    """The request names a tenant the residency map does not know: refused before anything is read or written."""

    code = "unknown_tenant"


class NotFound(ServingError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ServingError):
    status = 405
    code = "method_not_allowed"


class RequestTimeout(ServingError):
    """The client did not send its body within the body read timeout."""

    status = 408
    code = "request_timeout"


class PayloadTooLarge(ServingError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ServingError):
    status = 415
    code = "unsupported_media_type"


class ResidencyRefused(ServingError):
    status = 451
    code = "residency_refused"


class NotReady(ServingError):
    status = 503
    code = "not_ready"

    def __init__(self, message: str, *, retry_after: float | None = 1.0) -> None:
        super().__init__(message, retry_after=retry_after)


class Overloaded(NotReady):
    code = "overloaded"


class FeatureStoreUnavailable(NotReady):
    code = "feature_store_unavailable"


class Timeout(ServingError):
    status = 504
    code = "timeout"


class ModelFailure(ServingError):
    """The model raised on input that passed validation: the model's fault, not the caller's."""

    status = 500
    code = "model_error"
