"""The demo consortium: founders in genesis, everyone else admitted by real transactions.

All institutions and people are fictional. Member keys are written to
``<data_dir>/keys/<member>.key`` and wallet owner keys to ``<data_dir>/keys/wallets/<id>.key``
(0600).

Besides governance and the notary, the demo builds a small two-currency economy: a second
central bank joins, CNY and HKD are adopted with e-CNY-like wallet tiers (all by proposals),
the central banks issue to the banks' reserves, the banks open wallets for people and
merchants and fund them, and a few people pay. Every step checks the ledger first, so a demo
interrupted half-way resumes where it stopped.

Certification (CFP): governance accredits a test lab, two vendors register themselves, and
four products stand at different points of the certificate lifecycle, so every desk has work:
a barcode terminal certified (with one registered device), a POS terminal suspended, a wallet
app in type testing and another application waiting for the body. Lab, vendor and device keys
are in ``<data_dir>/keys/labs/``, ``keys/vendors/`` and ``keys/devices/`` (0600).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, NamedTuple

from consortia.crypto.keys import SigningKey
from consortia.ledger.genesis import Genesis, GenesisMember, GenesisNode
from consortia.modules.certification.logic import sign_credential
from consortia.modules.certification.types import (
    ACCEPTED,
    DAY_MS,
    ONSITE_PASSED,
    SUBMITTED,
    SUSPENDED,
    TEST_PASSED,
    TESTING,
    VALID,
)
from consortia.sdk.client import Client, ConsortiaError

DEMO_CHAIN_ID = "consortia-demo"
DONE_MARKER = "demo.done"


class Institution(NamedTuple):
    id: str
    name: str
    role: str


FOUNDERS = [
    Institution("arcadia-cb", "Central Bank of Arcadia", "central_bank"),
    Institution("harbor", "Harbor Commercial Bank", "bank"),
    Institution("lotus", "Lotus Pay Network", "payment_network"),
    Institution("fro", "Financial Regulatory Office", "regulator"),
]
JOINERS = [
    Institution("meridian", "Meridian Bank", "bank"),
    Institution("fcc", "Fintech Certification Centre", "certification_body"),
    Institution("lantau-ma", "Monetary Authority of Lantau", "central_bank"),
]


class DemoCurrency(NamedTuple):
    code: str
    numeric: str
    exponent: int
    issuer: str
    name: str


class DemoTier(NamedTuple):
    """A wallet tier, modelled on the e-CNY wallet categories (amounts in major units)."""

    tier: str
    name: str
    balance_max: str
    payment_max: str
    daily_max: str


class DemoWallet(NamedTuple):
    id: str
    currency: str
    tier: str
    operator: str  # the bank that opened it
    holder: str  # "person" or "merchant"
    label: str
    funds: str  # distributed from the operator's reserve ("0": none)


CURRENCIES = [
    DemoCurrency("CNY", "156", 2, "arcadia-cb", "Digital yuan (e-CNY)"),
    DemoCurrency("HKD", "344", 2, "lantau-ma", "Digital Hong Kong dollar"),
]
TIERS = [
    DemoTier("anonymous", "Anonymous (phone number only)", "10000", "2000", "5000"),
    DemoTier("verified", "Verified (identity card)", "500000", "50000", "100000"),
    DemoTier("merchant", "Merchant", "5000000", "1000000", "5000000"),
]
# (currency, bank, amount): the central banks issue into the banks' reserves.
ISSUES = [("CNY", "harbor", "10000000"), ("CNY", "meridian", "10000000"),
          ("HKD", "harbor", "5000000")]
DEMO_WALLETS = [
    DemoWallet("alice", "CNY", "verified", "harbor", "person", "Alice Lin", "20000"),
    DemoWallet("bob", "CNY", "anonymous", "harbor", "person", "Bob Ho", "3000"),
    DemoWallet("chen", "CNY", "verified", "meridian", "person", "Chen Wei", "8000"),
    DemoWallet("dora", "HKD", "verified", "harbor", "person", "Dora Chan", "15000"),
    DemoWallet("teahouse", "CNY", "merchant", "meridian", "merchant", "Jade Teahouse", "0"),
    DemoWallet("harbor-books", "HKD", "merchant", "harbor", "merchant", "Harbor Books", "0"),
]
# (from, to, amount, memo)
DEMO_TRANSFERS = [
    ("alice", "teahouse", "128.00", "Tea and dim sum"),
    ("alice", "bob", "500.00", "Dinner, split"),
    ("chen", "teahouse", "36.50", "Pu'er tea, 250 g"),
]
# Who votes for the currency proposals, in order, until a strict majority is reached.
CURRENCY_VOTERS = ["arcadia-cb", "lantau-ma", "harbor", "meridian", "lotus", "fro", "fcc"]


class DemoParty(NamedTuple):
    """A test lab or a vendor of the certification demo."""

    id: str
    name: str
    address: str  # a vendor's registered address ("" for a lab)


class DemoProduct(NamedTuple):
    """A product applied for by a demo vendor, left by the demo in status ``target``."""

    vendor: str
    product_type: str
    product_name: str
    model: str
    version: str
    manufacturer: str
    factory: str
    scope: str
    standards: tuple[str, ...]
    target: str


CERTIFICATION_BODY = "fcc"
DEMO_LAB = DemoParty("pearl-lab", "Pearl River Fintech Test Lab", "")
DEMO_VENDORS = [
    DemoParty("lotus-devices", "Lotus Devices Ltd.", "18 Science Park Road, Arcadia"),
    DemoParty("jade-terminals", "Jade Terminals Co.", "7 Harbour Industrial Estate, Lantau"),
]
DEMO_PRODUCTS = [
    DemoProduct("jade-terminals", "BARCODE_TERMINAL", "QuickScan Pro", "JT-Q1", "2.1.0",
                "Jade Terminals Co.", "Jade Terminals Factory No. 1, Lantau",
                "dynamic and static QR code payment acceptance",
                ("Barcode payment acceptance terminal specification (trial)",), VALID),
    DemoProduct("jade-terminals", "POS", "JadePOS Smart", "JT-P8", "1.4.0",
                "Jade Terminals Co.", "Jade Terminals Factory No. 1, Lantau",
                "card and QR acceptance at the point of sale", ("JR/T 0001", "JR/T 0120"),
                SUSPENDED),
    DemoProduct("lotus-devices", "CLIENT_SW", "Lotus Wallet for iOS", "LW-IOS", "3.2.0",
                "Lotus Devices Ltd.", "Lotus Devices software centre, Arcadia",
                "mobile payment client for the digital currency wallet",
                ("JR/T 0092", "JR/T 0098.3", "T/PCAC 0006"), TESTING),
    DemoProduct("lotus-devices", "CLIENT_SW", "Lotus Wallet for Android", "LW-ANDROID",
                "3.2.0", "Lotus Devices Ltd.", "Lotus Devices software centre, Arcadia",
                "mobile payment client for the digital currency wallet",
                ("JR/T 0092", "JR/T 0098.3", "T/PCAC 0006"), SUBMITTED),
]
# (device key file name, model): devices the demo registers, each with its vendor credential.
DEMO_DEVICES = [("jade-qs-0001", "JT-Q1")]
# The lifecycle a demo product walks, one action a round: (action, status it leads to).
CERTIFICATION_PATH = [("apply", SUBMITTED), ("accept", ACCEPTED), ("assign_lab", TESTING),
                      ("test_report", TEST_PASSED), ("onsite_check", ONSITE_PASSED),
                      ("decide", VALID), ("suspend", SUSPENDED)]
CORRECTION_DAYS = 60  # the suspended POS terminal's correction deadline, from the demo's day


def member_key(data_dir: Path, member_id: str) -> SigningKey:
    return SigningKey.load_or_create(data_dir / "keys" / f"{member_id}.key")


def wallet_key_path(data_dir: Path, wallet_id: str) -> Path:
    """Where the demo keeps the owner key of a demo wallet (mode 0600)."""
    return data_dir / "keys" / "wallets" / f"{wallet_id}.key"


def wallet_owner_key(data_dir: Path, wallet_id: str) -> SigningKey:
    return SigningKey.load_or_create(wallet_key_path(data_dir, wallet_id))


def lab_signing_key(data_dir: Path, lab_id: str) -> SigningKey:
    """A demo test lab's key, ``<data_dir>/keys/labs/<id>.key`` (0600)."""
    return SigningKey.load_or_create(data_dir / "keys" / "labs" / f"{lab_id}.key")


