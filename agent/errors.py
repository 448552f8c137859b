"""Errors of the node agent, and their one conversion to errno at the FUSE edge."""

from __future__ import annotations

import errno


class AgentError(Exception):
    """Base class of every error the agent raises."""


class MountError(AgentError):
    """The mount could not be set up or torn down; the message says why."""


class QuotaExceeded(AgentError):
    """A write by a user whose team is over its hard limit on the backend."""


def errno_of(exc: BaseException) -> int:
    """The errno a backend failure becomes: the OS error's own, else the closest class, else EIO."""
    if isinstance(exc, QuotaExceeded):
        return errno.EDQUOT
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    for cls, code in (
        (FileNotFoundError, errno.ENOENT),
        (PermissionError, errno.EACCES),
        (FileExistsError, errno.EEXIST),
        (IsADirectoryError, errno.EISDIR),
        (NotADirectoryError, errno.ENOTDIR),
        (TimeoutError, errno.ETIMEDOUT),
        (NotImplementedError, errno.ENOTSUP),
    ):
        if isinstance(exc, cls):
            return code
    return errno.EIO


def error_text(exc: BaseException) -> str:
    """A short form of a failure for the event's ``error`` field: ``ENOENT: <message>``."""
    code = errno_of(exc)
    return f"{errno.errorcode.get(code, str(code))}: {str(exc)[:200] or type(exc).__name__}"
