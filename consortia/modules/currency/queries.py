"""Read models of the currency module (for API, pages and the CLI).

Statements page through SQLite with range scans, so a wallet's history costs its own size.
Callers decide who may see what (see ``may_read_wallet``).
"""

from __future__ import annotations

import csv
import io
from typing import Any, NamedTuple

from consortia.ledger.state import Reader, State, decode_value
from consortia.ledger.store import Store
from consortia.modules.currency.amounts import format_amount
from consortia.modules.currency.logic import day_number, spent_on_day
from consortia.modules.currency.types import (
    Currency,
    Entry,
    Reserve,
    Supply,
    Tier,
    Wallet,
    WalletDevice,
    currency_key,
    device_key_of,
    reserve_key,
    supply_key,
    wallet_device_key,
    wallet_key,
)
from consortia.modules.governance.logic import active_member_of


def currencies(state: State) -> list[Currency]:
    return state.records("currency/currency/", Currency)


def currency(state: Reader, code: str) -> Currency | None:
    return state.get(currency_key(code), Currency)


def tiers(state: State, code: str) -> list[Tier]:
    return state.records(f"currency/tier/{code}/", Tier)


def supply(state: Reader, code: str) -> Supply | None:
    return state.get(supply_key(code), Supply)


def reserve(state: Reader, code: str, bank: str) -> Reserve | None:
    return state.get(reserve_key(code, bank), Reserve)


def reserves(state: State, code: str) -> list[Reserve]:
    return state.records(f"currency/reserve/{code}/", Reserve)


def wallet(state: Reader, wallet_id: str) -> Wallet | None:
    return state.get(wallet_key(wallet_id), Wallet)


def devices_of(state: Reader, wallet_id: str) -> list[WalletDevice]:
    """The devices bound to a wallet (at most DEVICES_PER_WALLET_MAX), in key order."""
    out = []
    for key in state.keys(wallet_device_key(wallet_id, "")):
        device_key = state.get(key, str)
        binding = None if device_key is None else state.get(device_key_of(device_key),
                                                            WalletDevice)
        if binding is not None:
            out.append(binding)
    return out


def wallets_of_owner(state: State, owner_key: str) -> list[Wallet]:
    out = []
    for key in state.keys(f"currency/owner/{owner_key}/"):
        found = wallet(state, key.rsplit("/", 1)[1])
        if found is not None:
            out.append(found)
    return out


def wallets_of_operator(store: Store, operator: str, limit: int, after: str = "",
                        ) -> list[Wallet]:
    """An operator bank's wallets in id order, paged (a scan: for desks, not hot paths)."""
    out: list[Wallet] = []
    cursor = after
    while len(out) < limit:
        rows = store.state_scan("currency/wallet/", 500, cursor)
        if not rows:
            break
        for _key, raw in rows:
            w = decode_value(raw, Wallet)
            if w.operator == operator:
                out.append(w)
                if len(out) == limit:
                    break
        cursor = rows[-1][0]
    return out


def latest_entries(store: Store, state: Reader, wallet_id: str, limit: int,
                   before_seq: int | None = None) -> list[Entry]:
    """The ``limit`` entries before ``before_seq`` (default: the newest), newest first."""
    found = wallet(state, wallet_id)
    if found is None or limit <= 0:
        return []
    end = found.entries if before_seq is None else min(before_seq, found.entries)
    start = max(0, end - limit)
    if end <= start:
        # Nothing before ``before_seq`` (SQLite would read a negative LIMIT as "no limit").
        return []
    prefix = f"currency/entry/{wallet_id}/"
    after = f"{prefix}{start - 1:012d}" if start > 0 else ""
    rows = store.state_scan(prefix, end - start, after)
    return [decode_value(raw, Entry) for _, raw in rows][::-1]


def spent_today_minor(state: Reader, w: Wallet, now_ms: int) -> int:
    """What the wallet has sent today, by the rule the executor applies at the next block."""
    return spent_on_day(w, day_number(state, now_ms))


class ViewRight(NamedTuple):
    allowed: bool
    why: str


def may_read_wallet(state: Reader, w: Wallet, viewer: str | None) -> ViewRight:
    """A wallet's balance and history: its owner, its operator bank, and the regulator."""
    if viewer is None:
        return ViewRight(False, "sign the request or log in")
    if viewer == w.owner_key:
        return ViewRight(True, "owner")
    member = active_member_of(state, viewer)
    if member is not None and member.role == "regulator":
        return ViewRight(True, "regulator")
    if member is not None and member.id == w.operator:
        return ViewRight(True, "operator")
    return ViewRight(False, "only the owner, the operator bank and the regulator see a wallet")


def may_read_reserve(state: Reader, code: str, bank: str, viewer: str | None) -> bool:
    """A reserve: its bank, the issuing central bank, the regulator."""
    if viewer is None:
        return False
    member = active_member_of(state, viewer)
    if member is None:
        return False
    found = currency(state, code)
    return (member.id == bank or member.role == "regulator"
            or (found is not None and member.id == found.issuer))


def wallet_view(state: Reader, w: Wallet) -> dict[str, Any]:
    c = currency(state, w.currency)
    exp = c.exponent if c else 2
    return {
        "id": w.id, "currency": w.currency, "operator": w.operator, "owner_key": w.owner_key,
        "holder": w.holder, "label": w.label, "tier": w.tier,
        "balance": format_amount(w.balance_minor, exp), "balance_minor": w.balance_minor,
        "status": w.status, "freeze_reason": w.freeze_reason, "opened_ms": w.opened_ms,
        "entries": w.entries,
        "devices": [{"device_key": d.device_key, "label": d.label, "bound_ms": d.bound_ms}
                    for d in devices_of(state, w.id)],
    }


def entry_view(e: Entry, exponent: int) -> dict[str, Any]:
    return {
        "seq": e.seq, "tx_id": e.tx_id, "kind": e.kind,
        "amount": format_amount(e.amount_minor, exponent), "amount_minor": e.amount_minor,
        "balance": format_amount(e.balance_minor, exponent), "balance_minor": e.balance_minor,
        "counterparty": e.counterparty, "memo": e.memo, "time_ms": e.time_ms,
        "height": e.height,
    }


def supply_view(s: Supply, exponent: int) -> dict[str, Any]:
    return {
        "currency": s.currency,
        "issued": format_amount(s.issued_minor, exponent),
        "redeemed": format_amount(s.redeemed_minor, exponent),
        "outstanding": format_amount(s.issued_minor - s.redeemed_minor, exponent),
        "in_reserves": format_amount(s.in_reserves_minor, exponent),
        "in_wallets": format_amount(s.in_wallets_minor, exponent),
    }


# What makes a spreadsheet read a cell as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
STATEMENT_COLUMNS = ("seq", "time_ms", "kind", "amount", "balance", "counterparty", "memo",
                     "tx_id", "height")


def statement_csv(entries: list[Entry], exponent: int) -> str:
    """CSV of entries (oldest first), amounts as decimals; memos are quoted, never evaluated
    (a leading = + - @, tab or carriage return is prefixed with ' so spreadsheets show text)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(STATEMENT_COLUMNS)
    for e in sorted(entries, key=lambda x: x.seq):
        memo = "'" + e.memo if e.memo[:1] in _FORMULA_STARTS else e.memo
        writer.writerow([e.seq, e.time_ms, e.kind, format_amount(e.amount_minor, exponent),
                         format_amount(e.balance_minor, exponent), e.counterparty, memo,
                         e.tx_id, e.height])
    return out.getvalue()
