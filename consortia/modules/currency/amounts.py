"""Amounts: integers in minor units inside, decimal strings at the edges.

``parse_amount("12.3", 2) == 1230``; more decimals than the currency's exponent, signs, spaces,
exponents or separators are refused, never rounded.
"""

from __future__ import annotations

import re

# Every amount and balance stays far below 2^63 so sums never overflow SQLite or msgpack.
AMOUNT_MINOR_MAX = 10**17
# More whole digits than this is too large whatever the exponent; checked before int() so a
# megabyte of digits costs nothing.
_WHOLE_DIGITS_MAX = len(str(AMOUNT_MINOR_MAX))
# How much of a refused input an error message echoes (messages land in receipts).
_ECHO_CHARS_MAX = 24

_AMOUNT = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]+))?")


class AmountError(ValueError):
    """Not an amount of this currency."""


def parse_amount(text: str, exponent: int) -> int:
    """Minor units of a positive decimal amount with at most ``exponent`` decimals."""
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise AmountError(f"amount {text[:_ECHO_CHARS_MAX]!r} is not a decimal like 12.34")
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > exponent:
        raise AmountError(f"amount {text[:_ECHO_CHARS_MAX]!r} has more than {exponent} "
                          "decimals")
    if len(whole) > _WHOLE_DIGITS_MAX:
        raise AmountError("amount is too large")
    scale: int = 10**exponent
    minor = int(whole) * scale + int(fraction.ljust(exponent, "0") or "0")
    if minor <= 0:
        raise AmountError("amount must be more than zero")
    if minor > AMOUNT_MINOR_MAX:
        raise AmountError("amount is too large")
    return minor


def format_amount(minor: int, exponent: int) -> str:
    """``format_amount(-1230, 2) == "-12.30"``."""
    sign = "-" if minor < 0 else ""
    minor = abs(minor)
    if exponent == 0:
        return f"{sign}{minor}"
    whole, fraction = divmod(minor, 10**exponent)
    return f"{sign}{whole}.{fraction:0{exponent}d}"
