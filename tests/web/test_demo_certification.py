"""The demo's certification part: a lab accredited by governance, two vendors, four products at
four points of the lifecycle, a registered device, and the logins that work them."""

from __future__ import annotations

import stat

import httpx

from consortia.crypto.keys import verify
from consortia.custody.store import LAB, STAFF, VENDOR
from consortia.demo.consortium import (
    DEMO_DEVICES,
    DEMO_LAB,
    DEMO_PRODUCTS,
    DEMO_VENDORS,
    device_signing_key,
    lab_signing_key,
    member_key,
    vendor_signing_key,
)
from consortia.modules.certification import queries
from consortia.modules.certification.logic import credential_message
from consortia.modules.certification.types import Certificate
from tests.web.conftest import WalletNode


def _certificates(node: WalletNode, vendor: str) -> dict[str, Certificate]:
    state = node.node.chain.state
    return {c.model: c for c in queries.search(state, node.node.chain.head.time_ms,
                                               vendor=vendor)}


def test_governance_accredited_the_demo_lab_by_proposal(wallet_node: WalletNode) -> None:
    proposals = httpx.get(f"{wallet_node.url}/v1/governance/proposals",
                          params={"limit": 200}).json()["proposals"]
    accredited = [p for p in proposals if p["action"].get("kind") == "certification.accredit_lab"]
    assert [(p["status"], p["action"]["payload"]["id"]) for p in accredited] == [
        ("accepted", DEMO_LAB.id)]
    # The proposal left open for the governance page is still the newest.
    assert proposals[0]["status"] == "open"
    lab = queries.lab(wallet_node.node.chain.state, DEMO_LAB.id)
    data_dir = wallet_node.running.data_dir
    assert lab is not None and lab.name == DEMO_LAB.name
    assert lab.key == lab_signing_key(data_dir, DEMO_LAB.id).public_key_hex
    path = data_dir / "keys" / "labs" / f"{DEMO_LAB.id}.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_every_demo_product_stands_where_a_desk_needs_it(wallet_node: WalletNode) -> None:
    state = wallet_node.node.chain.state
    now = wallet_node.node.chain.head.time_ms
    fcc = member_key(wallet_node.running.data_dir, "fcc").public_key_hex
    for v in DEMO_VENDORS:
        vendor = queries.vendor(state, v.id)
        assert vendor is not None and (vendor.legal_name, vendor.address) == (v.name, v.address)
        assert vendor.key == vendor_signing_key(wallet_node.running.data_dir,
                                                v.id).public_key_hex
    for product in DEMO_PRODUCTS:
        cert = _certificates(wallet_node, product.vendor)[product.model]
        assert (cert.status, cert.body, cert.product_type) == (
            product.target, "fcc", product.product_type), product.model
        actions = [h.action for h in queries.history(state, cert.id)]
        match product.target:
            case "valid":
                assert cert.number and cert.test_report and all(
                    r.passed for r in cert.test_report)
                assert actions[-1] == "decide" and queries.history(state, cert.id)[-1].by == fcc
            case "suspended":
                assert cert.number and actions[-1] == "suspend"
                assert cert.correction_deadline_ms > now
            case "testing":
                assert cert.lab == DEMO_LAB.id and not cert.test_report
            case "submitted":
                assert actions == ["apply"]


def test_the_demo_device_fetches_its_credential_and_is_admitted(
        wallet_node: WalletNode) -> None:
    (name, model), = DEMO_DEVICES
    device = device_signing_key(wallet_node.running.data_dir, name).public_key_hex
    shown = httpx.get(f"{wallet_node.url}/v1/certification/devices/{device}").json()
    product = next(p for p in DEMO_PRODUCTS if p.model == model)
    number = _certificates(wallet_node, product.vendor)[model].number
    assert (shown["certificate"], shown["model"], shown["version"], shown["admitted"]) == (
        number, model, product.version, True)
    credential = shown["credential"]
    assert verify(bytes.fromhex(credential["vendor_key"]),
                  credential_message(device, number, model, product.version,
                                     credential["vendor_key"]),
                  bytes.fromhex(credential["signature"]))


def test_the_demo_logins_sign_as_the_body_the_lab_and_the_vendors(
        wallet_node: WalletNode) -> None:
    custody = wallet_node.custody
    data_dir = wallet_node.running.data_dir
    expected = [("fcc-desk", STAFF, "fcc", member_key(data_dir, "fcc")),
                (DEMO_LAB.id, LAB, DEMO_LAB.id, lab_signing_key(data_dir, DEMO_LAB.id)),
                *((v.id, VENDOR, v.id, vendor_signing_key(data_dir, v.id))
                  for v in DEMO_VENDORS)]
    for username, kind, institution, key in expected:
        user = custody.user(username)
        assert user is not None, username
        assert (user.kind, user.institution, user.public_key) == (
            kind, institution, key.public_key_hex)
        assert custody.login(username, f"{username}-demo") is not None
    lab = custody.user(DEMO_LAB.id)
    assert lab is not None and lab.display_name == DEMO_LAB.name
