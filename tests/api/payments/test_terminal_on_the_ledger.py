"""The reference barcode terminal against a real node: the demo's certified terminal of Jade
Teahouse charges a wallet's payment code, a replay is declined, and a code from a wallet whose
funds do not cover it is declined with the ledger's reason."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import msgspec
import pytest

from consortia.demo.consortium import device_signing_key, run_demo, wallet_owner_key
from consortia.devices.common import serving as serving_device
from consortia.devices.terminal import Terminal, terminal_app
from consortia.ledger.tx import DeviceCredential
from consortia.modules.payments.codes import make_cpm
from consortia.node.orderer import now_ms
from tests.api.currency.support import signed_get
from tests.api.support import loopback, serving
from tests.conftest import RunningNode


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    data_dir = tmp_path_factory.mktemp("terminal") / "node"
    with serving(data_dir) as running, running.client() as client:
        run_demo(client, data_dir)
        yield running


@pytest.fixture(scope="module")
def terminal(node: RunningNode) -> Iterator[str]:
    """The demo's terminal jade-qs-0001: its key, the credential its vendor published."""
    key = device_signing_key(node.data_dir, "jade-qs-0001")
    shown = httpx.get(f"{node.url}/v1/certification/devices/{key.public_key_hex}").json()
    credential = msgspec.convert(shown["credential"], DeviceCredential)
    with serving_device(terminal_app(Terminal(key, credential))) as url:
        setup = httpx.post(f"{url}/lab/setup", json={
            "node_url": node.url, "chain_id": node.node.chain_id,
            "submit_timeout_ms": 5_000, "merchant_id": "jade-teahouse"})
        assert setup.status_code == 200, setup.text
        yield url


def code_of(node: RunningNode, wallet: str, counter: int) -> str:
    return make_cpm(wallet_owner_key(node.data_dir, wallet), node.node.chain_id, wallet,
                    now_ms() + 60_000, counter)


def test_the_terminal_charges_a_wallets_code_once(node: RunningNode, terminal: str) -> None:
    payment_code = code_of(node, "bob", 1)
    charged = httpx.post(f"{terminal}/payments", json={
        "code": payment_code, "amount": "9.90", "currency": "CNY", "order_id": ""}).json()
    assert "status" in charged, charged
    assert (charged["status"], charged["amount"], charged["currency"]) == (
        "approved", "9.90", "CNY"), charged
    with loopback(node.url) as http:
        books = signed_get(http, wallet_owner_key(node.data_dir, "teahouse"),
                           "/v1/payments/merchants/jade-teahouse/payments").json()
    newest = books["payments"][0]
    assert (newest["id"], newest["payer_wallet"], newest["amount"]) == (
        charged["tx_id"], "bob", "9.90")
    replay = httpx.post(f"{terminal}/payments", json={
        "code": payment_code, "amount": "9.90", "currency": "CNY", "order_id": ""})
    assert replay.status_code == 409 or replay.json().get("status") == "declined", replay.text


def test_the_ledger_declines_what_the_wallet_cannot_pay(node: RunningNode,
                                                        terminal: str) -> None:
    # bob's anonymous tier allows 2,000.00 a payment.
    charged = httpx.post(f"{terminal}/payments", json={
        "code": code_of(node, "bob", 2), "amount": "2000.01", "currency": "CNY",
        "order_id": ""}).json()
    assert (charged["status"], charged["host_code"]) == ("declined", "payment_limit"), charged
