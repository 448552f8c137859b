"""Errors the API answers with: each carries its HTTP status and is turned into JSON at the edge (app.py)."""

from __future__ import annotations


class ApiError(Exception):
    """Base class: an answer other than success, with a machine-readable code and a one-line message."""

    status = 500
    code = "internal"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def body(self) -> dict:
        err: dict = {"status": self.status, "code": self.code, "message": self.message}
        if self.param is not None:
            err["param"] = self.param
        return {"error": err}


class BadParameter(ApiError):
    status = 400
    code = "bad_parameter"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unavailable(ApiError):
    """A dependency (PostgreSQL, Kafka) cannot be reached: the caller may retry."""

    status = 503
    code = "unavailable"
