"""What the wallet and desk pages show: amounts, limits, statement lines, and outcomes in words.

Amounts stay integers in minor units until they are formatted here, for people, with
thousands separators (CSV exports use plain decimals: see ``queries.statement_csv``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple

from consortia.ledger.params import read_param
from consortia.ledger.state import Reader
from consortia.modules.currency.amounts import format_amount
from consortia.modules.currency.types import Currency, Entry, Tier, Wallet
from consortia.node.node import Node

# Rejection and refusal codes in plain words; the ledger's own message follows when useful.
PLAIN_WORDS = {
    "daily_limit": "This payment would take the wallet over its daily limit.",
    "payment_limit": "This amount is more than the wallet's tier allows in one payment.",
    "balance_limit": "The receiving wallet cannot hold that much: its tier's balance limit "
                     "would be exceeded.",
    "insufficient_funds": "The wallet does not hold enough for this.",
    "insufficient_reserve": "The bank's reserve holds less than that.",
    "unknown_wallet": "There is no wallet with that id.",
    "currency_mismatch": "Both wallets must hold the same currency.",
    "same_wallet": "A wallet cannot send to itself.",
    "not_owner": "Only the wallet's owner can spend from it.",
    "not_allowed": "Your institution may not do this.",
    "not_issuer": "Only the currency's issuing central bank may issue or redeem it.",
    "unknown_bank": "That is not an active bank member.",
    "unknown_tier": "That currency has no such wallet tier.",
    "unknown_currency": "There is no such currency on this ledger.",
    "wallet_exists": "A wallet with this id already exists.",
    "already_frozen": "The wallet is already frozen.",
    "not_frozen": "The wallet is not frozen.",
    "bad_amount": "The amount is not valid for this currency.",
    "bad_tier": "Those tier limits are not valid.",
    "bad_proposal": "The consortium would refuse this proposal.",
    "mempool_full": "The node is busy; nothing was done. Try again in a moment.",
    "node_failed": "The node has stopped executing; nothing was done.",
    "pending": "The node has not executed it yet; look at the transaction in a moment.",
}

KIND_WORDS = {
    "distribute": "Loaded by the bank",
    "collect": "Returned to the bank",
    "transfer_in": "Received",
    "transfer_out": "Sent",
    "payment_out": "Paid a merchant",
    "payment_in": "Payment received",
    "refund_out": "Refunded",
    "refund_in": "Refund received",
}


def explain(code: str, message: str) -> str:
    """A refusal in plain words: what the code means, then the ledger's detail."""
    if code == "device_not_admitted":
        # Certification says why: the product's certificate is revoked, suspended, expired...
        return f"This app is not admitted as a certified device: {message}."
    if code == "wallet_frozen":
        # The ledger says which side is frozen.
        return f"Frozen wallet: {message}." if message else "A frozen wallet cannot send."
    words = PLAIN_WORDS.get(code)
    if words is None:
        return (message[:1].upper() + message[1:] + ".") if message else f"Refused ({code})."
    return words


def money(minor: int, exponent: int) -> str:
    """``money(123456789, 2) == "1,234,567.89"``."""
    text = format_amount(minor, exponent)
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    grouped = f"{int(whole):,}"
    return f"{sign}{grouped}.{fraction}" if fraction else f"{sign}{grouped}"


def day_offset_ms(state: Reader) -> int:
    offset: int = read_param(state, "day_offset_ms")
    return offset


def zone_label(offset_ms: int) -> str:
    hours, rest = divmod(abs(offset_ms), 3_600_000)
    sign = "-" if offset_ms < 0 else "+"
    minutes = rest // 60_000
    return f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "") if offset_ms else "UTC"


def local_time(time_ms: int, offset_ms: int) -> str:
    """A time in the network's time zone (the one its daily limits count in)."""
    zone = timezone(timedelta(milliseconds=offset_ms)) if offset_ms else UTC
    return datetime.fromtimestamp(time_ms / 1000, tz=zone).strftime("%Y-%m-%d %H:%M")


class TierView(NamedTuple):
    tier: str
    name: str
    balance_max: str
    payment_max: str
    daily_max: str


def tier_view(tier: Tier, exponent: int) -> TierView:
    return TierView(tier.tier, tier.name, money(tier.balance_max_minor, exponent),
                    money(tier.payment_max_minor, exponent),
                    money(tier.daily_max_minor, exponent))


class EntryLine(NamedTuple):
    seq: int
    tx_id: str
    kind: str
    words: str  # "Received", "Sent", …
    counterparty: str  # a wallet id or a bank's name
    amount: str  # signed, formatted
    credit: bool
    balance: str
    memo: str
    when: str


