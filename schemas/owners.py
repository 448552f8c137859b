"""Ownership sentinels, the same in the stream workers (who write them), the API and the dashboard.

The value lives in owners.json so the dashboard imports the very same one (web/src/owners.ts).
"""

from __future__ import annotations

import json
from importlib import resources

_SENTINELS = json.loads(resources.files(__package__).joinpath("owners.json").read_text())

UNOWNED: str = _SENTINELS["unowned"]  # the team (and user) of files no rule or owner maps to anyone
