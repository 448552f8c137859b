"""Errors of the admin CLI; `main` turns every one of them into a one-line message and exit code 1."""

from __future__ import annotations


class CtlError(Exception):
    """Base class of every error warpdrive-ctl raises; the message is what the user sees."""


class Unreachable(CtlError):
    """The control plane could not be reached (connection refused, DNS, time-out)."""


class ApiError(CtlError):
    """The control plane answered with an error status; the message is the API's own when it sent one."""

    def __init__(self, status: int, message: str, code: str = "", param: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param


class JobFailed(CtlError):
    """A followed job ended failed or cancelled."""