def entry_line(entry: Entry, exponent: int, offset_ms: int, bank_names: dict[str, str],
               ) -> EntryLine:
    counterparty = entry.counterparty
    if counterparty.startswith("reserve:"):
        bank = counterparty.split(":", 1)[1]
        counterparty = bank_names.get(bank, bank)
    amount = money(entry.amount_minor, exponent)
    return EntryLine(entry.seq, entry.tx_id, entry.kind, KIND_WORDS.get(entry.kind, entry.kind),
                     counterparty, amount if entry.amount_minor < 0 else "+" + amount,
                     entry.amount_minor > 0, money(entry.balance_minor, exponent), entry.memo,
                     local_time(entry.time_ms, offset_ms))


class OutcomeView(NamedTuple):
    """What happened to a tx a page just submitted (read back from the ledger)."""

    tx_id: str
    accepted: bool
    pending: bool
    title: str  # what was asked for, as a sentence
    detail: str  # "Done." or the refusal in plain words
    code: str
    link: str  # a page that shows the result ("" if none)


def describe(kind: str, payload: dict[str, Any], currencies: dict[str, Currency],
             wallets: dict[str, Wallet]) -> str:
    """A currency or governance tx as one sentence for its signer."""
    def amount_of(code: str | None) -> str:
        text = str(payload.get("amount", ""))
        return f"{text} {code}" if code else text

    wallet_id = str(payload.get("wallet_id", payload.get("from_wallet", "")))
    wallet = wallets.get(wallet_id)
    code = wallet.currency if wallet is not None else payload.get("currency")
    match kind:
        case "currency.transfer":
            memo = f" ({payload['memo']})" if payload.get("memo") else ""
            return f"Send {amount_of(code)} to {payload.get('to_wallet')}{memo}"
        case "currency.distribute":
            return f"Distribute {amount_of(code)} to wallet {wallet_id}"
        case "currency.collect":
            return f"Return {amount_of(code)} from wallet {wallet_id} to the bank"
        case "currency.open_wallet":
            return (f"Open {payload.get('currency')} wallet {wallet_id} "
                    f"in tier {payload.get('tier')}")
        case "currency.set_wallet_tier":
            return f"Move wallet {wallet_id} to tier {payload.get('tier')}"
        case "currency.freeze":
            return f"Freeze wallet {wallet_id} ({str(payload.get('reason', '')).replace('_', ' ')})"
        case "currency.unfreeze":
            return (f"Unfreeze wallet {wallet_id} "
                    f"({str(payload.get('reason', '')).replace('_', ' ')})")
        case "currency.issue":
            return f"Issue {amount_of(code)} to {payload.get('bank')}'s reserve"
        case "currency.redeem":
            return f"Redeem {amount_of(code)} from {payload.get('bank')}'s reserve"
        case "governance.propose":
            action = payload.get("action") or {}
            inner = action.get("payload") or {}
            if action.get("kind") == "currency.set_tier":
                return (f"Propose new limits for {inner.get('currency')} tier "
                        f"{inner.get('tier')}")
            return "Propose a change to the consortium"
    return kind


def outcome_view(node: Node, tx_id: str | None, viewer: str | None) -> OutcomeView | None:
    """The result of ``tx_id`` as its viewer may see it; None if there is nothing to show."""
    if not tx_id or len(tx_id) != 64 or viewer is None:
        return None
    try:
        raw_id = bytes.fromhex(tx_id)
    except ValueError:
        return None
    status = node.tx_status(raw_id, viewer)
    if status is None or status.get("redacted"):
        return None
    if status["status"] != "committed":
        return OutcomeView(tx_id, False, True, "Submitted", PLAIN_WORDS["pending"], "pending",
                           f"/explorer/tx/{tx_id}")
    tx = status["tx"]["tx"]
    if tx["signer"] != viewer:
        return None  # an outcome banner is for whoever just submitted it
    result = status["result"]
    state = node.chain.state
    payload: dict[str, Any] = tx["payload"]
    currencies = {c.code: c for c in state.records("currency/currency/", Currency)}
    wallets: dict[str, Wallet] = {}
    for field in ("wallet_id", "from_wallet"):
        wallet_id = payload.get(field)
        if isinstance(wallet_id, str):
            found = state.get(f"currency/wallet/{wallet_id}", Wallet)
            if found is not None:
                wallets[wallet_id] = found
    accepted = result["status"] == "accepted"
    link = f"/explorer/tx/{tx_id}"
    if accepted and tx["kind"] == "governance.propose":
        link = f"/governance/proposals/{tx_id}"
    return OutcomeView(tx_id, accepted, False, describe(tx["kind"], payload, currencies, wallets),
                       "Done." if accepted else explain(result["code"], result.get("message", "")),
                       result["code"], link)
