"""ISO 4217 currency codes: EMVCo's ID 53 is numeric, people type the alphabetic code."""

from __future__ import annotations

# The currencies of the QR schemes this network meets, and the world's most traded ones.
NUMERIC_BY_ALPHA = {
    "AED": "784", "AUD": "036", "BDT": "050", "BND": "096", "BRL": "986", "CAD": "124",
    "CHF": "756", "CNY": "156", "CZK": "203", "DKK": "208", "EGP": "818", "EUR": "978",
    "GBP": "826", "HKD": "344", "HUF": "348", "IDR": "360", "ILS": "376", "INR": "356",
    "JPY": "392", "KES": "404", "KHR": "116", "KRW": "410", "KWD": "414", "KZT": "398",
    "LAK": "418", "LKR": "144", "MMK": "104", "MNT": "496", "MOP": "446", "MXN": "484",
    "MYR": "458", "NGN": "566", "NOK": "578", "NPR": "524", "NZD": "554", "PHP": "608",
    "PKR": "586", "PLN": "985", "QAR": "634", "RUB": "643", "SAR": "682", "SEK": "752",
    "SGD": "702", "THB": "764", "TRY": "949", "TWD": "901", "USD": "840", "VND": "704",
    "ZAR": "710",
}
ALPHA_BY_NUMERIC = {numeric: alpha for alpha, numeric in NUMERIC_BY_ALPHA.items()}
assert len(ALPHA_BY_NUMERIC) == len(NUMERIC_BY_ALPHA)


def currency_numeric(code: str) -> str:
    """The ISO 4217 numeric code of ``code``, given as numeric ("156") or alphabetic ("CNY",
    any case). Raises ValueError for a code that is neither."""
    if len(code) == 3 and code.isascii() and code.isdigit():
        return code
    numeric = NUMERIC_BY_ALPHA.get(code.upper())
    if numeric is None:
        raise ValueError(f"unknown currency {code!r}: give the ISO 4217 numeric code "
                         "(e.g. 156) or a common alphabetic one (e.g. CNY, HKD, USD)")
    return numeric
