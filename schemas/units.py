"""Human sizes, THE definition for the API (values and messages), the CLI (flags and tables) and the
dashboard (web/src/components/SizeFormat.tsx ports ``format_size``/``family_of``; both are tested
against the same examples, ``units.cases.json`` beside this file).

Parsing: decimal units are 1000-based (``500TB``, ``10GB``), ``i`` units are 1024-based
(``1.5TiB``, ``10GiB``), and a bare letter means the binary unit (``1.5T`` = 1.5 TiB), as ``du -h``
prints it. Formatting: three significant digits and a space (``1.50 GiB``, ``455 TiB``), in the
unit family asked for; ``family_of`` finds the family a size was typed in from the size alone (the
one in which it is shortest: ``500TB`` stays ``500 TB``, ``1.5TiB`` stays ``1.50 TiB``), so a
quota set as ``--soft 500TB --hard 600TB`` is shown as ``500 TB / 600 TB`` everywhere.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MAX_BYTES = 2**63 - 1  # PostgreSQL BIGINT: every size is stored in one

_LETTERS = "KMGTPE"
# The grammar, one pattern for the parser and the OpenAPI document (the same in Python and ECMAScript): an amount
# with a unit letter (groups: amount, letter, i, b), or a whole number of bytes, optionally with B (group: amount;
# '1.0' is whole). Not expressible here: the largest size (MAX_BYTES), which the parser checks.
PATTERN = (
    r"^\s*(?:([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([kKmMgGtTpPeE])([iI]?)([bB]?)"
    r"|([0-9]+(?:\.0*)?|\.0+)\s*[bB]?)\s*$"
)
EXAMPLES = ("500TB", "1.5TiB", "10GiB", "1.5T", "1048576")
_SIZE_RE = re.compile(PATTERN)
_BYTES_FRACTION = re.compile(r"\s*(?:[0-9]+\.[0-9]*|\.[0-9]+)\s*[bB]?\s*")


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
            if _BYTES_FRACTION.fullmatch(value):
                raise SizeError(f"{value!r}: a number of bytes must be whole")
            raise SizeError(f"{value!r} is not a size (examples: {', '.join(EXAMPLES)})")
        number, letter, binary, b_suffix, whole = m.groups()
        try:
            amount = Decimal(number or whole)
        except InvalidOperation:  # the regex admits only digits and one dot, but keep the error one line
            raise SizeError(f"{value!r} is not a size") from None
        if letter:
            power = _LETTERS.index(letter.upper()) + 1
            # '10GB' is decimal; '10GiB' and a bare '10G' are binary.
            base = 1000 if (b_suffix and not binary) else 1024
            amount *= Decimal(base) ** power
        n = int(amount)
    if n < 0:
        raise SizeError("a size cannot be negative")
    if n > MAX_BYTES:
        raise SizeError(f"{value!r} is larger than the largest size ({MAX_BYTES} bytes)")
    return n


BINARY, DECIMAL = "binary", "decimal"
_UNIT_NAMES = {
    BINARY: ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"),
    DECIMAL: ("B", "kB", "MB", "GB", "TB", "PB", "EB"),
}
_BASES = {BINARY: 1024, DECIMAL: 1000}


def _unit(n: int, base: int) -> int:
    """The largest unit (0 = bytes) that ``n`` is at least one of."""
    u = 0
    while u < 6 and abs(n) >= base ** (u + 1):
        u += 1
    return u


def _digits(n: int, family: str) -> int:
    """Significant digits of ``n`` written exactly in its unit of ``family`` (500·10¹² → 1 in TB)."""
    n = abs(n)
    if n == 0:
        return 0
    if family == DECIMAL:
        return len(str(n).rstrip("0"))  # dividing by 1000^k only moves the decimal point
    power = 10 * _unit(n, 1024)
    twos = (n & -n).bit_length() - 1
    # n / 2^power = (n >> twos) · 5^(power − twos) / 10^(power − twos) when power > twos.
    mantissa = n >> power if power <= twos else (n >> twos) * 5 ** (power - twos)
    return len(str(mantissa).rstrip("0"))


def family_of(*sizes: int | None) -> str:
    """The unit family the sizes were most likely typed in: the one that writes them shortest (binary on a tie)."""
    known = [n for n in sizes if n is not None]
    return DECIMAL if sum(_digits(n, DECIMAL) for n in known) < sum(_digits(n, BINARY) for n in known) else BINARY


def format_size(n: int | None, family: str | None = BINARY) -> str:
    """``1610612736`` → ``'1.50 GiB'``; ``500·10¹²`` with ``DECIMAL`` → ``'500 TB'``; ``family=None``
    picks ``family_of(n)``; below one unit ``'512 B'``; None → ``'-'``."""
    if n is None:
        return "-"
    fam = family or family_of(n)
    u = _unit(n, _BASES[fam])
    if u == 0:
        return f"{n} B"
    v = n / _BASES[fam] ** u
    digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2  # three significant digits
    return f"{v:.{digits}f} {_UNIT_NAMES[fam][u]}"
