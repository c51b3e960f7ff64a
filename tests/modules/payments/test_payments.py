"""Merchants, terminals, orders, payments and refunds through a real chain: every rule with its
refusal (state byte-for-byte unchanged), and money conserved under random payments and
refunds."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consortia.ledger.tx import DeviceCredential
from consortia.modules.payments.codes import make_cpm, read_cpm
from consortia.modules.payments.logic import may_view
from consortia.modules.payments.types import Order, Payment, order_key, payment_key
from consortia.sdk.client import build_tx
from tests.ledger.helpers import CHAIN_ID
from tests.modules.currency.device_support import EVIDENCE, DeviceLedger
from tests.modules.currency.support import KEYS, public, set_up_economy


class Shop:
    """The ledger with a certified wallet app, a certified barcode terminal registered to
    merchant ``shop`` (settling into shop-cny), onboarded by the payment network ``net``."""

    def __init__(self, path: Path) -> None:
        self.ledger = DeviceLedger(path)
        set_up_economy(self.ledger)
        self.app = self.ledger.certify_wallet_app()
        self.terminal_cert = self.ledger.certify("BARCODE_TERMINAL", "BT-9")
        self.terminal = self.ledger.register("terminal", self.terminal_cert, "BT-9")
        self.ledger.ok("net", "payments.onboard_merchant", onboarding())
        self.ledger.ok("shop", "payments.add_terminal",
                       {"merchant_id": "shop", "device_key": public("terminal"),
                        "label": "till 1"})

    def order(self, order_id: str = "A-1", amount: str = "12.30", **extra: Any) -> None:
        self.ledger.ok("shop", "payments.create_order",
                       {"merchant_id": "shop", "order_id": order_id, "amount": amount, **extra})

    def pay(self, amount: str = "12.30", order_id: str = "A-1", payer: str = "bob",
            wallet: str = "bob-cny") -> Any:
        return self.ledger.run(payer, "payments.pay",
                               {"merchant_id": "shop", "from_wallet": wallet,
                                "amount": amount, "order_id": order_id})

    def as_terminal(self, kind: str, payload: dict[str, Any],
                    credential: DeviceCredential | None = None) -> Any:
        return self.ledger.device_run("terminal", kind, payload,
                                      self.terminal if credential is None else credential)

    def payment(self, payment_id: str) -> Payment:
        found = self.ledger.chain.state.get(payment_key(payment_id), Payment)
        assert found is not None
        return found


def onboarding(**changes: str) -> dict[str, str]:
    return {"merchant_id": "shop", "name": "Jade Teahouse", "city": "Shenzhen",
            "country": "CN", "mcc": "5814", "wallet_id": "shop-cny", **changes}


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    return Shop(tmp_path / "chain.db")


# -- onboarding and terminals --------------------------------------------------------------

@pytest.mark.parametrize(("signer", "changes", "code"), [
    ("bank1", {"merchant_id": "shop2"}, "not_allowed"),
    ("shop", {"merchant_id": "shop2"}, "not_allowed"),
    ("net", {}, "merchant_exists"),
    ("net", {"merchant_id": "shop2"}, "wallet_taken"),
    ("net", {"merchant_id": "bob", "wallet_id": "bob-cny"}, "not_a_merchant_wallet"),
    ("net", {"merchant_id": "shop2", "wallet_id": "nope"}, "unknown_wallet"),
    ("net", {"merchant_id": "Shop!"}, "bad_merchant"),
    ("net", {"merchant_id": "shop2", "name": "x" * 26}, "bad_payload"),
    ("net", {"merchant_id": "shop2", "city": ""}, "bad_payload"),
    ("net", {"merchant_id": "shop2", "country": "China"}, "bad_payload"),
    ("net", {"merchant_id": "shop2", "mcc": "58"}, "bad_payload"),
])
def test_onboarding_refusals(shop: Shop, signer: str, changes: dict[str, str],
                             code: str) -> None:
    assert shop.ledger.refused(signer, "payments.onboard_merchant",
                               onboarding(**changes)) == code


@pytest.mark.parametrize(("signer", "device", "code"), [
    ("shop", "terminal", "terminal_exists"),
    ("alice", "terminal2", "not_allowed"),
    ("net", "terminal2", "not_a_terminal"),  # not registered
    ("net", "phone", "not_a_terminal"),  # registered under a wallet app certificate
])
def test_terminal_refusals(shop: Shop, signer: str, device: str, code: str) -> None:
    if device == "phone":
        shop.ledger.register("phone", shop.app)
    assert shop.ledger.refused(signer, "payments.add_terminal",
                               {"merchant_id": "shop", "device_key": public(device)}) == code


def test_the_network_removes_a_terminal_and_it_can_no_longer_act(shop: Shop) -> None:
    shop.ledger.ok("net", "payments.remove_terminal",
                   {"merchant_id": "shop", "device_key": public("terminal")})
    result = shop.as_terminal("payments.create_order",
                              {"merchant_id": "shop", "order_id": "T-1", "amount": "1.00"})
    assert result.code == "not_allowed"


# -- orders ---------------------------------------------------------------------------------

def test_an_order_is_paid_once_with_its_exact_amount(shop: Shop) -> None:
    shop.order()
    # "12.3" is the order's 12.30 written shorter: the same number of fen, so it pays.
    payment_id = shop.ledger.ok("bob", "payments.pay", {
        "merchant_id": "shop", "from_wallet": "bob-cny", "amount": "12.3",
        "order_id": "A-1"}).data["payment"]
    order = shop.ledger.chain.state.get(order_key("shop", "A-1"), Order)
    assert order is not None and (order.status, order.payment_id) == ("paid", payment_id)
    assert shop.ledger.balance("shop-cny") == 1_230
    before = dict(shop.ledger.chain.state.items)
    again = shop.pay()
    assert (again.code, again.message) == ("order_paid", "order A-1 is paid already")
    assert shop.ledger.chain.state.items == before
    assert shop.pay(payer="alice", wallet="alice-cny").code == "order_paid"


@pytest.mark.parametrize(("amount", "order_id", "code"), [
    ("12.31", "A-1", "amount_mismatch"),
    ("1.00", "B-9", "unknown_order"),
    ("0", "", "bad_amount"),
    ("1.001", "", "bad_amount"),
    ("-1.00", "", "bad_amount"),
])
def test_payment_refusals(shop: Shop, amount: str, order_id: str, code: str) -> None:
    shop.order()
    assert shop.ledger.refused("bob", "payments.pay", {
        "merchant_id": "shop", "from_wallet": "bob-cny", "amount": amount,
        "order_id": order_id}) == code


def test_an_order_expires_at_its_expiry(shop: Shop) -> None:
    shop.order("A-1", ttl_ms=60_000)
    assert shop.ledger.refused("bob", "payments.pay", {
        "merchant_id": "shop", "from_wallet": "bob-cny", "amount": "12.30",
        "order_id": "A-1"}, at_ms=shop.ledger.now_ms + 60_000) == "order_expired"
    assert shop.ledger.refused("shop", "payments.cancel_order",
                               {"merchant_id": "shop", "order_id": "A-1"}) == "order_expired"


def test_an_order_paid_just_before_expiry_goes_through(shop: Shop) -> None:
    shop.order("A-1", ttl_ms=60_000)
    created = shop.ledger.now_ms
    assert shop.ledger.run("bob", "payments.pay", {
        "merchant_id": "shop", "from_wallet": "bob-cny", "amount": "12.30",
        "order_id": "A-1"}, at_ms=created + 59_999).accepted


def test_a_cancelled_order_cannot_be_paid_and_order_ids_are_never_reused(shop: Shop) -> None:
    shop.order()
    shop.ledger.ok("shop", "payments.cancel_order", {"merchant_id": "shop", "order_id": "A-1"})
    assert shop.pay().code == "order_cancelled"
    assert shop.ledger.refused("shop", "payments.create_order", {
        "merchant_id": "shop", "order_id": "A-1", "amount": "1.00"}) == "order_exists"
    assert shop.ledger.refused("shop", "payments.cancel_order",
                               {"merchant_id": "shop", "order_id": "A-1"}) == "order_cancelled"


@pytest.mark.parametrize(("payload", "code"), [
    ({"order_id": "a b"}, "bad_order"),
    ({"order_id": "x" * 26}, "bad_order"),
    ({"ttl_ms": 999}, "bad_payload"),
    ({"ttl_ms": 3_600_001}, "bad_payload"),
    ({"amount": "0.00"}, "bad_amount"),
    ({"merchant_id": "nobody"}, "unknown_merchant"),
])
def test_order_refusals(shop: Shop, payload: dict[str, Any], code: str) -> None:
    order = {"merchant_id": "shop", "order_id": "A-1", "amount": "5.00", **payload}
    assert shop.ledger.refused("shop", "payments.create_order", order) == code


def test_a_static_code_takes_the_amount_the_payer_entered(shop: Shop) -> None:
    result = shop.pay("7.00", order_id="")
    assert result.accepted
    assert shop.payment(result.data["payment"]).order_id == ""
    assert shop.ledger.balance("shop-cny") == 700


def test_a_suspended_merchant_takes_no_orders_or_payments(shop: Shop) -> None:
    shop.order()
    shop.ledger.ok("net", "payments.set_merchant_status",
                   {"merchant_id": "shop", "status": "suspended", "reason": "fraud review"})
    assert shop.pay().code == "merchant_suspended"
    assert shop.ledger.refused("shop", "payments.create_order", {
        "merchant_id": "shop", "order_id": "A-2", "amount": "1.00"}) == "merchant_suspended"


def test_tier_limits_and_funds_apply_to_payments(shop: Shop) -> None:
    # alice-cny is an anonymous tier: 20 yuan per payment, 50 held.
    shop.order("BIG", amount="20.01")
    assert shop.pay("20.01", "BIG", payer="alice", wallet="alice-cny").code == "payment_limit"
    assert shop.pay("12.30", "", payer="carol", wallet="bob-cny").code == "not_owner"


# -- terminals and wallet devices ------------------------------------------------------------

def test_a_terminal_opens_orders_with_its_credential_until_its_product_is_revoked(
        shop: Shop) -> None:
    order = {"merchant_id": "shop", "order_id": "T-1", "amount": "3.00"}
    assert shop.as_terminal("payments.create_order", order).accepted
    nonce = shop.ledger.nonce = shop.ledger.nonce + 1
    bare = build_tx(KEYS["terminal"], CHAIN_ID, "payments.create_order",
                    {**order, "order_id": "T-2"}, now_ms=shop.ledger.now_ms, nonce=nonce)
    assert shop.ledger.run_txs([bare])[0].code == "device_credential_required"
    shop.ledger.ok("cfc", "certification.revoke", {
        "certificate": shop.terminal_cert, "reason": "serious_defect", "evidence": EVIDENCE})
    refused = shop.as_terminal("payments.create_order", {**order, "order_id": "T-3"})
    assert (refused.code, refused.message) == (
        "device_not_admitted", f"product certificate {shop.terminal_cert} is revoked")


def test_a_wallet_app_device_pays_an_order(shop: Shop) -> None:
    credential = shop.ledger.enrol("phone", shop.app)
    shop.order()
    result = shop.ledger.device_run("phone", "payments.pay", {
        "merchant_id": "shop", "from_wallet": "bob-cny", "amount": "12.30",
        "order_id": "A-1"}, credential)
    assert result.accepted, result


# -- refunds ----------------------------------------------------------------------------------

def test_refunds_are_partial_or_full_and_never_more_than_paid(shop: Shop) -> None:
    shop.order()
    payment_id = shop.pay().data["payment"]
    bob = shop.ledger.balance("bob-cny")
    shop.ledger.ok("shop", "payments.refund",
                   {"payment_id": payment_id, "amount": "2.30", "reason": "one cup short"})
    assert shop.as_terminal("payments.refund",
                            {"payment_id": payment_id, "amount": "5.00"}).accepted
    assert shop.ledger.refused("shop", "payments.refund",
                               {"payment_id": payment_id, "amount": "5.01"},
                               ) == "refund_exceeds_payment"
    shop.ledger.ok("shop", "payments.refund", {"payment_id": payment_id, "amount": "5.00"})
    assert shop.ledger.refused("shop", "payments.refund",
                               {"payment_id": payment_id, "amount": "0.01"},
                               ) == "refund_exceeds_payment"
    payment = shop.payment(payment_id)
    assert (payment.refunded_minor, payment.refunds) == (1_230, 3)
    assert shop.ledger.balance("bob-cny") == bob + 1_230
    assert shop.ledger.balance("shop-cny") == 0


@pytest.mark.parametrize(("signer", "payload", "code"), [
    ("bob", {"amount": "1.00"}, "not_allowed"),
    ("net", {"amount": "1.00"}, "not_allowed"),
    ("shop", {"payment_id": "ab" * 32, "amount": "1.00"}, "unknown_payment"),
    ("shop", {"amount": "1.005"}, "bad_amount"),
])
def test_refund_refusals(shop: Shop, signer: str, payload: dict[str, str], code: str) -> None:
    shop.order()
    payment_id = shop.pay().data["payment"]
    assert shop.ledger.refused(signer, "payments.refund",
                               {"payment_id": payment_id, **payload}) == code


# -- privacy ----------------------------------------------------------------------------------

def test_who_may_see_a_payment(shop: Shop) -> None:
    shop.order()
    pay_tx = shop.ledger.tx("bob", "payments.pay", {"merchant_id": "shop",
                                                   "from_wallet": "bob-cny",
                                                   "amount": "12.30", "order_id": "A-1"}).tx
    state = shop.ledger.chain.state
    for viewer in ("bob", "shop", "bank1", "bank2", "reg", "net"):
        assert may_view(state, pay_tx, public(viewer)), viewer
    for viewer in ("alice", "cb1", "stranger"):
        assert not may_view(state, pay_tx, public(viewer)), viewer


# -- money is conserved ----------------------------------------------------------------------

@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["pay", "refund"]), st.integers(1, 3_000)),
                min_size=1, max_size=12))
def test_payments_and_refunds_conserve_money(tmp_path_factory: pytest.TempPathFactory,
                                             ops: list[tuple[str, int]]) -> None:
    shop = Shop(tmp_path_factory.mktemp("pay") / "chain.db")
    wallets = ("bob-cny", "shop-cny", "alice-cny")
    total = sum(shop.ledger.balance(w) for w in wallets)
    paid: list[str] = []
    for op, minor in ops:
        amount = f"{minor // 100}.{minor % 100:02d}"
        if op == "pay" or not paid:
            result = shop.pay(amount, order_id="")
            if result.accepted:
                paid.append(result.data["payment"])
        else:
            shop.ledger.run("shop", "payments.refund",
                            {"payment_id": paid[minor % len(paid)], "amount": amount})
        assert sum(shop.ledger.balance(w) for w in wallets) == total
    for payment_id in paid:
        payment = shop.payment(payment_id)
        assert 0 <= payment.refunded_minor <= payment.amount_minor
    refunded = sum(shop.payment(p).refunded_minor for p in paid)
    assert shop.ledger.balance("shop-cny") == sum(
        shop.payment(p).amount_minor for p in paid) - refunded


# -- consumer-presented codes ------------------------------------------------------------------

def code(shop: Shop, signer: str = "bob", wallet: str = "bob-cny", ttl_ms: int = 60_000,
         counter: int = 1, chain_id: str = CHAIN_ID) -> str:
    return make_cpm(KEYS[signer], chain_id, wallet, shop.ledger.now_ms + ttl_ms, counter)


def charge(shop: Shop, payment_code: str, amount: str = "4.50", order_id: str = "") -> Any:
    return shop.as_terminal("payments.charge_cpm", {"merchant_id": "shop", "code": payment_code,
                                                    "amount": amount, "order_id": order_id})


def test_a_terminal_charges_a_payment_code_once(shop: Shop) -> None:
    payment_code = code(shop)
    assert payment_code.startswith("hQVDUFYw")  # 85 05 "CPV01"
    result = charge(shop, payment_code)
    assert result.accepted, result
    assert shop.payment(result.data["payment"]).via == "cpm"
    assert shop.ledger.balance("shop-cny") == 450
    before = dict(shop.ledger.chain.state.items)
    replay = charge(shop, payment_code)
    assert (replay.code, shop.ledger.chain.state.items) == ("code_used", before)


def test_a_payment_code_for_an_order_must_match_it(shop: Shop) -> None:
    shop.order("C-1", amount="4.50")
    assert charge(shop, code(shop), "4.51", "C-1").code == "amount_mismatch"
    # A failed charge does not use the code up.
    same = code(shop)
    assert charge(shop, same, "4.51", "C-1").code == "amount_mismatch"
    assert charge(shop, same, "4.50", "C-1").accepted


@pytest.mark.parametrize(("make", "expected"), [
    (lambda s: code(s, ttl_ms=0), "code_expired"),
    (lambda s: code(s, ttl_ms=5 * 60_000 + 1), "bad_code"),
    (lambda s: code(s, chain_id="another-chain"), "bad_code"),
    (lambda s: code(s, signer="alice"), "code_not_authorised"),
    (lambda s: code(s, wallet="nobody-cny"), "unknown_wallet"),
    (lambda s: "hQVDUFYw" + "A" * 40, "bad_code"),
    (lambda s: "not a code at all", "bad_code"),
    (lambda s: "000201010211", "bad_code"),
])
def test_payment_code_refusals(shop: Shop, make: Any, expected: str) -> None:
    before = dict(shop.ledger.chain.state.items)
    result = charge(shop, make(shop))
    assert (result.code, shop.ledger.chain.state.items) == (expected, before), result


def test_a_tampered_payment_code_is_refused(shop: Shop) -> None:
    token = read_cpm(code(shop))
    forged = make_cpm(KEYS["alice"], CHAIN_ID, "bob-cny", token.expires_ms, token.counter)
    assert charge(shop, forged).code == "code_not_authorised"
    raw = bytearray(base64.b64decode(code(shop)))
    raw[-1] ^= 0x01  # flip a bit of the signature
    assert charge(shop, base64.b64encode(bytes(raw)).decode()).code == "bad_code"


def test_a_payment_code_signed_by_the_wallet_app_stops_with_its_certificate(
        shop: Shop) -> None:
    shop.ledger.enrol("phone", shop.app)
    assert charge(shop, code(shop, signer="phone")).accepted
    shop.ledger.ok("cfc", "certification.revoke", {
        "certificate": shop.app, "reason": "serious_defect", "evidence": EVIDENCE})
    refused = charge(shop, code(shop, signer="phone", counter=2))
    assert (refused.code, refused.message) == (
        "device_not_admitted", "the payment code's device is not certified: product "
        f"certificate {shop.app} is revoked")


def test_only_the_merchant_and_its_terminals_charge_codes(shop: Shop) -> None:
    assert shop.ledger.refused("alice", "payments.charge_cpm", {
        "merchant_id": "shop", "code": code(shop), "amount": "1.00"}) == "not_allowed"
    assert shop.ledger.run("shop", "payments.charge_cpm", {
        "merchant_id": "shop", "code": code(shop), "amount": "1.00"}).accepted
