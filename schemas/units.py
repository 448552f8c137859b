"""Human sizes, shared by the API (query and body values) and the CLI (flags and tables).

Decimal units are 1000-based (``500TB``, ``10GB``), ``i`` units are 1024-based (``1.5TiB``,
``10GiB``), and a bare letter means the binary unit (``1.5T`` = 1.5 TiB), as ``du -h`` prints it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MAX_BYTES = 2**63 - 1  # PostgreSQL BIGINT: every size is stored in one

_LETTERS = "KMGTPE"
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([kmgtpe])(i?)(b?)|(b?))\s*", re.IGNORECASE)


class SizeError(ValueError):
    """A size string that cannot be read; the message says what is accepted."""


def parse_size(value: str | int) -> int:
    """``'500TB'`` → 500·10¹², ``'1.5TiB'``/``'1.5T'`` → 1.5·2⁴⁰, ``'123'``/``123`` → 123 bytes."""
    if isinstance(value, bool):
        raise SizeError("expected a size such as 500TB, 1.5TiB or a number of bytes")
    if isinstance(value, int):
        n = value
    else:
        m = _SIZE_RE.fullmatch(value)
        if not m:
            raise SizeError(f"{value!r} is not a size (examples: 500TB, 1.5TiB, 10GiB, 1.5T, 1048576)")
        number, letter, binary, b_suffix, _ = m.groups()
        try:
            amount = Decimal(number)
        except InvalidOperation:  # the regex admits only digits and one dot, but keep the error one line
            raise SizeError(f"{value!r} is not a size") from None
        if letter:
            power = _LETTERS.index(letter.upper()) + 1
            # '10GB' is decimal; '10GiB' and a bare '10G' are binary.
            base = 1000 if (b_suffix and not binary) else 1024
            amount *= Decimal(base) ** power
        if amount != amount.to_integral_value() and not letter:
            raise SizeError(f"{value!r}: a number of bytes must be whole")
        n = int(amount)
    if n < 0:
        raise SizeError("a size cannot be negative")
    if n > MAX_BYTES:
        raise SizeError(f"{value!r} is larger than the largest size ({MAX_BYTES} bytes)")
    return n


def format_size(n: int | None, binary: bool = True) -> str:
    """``1610612736`` → ``'1.5GiB'`` (or ``'1.6GB'`` decimal); bytes below one unit print as ``'512B'``."""
    if n is None:
        return "-"
    base = 1024 if binary else 1000
    amount, unit = float(n), ""
    for letter in _LETTERS:
        if abs(amount) < base:
            break
        amount /= base
        unit = letter + ("iB" if binary else "B")
    if not unit:
        return f"{n}B"
    return f"{amount:.1f}{unit}" if amount < 100 else f"{amount:.0f}{unit}"
