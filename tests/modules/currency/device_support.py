"""A ledger with the currency test economy plus certification: a body, a lab and a vendor
whose products (a wallet app, a barcode terminal) are certified by real transactions, and
devices registered with their vendor-signed credentials."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from consortia.ledger.genesis import Genesis, GenesisMember, GenesisNode
from consortia.ledger.result import TxResult
from consortia.ledger.tx import DeviceCredential
from consortia.modules.certification.logic import CATALOGUE_2019, sign_credential
from consortia.sdk.client import build_tx
from tests.ledger.helpers import CHAIN_ID, GENESIS_MS, open_chain
from tests.modules.currency.support import KEYS, MEMBERS, NODE_KEY, Ledger, public, signing_key

for _name in ("cfc", "lab", "vendor", "phone", "phone2", "terminal", "terminal2"):
    KEYS.setdefault(_name, signing_key(_name))

EVIDENCE = hashlib.sha256(b"evidence").hexdigest()


def all_passed(product_type: str) -> list[dict[str, Any]]:
    items = next(items for code, *_, items in CATALOGUE_2019 if code == product_type)
    return [{"item": i.id, "passed": True} for i in items]


class DeviceLedger(Ledger):
    """The currency test economy plus a certification body, a lab and a wallet-app vendor."""

    def __init__(self, path: Path) -> None:
        self.genesis = Genesis(
            chain_id=CHAIN_ID, time_ms=GENESIS_MS,
            members=[GenesisMember(i, i.upper(), role, public(i))
                     for i, role in (*MEMBERS, ("cfc", "certification_body"))],
            nodes=[GenesisNode("node1", "bank1", NODE_KEY.public_key_hex)])
        self.chain = open_chain(path, self.genesis, NODE_KEY)
        self.now_ms = GENESIS_MS + 1_000
        self.batches = 0
        self.nonce = 0

    def device_run(self, device: str, kind: str, payload: dict[str, Any],
                   credential: DeviceCredential | None) -> TxResult:
        self.nonce += 1
        stx = build_tx(KEYS[device], CHAIN_ID, kind, payload, now_ms=self.now_ms,
                       nonce=self.nonce, device=credential)
        return self.run_txs([stx])[0]

    def certify_wallet_app(self) -> str:
        """A CLIENT_SW product of ``vendor`` (model PA-1) taken to a certificate."""
        self.invoke("certification.accredit_lab", {"id": "lab", "name": "Lab",
                                                   "key": public("lab")})
        self.ok("vendor", "certification.register_vendor",
                {"id": "vendor", "legal_name": "Wallet Apps Ltd.", "address": "1 Road"})
        return self.certify("CLIENT_SW", "PA-1")

    def certify(self, product_type: str, model: str) -> str:
        """A product of the registered ``vendor`` from application to certificate: its
        number."""
        app = self.ok("vendor", "certification.apply", {
            "body": "cfc", "product_type": product_type, "product_name": model,
            "model": model, "version": "1.0.0", "manufacturer": "Wallet Apps Ltd.",
            "factory": "-", "scope": "payments", "standards": ["JR/T 0092"],
            "evidence": EVIDENCE}).data["certificate"]
        step = {"certificate": app, "reason": "ok", "evidence": EVIDENCE}
        self.ok("cfc", "certification.accept", step)
        self.ok("cfc", "certification.assign_lab", {**step, "lab": "lab"})
        self.ok("lab", "certification.test_report", {
            "certificate": app, "evidence": EVIDENCE,
            "results": all_passed(product_type)})
        self.ok("cfc", "certification.onsite_check", {**step, "passed": True})
        number: str = self.ok("cfc", "certification.decide",
                              {**step, "issue": True}).data["number"]
        return number

    def register(self, device: str, number: str, model: str = "PA-1") -> DeviceCredential:
        """The vendor registers the device with its credential."""
        credential = sign_credential(KEYS["vendor"], public(device), number, model, "1.0.0")
        self.ok("vendor", "certification.register_device", {
            "device_key": public(device), "certificate": number, "model": model,
            "version": "1.0.0", "signature": credential.signature})
        return credential

    def enrol(self, device: str, number: str, wallet_id: str = "bob-cny",
              owner: str = "bob") -> DeviceCredential:
        """The vendor registers the device, the owner binds it to the wallet."""
        credential = self.register(device, number)
        self.ok(owner, "currency.bind_device",
                {"wallet_id": wallet_id, "device_key": public(device), "label": device})
        return credential
