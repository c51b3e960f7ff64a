"""The reference barcode (QR) payment acceptance terminal, with switchable deliberate faults.

A small HTTP service standing in for the terminal's firmware: it shows dynamic merchant codes
for orders, takes the consumer-presented codes its scanner reads, and charges them with
``payments.charge_cpm`` txs signed by its device key and carrying its vendor-signed device
credential. It is what ``docs/conformance.md`` asks of a vendor's prototype, done right; each
fault in ``FAULTS`` breaks exactly one examination item, so the lab can show a faulty terminal
failing.

Host timeouts: when the host does not answer a submission within ``submit_timeout_ms`` the
terminal asks the host for that tx's status (``GET /v1/tx/{id}``) and reports the final status;
it resubmits only the same signed bytes (the ledger executes a tx once), never a new tx that
could charge the consumer twice.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import msgspec
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from consortia.conformance.interface import (
    CHARGE_CPM,
    LAB_MERCHANT_ID,
    SUBMIT_TIMEOUT_MS_MAX,
    SUBMIT_TIMEOUT_MS_MIN,
)
from consortia.crypto.keys import SigningKey
from consortia.devices.common import (
    DeviceError,
    HostConfig,
    check_amount,
    check_host,
    install_errors,
    recover,
    submit,
)
from consortia.ledger.tx import DeviceCredential, SignedTx, Tx
from consortia.modules.payments.codes import read_cpm
from consortia.modules.payments.types import MERCHANT_ID, ORDER_ID
from consortia.qr import QrError
from consortia.qr.cpm import decode_cpm
from consortia.qr.currency import currency_numeric
from consortia.qr.mpm import CONSORTIA_GUID, MerchantCode, encode_mpm
from consortia.sdk.client import build_tx

# fault -> the item it breaks
FAULTS: dict[str, str] = {
    "no_health": "BT-01: no health endpoint",
    "qr_wrong_amount": "BT-02: the order's QR code carries the amount in minor units",
    "accept_malformed": "BT-03: scanned codes are not validated before charging",
    "bad_signature": "BT-04: the tx is signed without the ledger's domain separation",
    "accept_replay": "BT-05: a payment code already used is charged again",
    "round_amount": "BT-06: the receipt shows the amount through a float (12.30 -> 12.3)",
    "no_status_query": "BT-07: after a host timeout it sends a new tx instead of asking",
}
FAULTY_PRESET = ("accept_replay", "round_amount")

CODE_CHARS_MAX = 1024
USED_CODES_MAX = 100_000  # digests of charged codes kept; the oldest are forgotten first
ORDER_VALID_MS = 300_000
_canonical = msgspec.msgpack.Encoder(order="sorted")


@dataclass(frozen=True)
class Merchant:
    """What the terminal's merchant codes say about the merchant."""

    name: str = "Lab Test Merchant"
    city: str = "Shenzhen"
    country: str = "CN"
    mcc: str = "5411"
    merchant_id: str = LAB_MERCHANT_ID  # the payments module's merchant id (template 26)


