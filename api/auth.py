"""Bearer-token authentication and the two roles: ``viewer`` (every GET) and ``admin`` (every mutation)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from warpdrive.schemas.config import Config

from .errors import Forbidden, Unauthorized

ROLE_RANK = {"viewer": 1, "admin": 2}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str


ANONYMOUS_ADMIN = Principal("anonymous (insecure-no-auth)", "admin")


def authenticate(authorization: str | None, cfg: Config, insecure_no_auth: bool) -> Principal:
    """The caller behind an ``Authorization`` header value; raises Unauthorized.

    Every configured token is compared, in constant time, so timing reveals neither which token
    nor how much of one matched. Tokens never appear in messages or logs.
    """
    if insecure_no_auth:
        return ANONYMOUS_ADMIN
    if not authorization:
        raise Unauthorized("missing Authorization: Bearer <token> header")
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    given = presented.strip().encode()
    found: Principal | None = None
    for i, t in enumerate(cfg.api.tokens):
        if hmac.compare_digest(given, t.token.encode()) and found is None:
            found = Principal(t.name or f"token#{i}", t.role)
    if found is None:
        raise Unauthorized("invalid token")
    return found


def authorize(principal: Principal, role: str) -> None:
    if ROLE_RANK[principal.role] < ROLE_RANK[role]:
        raise Forbidden(f"this needs the {role} role; the token has {principal.role}")
