"""Periods: how far back a report looks. One grammar for the API's ``period`` parameters (and its OpenAPI
pattern), the CLI's ``--period`` options and the dashboard's period choices: ``30d``, ``12w``, ``1y`` (365 days)
or a plain number of days, from 1 day to ``MAX_DAYS``."""

from __future__ import annotations

import re

MAX_DAYS = 3660  # ten years and change: more than growth_daily keeps, less than an int overflow anywhere
PATTERN = r"^[0-9]{1,5}[dwy]?$"  # the OpenAPI document's pattern: exactly what parse_period reads (digits first)
EXAMPLES = ("30d", "12w", "1y")
_DAYS = {"": 1, "d": 1, "w": 7, "y": 365}


def parse_period(text: str) -> int:
    """The number of days ``text`` names; ValueError (a message for the user) if it names none or too many."""
    m = re.fullmatch(PATTERN.strip("^$"), text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"{text!r} is not a period: use e.g. {', '.join(EXAMPLES)} or a number of days")
    days = int(text.rstrip("dwy")) * _DAYS[text[-1] if text[-1] in "dwy" else ""]
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"{text!r} is not a period of 1 to {MAX_DAYS} days")
    return days


def format_period(days: int) -> str:
    """The period of ``days`` days as parse_period reads it back (the CLI sends this to the API)."""
    return f"{days}d"
