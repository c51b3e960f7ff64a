"""Reading fixed-size binary fields (keys, hashes, signatures) from their hex in JSON."""

from __future__ import annotations

from typing import Any


def fixed_hex(value: Any, size: int) -> bytes | None:
    """The ``size`` bytes that ``value`` spells in hex, or None when it is not a string of
    exactly that: callers raise their own error, naming the field."""
    if not isinstance(value, str):
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    return raw if len(raw) == size else None
