"""Governance end to end over HTTP: propose, vote, enact; outsiders cannot take part."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from consortia.crypto.keys import SigningKey
from consortia.ledger.receipts import verify_receipt
from consortia.sdk.client import build_tx, tx_id_of
from tests.api.support import commit, sth
from tests.conftest import RunningNode

FOUNDER_IDS = {"arcadia-cb", "harbor", "lotus", "fro"}


def _send(http: httpx.Client, node: RunningNode, key: SigningKey, kind: str,
          payload: dict[str, Any]) -> dict[str, Any]:
    """Commit a signed tx and return its result, checking its receipt on the way."""
    stx = build_tx(key, node.genesis.chain_id, kind, payload)
    status = commit(http, stx)
    receipt = http.get(f"/v1/tx/{tx_id_of(stx)}/receipt").json()
    verify_receipt(receipt, node.node.key.public_key)
    result: dict[str, Any] = status["result"]
    return result


def _members(http: httpx.Client) -> dict[str, dict[str, Any]]:
    response = http.get("/v1/governance/members")
    assert response.status_code == 200
    return {m["id"]: m for m in response.json()["members"]}


def _admit(new_id: str, key: SigningKey) -> dict[str, Any]:
    return {"action": {"type": "admit_member", "id": new_id, "name": "Meridian Bank",
                       "role": "bank", "key": key.public_key_hex},
            "note": "Admit Meridian"}


def test_founders_are_listed_as_active_members(node: RunningNode, http: httpx.Client) -> None:
    members = _members(http)
    assert set(members) >= FOUNDER_IDS
    for member_id in FOUNDER_IDS:
        assert members[member_id]["status"] == "active"
        assert members[member_id]["key"] == node.keys[member_id].public_key_hex


def test_proposal_admitted_by_strict_majority_enacts_and_new_member_is_listed(
        node: RunningNode, http: httpx.Client) -> None:
    newcomer = SigningKey.generate()
    proposed = _send(http, node, node.keys["harbor"], "governance.propose",
                     _admit("meridian", newcomer))
    assert proposed["status"] == "accepted", proposed
    proposal_id = proposed["data"]["proposal_id"]
    listed = http.get("/v1/governance/proposals", params={"status": "open"}).json()
    assert proposal_id in [p["id"] for p in listed["proposals"]]

    # Four members: two yes is not a strict majority, three is.
    for voter, status_after in (("arcadia-cb", "open"), ("harbor", "open"),
                                ("lotus", "accepted")):
        assert "meridian" not in _members(http)
        vote = _send(http, node, node.keys[voter], "governance.vote",
                     {"proposal_id": proposal_id, "approve": True})
        assert vote["status"] == "accepted", vote
        assert vote["data"]["status"] == status_after

    proposal = http.get(f"/v1/governance/proposals/{proposal_id}").json()
    assert proposal["status"] == "accepted"
    assert proposal["ballots"] == {"arcadia-cb": True, "harbor": True, "lotus": True}
    assert proposal["tally"]["yes"] == 3
    member = _members(http)["meridian"]
    assert member["status"] == "active"
    assert member["role"] == "bank"
    assert member["key"] == newcomer.public_key_hex

    # The new member acts as one: its own proposal is accepted.
    own = _send(http, node, newcomer, "governance.propose",
                {"action": {"type": "set_parameter", "name": "regulator_veto",
                            "value": True}})
    assert own["status"] == "accepted", own


def test_vote_by_non_member_is_rejected_and_counts_nothing(node: RunningNode,
                                                           http: httpx.Client) -> None:
    proposed = _send(http, node, node.keys["lotus"], "governance.propose",
                     {"action": {"type": "set_parameter", "name": "proposal_ttl_ms",
                                 "value": 86_400_000}})
    proposal_id = proposed["data"]["proposal_id"]
    outsider = SigningKey.generate()
    vote = _send(http, node, outsider, "governance.vote",
                 {"proposal_id": proposal_id, "approve": True})
    assert vote["status"] == "rejected"
    assert vote["code"] == "not_a_member"
    proposal = http.get(f"/v1/governance/proposals/{proposal_id}").json()
    assert proposal["status"] == "open"
    assert proposal["ballots"] == {}
    assert outsider.public_key_hex not in {m["key"] for m in _members(http).values()}


def test_second_ballot_of_a_member_is_rejected(node: RunningNode, http: httpx.Client) -> None:
    proposed = _send(http, node, node.keys["fro"], "governance.propose",
                     {"action": {"type": "set_parameter", "name": "proposal_ttl_ms",
                                 "value": 2 * 86_400_000}})
    proposal_id = proposed["data"]["proposal_id"]
    ballot = {"proposal_id": proposal_id, "approve": False}
    assert _send(http, node, node.keys["fro"], "governance.vote", ballot)["status"] == "accepted"
    again = _send(http, node, node.keys["fro"], "governance.vote", ballot)
    assert again["code"] == "already_voted"


@pytest.mark.parametrize("path, code", [
    ("/v1/governance/proposals/" + "00" * 32, "unknown_proposal"),
    ("/v1/governance/proposals?status=bogus", "bad_request"),
])
def test_bad_governance_reads_are_clear_errors(http: httpx.Client, path: str,
                                               code: str) -> None:
    before = sth(http)
    response = http.get(path)
    assert 400 <= response.status_code < 500
    assert response.json()["code"] == code
    assert sth(http) == before
