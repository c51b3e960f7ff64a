"""HTTP routes of the currency module (reads; changes are signed txs sent to /v1/tx).

Currencies, tiers and supply are public. A wallet, its statement and a bank's reserve are
private: the request must be signed (``consortia.api.auth``) or come from a web session, and
only those ``queries.may_read_wallet`` / ``may_read_reserve`` allow see them (401 without a
caller, 403 for the wrong one). Amounts are shown as decimal strings, with the integer minor
units alongside (``*_minor``) for programs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from consortia.api.auth import require_caller
from consortia.api.deps import get_node
from consortia.api.errors import ApiError
from consortia.ledger.state import Reader, decode_value
from consortia.modules.currency import queries
from consortia.modules.currency.amounts import format_amount
from consortia.modules.currency.types import Currency, Tier, Wallet, tier_key
from consortia.modules.governance.logic import active_member_of
from consortia.modules.governance.types import Member, member_key
from consortia.node.node import Node
from consortia.node.orderer import now_ms

router = APIRouter(prefix="/v1/currency", tags=["currency"])
NodeDep = Annotated[Node, Depends(get_node)]
CallerDep = Annotated[str, Depends(require_caller)]

# Sequence numbers are SQLite integers (signed 64-bit).
SEQ_MAX = 2**63 - 1
BeforeSeq = Annotated[int | None, Query(ge=0, le=SEQ_MAX,
                                        description="entries before this sequence number")]


# -- views --------------------------------------------------------------------------------------

def currency_view(c: Currency) -> dict[str, Any]:
    return {"code": c.code, "numeric": c.numeric, "exponent": c.exponent, "issuer": c.issuer,
            "name": c.name, "added_ms": c.added_ms}


def tier_view(t: Tier, exponent: int) -> dict[str, Any]:
    return {
        "tier": t.tier, "name": t.name,
        "balance_max": format_amount(t.balance_max_minor, exponent),
        "payment_max": format_amount(t.payment_max_minor, exponent),
        "daily_max": format_amount(t.daily_max_minor, exponent),
        "balance_max_minor": t.balance_max_minor, "payment_max_minor": t.payment_max_minor,
        "daily_max_minor": t.daily_max_minor,
    }


def wallet_detail(node: Node, w: Wallet) -> dict[str, Any]:
    """A wallet with its tier's limits and what it may still spend today."""
    state = node.chain.state
    out = queries.wallet_view(state, w)
    c = queries.currency(state, w.currency)
    exponent = c.exponent if c is not None else 2
    spent = queries.spent_today_minor(state, w, now_ms())
    out["spent_today"] = format_amount(spent, exponent)
    out["spent_today_minor"] = spent
    tier = state.get(tier_key(w.currency, w.tier), Tier)
    if tier is not None:
        out["limits"] = tier_view(tier, exponent)
        out["daily_left"] = format_amount(max(0, tier.daily_max_minor - spent), exponent)
    return out


# -- lookups that answer 404 --------------------------------------------------------------------

def _currency(state: Reader, code: str) -> Currency:
    found = queries.currency(state, code)
    if found is None:
        raise ApiError(404, "unknown_currency", f"no currency {code[:8]!r} on this ledger")
    return found


def _readable_wallet(node: Node, wallet_id: str, caller: str) -> Wallet:
    state = node.chain.state
    found = queries.wallet(state, wallet_id)
    if found is None:
        raise ApiError(404, "unknown_wallet", f"no wallet {wallet_id[:40]!r}")
    right = queries.may_read_wallet(state, found, caller)
    if not right.allowed:
        raise ApiError(403, "not_allowed", right.why)
    return found


# -- public -------------------------------------------------------------------------------------

@router.get("/currencies", summary="Currencies on this ledger and their issuing central banks")
async def currencies(node: NodeDep) -> dict[str, Any]:
    return {"currencies": [currency_view(c) for c in queries.currencies(node.chain.state)]}


@router.get("/currencies/{code}", summary="One currency with its wallet tiers and their limits")
async def currency(code: str, node: NodeDep) -> dict[str, Any]:
    state = node.chain.state
    found = _currency(state, code)
    out = currency_view(found)
    out["tiers"] = [tier_view(t, found.exponent) for t in queries.tiers(state, code)]
    return out


@router.get("/supply/{code}", summary="Issued, redeemed, outstanding, in reserves, in wallets")
async def supply(code: str, node: NodeDep) -> dict[str, Any]:
    state = node.chain.state
    found = _currency(state, code)
    s = queries.supply(state, code)
    assert s is not None, code  # written with the currency
    out = queries.supply_view(s, found.exponent)
    out.update(exponent=found.exponent, issued_minor=s.issued_minor,
               redeemed_minor=s.redeemed_minor,
               outstanding_minor=s.issued_minor - s.redeemed_minor,
               in_reserves_minor=s.in_reserves_minor, in_wallets_minor=s.in_wallets_minor,
               height=node.chain.head.height)
    return out


