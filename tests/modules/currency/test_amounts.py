"""Amounts: integers in minor units inside, decimal strings at the edges, never rounded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consortia.modules.currency.amounts import (
    AMOUNT_MINOR_MAX,
    AmountError,
    format_amount,
    parse_amount,
)


@pytest.mark.parametrize(("text", "exponent", "minor"), [
    ("12.3", 2, 1230),  # CNY: fewer decimals than the exponent are fine
    ("12.30", 2, 1230),
    ("12", 2, 1200),
    ("0.01", 2, 1),
    ("1", 0, 1),  # JPY
    ("1500", 0, 1500),
    ("0.0001", 4, 1),
    ("1.5", 4, 15000),
    ("0.5", 1, 5),
    (str(AMOUNT_MINOR_MAX), 0, AMOUNT_MINOR_MAX),
    ("1000000000000000.00", 2, AMOUNT_MINOR_MAX),
])
def test_parse_amount_gives_minor_units(text: str, exponent: int, minor: int) -> None:
    assert parse_amount(text, exponent) == minor


@pytest.mark.parametrize(("text", "exponent"), [
    ("1.001", 2),  # more decimals than the exponent: refused, never rounded
    ("1.000", 2),
    ("1.0", 0),
    ("1.", 2),
    (".5", 2),
    ("1.00001", 4),
    ("1,00", 2),
    ("1 000", 0),
    (" 1", 2),
    ("1 ", 2),
    ("1\n", 2),
    ("-1", 2),
    ("+1", 2),
    ("1e3", 2),
    ("1E3", 0),
    ("0", 2),
    ("0.00", 2),
    ("0", 0),
    ("", 2),
    ("01", 2),
    ("00.50", 2),
    ("1_000", 0),
    ("١٢", 0),  # Arabic-Indic digits: not ASCII
    ("１２", 0),  # full-width digits
    ("NaN", 2),
    ("inf", 2),
    ("0x10", 0),
    (str(AMOUNT_MINOR_MAX + 1), 0),  # too large
    ("1000000000000000.01", 2),
    ("9" * 19, 0),
    ("9" * 5000, 2),  # far too large, and must not blow up int()
    ("1." + "0" * 5000, 2),
])
def test_parse_amount_refuses(text: str, exponent: int) -> None:
    with pytest.raises(AmountError) as info:
        parse_amount(text, exponent)
    # The reason is short even when the input is long (it lands in receipts).
    assert 0 < len(str(info.value)) <= 120


def test_too_large_is_named_as_such() -> None:
    for text in (str(AMOUNT_MINOR_MAX + 1), "9" * 19, "9" * 5000):
        with pytest.raises(AmountError, match="too large"):
            parse_amount(text, 0)


def test_more_decimals_than_the_exponent_is_named_as_such() -> None:
    with pytest.raises(AmountError, match="more than 2 decimals"):
        parse_amount("12.345", 2)


@pytest.mark.parametrize(("minor", "exponent", "text"), [
    (1230, 2, "12.30"),
    (1, 2, "0.01"),
    (0, 2, "0.00"),
    (0, 0, "0"),
    (1500, 0, "1500"),
    (1, 4, "0.0001"),
    (15000, 4, "1.5000"),
    (-1230, 2, "-12.30"),  # statements show debits as negative decimals
    (-1, 2, "-0.01"),
    (-5, 0, "-5"),
    (-1, 4, "-0.0001"),
    (AMOUNT_MINOR_MAX, 2, "1000000000000000.00"),
])
def test_format_amount(minor: int, exponent: int, text: str) -> None:
    assert format_amount(minor, exponent) == text


@given(st.integers(1, AMOUNT_MINOR_MAX), st.integers(0, 4))
def test_format_then_parse_is_the_identity(minor: int, exponent: int) -> None:
    assert parse_amount(format_amount(minor, exponent), exponent) == minor


@given(st.integers(1, AMOUNT_MINOR_MAX), st.integers(0, 4))
def test_negatives_format_as_minus_the_positive(minor: int, exponent: int) -> None:
    assert format_amount(-minor, exponent) == "-" + format_amount(minor, exponent)


@given(st.from_regex(r"[1-9][0-9]{0,8}(\.[0-9]{1,4})?", fullmatch=True), st.integers(0, 4))
def test_parse_then_format_keeps_the_value(text: str, exponent: int) -> None:
    decimals = len(text.partition(".")[2])
    if decimals > exponent:
        with pytest.raises(AmountError):
            parse_amount(text, exponent)
        return
    minor = parse_amount(text, exponent)
    whole, _, fraction = format_amount(minor, exponent).partition(".")
    given_whole, _, given_fraction = text.partition(".")
    assert whole == given_whole
    assert fraction == given_fraction.ljust(exponent, "0")


@given(st.text(max_size=30))
def test_parse_never_fails_any_other_way(text: str) -> None:
    for exponent in (0, 2, 4):
        try:
            minor = parse_amount(text, exponent)
        except AmountError:
            continue
        assert 0 < minor <= AMOUNT_MINOR_MAX
