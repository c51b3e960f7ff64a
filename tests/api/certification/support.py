"""A demo node with one product driven to a valid certificate by real, signed txs over HTTP.

The demo admits the certification body ``fcc``; governance (the currency voters) accredits a
test lab; a vendor registers itself and applies; ``fcc`` accepts, assigns the lab, checks on
site and issues; the lab reports every test item passed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from consortia.crypto.keys import SigningKey
from consortia.demo.consortium import (
    CURRENCY_VOTERS,
    FOUNDERS,
    JOINERS,
    adopt_all,
    member_key,
    run_demo,
)
from consortia.sdk.client import Client
from tests.conftest import RunningNode

VENDOR = "acme"
LAB = "lab1"


def evidence(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Registry:
    """The node, the parties' keys, and the certificate issued on it."""

    node: RunningNode
    body: SigningKey  # fcc
    lab: SigningKey
    vendor: SigningKey
    application: str  # the application id (the apply tx id)
    number: str  # CFP-…
    issued_ms: int  # block time of the issue

    @property
    def url(self) -> str:
        return self.node.url


def send_ok(client: Client, key: SigningKey, action: str, payload: dict[str, Any],
            ) -> dict[str, Any]:
    """Send ``certification.<action>``; its result, which must be accepted."""
    result, _ = client.send(key, f"certification.{action}", payload)
    assert result["status"] == "accepted", (action, result)
    return result


def step(cert: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"certificate": cert, "reason": reason, "evidence": evidence(reason), **extra}


def issue(client: Client, body: SigningKey, lab: SigningKey, vendor: SigningKey,
          model: str = "SP-100") -> tuple[str, str]:
    """Apply, accept, assign the lab, report, check on site, issue: (application id, number)."""
    applied = send_ok(client, vendor, "apply", {
        "body": "fcc", "product_type": "POS", "product_name": "SmartPOS",
        "model": model, "version": "1.0.0", "manufacturer": "Acme Manufacturing",
        "factory": "Acme Factory No. 2", "scope": "card and QR acceptance",
        "standards": ["JR/T 0001"], "evidence": evidence("dossier")})
    cert = str(applied["data"]["certificate"])
    send_ok(client, body, "accept", step(cert, "accepted"))
    send_ok(client, body, "assign_lab", step(cert, "lab", lab=LAB))
    types = client.get("/v1/certification/product-types")["product_types"]
    items = next(t for t in types if t["code"] == "POS")["test_items"]
    send_ok(client, lab, "test_report", {
        "certificate": cert, "evidence": evidence("report"),
        "results": [{"item": i["id"], "passed": True, "note": ""} for i in items]})
    send_ok(client, body, "onsite_check", step(cert, "onsite", passed=True))
    issued = send_ok(client, body, "decide", step(cert, "issued", issue=True))
    return cert, str(issued["data"]["number"])


def certify(node: RunningNode) -> Registry:
    """Run the demo, accredit a lab, and drive one POS terminal to a valid certificate."""
    with node.client() as client:
        run_demo(client, node.data_dir)
        keys = {i.id: member_key(node.data_dir, i.id) for i in FOUNDERS + JOINERS}
        body, lab, vendor = keys["fcc"], SigningKey.generate(), SigningKey.generate()
        adopt_all(client, [body], [keys[m] for m in CURRENCY_VOTERS], [
            ({"type": "invoke", "kind": "certification.accredit_lab",
              "payload": {"id": LAB, "name": "Lab One", "key": lab.public_key_hex}},
             "Accredit Lab One")])
        send_ok(client, vendor, "register_vendor",
                {"id": VENDOR, "legal_name": "Acme Payment Terminals Co., Ltd.",
                 "address": "1 Keji Road, Shenzhen"})
        cert, number = issue(client, body, lab, vendor)
        shown = client.get(f"/v1/certification/certificates/{number}")
    return Registry(node, body, lab, vendor, cert, number, shown["issued_ms"])