# -- private: signed requests -------------------------------------------------------------------

@router.get("/wallets/{wallet_id}", summary="A wallet: balance, tier and limits, status "
            "(its owner, its operator bank, the regulator)")
async def wallet(wallet_id: str, node: NodeDep, caller: CallerDep) -> dict[str, Any]:
    return wallet_detail(node, _readable_wallet(node, wallet_id, caller))


@router.get("/wallets/{wallet_id}/statement", summary="A wallet's statement, newest first, "
            "each entry with its tx id (for its receipt)")
async def statement(wallet_id: str, node: NodeDep, caller: CallerDep,
                    before_seq: BeforeSeq = None,
                    limit: Annotated[int, Query(ge=1)] = 50) -> dict[str, Any]:
    w = _readable_wallet(node, wallet_id, caller)
    exponent = _currency(node.chain.state, w.currency).exponent
    limit = min(limit, node.config.page_size_max)
    entries = queries.latest_entries(node.store, node.chain.state, w.id, limit, before_seq)
    oldest = entries[-1].seq if entries else 0
    return {
        "wallet": w.id, "currency": w.currency, "exponent": exponent,
        "balance": format_amount(w.balance_minor, exponent), "entries_total": w.entries,
        "entries": [queries.entry_view(e, exponent) for e in entries],
        "next_before_seq": oldest if entries and oldest > 0 else None,
    }


@router.get("/wallets/{wallet_id}/statement.csv", summary="A wallet's statement as CSV "
            "(oldest first, at most statement_csv_rows_max lines per file)")
async def statement_csv(wallet_id: str, node: NodeDep, caller: CallerDep,
                        before_seq: BeforeSeq = None,
                        limit: Annotated[int, Query(ge=1)] = 10_000,
                        ) -> Response:
    w = _readable_wallet(node, wallet_id, caller)
    exponent = _currency(node.chain.state, w.currency).exponent
    limit = min(limit, node.config.statement_csv_rows_max)
    entries = queries.latest_entries(node.store, node.chain.state, w.id, limit, before_seq)
    return Response(queries.statement_csv(entries, exponent), media_type="text/csv",
                    headers={"Content-Disposition":
                             f'attachment; filename="statement-{w.id}.csv"',
                             "Cache-Control": "no-store"})


@router.get("/mine", summary="The wallets whose owner key signed this request")
async def mine(node: NodeDep, caller: CallerDep) -> dict[str, Any]:
    state = node.chain.state
    # A range scan of the owner index in SQLite: costs this owner's wallets, not everyone's.
    rows = node.store.state_scan(f"currency/owner/{caller}/", node.config.page_size_max)
    found = (queries.wallet(state, decode_value(raw, str)) for _key, raw in rows)
    return {"owner_key": caller,
            "wallets": [wallet_detail(node, w) for w in found if w is not None]}


@router.get("/reserves/{code}/{bank}", summary="A bank's reserve in a currency (the bank, the "
            "issuing central bank, the regulator)")
async def reserve(code: str, bank: str, node: NodeDep, caller: CallerDep) -> dict[str, Any]:
    state = node.chain.state
    found = _currency(state, code)
    member = state.get(member_key(bank), Member)
    if member is None or member.role != "bank":
        raise ApiError(404, "unknown_bank", f"no bank member {bank[:32]!r}")
    if not queries.may_read_reserve(state, code, bank, caller):
        raise ApiError(403, "not_allowed", "only the bank, the issuing central bank and the "
                       "regulator see a reserve")
    r = queries.reserve(state, code, bank)
    balance = 0 if r is None else r.balance_minor
    return {"currency": code, "bank": bank,
            "balance": format_amount(balance, found.exponent), "balance_minor": balance}


@router.get("/operators/{bank}/wallets", summary="The wallets a bank operates, in id order "
            "(the bank itself, the regulator)")
async def operator_wallets(bank: str, node: NodeDep, caller: CallerDep,
                           after: Annotated[str, Query(max_length=40,
                                                       description="wallet id to page on "
                                                       "from")] = "",
                           limit: Annotated[int, Query(ge=1)] = 50) -> dict[str, Any]:
    state = node.chain.state
    viewer = active_member_of(state, caller)
    if viewer is None or (viewer.id != bank and viewer.role != "regulator"):
        raise ApiError(403, "not_allowed", "only the bank itself and the regulator list a "
                       "bank's wallets")
    limit = min(limit, node.config.page_size_max)
    after_key = f"currency/wallet/{after}" if after else ""
    found = queries.wallets_of_operator(node.store, bank, limit, after_key)
    return {"operator": bank, "wallets": [queries.wallet_view(state, w) for w in found],
            "next_after": found[-1].id if len(found) == limit else None}
