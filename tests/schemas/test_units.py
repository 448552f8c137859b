"""Sizes: THE formatting rule, checked against the examples the dashboard's tests check too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warpdrive.schemas.units import BINARY, DECIMAL, MAX_BYTES, family_of, format_size, parse_size

CASES = json.loads((Path(__file__).parents[2] / "schemas" / "units.cases.json").read_text())


@pytest.mark.parametrize(("n", "family", "text"), CASES["format"])
def test_format_size_matches_the_shared_examples(n: int, family: str | None, text: str) -> None:
    assert format_size(n, family) == text


@pytest.mark.parametrize(("sizes", "family"), CASES["family"])
def test_family_of_matches_the_shared_examples(sizes: list[int], family: str) -> None:
    assert family_of(*sizes) == family


@pytest.mark.parametrize("typed", ["500TB", "600TB", "1.5TiB", "10GiB", "1.5T", "2PiB", "750GB", "3EiB", "12kB"])
def test_sizes_read_back_in_the_units_typed(typed: str) -> None:
    n = parse_size(typed)
    family = family_of(n)
    decimal = typed.upper().endswith("B") and not typed.upper().endswith("IB")
    assert family == (DECIMAL if decimal else BINARY)
    number = float(typed.rstrip("BbiIKkMGTPE"))
    shown = format_size(n, family)
    amount, unit = shown.split()
    assert float(amount) == pytest.approx(number) and unit[0].upper() == typed.rstrip("Bb").rstrip("iI")[-1].upper()


def test_no_raw_byte_counts_for_large_sizes() -> None:
    for n in (10**15 - 1, MAX_BYTES, 123_456_789_012_345):
        assert len(format_size(n, family_of(n)).split()[0]) <= 4  # three significant digits, never 15
