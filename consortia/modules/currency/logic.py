"""Currency actions: pure functions of (context, payload).

Authorisation: currencies and tiers only through governance; issue and redeem only by the
currency's issuing central bank; wallets are opened, loaded, frozen by their operator bank (the
regulator may also freeze); only a wallet's owner key spends from it.

Results carry no balances or counterparties: receipts can be fetched by anyone who knows a tx id,
and a wallet's balance is for its owner, operator and the regulator only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from consortia.ledger.genesis import Genesis
from consortia.ledger.module import Action
from consortia.ledger.params import read_param
from consortia.ledger.result import Rejected
from consortia.ledger.state import GOVERNANCE_SIGNER, Context, Reader
from consortia.ledger.tx import Tx
from consortia.modules.currency.amounts import AMOUNT_MINOR_MAX, AmountError, parse_amount
from consortia.modules.currency.types import (
    ACTIVE,
    DEVICES_PER_WALLET_MAX,
    FREEZE_REASONS,
    FROZEN,
    HOLDERS,
    LABEL_CHARS_MAX,
    MEMO_CHARS_MAX,
    TIER_ID,
    WALLET_ID,
    AddCurrency,
    BindDevice,
    Collect,
    Currency,
    Distribute,
    Entry,
    Freeze,
    Issue,
    OpenWallet,
    Redeem,
    Reserve,
    SetTier,
    SetWalletTier,
    Supply,
    Tier,
    Transfer,
    UnbindDevice,
    Unfreeze,
    Wallet,
    WalletDevice,
    currency_key,
    device_key_of,
    entry_key,
    owner_index_key,
    reserve_key,
    supply_key,
    tier_key,
    wallet_device_key,
    wallet_key,
)
from consortia.modules.governance.logic import active_member_of
from consortia.modules.governance.types import Member

DAY_MS = 86_400_000
_CODE = re.compile(r"[A-Z]{3}")
_NUMERIC = re.compile(r"[0-9]{3}")
_KEY = re.compile(r"[0-9a-f]{64}")


# -- reading ------------------------------------------------------------------------------------

def _currency(ctx: Reader, code: str) -> Currency:
    currency = ctx.get(currency_key(code), Currency)
    if currency is None:
        raise Rejected("unknown_currency", f"no currency {code[:8]!r} on this ledger")
    return currency


def _amount(text: str, currency: Currency) -> int:
    try:
        return parse_amount(text, currency.exponent)
    except AmountError as exc:
        raise Rejected("bad_amount", str(exc)) from None


def _tier(ctx: Reader, code: str, tier: str) -> Tier:
    found = ctx.get(tier_key(code, tier), Tier)
    if found is None:
        raise Rejected("unknown_tier", f"{code} has no wallet tier {tier[:32]!r}")
    return found


def _wallet(ctx: Reader, wallet_id: str) -> Wallet:
    wallet = ctx.get(wallet_key(wallet_id), Wallet)
    if wallet is None:
        raise Rejected("unknown_wallet", f"no wallet {wallet_id[:40]!r}")
    return wallet


def existing_wallet(ctx: Reader, wallet_id: str) -> Wallet:
    """The wallet, or ``Rejected("unknown_wallet")`` (for other modules' actions)."""
    return _wallet(ctx, wallet_id)


def _member(ctx: Context, role: str, *also: str) -> Member:
    member = active_member_of(ctx, ctx.signer)
    if member is None or member.role not in (role, *also):
        raise Rejected("not_allowed", f"only a {' or '.join((role, *also))} member may do this")
    return member


def _operator_of(ctx: Context, wallet: Wallet, *, regulator_too: bool = False) -> Member:
    member = _member(ctx, "bank", *(("regulator",) if regulator_too else ()))
    if member.role == "bank" and member.id != wallet.operator:
        raise Rejected("not_allowed", "only the wallet's operator bank may do this")
    return member


def _supply(ctx: Reader, code: str) -> Supply:
    return ctx.get(supply_key(code), Supply) or Supply(code)


def day_number(source: Reader, time_ms: int) -> int:
    """The day ``time_ms`` falls on in the network's time zone: daily limits count per day."""
    offset_ms: int = read_param(source, "day_offset_ms")
    return (time_ms + offset_ms) // DAY_MS


def spent_on_day(wallet: Wallet, day: int) -> int:
    """What the wallet has sent on ``day`` (its counter belongs to an earlier day: 0)."""
    return wallet.spent_today_minor if wallet.day == day else 0


def _day(ctx: Context) -> int:
    return day_number(ctx, ctx.time_ms)


def _governance_only(ctx: Context) -> None:
    if ctx.signer != GOVERNANCE_SIGNER:
        raise Rejected("governance_only", "only a governance proposal may do this")


def _post(ctx: Context, wallet: Wallet, kind: str, amount_minor: int, counterparty: str,
          memo: str = "", **changes: Any) -> None:
    """Write the wallet with its new balance and append the statement entry."""
    balance = wallet.balance_minor + amount_minor
    assert balance >= 0, wallet.id
    seq = wallet.entries
    ctx.put(wallet_key(wallet.id), msgspec.structs.replace(
        wallet, balance_minor=balance, entries=seq + 1, **changes))
    ctx.put(entry_key(wallet.id, seq), Entry(wallet.id, seq, ctx.tx_id.hex(), kind,
                                             amount_minor, balance, counterparty, memo,
                                             ctx.time_ms, ctx.height))


def _check_can_receive(ctx: Context, wallet: Wallet, amount_minor: int,
                       known: Tier | None = None) -> None:
    """``known``: a tier already read in this tx, used when it is the wallet's."""
    if wallet.status == FROZEN and not read_param(ctx, "frozen_wallets_receive"):
        raise Rejected("wallet_frozen", "the receiving wallet is frozen")
    tier = (known if known is not None and known.tier == wallet.tier
            and known.currency == wallet.currency else _tier(ctx, wallet.currency, wallet.tier))
    if wallet.balance_minor + amount_minor > tier.balance_max_minor:
        raise Rejected("balance_limit", "the receiving wallet's tier balance limit would be "
                       "exceeded")


# -- governance-only ----------------------------------------------------------------------------

def add_currency(ctx: Context, p: AddCurrency) -> dict[str, Any]:
    _governance_only(ctx)
    if not _CODE.fullmatch(p.code) or not _NUMERIC.fullmatch(p.numeric):
        raise Rejected("bad_currency", "code is 3 capital letters and numeric 3 digits "
                       "(ISO 4217)")
    if not 0 <= p.exponent <= 4:
        raise Rejected("bad_currency", "exponent must be 0 to 4")
    if ctx.has(currency_key(p.code)):
        raise Rejected("currency_exists", f"{p.code} is already on this ledger")
    issuer = ctx.get(f"governance/member/{p.issuer}", Member)
    if issuer is None or issuer.role != "central_bank" or issuer.status != ACTIVE:
        raise Rejected("bad_issuer", "the issuer must be an active central bank member")
    if not 0 < len(p.name.strip()) <= LABEL_CHARS_MAX:
        raise Rejected("bad_currency", f"name is 1 to {LABEL_CHARS_MAX} characters")
    ctx.put(currency_key(p.code), Currency(p.code, p.numeric, p.exponent, p.issuer, p.name,
                                           ctx.time_ms))
    ctx.put(supply_key(p.code), Supply(p.code))
    return {"currency": p.code}


def set_tier(ctx: Context, p: SetTier) -> dict[str, Any]:
    _governance_only(ctx)
    currency = _currency(ctx, p.currency)
    if not TIER_ID.fullmatch(p.tier) or not 0 < len(p.name.strip()) <= LABEL_CHARS_MAX:
        raise Rejected("bad_tier", "tier is 3 to 40 of a-z 0-9 _ - and needs a name")
    balance_max = _amount(p.balance_max, currency)
    payment_max = _amount(p.payment_max, currency)
    daily_max = _amount(p.daily_max, currency)
    if payment_max > daily_max or payment_max > balance_max:
        raise Rejected("bad_tier", "the per-payment limit may not exceed the daily or balance "
                       "limit")
    ctx.put(tier_key(p.currency, p.tier), Tier(p.currency, p.tier, p.name, balance_max,
                                                payment_max, daily_max))
    return {"currency": p.currency, "tier": p.tier}


# -- central bank -------------------------------------------------------------------------------

def _central_bank_and_reserve(ctx: Context, code: str, bank_id: str,
                              ) -> tuple[Currency, Reserve]:
    currency = _currency(ctx, code)
    member = _member(ctx, "central_bank")
    if member.id != currency.issuer:
        raise Rejected("not_issuer", f"only {currency.issuer} issues and redeems {code}")
    bank = ctx.get(f"governance/member/{bank_id}", Member)
    if bank is None or bank.role != "bank" or bank.status != ACTIVE:
        raise Rejected("unknown_bank", "the reserve must belong to an active bank member")
    reserve = ctx.get(reserve_key(code, bank_id), Reserve) or Reserve(code, bank_id, 0)
    return currency, reserve


def issue(ctx: Context, p: Issue) -> dict[str, Any]:
    currency, reserve = _central_bank_and_reserve(ctx, p.currency, p.bank)
    amount = _amount(p.amount, currency)
    supply = _supply(ctx, p.currency)
    if supply.issued_minor - supply.redeemed_minor + amount > AMOUNT_MINOR_MAX:
        raise Rejected("supply_limit", "outstanding supply would exceed the ledger's bound")
    ctx.put(reserve_key(p.currency, p.bank),
            msgspec.structs.replace(reserve, balance_minor=reserve.balance_minor + amount))
    ctx.put(supply_key(p.currency), msgspec.structs.replace(
        supply, issued_minor=supply.issued_minor + amount,
        in_reserves_minor=supply.in_reserves_minor + amount))
    return {}


def redeem(ctx: Context, p: Redeem) -> dict[str, Any]:
    currency, reserve = _central_bank_and_reserve(ctx, p.currency, p.bank)
    amount = _amount(p.amount, currency)
    if reserve.balance_minor < amount:
        raise Rejected("insufficient_reserve", "the bank's reserve holds less than that")
    supply = _supply(ctx, p.currency)
    ctx.put(reserve_key(p.currency, p.bank),
            msgspec.structs.replace(reserve, balance_minor=reserve.balance_minor - amount))
    ctx.put(supply_key(p.currency), msgspec.structs.replace(
        supply, redeemed_minor=supply.redeemed_minor + amount,
        in_reserves_minor=supply.in_reserves_minor - amount))
    return {}


# -- operator banks -----------------------------------------------------------------------------

def open_wallet(ctx: Context, p: OpenWallet) -> dict[str, Any]:
    bank = _member(ctx, "bank")
    _currency(ctx, p.currency)
    _tier(ctx, p.currency, p.tier)
    if not WALLET_ID.fullmatch(p.wallet_id):
        raise Rejected("bad_wallet_id", "wallet id is 3 to 40 of a-z 0-9 _ - ")
    if not _KEY.fullmatch(p.owner_key):
        raise Rejected("bad_owner_key", "owner_key is an Ed25519 public key, 64 lower-case hex")
    if p.holder not in HOLDERS:
        raise Rejected("bad_holder", f"holder is one of {', '.join(HOLDERS)}")
    if len(p.label) > LABEL_CHARS_MAX:
        raise Rejected("bad_label", f"label is at most {LABEL_CHARS_MAX} characters")
    if ctx.has(wallet_key(p.wallet_id)):
        raise Rejected("wallet_exists", "a wallet with this id exists")
    ctx.put(wallet_key(p.wallet_id), Wallet(
        p.wallet_id, p.currency, bank.id, p.owner_key, p.holder, p.label, p.tier, 0, ACTIVE,
        "", _day(ctx), 0, 0, ctx.time_ms))
    ctx.put(owner_index_key(p.owner_key, p.wallet_id), p.wallet_id)
    return {"wallet_id": p.wallet_id}


def set_wallet_tier(ctx: Context, p: SetWalletTier) -> dict[str, Any]:
    wallet = _wallet(ctx, p.wallet_id)
    _operator_of(ctx, wallet)
    tier = _tier(ctx, wallet.currency, p.tier)
    if wallet.balance_minor > tier.balance_max_minor:
        raise Rejected("balance_limit", "the wallet holds more than the new tier allows")
    ctx.put(wallet_key(wallet.id), msgspec.structs.replace(wallet, tier=p.tier))
    return {}


def distribute(ctx: Context, p: Distribute) -> dict[str, Any]:
    wallet = _wallet(ctx, p.wallet_id)
    bank = _operator_of(ctx, wallet)
    currency = _currency(ctx, wallet.currency)
    amount = _amount(p.amount, currency)
    reserve = ctx.get(reserve_key(wallet.currency, bank.id), Reserve)
    if reserve is None or reserve.balance_minor < amount:
        raise Rejected("insufficient_reserve", "the bank's reserve holds less than that")
    _check_can_receive(ctx, wallet, amount)
    ctx.put(reserve_key(wallet.currency, bank.id),
            msgspec.structs.replace(reserve, balance_minor=reserve.balance_minor - amount))
    supply = _supply(ctx, wallet.currency)
    ctx.put(supply_key(wallet.currency), msgspec.structs.replace(
        supply, in_reserves_minor=supply.in_reserves_minor - amount,
        in_wallets_minor=supply.in_wallets_minor + amount))
    _post(ctx, wallet, "distribute", amount, f"reserve:{bank.id}")
    return {}


def collect(ctx: Context, p: Collect) -> dict[str, Any]:
    wallet = _wallet(ctx, p.wallet_id)
    if ctx.signer != wallet.owner_key:
        raise Rejected("not_owner", "only the wallet's owner key may spend from it")
    if wallet.status == FROZEN:
        raise Rejected("wallet_frozen", "a frozen wallet cannot send")
    currency = _currency(ctx, wallet.currency)
    amount = _amount(p.amount, currency)
    if wallet.balance_minor < amount:
        raise Rejected("insufficient_funds", "the wallet holds less than that")
    reserve = (ctx.get(reserve_key(wallet.currency, wallet.operator), Reserve)
               or Reserve(wallet.currency, wallet.operator, 0))
    ctx.put(reserve_key(wallet.currency, wallet.operator),
            msgspec.structs.replace(reserve, balance_minor=reserve.balance_minor + amount))
    supply = _supply(ctx, wallet.currency)
    ctx.put(supply_key(wallet.currency), msgspec.structs.replace(
        supply, in_reserves_minor=supply.in_reserves_minor + amount,
        in_wallets_minor=supply.in_wallets_minor - amount))
    _post(ctx, wallet, "collect", -amount, f"reserve:{wallet.operator}")
    return {}


def freeze(ctx: Context, p: Freeze) -> dict[str, Any]:
    wallet = _wallet(ctx, p.wallet_id)
    member = _operator_of(ctx, wallet, regulator_too=True)
    if p.reason not in FREEZE_REASONS:
        raise Rejected("bad_reason", f"reason is one of {', '.join(FREEZE_REASONS)}")
    if wallet.status == FROZEN:
        raise Rejected("already_frozen", "the wallet is already frozen")
    by = "regulator" if member.role == "regulator" else "operator"
    ctx.put(wallet_key(wallet.id), msgspec.structs.replace(wallet, status=FROZEN,
                                                           freeze_reason=p.reason, frozen_by=by))
    return {}


def unfreeze(ctx: Context, p: Unfreeze) -> dict[str, Any]:
    wallet = _wallet(ctx, p.wallet_id)
    member = _operator_of(ctx, wallet, regulator_too=True)
    if p.reason not in FREEZE_REASONS:
        raise Rejected("bad_reason", f"reason is one of {', '.join(FREEZE_REASONS)}")
    if wallet.status != FROZEN:
        raise Rejected("not_frozen", "the wallet is not frozen")
    if wallet.frozen_by == "regulator" and member.role != "regulator":
        raise Rejected("not_allowed", "only the regulator lifts a freeze the regulator imposed")
    ctx.put(wallet_key(wallet.id), msgspec.structs.replace(wallet, status=ACTIVE,
                                                           freeze_reason="", frozen_by=""))
    return {}


# -- wallet owners ------------------------------------------------------------------------------

def check_spender(ctx: Context, wallet: Wallet) -> None:
    """The owner key spends, or a device bound to the wallet whose tx carries its own
    credential (the executor has admitted that credential before the action runs)."""
    if ctx.signer == wallet.owner_key:
        return
    binding = ctx.get(device_key_of(ctx.signer), WalletDevice)
    if binding is not None and binding.wallet_id == wallet.id:
        if ctx.device is None or ctx.device.device_key != ctx.signer:
            raise Rejected("device_credential_required",
                           "a device spends only with its certified device credential")
        return
    raise Rejected("not_owner", "only the wallet's owner key, or a device bound to the "
                   "wallet, may spend from it")


def bind_device(ctx: Context, p: BindDevice) -> dict[str, Any]:
    wallet = _wallet(ctx, p.wallet_id)
    if ctx.signer != wallet.owner_key:
        raise Rejected("not_owner", "only the wallet's owner binds devices to it")
    if not _KEY.fullmatch(p.device_key) or p.device_key == wallet.owner_key:
        raise Rejected("bad_device", "device_key is 64 lower-case hex characters, not the "
                       "owner key")
    if len(p.label) > LABEL_CHARS_MAX:
        raise Rejected("bad_label", f"label is at most {LABEL_CHARS_MAX} characters")
    if ctx.has(device_key_of(p.device_key)):
        raise Rejected("device_bound", "this device is already bound to a wallet")
    if len(ctx.keys(wallet_device_key(wallet.id, ""))) >= DEVICES_PER_WALLET_MAX:
        raise Rejected("too_many_devices",
                       f"a wallet has at most {DEVICES_PER_WALLET_MAX} devices; unbind one")
    ctx.put(device_key_of(p.device_key),
            WalletDevice(p.device_key, wallet.id, p.label, ctx.time_ms))
    ctx.put(wallet_device_key(wallet.id, p.device_key), p.device_key)
    return {}


def unbind_device(ctx: Context, p: UnbindDevice) -> dict[str, Any]:
    wallet = _wallet(ctx, p.wallet_id)
    if ctx.signer != wallet.owner_key:
        _operator_of(ctx, wallet)
    binding = ctx.get(device_key_of(p.device_key), WalletDevice)
    if binding is None or binding.wallet_id != wallet.id:
        raise Rejected("unknown_device", "that device is not bound to this wallet")
    ctx.delete(device_key_of(p.device_key))
    ctx.delete(wallet_device_key(wallet.id, p.device_key))
    return {}


def move(ctx: Context, sender: Wallet, receiver_id: str, amount_text: str, memo: str, *,
         out_kind: str = "transfer_out", in_kind: str = "transfer_in") -> int:
    """Move ``amount_text`` from ``sender`` to wallet ``receiver_id`` under every rule of a
    transfer (same currency, not frozen, tier limits, funds, the receiver's cap) and post both
    statement entries; the amount in minor units. The caller checks who signed
    (``check_spender``); the payments module moves money for payments and refunds with this."""
    if receiver_id == sender.id:
        raise Rejected("same_wallet", "a transfer needs two different wallets")
    if len(memo) > MEMO_CHARS_MAX:
        raise Rejected("bad_memo", f"memo is at most {MEMO_CHARS_MAX} characters")
    receiver = _wallet(ctx, receiver_id)
    if receiver.currency != sender.currency:
        raise Rejected("currency_mismatch", "both wallets must hold the same currency")
    if sender.status == FROZEN:
        raise Rejected("wallet_frozen", "a frozen wallet cannot send")
    currency = _currency(ctx, sender.currency)
    amount = _amount(amount_text, currency)
    tier = _tier(ctx, sender.currency, sender.tier)
    if amount > tier.payment_max_minor:
        raise Rejected("payment_limit", "the amount is over the wallet tier's per-payment limit")
    day = _day(ctx)
    spent = spent_on_day(sender, day)
    if spent + amount > tier.daily_max_minor:
        raise Rejected("daily_limit", "the wallet tier's daily limit would be exceeded")
    if sender.balance_minor < amount:
        raise Rejected("insufficient_funds", "the wallet holds less than that")
    _check_can_receive(ctx, receiver, amount, known=tier)
    _post(ctx, sender, out_kind, -amount, receiver.id, memo, day=day,
          spent_today_minor=spent + amount)
    _post(ctx, receiver, in_kind, amount, sender.id, memo)
    return amount


def transfer(ctx: Context, p: Transfer) -> dict[str, Any]:
    sender = _wallet(ctx, p.from_wallet)
    check_spender(ctx, sender)
    move(ctx, sender, p.to_wallet, p.amount, p.memo)
    return {}


# -- who may see a (private) currency tx --------------------------------------------------------

_WALLET_FIELDS = ("wallet_id", "from_wallet", "to_wallet")


def may_view(state: Reader, tx: Tx, viewer: str) -> bool:
    """Who may see a currency tx: its signer, the regulator, the owners and operator banks of
    the wallets it names, the bank whose reserve it moves, and (for a tx that names no wallet,
    such as issue or redeem) the currency's issuing central bank: a central bank sees its
    currency's issuance and reserves, never people's wallets."""
    if viewer == tx.signer:
        return True
    payload = tx.payload
    member = active_member_of(state, viewer)
    if member is not None and member.role == "regulator":
        return True
    names_wallet = False
    for field in _WALLET_FIELDS:
        wallet_id = payload.get(field)
        if not isinstance(wallet_id, str):
            continue
        names_wallet = True
        wallet = state.get(wallet_key(wallet_id), Wallet)
        if wallet is None:
            continue
        # The receiver of a transfer sees it: it is on their statement.
        if wallet.owner_key == viewer or (member is not None and wallet.operator == member.id):
            return True
    if member is None:
        return False
    if payload.get("bank") == member.id:
        return True
    code = payload.get("currency")
    if isinstance(code, str) and not names_wallet:
        currency = state.get(currency_key(code), Currency)
        if currency is not None and currency.issuer == member.id:
            return True
    return False


class CurrencyModule:
    name = "currency"
    private = True
    actions: Mapping[str, Action] = {
        "add_currency": Action(AddCurrency, add_currency),
        "set_tier": Action(SetTier, set_tier),
        "issue": Action(Issue, issue),
        "redeem": Action(Redeem, redeem),
        "open_wallet": Action(OpenWallet, open_wallet),
        "set_wallet_tier": Action(SetWalletTier, set_wallet_tier),
        "distribute": Action(Distribute, distribute),
        "collect": Action(Collect, collect),
        "freeze": Action(Freeze, freeze),
        "unfreeze": Action(Unfreeze, unfreeze),
        "transfer": Action(Transfer, transfer),
        "bind_device": Action(BindDevice, bind_device),
        "unbind_device": Action(UnbindDevice, unbind_device),
    }

    def init_genesis(self, ctx: Context, genesis: Genesis) -> None:
        """Currencies come by governance proposal, not in genesis."""

    def may_view(self, state: Reader, tx: Tx, viewer: str) -> bool:
        return may_view(state, tx, viewer)


module = CurrencyModule()
