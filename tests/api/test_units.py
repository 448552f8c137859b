"""Sizes as the API and CLI read them (warpdrive.schemas.units)."""

from __future__ import annotations

import re

import pytest

from warpdrive.schemas.units import MAX_BYTES, PATTERN, SizeError, format_size, parse_size


@pytest.mark.parametrize(
    "text,expected",
    [
        ("500TB", 500 * 10**12),
        ("1.5TiB", int(1.5 * 2**40)),
        ("10GiB", 10 * 2**30),
        ("10GB", 10 * 10**9),
        ("1.5T", int(1.5 * 2**40)),
        ("1048576", 1048576),
        (" 2 kib ", 2048),
        ("3k", 3072),
        ("7B", 7),
        ("0", 0),
        ("1gb", 10**9),
        (".5K", 512),
        ("1EiB", 2**60),
        (12345, 12345),
    ],
)
def test_parse_size(text, expected) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "TB", "5 XB", "-1", "1.5", "1e3", "10 GiBs", "8EiB", "1,5G", True, -3, 2**63])
def test_parse_size_rejects(text) -> None:
    with pytest.raises(SizeError):
        parse_size(text)


@pytest.mark.parametrize(
    "text",
    [
        "500TB",
        " 2 kib ",
        "1.0",
        "1.",
        ".0",
        "7B",
        "1.5k",
        ".5K",
        "1.5",
        "1.5B",
        "1.50",
        ".5",
        "",
        "TB",
        "1e3",
        "10 GiBs",
        "-1",
        "\u0663",
        "1,5G",
        "3EiB",
        "0.0b",
    ],
)
def test_the_openapi_pattern_is_the_parsers_grammar(text: str) -> None:
    """What the OpenAPI document admits as a size string is what the server reads (below MAX_BYTES)."""
    try:
        parse_size(text)
        accepted = True
    except SizeError:
        accepted = False
    assert bool(re.search(PATTERN, text)) == accepted, text


def test_a_fraction_of_a_byte_is_named() -> None:
    with pytest.raises(SizeError, match="must be whole"):
        parse_size("1.5B")


def test_format_size() -> None:
    assert format_size(512) == "512 B" and format_size(1536) == "1.50 KiB" and format_size(3 * 2**40) == "3.00 TiB"
    assert format_size(1_500_000_000, "decimal") == "1.50 GB" and format_size(None) == "-"
    assert format_size(MAX_BYTES).endswith("EiB")
