"""Ledger-wide parameters: stored under ``param/<name>``, changed only through governance."""

from __future__ import annotations

from typing import Any

from consortia.ledger.state import Reader

PARAM_PREFIX = "param/"

# name -> (type, default, (min, max) for integers). The constitution's knobs live here too.
PARAMETERS: dict[str, tuple[type, Any, tuple[int, int] | None]] = {
    # Longest a tx may stay valid: bounds the dedupe window every node keeps in memory.
    "tx_validity_ms_max": (int, 600_000, (1_000, 86_400_000)),
    # Whether a regulator's "no" vetoes a proposal outright.
    "regulator_veto": (bool, False, None),
    # How long a proposal stays open for ballots.
    "proposal_ttl_ms": (int, 7 * 86_400_000, (60_000, 90 * 86_400_000)),
    # Where daily wallet limits roll over: the offset of the network's time zone from UTC
    # (UTC+8 by default).
    "day_offset_ms": (int, 8 * 3_600_000, (-14 * 3_600_000, 14 * 3_600_000)),
    # Whether a frozen wallet may still receive (it may never send).
    "frozen_wallets_receive": (bool, False, None),
    # Where a certificate holder may use the CFP mark (declared uses must name one of these).
    # The CFP rules let the holder put the mark with its logo and on products, never in
    # advertising that promotes a product directly.
    "cfp_mark_contexts": (list, ["logo", "product_label"], None),
}

# Where the CFP mark could be used: every item of ``cfp_mark_contexts`` is one of these.
MARK_CONTEXTS = ("logo", "product_label", "packaging", "documentation", "website",
                 "advertising", "trade_show")

# List parameters hold distinct strings, each from its fixed vocabulary.
LIST_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "cfp_mark_contexts": MARK_CONTEXTS,
}


def param_key(name: str) -> str:
    return PARAM_PREFIX + name


def check_param(name: str, value: Any) -> Any:
    """The value, checked against its declared type and range; ValueError otherwise."""
    if name not in PARAMETERS:
        raise ValueError(f"unknown parameter {name!r}")
    type_, _default, bounds = PARAMETERS[name]
    if type(value) is not type_:
        raise ValueError(f"parameter {name} takes a {type_.__name__}")
    if isinstance(value, list):
        allowed = LIST_VOCABULARIES[name]
        if not all(isinstance(item, str) and item in allowed for item in value):
            raise ValueError(f"parameter {name} lists items of {', '.join(allowed)}")
        if len(set(value)) != len(value):
            raise ValueError(f"parameter {name} lists each item once")
    if bounds is not None and isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"parameter {name} must be within {bounds[0]}..{bounds[1]}")
    return value


def read_param(source: Reader, name: str) -> Any:
    """A parameter's current value, or its default."""
    type_, default, _ = PARAMETERS[name]
    value = source.get(param_key(name), type_)
    if value is None:
        # A copy, so a caller changing the list it got cannot change the default.
        return list(default) if type_ is list else default
    return value
