"""The demo consortium: founders in genesis, everyone else admitted by real transactions.

All institutions and people are fictional. Member keys are written to
``<data_dir>/keys/<member>.key`` and wallet owner keys to ``<data_dir>/keys/wallets/<id>.key``
(0600).

Besides governance and the notary, the demo builds a small two-currency economy: a second
central bank joins, CNY and HKD are adopted with e-CNY-like wallet tiers (all by proposals),
the central banks issue to the banks' reserves, the banks open wallets for people and
merchants and fund them, and a few people pay. Every step checks the ledger first, so a demo
interrupted half-way resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, NamedTuple

from consortia.crypto.keys import SigningKey
from consortia.ledger.genesis import Genesis, GenesisMember, GenesisNode
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


def member_key(data_dir: Path, member_id: str) -> SigningKey:
    return SigningKey.load_or_create(data_dir / "keys" / f"{member_id}.key")


def wallet_key_path(data_dir: Path, wallet_id: str) -> Path:
    """Where the demo keeps the owner key of a demo wallet (mode 0600)."""
    return data_dir / "keys" / "wallets" / f"{wallet_id}.key"


def wallet_owner_key(data_dir: Path, wallet_id: str) -> SigningKey:
    return SigningKey.load_or_create(wallet_key_path(data_dir, wallet_id))


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


def run_demo(client: Client, data_dir: Path) -> None:
    """Populate a fresh demo chain by real, signed transactions; runs once per data dir."""
    marker = data_dir / DONE_MARKER
    if marker.exists():
        return
    keys = {i.id: member_key(data_dir, i.id) for i in FOUNDERS + JOINERS}
    _governance(client, keys)
    _currencies(client, keys)
    _open_proposal_and_notary(client, keys)
    _economy(client, data_dir, keys)
    marker.write_text("ok\n")
