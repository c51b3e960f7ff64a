"""The demo consortium: founders in genesis, everyone else admitted by real transactions.

All institutions are fictional. Keys are written to ``<data_dir>/keys/<member>.key`` (0600).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import NamedTuple

from consortia.crypto.keys import SigningKey
from consortia.ledger.genesis import Genesis, GenesisMember, GenesisNode
from consortia.sdk.client import Client

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
]


def member_key(data_dir: Path, member_id: str) -> SigningKey:
    return SigningKey.load_or_create(data_dir / "keys" / f"{member_id}.key")


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
    result, _ = client.send(proposer, "governance.propose", {"action": action, "note": note})
    proposal_id = str(result["data"]["proposal_id"])
    for voter in voters:
        result, _ = client.send(voter, "governance.vote",
                                {"proposal_id": proposal_id, "approve": True})
        if result["data"].get("status") != "open":
            break
    return proposal_id


def run_demo(client: Client, data_dir: Path) -> None:
    """Populate a fresh demo chain by real, signed transactions; runs once per data dir."""
    marker = data_dir / DONE_MARKER
    if marker.exists():
        return
    keys = {i.id: member_key(data_dir, i.id) for i in FOUNDERS + JOINERS}
    founders = [keys[i.id] for i in FOUNDERS]
    for joiner in JOINERS:
        _adopt(client, keys["harbor"], founders,
               {"type": "admit_member", "id": joiner.id, "name": joiner.name,
                "role": joiner.role, "key": keys[joiner.id].public_key_hex},
               f"Admit {joiner.name} to the consortium")
    _adopt(client, keys["fro"], [*founders, keys["meridian"]],
           {"type": "set_parameter", "name": "regulator_veto", "value": True},
           "The regulator may veto proposals")
    # Left open on purpose, so the governance page shows a ballot in progress.
    client.send(keys["lotus"], "governance.propose",
                {"action": {"type": "set_parameter", "name": "proposal_ttl_ms",
                            "value": 14 * 86_400_000},
                 "note": "Give members two weeks to vote"})
    catalogue = b"CFP catalogue 1: 11 product types"
    client.send(keys["fcc"], "notary.attest",
                {"digest": hashlib.sha256(catalogue).hexdigest(),
                 "label": "CFP catalogue, first edition"})
    marker.write_text("ok\n")
