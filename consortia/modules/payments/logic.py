"""Payments actions: pure functions of (context, payload).

Authorisation: a payment network member onboards merchants and suspends them; the merchant
(its settlement wallet's owner key) or one of its certified terminals opens orders and refunds;
a wallet's owner key, or a certified device bound to it, pays. Terminal txs must carry the
terminal's device credential, which the executor admits only while the terminal's product is
certified; a terminal is registered here only if its device is registered under a
BARCODE_TERMINAL or POS certificate.

Money moves by the currency module's rules (tier limits, freezes, funds, same currency), so
payments keep every currency invariant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from consortia.ledger.genesis import Genesis
from consortia.ledger.module import Action
from consortia.ledger.result import Rejected
from consortia.ledger.state import Context, Reader
from consortia.ledger.tx import Tx
from consortia.modules.certification import queries as certification
from consortia.modules.certification.logic import effective_status
from consortia.modules.certification.types import USABLE
from consortia.modules.currency.amounts import AmountError, parse_amount
from consortia.modules.currency.logic import check_spender, existing_wallet, move
from consortia.modules.currency.types import (
    Currency,
    Wallet,
    WalletDevice,
    currency_key,
    wallet_key,
)
from consortia.modules.currency.types import device_key_of as wallet_device_key_of
from consortia.modules.governance.logic import active_member_of
from consortia.modules.governance.types import Member
from consortia.modules.payments.codes import CPM_TTL_MS_MAX, cpm_signature_ok, read_cpm
from consortia.modules.payments.types import (
    ACTIVE,
    CANCELLED,
    CITY_CHARS_MAX,
    COUNTRY,
    EXPIRED,
    LABEL_CHARS_MAX,
    MCC,
    MERCHANT_ID,
    NAME_CHARS_MAX,
    OPEN,
    ORDER_ID,
    ORDER_TTL_MS_MAX,
    PAID,
    PAYMENT_IN,
    PAYMENT_OUT,
    REASON_CHARS_MAX,
    REFUND_IN,
    REFUND_OUT,
    SUSPENDED,
    TERMINAL_PRODUCT_TYPES,
    AddTerminal,
    CancelOrder,
    ChargeCpm,
    CreateOrder,
    Merchant,
    OnboardMerchant,
    Order,
    Pay,
    Payment,
    Refund,
    RefundPayment,
    RemoveTerminal,
    SetMerchantStatus,
    Terminal,
    cpm_used_key,
    merchant_by_wallet_key,
    merchant_key,
    merchant_payment_key,
    merchant_terminal_key,
    order_key,
    payment_key,
    refund_key,
    terminal_key,
)
from consortia.qr import QrError

OWNER = "owner"
CPM_CHARS_MAX = 1_024  # a Consortia payment code is about 300 characters
TERMINAL = "terminal"


# -- reading ------------------------------------------------------------------------------------

def order_status(order: Order, time_ms: int) -> str:
    """An open order whose code has expired is ``expired`` at block time ``time_ms``."""
    if order.status == OPEN and time_ms >= order.expires_ms:
        return EXPIRED
    return order.status


def _merchant(ctx: Reader, merchant_id: str) -> Merchant:
    merchant = ctx.get(merchant_key(merchant_id), Merchant) if MERCHANT_ID.fullmatch(
        merchant_id) else None
    if merchant is None:
        raise Rejected("unknown_merchant", f"no merchant {merchant_id[:40]!r}")
    return merchant


def _network(ctx: Context) -> Member:
    member = active_member_of(ctx, ctx.signer)
    if member is None or member.role != "payment_network":
        raise Rejected("not_allowed", "only a payment network member may do this")
    return member


def _merchant_actor(ctx: Context, merchant: Merchant) -> str:
    """``owner`` (the settlement wallet's owner key) or ``terminal`` (a terminal of this
    merchant signing with its credential); Rejected otherwise."""
    wallet = existing_wallet(ctx, merchant.wallet_id)
    if ctx.signer == wallet.owner_key:
        return OWNER
    terminal = ctx.get(terminal_key(ctx.signer), Terminal)
    if terminal is not None and terminal.merchant_id == merchant.id:
        if ctx.device is None or ctx.device.device_key != ctx.signer:
            raise Rejected("device_credential_required",
                           "a terminal acts only with its certified device credential")
        return TERMINAL
    raise Rejected("not_allowed", f"only merchant {merchant.id} or its terminals may do this")


def _currency(ctx: Reader, code: str) -> Currency:
    currency = ctx.get(currency_key(code), Currency)
    assert currency is not None, code  # a merchant's wallet holds a known currency
    return currency


def _amount(text: str, currency: Currency) -> int:
    try:
        amount = parse_amount(text, currency.exponent)
    except AmountError as exc:
        raise Rejected("bad_amount", str(exc)) from None
    if amount <= 0:
        raise Rejected("bad_amount", "the amount must be more than zero")
    return amount


def _text(value: str, what: str, chars_max: int, *, empty_ok: bool = False) -> str:
    if len(value) > chars_max or (not empty_ok and not value.strip()):
        raise Rejected("bad_payload", f"{what} is {0 if empty_ok else 1} to {chars_max} "
                       "characters")
    return value


# -- the payment network ------------------------------------------------------------------------

def onboard_merchant(ctx: Context, p: OnboardMerchant) -> dict[str, Any]:
    network = _network(ctx)
    if not MERCHANT_ID.fullmatch(p.merchant_id):
        raise Rejected("bad_merchant", "a merchant id is 3 to 40 of a-z 0-9 _ -")
    _text(p.name, "name", NAME_CHARS_MAX)
    _text(p.city, "city", CITY_CHARS_MAX)
    if not COUNTRY.fullmatch(p.country):
        raise Rejected("bad_payload", "country is an ISO 3166 alpha-2 code, e.g. CN")
    if not MCC.fullmatch(p.mcc):
        raise Rejected("bad_payload", "mcc is a 4-digit ISO 18245 merchant category code")
    if ctx.has(merchant_key(p.merchant_id)):
        raise Rejected("merchant_exists", f"merchant {p.merchant_id} exists")
    wallet = existing_wallet(ctx, p.wallet_id)
    if wallet.holder != "merchant":
        raise Rejected("not_a_merchant_wallet", "a merchant settles into a merchant wallet")
    if ctx.has(merchant_by_wallet_key(wallet.id)):
        raise Rejected("wallet_taken", f"wallet {wallet.id} settles another merchant")
    ctx.put(merchant_key(p.merchant_id), Merchant(
        p.merchant_id, p.name, p.city, p.country, p.mcc, wallet.id, wallet.currency,
        network.id, ACTIVE, ctx.time_ms))
    ctx.put(merchant_by_wallet_key(wallet.id), p.merchant_id)
    return {"merchant": p.merchant_id}


def set_merchant_status(ctx: Context, p: SetMerchantStatus) -> dict[str, Any]:
    _network(ctx)
    merchant = _merchant(ctx, p.merchant_id)
    if p.status not in (ACTIVE, SUSPENDED):
        raise Rejected("bad_payload", "status is active or suspended")
    _text(p.reason, "reason", REASON_CHARS_MAX, empty_ok=True)
    ctx.put(merchant_key(merchant.id), msgspec.structs.replace(merchant, status=p.status))
    return {}


# -- merchants and their terminals --------------------------------------------------------------

def add_terminal(ctx: Context, p: AddTerminal) -> dict[str, Any]:
    merchant = _merchant(ctx, p.merchant_id)
    if _network_or_none(ctx) is None and _merchant_actor(ctx, merchant) != OWNER:
        raise Rejected("not_allowed", "the merchant or the payment network adds terminals")
    _text(p.label, "label", LABEL_CHARS_MAX, empty_ok=True)
    device = certification.device(ctx, p.device_key)
    if device is None:
        raise Rejected("not_a_terminal", "the device is not registered with a product "
                       "certificate (certification.register_device)")
    cert = certification.certificate(ctx, device.certificate)
    assert cert is not None, device.certificate
    if cert.product_type not in TERMINAL_PRODUCT_TYPES:
        raise Rejected("not_a_terminal", f"{cert.number} certifies a {cert.product_type}, "
                       "not a barcode terminal or POS")
    status = effective_status(cert, ctx.time_ms)
    if status not in USABLE:
        raise Rejected("not_a_terminal", f"product certificate {cert.number} is {status}")
    if ctx.has(terminal_key(p.device_key)):
        raise Rejected("terminal_exists", "this terminal belongs to a merchant already")
    ctx.put(terminal_key(p.device_key),
            Terminal(p.device_key, merchant.id, p.label, cert.number, ctx.time_ms))
    ctx.put(merchant_terminal_key(merchant.id, p.device_key), p.device_key)
    return {}


def _network_or_none(ctx: Context) -> Member | None:
    member = active_member_of(ctx, ctx.signer)
    return member if member is not None and member.role == "payment_network" else None


def remove_terminal(ctx: Context, p: RemoveTerminal) -> dict[str, Any]:
    merchant = _merchant(ctx, p.merchant_id)
    if _network_or_none(ctx) is None and _merchant_actor(ctx, merchant) != OWNER:
        raise Rejected("not_allowed", "the merchant or the payment network removes terminals")
    terminal = ctx.get(terminal_key(p.device_key), Terminal)
    if terminal is None or terminal.merchant_id != merchant.id:
        raise Rejected("unknown_terminal", f"no such terminal of {merchant.id}")
    ctx.delete(terminal_key(p.device_key))
    ctx.delete(merchant_terminal_key(merchant.id, p.device_key))
    return {}


def create_order(ctx: Context, p: CreateOrder) -> dict[str, Any]:
    merchant = _merchant(ctx, p.merchant_id)
    _merchant_actor(ctx, merchant)
    if merchant.status != ACTIVE:
        raise Rejected("merchant_suspended", f"merchant {merchant.id} is suspended")
    if not ORDER_ID.fullmatch(p.order_id):
        raise Rejected("bad_order", "an order id is 1 to 25 of A-Z a-z 0-9 _ . -")
    if not 1_000 <= p.ttl_ms <= ORDER_TTL_MS_MAX:
        raise Rejected("bad_payload", f"ttl_ms is 1,000 to {ORDER_TTL_MS_MAX:,}")
    amount = _amount(p.amount, _currency(ctx, merchant.currency))
    if ctx.has(order_key(merchant.id, p.order_id)):
        raise Rejected("order_exists", f"order {p.order_id} exists; order ids are never reused")
    order = Order(merchant.id, p.order_id, amount, merchant.currency, OPEN, ctx.time_ms,
                  ctx.time_ms + p.ttl_ms, ctx.signer)
    ctx.put(order_key(merchant.id, p.order_id), order)
    return {"order": p.order_id, "expires_ms": order.expires_ms}


def cancel_order(ctx: Context, p: CancelOrder) -> dict[str, Any]:
    merchant = _merchant(ctx, p.merchant_id)
    _merchant_actor(ctx, merchant)
    order = _order(ctx, merchant, p.order_id)
    status = order_status(order, ctx.time_ms)
    if status != OPEN:
        raise Rejected(f"order_{status}", f"order {order.order_id} is {status}")
    ctx.put(order_key(merchant.id, order.order_id),
            msgspec.structs.replace(order, status=CANCELLED))
    return {}


def _order(ctx: Reader, merchant: Merchant, order_id: str) -> Order:
    order = ctx.get(order_key(merchant.id, order_id), Order) if ORDER_ID.fullmatch(
        order_id) else None
    if order is None:
        raise Rejected("unknown_order", f"{merchant.id} has no order {order_id[:25]!r}")
    return order


# -- paying and refunding -----------------------------------------------------------------------

def _take_payment(ctx: Context, merchant: Merchant, payer: Wallet, amount_text: str,
                  order_id: str, memo: str, via: str) -> dict[str, Any]:
    """Move the payment into the merchant's wallet (for an open order, once, at its exact
    amount) and record it; the caller has checked who may spend from ``payer``."""
    if merchant.status != ACTIVE:
        raise Rejected("merchant_suspended", f"merchant {merchant.id} is suspended")
    currency = _currency(ctx, merchant.currency)
    amount = _amount(amount_text, currency)
    order = None
    if order_id:
        order = _order(ctx, merchant, order_id)
        status = order_status(order, ctx.time_ms)
        if status == PAID:
            raise Rejected("order_paid", f"order {order.order_id} is paid already")
        if status != OPEN:
            raise Rejected(f"order_{status}", f"order {order.order_id} is {status}")
        if amount != order.amount_minor:
            raise Rejected("amount_mismatch", "the amount differs from the order's")
    memo = memo or (f"{merchant.name} order {order_id}" if order_id else merchant.name)
    move(ctx, payer, merchant.wallet_id, amount_text, memo[:140], out_kind=PAYMENT_OUT,
         in_kind=PAYMENT_IN)
    payment_id = ctx.tx_id.hex()
    ctx.put(payment_key(payment_id), Payment(payment_id, merchant.id, payer.id, amount,
                                             merchant.currency, ctx.time_ms, ctx.height,
                                             order_id, via))
    ctx.put(merchant_payment_key(merchant.id, ctx.time_ms, payment_id), payment_id)
    if order is not None:
        ctx.put(order_key(merchant.id, order.order_id),
                msgspec.structs.replace(order, status=PAID, payment_id=payment_id))
    return {"payment": payment_id}


def pay(ctx: Context, p: Pay) -> dict[str, Any]:
    merchant = _merchant(ctx, p.merchant_id)
    payer = existing_wallet(ctx, p.from_wallet)
    check_spender(ctx, payer)
    return _take_payment(ctx, merchant, payer, p.amount, p.order_id, p.memo, "mpm")


def charge_cpm(ctx: Context, p: ChargeCpm) -> dict[str, Any]:
    """The merchant's terminal (or the merchant) charges a payer's single-use code."""
    merchant = _merchant(ctx, p.merchant_id)
    _merchant_actor(ctx, merchant)
    if len(p.code) > CPM_CHARS_MAX:
        raise Rejected("bad_code", f"a payment code has at most {CPM_CHARS_MAX} characters")
    try:
        token = read_cpm(p.code)
    except QrError as exc:
        raise Rejected("bad_code", str(exc)[:200]) from None
    if ctx.has(cpm_used_key(token.digest)):
        raise Rejected("code_used", "this payment code was used already; show a new one")
    if token.expires_ms <= ctx.time_ms:
        raise Rejected("code_expired", "this payment code has expired; show a new one")
    if token.expires_ms > ctx.time_ms + CPM_TTL_MS_MAX:
        raise Rejected("bad_code", f"a payment code lives at most {CPM_TTL_MS_MAX // 1000} s")
    if not cpm_signature_ok(token, ctx.chain_id):
        raise Rejected("bad_code", "the payment code's signature does not verify")
    payer = existing_wallet(ctx, token.wallet_id)
    _check_code_signer(ctx, payer, token.signer)
    ctx.put(cpm_used_key(token.digest), ctx.tx_id.hex())
    return _take_payment(ctx, merchant, payer, p.amount, p.order_id, "", "cpm")


def _check_code_signer(ctx: Context, payer: Wallet, signer: str) -> None:
    """A payment code is signed by the wallet's owner key, or by a device bound to the wallet
    whose product certificate is valid now (the code carries no credential of its own, so the
    registry is read instead)."""
    if signer == payer.owner_key:
        return
    binding = ctx.get(wallet_device_key_of(signer), WalletDevice)
    if binding is None or binding.wallet_id != payer.id:
        raise Rejected("code_not_authorised", "the payment code is not signed by the wallet's "
                       "owner or one of its devices")
    device = certification.device(ctx, signer)
    cert = None if device is None else certification.certificate(ctx, device.certificate)
    status = "unregistered" if cert is None else effective_status(cert, ctx.time_ms)
    if status not in USABLE:
        number = "" if cert is None else f" {cert.number}"
        raise Rejected("device_not_admitted",
                       f"the payment code's device is not certified: product certificate"
                       f"{number} is {status}")


def refund(ctx: Context, p: RefundPayment) -> dict[str, Any]:
    payment = ctx.get(payment_key(p.payment_id), Payment) if len(p.payment_id) == 64 else None
    if payment is None:
        raise Rejected("unknown_payment", f"no payment {p.payment_id[:64]!r}")
    merchant = _merchant(ctx, payment.merchant_id)
    _merchant_actor(ctx, merchant)
    _text(p.reason, "reason", REASON_CHARS_MAX, empty_ok=True)
    amount = _amount(p.amount, _currency(ctx, payment.currency))
    left = payment.amount_minor - payment.refunded_minor
    if amount > left:
        raise Rejected("refund_exceeds_payment", "a refund is never more than what is left of "
                       "the payment")
    settlement = existing_wallet(ctx, merchant.wallet_id)
    move(ctx, settlement, payment.payer_wallet, p.amount, (p.reason or "refund")[:140],
         out_kind=REFUND_OUT, in_kind=REFUND_IN)
    refund_id = ctx.tx_id.hex()
    ctx.put(refund_key(payment.id, payment.refunds),
            Refund(refund_id, payment.id, amount, p.reason, ctx.time_ms))
    ctx.put(payment_key(payment.id), msgspec.structs.replace(
        payment, refunded_minor=payment.refunded_minor + amount, refunds=payment.refunds + 1))
    return {"refund": refund_id, "payment": payment.id}


# -- who may see a (private) payments tx --------------------------------------------------------

def may_view(state: Reader, tx: Tx, viewer: str) -> bool:
    """The signer, the regulator and payment network members, and the owners and operator
    banks of the wallets involved (the merchant's settlement wallet and the payer's)."""
    if viewer == tx.signer:
        return True
    member = active_member_of(state, viewer)
    if member is not None and member.role in ("regulator", "payment_network"):
        return True
    payload = tx.payload
    wallet_ids: list[str] = []
    merchant_id = payload.get("merchant_id")
    payment_id = payload.get("payment_id")
    if isinstance(payment_id, str) and len(payment_id) == 64:
        payment = state.get(payment_key(payment_id), Payment)
        if payment is not None:
            merchant_id = payment.merchant_id
            wallet_ids.append(payment.payer_wallet)
    if isinstance(merchant_id, str) and MERCHANT_ID.fullmatch(merchant_id):
        merchant = state.get(merchant_key(merchant_id), Merchant)
        if merchant is not None:
            wallet_ids.append(merchant.wallet_id)
    for field in ("from_wallet", "wallet_id"):
        value = payload.get(field)
        if isinstance(value, str):
            wallet_ids.append(value)
    for wallet_id in wallet_ids:
        wallet = state.get(wallet_key(wallet_id), Wallet)
        if wallet is not None and (wallet.owner_key == viewer or (
                member is not None and wallet.operator == member.id)):
            return True
    return False


class PaymentsModule:
    name = "payments"
    private = True
    actions: Mapping[str, Action] = {
        "onboard_merchant": Action(OnboardMerchant, onboard_merchant),
        "set_merchant_status": Action(SetMerchantStatus, set_merchant_status),
        "add_terminal": Action(AddTerminal, add_terminal),
        "remove_terminal": Action(RemoveTerminal, remove_terminal),
        "create_order": Action(CreateOrder, create_order),
        "cancel_order": Action(CancelOrder, cancel_order),
        "pay": Action(Pay, pay),
        "charge_cpm": Action(ChargeCpm, charge_cpm),
        "refund": Action(RefundPayment, refund),
    }

    def init_genesis(self, ctx: Context, genesis: Genesis) -> None:
        """Merchants come by onboarding, not in genesis."""

    def may_view(self, state: Reader, tx: Tx, viewer: str) -> bool:
        return may_view(state, tx, viewer)


module = PaymentsModule()
