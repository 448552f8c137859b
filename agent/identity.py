"""Who is calling: the uid from the FUSE request, mapped to a user name (config overrides, then passwd)."""

from __future__ import annotations

import pwd


class Identities:
    """uid → user name, cached (passwd lookups may go to NSS/LDAP)."""

    def __init__(self, overrides: dict[str, str]) -> None:
        self._names: dict[int, str] = {int(k): v for k, v in overrides.items()}

    def name(self, uid: int) -> str:
        try:
            return self._names[uid]
        except KeyError:
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = str(uid)  # an unknown uid is still an identity; keep it countable
            self._names[uid] = name
            return name