def vendor_signing_key(data_dir: Path, vendor_id: str) -> SigningKey:
    """A demo vendor's key, ``<data_dir>/keys/vendors/<id>.key`` (0600)."""
    return SigningKey.load_or_create(data_dir / "keys" / "vendors" / f"{vendor_id}.key")


def device_signing_key(data_dir: Path, name: str) -> SigningKey:
    """A demo device's own key, ``<data_dir>/keys/devices/<name>.key`` (0600)."""
    return SigningKey.load_or_create(data_dir / "keys" / "devices" / f"{name}.key")


class DemoError(RuntimeError):
    """A demo transaction was not accepted."""


def demo_genesis(data_dir: Path) -> Genesis:
    """The demo genesis, created with fresh keys on first use and read back afterwards."""
    path = data_dir / "genesis.json"
    if path.exists():
        from consortia.ledger.genesis import load_genesis

        return load_genesis(path)
    node_key = SigningKey.load_or_create(data_dir / "node.key")
    genesis = Genesis(
        chain_id=DEMO_CHAIN_ID,
        time_ms=time.time_ns() // 1_000_000,
        members=[GenesisMember(i.id, i.name, i.role, member_key(data_dir, i.id).public_key_hex)
                 for i in FOUNDERS],
        nodes=[GenesisNode("node1", "lotus", node_key.public_key_hex)],
        parameters={},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(genesis.to_json())
    return genesis


def _adopt(client: Client, proposer: SigningKey, voters: list[SigningKey],
           action: dict[str, object], note: str) -> str:
    """Propose and vote, one tx at a time, until the proposal is decided."""
    result, _ = client.send(proposer, "governance.propose", {"action": action, "note": note})
    if result["status"] != "accepted":
        raise DemoError(f"proposal {note!r}: {result['code']}: {result['message']}")
    proposal_id = str(result["data"]["proposal_id"])
    for voter in voters:
        result, _ = client.send(voter, "governance.vote",
                                {"proposal_id": proposal_id, "approve": True})
        if result["data"].get("status") != "open":
            break
    return proposal_id


def send_all(client: Client, items: list[tuple[SigningKey, str, dict[str, Any]]],
             ) -> list[dict[str, Any]]:
    """Send txs as one batch and wait for them; DemoError unless every one was accepted."""
    if not items:
        return []
    statuses = client.send_many(items)
    for (_, kind, _), status in zip(items, statuses, strict=True):
        result = status["result"]
        if result["status"] != "accepted":
            # A private tx's status is redacted; its receipt still says why.
            why = client.receipt(status["tx_id"])["result"]
            raise DemoError(f"{kind} {status['tx_id']}: {why['code']}: {why['message']}")
    return statuses


def adopt_all(client: Client, proposer: list[SigningKey], voters: list[SigningKey],
              proposals: list[tuple[dict[str, Any], str]]) -> None:
    """Propose several actions at once (proposer i proposes action i), then have the first
    voters vote yes on all of them, just enough for a strict majority of the members.

    Only for actions that do not change who the members are: the majority is counted once.
    """
    if not proposals:
        return
    statuses = send_all(client, [
        (key, "governance.propose", {"action": action, "note": note})
        for key, (action, note) in zip(proposer, proposals, strict=True)])
    members = client.get("/v1/governance/members")["members"]
    needed = sum(1 for m in members if m["status"] == "active") // 2 + 1
    if needed > len(voters):
        raise DemoError(f"{needed} votes needed, {len(voters)} voters")
    send_all(client, [
        (voter, "governance.vote", {"proposal_id": s["result"]["data"]["proposal_id"],
                                    "approve": True})
        for s in statuses for voter in voters[:needed]])


def _governance(client: Client, keys: dict[str, SigningKey]) -> None:
    """Joiners, the regulator's veto, an open proposal, a notarised document."""
    founders = [keys[i.id] for i in FOUNDERS]
    members = {m["id"] for m in client.get("/v1/governance/members")["members"]}
    for joiner in JOINERS:
        if joiner.id in members:
            continue
        _adopt(client, keys["harbor"], founders,
               {"type": "admit_member", "id": joiner.id, "name": joiner.name,
                "role": joiner.role, "key": keys[joiner.id].public_key_hex},
               f"Admit {joiner.name} to the consortium")
    if client.get("/v1/governance/parameters")["parameters"]["regulator_veto"] is not True:
        _adopt(client, keys["fro"], [*founders, keys["meridian"]],
               {"type": "set_parameter", "name": "regulator_veto", "value": True},
               "The regulator may veto proposals")


def _currencies(client: Client, keys: dict[str, SigningKey]) -> None:
    """CNY and HKD with three wallet tiers each, adopted by proposals of type invoke."""
    voters = [keys[m] for m in CURRENCY_VOTERS]
    present = {c["code"] for c in client.currencies()}
    missing = [c for c in CURRENCIES if c.code not in present]
    adopt_all(client, [keys[c.issuer] for c in missing], voters, [
        ({"type": "invoke", "kind": "currency.add_currency",
          "payload": {"code": c.code, "numeric": c.numeric, "exponent": c.exponent,
                      "issuer": c.issuer, "name": c.name}},
         f"Adopt {c.name} ({c.code}), issued by {c.issuer}") for c in missing])
    proposers: list[SigningKey] = []
    tier_proposals: list[tuple[dict[str, Any], str]] = []
    for c in CURRENCIES:
        have = {t["tier"] for t in client.currency(c.code)["tiers"]}
        for t in TIERS:
            if t.tier in have:
                continue
            proposers.append(keys[c.issuer])
            tier_proposals.append((
                {"type": "invoke", "kind": "currency.set_tier",
                 "payload": {"currency": c.code, "tier": t.tier, "name": t.name,
                             "balance_max": t.balance_max, "payment_max": t.payment_max,
                             "daily_max": t.daily_max}},
                f"{c.code} wallet tier {t.tier}: balance {t.balance_max}, per payment "
                f"{t.payment_max}, daily {t.daily_max}"))
    adopt_all(client, proposers, voters, tier_proposals)


def _open_proposal_and_notary(client: Client, keys: dict[str, SigningKey]) -> None:
    proposals = client.get("/v1/governance/proposals", limit=200)["proposals"]
    if not any(p["action"].get("name") == "proposal_ttl_ms" for p in proposals):
        # Left open on purpose (and proposed last), so the governance page shows a ballot in
        # progress at the top.
        client.send(keys["lotus"], "governance.propose",
                    {"action": {"type": "set_parameter", "name": "proposal_ttl_ms",
                                "value": 14 * 86_400_000},
                     "note": "Give members two weeks to vote"})
    catalogue = b"CFP catalogue 1: 11 product types"
    digest = hashlib.sha256(catalogue).hexdigest()
    try:
        client.get(f"/v1/notary/evidence/{digest}")
    except ConsortiaError as exc:
        if exc.code != "unknown_digest":
            raise
        client.send(keys["fcc"], "notary.attest",
                    {"digest": digest, "label": "CFP catalogue, first edition"})


def _economy(client: Client, data_dir: Path, keys: dict[str, SigningKey]) -> None:
    """Issue to the banks, open and fund wallets, a few payments."""
    issuers = {c.code: c.issuer for c in CURRENCIES}
    issued = {c.code: client.supply(c.code)["issued_minor"] for c in CURRENCIES}
    send_all(client, [
        (keys[issuers[code]], "currency.issue", {"currency": code, "bank": bank,
                                                 "amount": amount})
        for code, bank, amount in ISSUES if issued[code] == 0])
    # The regulator sees every wallet: it tells which ones exist already.
    with Client(client.url, keys["fro"], node_key=client.node_key) as regulator:
        def entries(wallet_id: str) -> int | None:
            try:
                return int(regulator.wallet(wallet_id)["entries"])
            except ConsortiaError as exc:
                if exc.code != "unknown_wallet":
                    raise
                return None

        seen = {w.id: entries(w.id) for w in DEMO_WALLETS}
        send_all(client, [
            (keys[w.operator], "currency.open_wallet",
             {"wallet_id": w.id, "currency": w.currency,
              "owner_key": wallet_owner_key(data_dir, w.id).public_key_hex, "tier": w.tier,
              "holder": w.holder, "label": w.label})
            for w in DEMO_WALLETS if seen[w.id] is None])
        send_all(client, [
            (keys[w.operator], "currency.distribute", {"wallet_id": w.id, "amount": w.funds})
            for w in DEMO_WALLETS if w.funds != "0" and not seen[w.id]])
        receivers = {to for _, to, _, _ in DEMO_TRANSFERS}
        if all(not seen[r] for r in receivers):
            send_all(client, [
                (wallet_owner_key(data_dir, src), "currency.transfer",
                 {"from_wallet": src, "to_wallet": dst, "amount": amount, "memo": memo})
                for src, dst, amount, memo in DEMO_TRANSFERS])


def _evidence(text: str) -> str:
    """The SHA-256 the demo records as evidence: of a document that would say ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()


def _found(client: Client, path: str, missing_code: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = client.get(path)
    except ConsortiaError as exc:
        if exc.code != missing_code:
            raise
        return None
    return found


def _accredit_lab(client: Client, data_dir: Path, keys: dict[str, SigningKey]) -> None:
    """Governance accredits the demo lab (a proposal of type invoke), unless it did."""
    proposals = client.get("/v1/governance/proposals", limit=200)["proposals"]
    if any(p["status"] == "accepted" and p["action"].get("kind") == "certification.accredit_lab"
           and p["action"]["payload"].get("id") == DEMO_LAB.id for p in proposals):
        return
    adopt_all(client, [keys[CERTIFICATION_BODY]], [keys[m] for m in CURRENCY_VOTERS], [
        ({"type": "invoke", "kind": "certification.accredit_lab",
          "payload": {"id": DEMO_LAB.id, "name": DEMO_LAB.name,
                      "key": lab_signing_key(data_dir, DEMO_LAB.id).public_key_hex}},
         f"Accredit {DEMO_LAB.name} as a CFP test lab")])


def _certification_tx(client: Client, product: DemoProduct, action: str, cert: str,
                      keys: dict[str, SigningKey], lab: SigningKey, vendor: SigningKey,
                      ) -> tuple[SigningKey, str, dict[str, Any]]:
    """The tx that moves ``product`` (application ``cert``) one step along its path."""
    def step(reason: str, **extra: Any) -> dict[str, Any]:
        return {"certificate": cert, "reason": reason,
                "evidence": _evidence(f"{product.model}: {reason}"), **extra}

    body = keys[CERTIFICATION_BODY]
    match action:
        case "apply":
            return vendor, "certification.apply", {
                "body": CERTIFICATION_BODY, "product_type": product.product_type,
                "product_name": product.product_name, "model": product.model,
                "version": product.version, "manufacturer": product.manufacturer,
                "factory": product.factory, "scope": product.scope,
                "standards": list(product.standards),
                "evidence": _evidence(f"{product.model}: application dossier")}
        case "accept":
            return body, "certification.accept", step("application_complete")
        case "assign_lab":
            return body, "certification.assign_lab", step("lab_assigned", lab=DEMO_LAB.id)
        case "test_report":
            types = client.get("/v1/certification/product-types")["product_types"]
            items = next(t for t in types if t["code"] == product.product_type)["test_items"]
            return lab, "certification.test_report", {
                "certificate": cert, "evidence": _evidence(f"{product.model}: test report"),
                "results": [{"item": i["id"], "passed": True, "note": ""} for i in items]}
        case "onsite_check":
            return body, "certification.onsite_check", step("factory_audit", passed=True)
        case "decide":
            return body, "certification.decide", step("certification_decision", issue=True)
        case "suspend":
            deadline_ms = time.time_ns() // 1_000_000 + CORRECTION_DAYS * DAY_MS
            return body, "certification.suspend", step("nonconformity",
                                                       correction_deadline_ms=deadline_ms)
    raise AssertionError(f"no demo step {action}")


def _certification(client: Client, data_dir: Path, keys: dict[str, SigningKey]) -> None:
    """A lab, two vendors, four products at four points of the lifecycle, one device.

    Each round sends, in one batch, the next step of every product not yet where the demo
    leaves it; the rounds start from what the ledger says, so an interrupted demo resumes.
    """
    _accredit_lab(client, data_dir, keys)
    lab = lab_signing_key(data_dir, DEMO_LAB.id)
    vendors = {v.id: vendor_signing_key(data_dir, v.id) for v in DEMO_VENDORS}
    listed = {v.id: _found(client, f"/v1/certification/vendors/{v.id}", "unknown_vendor")
              for v in DEMO_VENDORS}
    send_all(client, [
        (vendors[v.id], "certification.register_vendor",
         {"id": v.id, "legal_name": v.name, "address": v.address})
        for v in DEMO_VENDORS if listed[v.id] is None])
    # model -> (application id, status); the demo's models are unique per vendor.
    progress = {c["model"]: (str(c["id"]), str(c["status"]))
                for found in listed.values() if found is not None
                for c in found["certificates"]}
    statuses = [status for _, status in CERTIFICATION_PATH]
    for _ in CERTIFICATION_PATH:
        items: list[tuple[SigningKey, str, dict[str, Any]]] = []
        moved: list[str] = []
        for product in DEMO_PRODUCTS:
            cert, status = progress.get(product.model, ("", "draft"))
            if status == product.target:
                continue
            if status != "draft" and status not in statuses[:statuses.index(product.target)]:
                raise DemoError(f"demo product {product.model} is {status}; expected a step "
                                f"towards {product.target}")
            action = CERTIFICATION_PATH[statuses.index(status) + 1 if cert else 0][0]
            items.append(_certification_tx(client, product, action, cert, keys, lab,
                                           vendors[product.vendor]))
            moved.append(product.model)
        if not items:
            break
        for model, sent in zip(moved, send_all(client, items), strict=True):
            data = sent["result"]["data"]
            progress[model] = (str(data["certificate"]), str(data["status"]))
    _devices(client, data_dir, vendors)


def _devices(client: Client, data_dir: Path, vendors: dict[str, SigningKey]) -> None:
    """Register the demo devices, each with its vendor-signed credential."""
    items = []
    for name, model in DEMO_DEVICES:
        device = device_signing_key(data_dir, name)
        if _found(client, f"/v1/certification/devices/{device.public_key_hex}",
                  "unknown_device") is not None:
            continue
        product = next(p for p in DEMO_PRODUCTS if p.model == model)
        listed = client.get(f"/v1/certification/vendors/{product.vendor}")["certificates"]
        number = next(str(c["number"]) for c in listed if c["model"] == model)
        vendor = vendors[product.vendor]
        credential = sign_credential(vendor, device.public_key_hex, number, model,
                                     product.version)
        items.append((vendor, "certification.register_device",
                      {"device_key": device.public_key_hex, "certificate": number,
                       "model": model, "version": product.version,
                       "signature": credential.signature}))
    send_all(client, items)


class DemoMerchant(NamedTuple):
    id: str
    name: str  # as its QR code shows it (ASCII, at most 25 characters)
    city: str
    country: str
    mcc: str
    wallet_id: str


DEMO_MERCHANTS = [
    DemoMerchant("jade-teahouse", "Jade Teahouse", "Lantau", "HK", "5814", "teahouse"),
    DemoMerchant("harbor-books", "Harbor Books", "Lantau", "HK", "5942", "harbor-books"),
]
# (merchant, device key file name): certified terminals the demo gives merchants.
DEMO_TERMINALS = [("jade-teahouse", "jade-qs-0001")]
# (merchant, order id, amount, payer): an order paid by QR code.
DEMO_ORDERS = [("jade-teahouse", "T-1000", "28.00", "chen")]


def _payments(client: Client, data_dir: Path, keys: dict[str, SigningKey]) -> None:
    """The payment network onboards the merchants and a certified terminal; one order is
    paid by QR code."""
    network = keys["lotus"]
    missing = [m for m in DEMO_MERCHANTS
               if _found(client, f"/v1/payments/merchants/{m.id}", "unknown_merchant") is None]
    send_all(client, [
        (network, "payments.onboard_merchant",
         {"merchant_id": m.id, "name": m.name, "city": m.city, "country": m.country,
          "mcc": m.mcc, "wallet_id": m.wallet_id}) for m in missing])
    if not missing:
        return  # terminals and orders came with the merchants
    send_all(client, [
        (network, "payments.add_terminal",
         {"merchant_id": merchant, "device_key": device_signing_key(data_dir, name)
          .public_key_hex, "label": "counter 1"}) for merchant, name in DEMO_TERMINALS])
    owners = {m.id: wallet_owner_key(data_dir, m.wallet_id) for m in DEMO_MERCHANTS}
    send_all(client, [
        (owners[merchant], "payments.create_order",
         {"merchant_id": merchant, "order_id": order_id, "amount": amount})
        for merchant, order_id, amount, _ in DEMO_ORDERS])
    send_all(client, [
        (wallet_owner_key(data_dir, payer), "payments.pay",
         {"merchant_id": merchant, "from_wallet": payer, "amount": amount,
          "order_id": order_id}) for merchant, order_id, amount, payer in DEMO_ORDERS])


def run_demo(client: Client, data_dir: Path) -> None:
    """Populate a fresh demo chain by real, signed transactions; runs once per data dir."""
    marker = data_dir / DONE_MARKER
    if marker.exists():
        return
    keys = {i.id: member_key(data_dir, i.id) for i in FOUNDERS + JOINERS}
    _governance(client, keys)
    _currencies(client, keys)
    # Before the open proposal, which stays the newest one for the governance page.
    _certification(client, data_dir, keys)
    _open_proposal_and_notary(client, keys)
    _economy(client, data_dir, keys)
    _payments(client, data_dir, keys)
    marker.write_text("ok\n")
