"""Periods: one grammar for the API, its OpenAPI pattern and the CLI."""

from __future__ import annotations

import re

import pytest

from warpdrive.schemas.periods import EXAMPLES, MAX_DAYS, PATTERN, format_period, parse_period


@pytest.mark.parametrize(("text", "days"), [("30d", 30), ("12w", 84), ("1y", 365), ("90", 90), ("3660", 3660)])
def test_periods_read_as_days(text: str, days: int) -> None:
    assert parse_period(text) == days
    assert re.match(PATTERN, text)
    assert parse_period(format_period(days)) == days


@pytest.mark.parametrize("text", ["0d", "0", "thirty", "3m", "11y", "-1d", "30 d", "1.5w", "", "123456", "30D"])
def test_bad_periods_are_refused_with_a_message(text: str) -> None:
    with pytest.raises(ValueError, match="period"):
        parse_period(text)


def test_the_pattern_refuses_what_the_grammar_cannot_read() -> None:
    for text in ("thirty", "3m", "30 d", "1.5w", "", "123456"):
        assert not re.match(PATTERN, text), text
    assert all(re.match(PATTERN, e) for e in EXAMPLES)
    assert MAX_DAYS < 10**5