@dataclass
class Terminal:
    """The terminal's logic, apart from HTTP (``terminal_app`` serves it)."""

    key: SigningKey
    credential: DeviceCredential
    faults: frozenset[str] = frozenset()
    merchant: Merchant = field(default_factory=Merchant)
    host: HostConfig | None = None
    _used: OrderedDict[bytes, None] = field(default_factory=OrderedDict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = self.faults - FAULTS.keys()
        if unknown:
            raise ValueError(f"unknown terminal faults: {', '.join(sorted(unknown))}")
        if self.credential.device_key != self.key.public_key_hex:
            raise ValueError("the credential is for another device key")

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "device": "barcode_terminal",
                "device_key": self.key.public_key_hex,
                "product_id": self.credential.product_id, "model": self.credential.model,
                "version": self.credential.version, "host_configured": self.host is not None}

    def setup(self, node_url: str, chain_id: str, submit_timeout_ms: int,
              merchant_id: str | None = None) -> dict[str, Any]:
        """The test-host configuration: where txs go, how long to wait, for which merchant."""
        if not SUBMIT_TIMEOUT_MS_MIN <= submit_timeout_ms <= SUBMIT_TIMEOUT_MS_MAX:
            raise DeviceError(400, "bad_timeout", f"submit_timeout_ms is "
                              f"{SUBMIT_TIMEOUT_MS_MIN} to {SUBMIT_TIMEOUT_MS_MAX}")
        if merchant_id is not None and not MERCHANT_ID.fullmatch(merchant_id):
            raise DeviceError(400, "bad_merchant_id", "merchant_id is 3 to 40 of a-z 0-9 _ -")
        self.host = check_host(node_url, chain_id, submit_timeout_ms)
        if merchant_id is not None:
            self.merchant = replace(self.merchant, merchant_id=merchant_id)
        return {"node_url": self.host.node_url, "chain_id": self.host.chain_id,
                "submit_timeout_ms": self.host.submit_timeout_ms,
                "merchant_id": self.merchant.merchant_id}

    # -- merchant-presented: the order's dynamic code ------------------------------------------

    def order(self, amount: str, currency: str, order_id: str) -> dict[str, Any]:
        minor = check_amount(amount, currency)
        _check_order_id(order_id)
        shown = str(minor) if "qr_wrong_amount" in self.faults else amount
        code = MerchantCode(
            merchant_name=self.merchant.name, merchant_city=self.merchant.city,
            country=self.merchant.country, mcc=self.merchant.mcc,
            currency=currency_numeric(currency), amount=shown,
            account=(CONSORTIA_GUID, self.merchant.merchant_id), bill_number=order_id,
            terminal_label=self.key.public_key_hex[:8].upper(),
            expires_ms=time.time_ns() // 1_000_000 + ORDER_VALID_MS)
        return {"order_id": order_id, "amount": amount, "currency": currency,
                "payload": encode_mpm(code)}

    # -- consumer-presented: charge a scanned code ----------------------------------------------

    def pay(self, code: str, amount: str, currency: str, order_id: str) -> dict[str, Any]:
        host = self.host
        if host is None:
            raise DeviceError(409, "not_configured", "no host configured: POST /lab/setup or "
                              "start the terminal with --node")
        check_amount(amount, currency)
        if order_id:  # "": a counter payment keyed in at the till, with no ledger order
            _check_order_id(order_id)
        if not 0 < len(code) <= CODE_CHARS_MAX:
            raise DeviceError(400, "bad_code", f"a payment code is 1 to {CODE_CHARS_MAX} "
                              "characters")
        if "accept_malformed" not in self.faults:
            _check_code(code)
        self._use(code)
        payload = {"merchant_id": self.merchant.merchant_id, "code": code, "amount": amount,
                   "order_id": order_id}
        stx = self._sign(host, payload)
        status = self._charge(host, stx, payload)
        result = status.get("result", {})
        approved = result.get("status") == "accepted"
        shown = str(float(amount)) if "round_amount" in self.faults else amount
        return {"status": "approved" if approved else "declined", "tx_id": status["tx_id"],
                "order_id": order_id, "amount": shown, "currency": currency,
                "host_code": result.get("code", ""), "height": status.get("height", 0)}

    def _use(self, code: str) -> None:
        """Mark a code used before it is charged: a code is single-use, whatever the host
        answers, and a second scan while the first is in flight must not charge it again."""
        digest = hashlib.sha256(code.encode()).digest()
        with self._lock:
            if digest in self._used and "accept_replay" not in self.faults:
                raise DeviceError(409, "code_used", "this payment code was already used; ask "
                                  "the customer for a new one")
            self._used[digest] = None
            while len(self._used) > USED_CODES_MAX:
                self._used.popitem(last=False)

    def _sign(self, host: HostConfig, payload: dict[str, Any]) -> SignedTx:
        if "bad_signature" not in self.faults:
            return build_tx(self.key, host.chain_id, CHARGE_CPM, payload,
                            device=self.credential)
        # The fault: a signature over the bare encoding, without domain and chain id.
        tx = Tx(chain_id=host.chain_id, kind=CHARGE_CPM, payload=payload,
                signer=self.key.public_key_hex, nonce=int.from_bytes(os.urandom(8)) >> 1,
                valid_until_ms=time.time_ns() // 1_000_000 + 120_000, device=self.credential)
        return SignedTx(tx=tx, signature=self.key.sign(_canonical.encode(tx)).hex())

    def _charge(self, host: HostConfig, stx: SignedTx, payload: dict[str, Any],
                ) -> dict[str, Any]:
        """Submit; on a lost answer ask for the tx's status (or, with the fault, send a new
        tx); the host's final status."""
        timeout_s = host.submit_timeout_ms / 1000
        with httpx.Client(base_url=host.node_url, timeout=timeout_s) as http:
            try:
                return submit(http, stx, host.submit_timeout_ms)
            except httpx.TimeoutException:
                pass
            except httpx.TransportError as exc:
                raise DeviceError(503, "host_unreachable", f"cannot reach the host: "
                                  f"{exc.__class__.__name__}") from None
            if "no_status_query" in self.faults:
                return submit(http, self._sign(host, payload), host.submit_timeout_ms)
            return recover(http, stx, host.submit_timeout_ms)


def _check_order_id(order_id: str) -> None:
    if not ORDER_ID.fullmatch(order_id):
        raise DeviceError(400, "bad_order_id", "order_id is 1 to 25 of A-Z a-z 0-9 _ . -, "
                          "starting with a letter or digit")


def _check_code(code: str) -> None:
    """A Consortia payment code, well formed and not expired; its signature, wallet and
    single use are the ledger's to check when the charge executes."""
    try:
        decode_cpm(code, strict=True)
        token = read_cpm(code)
    except QrError as exc:
        raise DeviceError(400, "bad_code", f"not a payment code: {exc}"[:200]) from None
    if token.expires_ms <= time.time_ns() // 1_000_000:
        raise DeviceError(400, "code_expired", "this payment code has expired; ask the "
                          "customer for a new one")


# -- HTTP -----------------------------------------------------------------------------------------


class SetupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node_url: str = Field(max_length=200)
    chain_id: str = Field(max_length=64)
    submit_timeout_ms: int = 5_000
    merchant_id: str | None = Field(default=None, max_length=40)


class OrderBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: str = Field(max_length=20)
    currency: str = Field(max_length=3)
    order_id: str = Field(max_length=64)


class PaymentBody(OrderBody):
    code: str = Field(max_length=CODE_CHARS_MAX)


def terminal_app(terminal: Terminal) -> FastAPI:
    """The terminal's HTTP interface (docs/conformance.md)."""
    app = FastAPI(title="Reference barcode payment terminal", docs_url=None, redoc_url=None)
    install_errors(app)

    @app.get("/")
    def index() -> dict[str, Any]:
        return {"device": "barcode_terminal", "faults": sorted(terminal.faults)}

    if "no_health" not in terminal.faults:
        @app.get("/health")
        def health() -> dict[str, Any]:
            return terminal.health()

    @app.post("/lab/setup")
    def setup(body: SetupBody) -> dict[str, Any]:
        return terminal.setup(body.node_url, body.chain_id, body.submit_timeout_ms,
                              body.merchant_id)

    @app.post("/orders")
    def order(body: OrderBody) -> dict[str, Any]:
        return terminal.order(body.amount, body.currency, body.order_id)

    @app.post("/payments")
    def pay(body: PaymentBody) -> dict[str, Any]:
        return terminal.pay(body.code, body.amount, body.currency, body.order_id)

    return app
