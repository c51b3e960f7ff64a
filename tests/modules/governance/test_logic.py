"""Governance logic driven through real Overlay/Context, the way the executor applies a tx."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import pytest

from consortia.ledger.genesis import Genesis, GenesisMember, GenesisNode
from consortia.ledger.params import read_param
from consortia.ledger.result import Rejected
from consortia.ledger.state import Context, Overlay, State
from consortia.modules.governance import queries
from consortia.modules.governance.logic import active_member_of, module
from consortia.modules.governance.types import Member, Node

DAY_MS = 86_400_000
T0_MS = 1_700_000_000_000


def key_of(name: str) -> str:
    """A stable, well-formed public key hex for a test party (logic never checks signatures)."""
    return hashlib.sha256(name.encode()).hexdigest()


def genesis_of(*members: tuple[str, str], nodes: tuple[tuple[str, str], ...] = (),
               parameters: dict[str, Any] | None = None) -> Genesis:
    return Genesis(
        chain_id="test",
        time_ms=T0_MS,
        members=[GenesisMember(id=i, name=i.upper(), role=r, key=key_of(i)) for i, r in members],
        nodes=[GenesisNode(id=i, operator=op, key=key_of(i)) for i, op in nodes],
        parameters=parameters or {},
    )


class Chain:
    """Committed state plus a clock; applies one action per call like the executor."""

    def __init__(self, genesis: Genesis) -> None:
        self.state = State()
        self.time_ms = genesis.time_ms
        self.txs = 0
        overlay = Overlay(self.state)
        module.init_genesis(self._ctx(overlay, "genesis", "genesis"), genesis)
        overlay.merge_into_base()

    def _ctx(self, overlay: Overlay, signer: str, kind: str) -> Context:
        self.txs += 1
        tx_id = hashlib.sha256(f"tx-{self.txs}".encode()).digest()
        return Context(overlay=overlay, chain_id="test", height=self.txs, time_ms=self.time_ms,
                       seed=tx_id, tx_id=tx_id, signer=signer, kind=kind)

    def apply(self, signer: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Run ``governance.<action>`` signed by party ``signer``; Rejected propagates."""
        spec = module.actions[action]
        converted = msgspec.convert(payload, spec.payload_type)
        overlay = Overlay(self.state)
        data = spec.apply(self._ctx(overlay, key_of(signer), f"governance.{action}"), converted)
        overlay.merge_into_base()
        return data or {}

    def refused(self, signer: str, action: str, payload: dict[str, Any]) -> str:
        """Apply an action that must be refused; check it changed nothing; return its code."""
        before = dict(self.state.items)
        with pytest.raises(Rejected) as info:
            self.apply(signer, action, payload)
        assert self.state.items == before
        assert info.value.message
        return info.value.code

    def propose(self, signer: str, action: dict[str, Any], note: str = "") -> str:
        return str(self.apply(signer, "propose", {"action": action, "note": note})
                   ["proposal_id"])

    def vote(self, signer: str, proposal_id: str, approve: bool = True) -> dict[str, Any]:
        return self.apply(signer, "vote", {"proposal_id": proposal_id, "approve": approve})

    def status(self, proposal_id: str) -> str:
        found = queries.proposal(self.state, proposal_id, self.time_ms)
        assert found is not None
        return found.status


def admit(member_id: str, role: str = "bank") -> dict[str, Any]:
    return {"type": "admit_member", "id": member_id, "name": f"{member_id} Bank", "role": role,
            "key": key_of(member_id)}


def remove(member_id: str) -> dict[str, Any]:
    return {"type": "remove_member", "id": member_id}


def set_param(name: str, value: Any) -> dict[str, Any]:
    return {"type": "set_parameter", "name": name, "value": value}


THREE = (("cb", "central_bank"), ("b1", "bank"), ("reg", "regulator"))
FOUR = (("cb", "central_bank"), ("b1", "bank"), ("b2", "bank"), ("reg", "regulator"))


# --- genesis --------------------------------------------------------------------------------

def test_genesis_loads_members_nodes_and_parameters() -> None:
    chain = Chain(genesis_of(*THREE, nodes=(("n1", "b1"),),
                             parameters={"regulator_veto": True}))
    assert [m.id for m in queries.members(chain.state)] == ["b1", "cb", "reg"]
    cb = queries.member(chain.state, "cb")
    assert cb == Member(id="cb", name="CB", role="central_bank", key=key_of("cb"),
                        status="active", admitted_ms=T0_MS, removed_ms=None)
    assert queries.member_by_key(chain.state, key_of("reg")) is not None
    assert queries.nodes(chain.state) == [
        Node(id="n1", operator="b1", key=key_of("n1"), status="active", admitted_ms=T0_MS)]
    params = queries.parameters(chain.state)
    assert params["regulator_veto"] is True
    assert params["proposal_ttl_ms"] == 7 * DAY_MS  # default, never written


@pytest.mark.parametrize(("genesis", "why"), [
    (genesis_of(), "at least one member"),
    (genesis_of(("a", "bank"), ("a", "bank")), "already taken"),
    (genesis_of(("a", "bank"), ("b", "wizard")), "role must be one of"),
    (genesis_of(("A", "bank")), "id must be"),
    (genesis_of(("a", "bank"), nodes=(("n1", "ghost"),)), "not an active member"),
    (genesis_of(("a", "bank"), nodes=(("a", "a"),)), "already the key of member a"),
    (genesis_of(("a", "bank"), parameters={"proposal_ttl_ms": 1}), "must be within"),
    (genesis_of(("a", "bank"), parameters={"no_such": 1}), "unknown parameter"),
])
def test_bad_genesis_is_refused_with_a_clear_message(genesis: Genesis, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Chain(genesis)


def test_genesis_refuses_two_members_with_one_key() -> None:
    g = genesis_of(("a", "bank"), ("b", "bank"))
    twin = msgspec.structs.replace(g.members[1], key=g.members[0].key)
    with pytest.raises(ValueError, match="already the key of member a"):
        Chain(msgspec.structs.replace(g, members=[g.members[0], twin]))


# --- majorities -----------------------------------------------------------------------------

def test_strict_majority_of_three_needs_two_yes() -> None:
    chain = Chain(genesis_of(*THREE))
    pid = chain.propose("cb", admit("b9"))
    assert chain.vote("cb", pid) == {"proposal_id": pid, "status": "open", "yes": 1, "no": 0}
    assert queries.member(chain.state, "b9") is None
    assert chain.vote("b1", pid)["status"] == "accepted"
    assert chain.status(pid) == "accepted"
    b9 = queries.member(chain.state, "b9")
    assert b9 is not None and b9.status == "active" and b9.admitted_ms == chain.time_ms


def test_strict_majority_of_four_needs_three_yes() -> None:
    chain = Chain(genesis_of(*FOUR))
    pid = chain.propose("cb", admit("b9"))
    chain.vote("cb", pid)
    assert chain.vote("b1", pid)["status"] == "open"  # 2 of 4 is not a strict majority
    assert chain.vote("b2", pid) == {"proposal_id": pid, "status": "accepted", "yes": 3,
                                     "no": 0}


def test_proposer_does_not_vote_by_proposing() -> None:
    chain = Chain(genesis_of(*THREE))
    pid = chain.propose("cb", admit("b9"))
    found = queries.proposal(chain.state, pid, chain.time_ms)
    assert found is not None and found.ballots == {} and found.proposer == "cb"


def test_rejected_once_a_majority_is_impossible() -> None:
    chain = Chain(genesis_of(*FOUR))
    pid = chain.propose("cb", admit("b9"))
    assert chain.vote("b1", pid, approve=False)["status"] == "open"
    # Two no of four: at most two yes remain, and 2 * 2 <= 4.
    assert chain.vote("b2", pid, approve=False) == {"proposal_id": pid, "status": "rejected",
                                                    "yes": 0, "no": 2}
    assert queries.member(chain.state, "b9") is None
    assert chain.refused("cb", "vote", {"proposal_id": pid, "approve": True}) == \
        "proposal_closed"


# --- regulator veto -------------------------------------------------------------------------

def test_regulator_no_does_not_veto_while_the_parameter_is_off() -> None:
    chain = Chain(genesis_of(*THREE))
    pid = chain.propose("cb", admit("b9"))
    assert chain.vote("reg", pid, approve=False)["status"] == "open"
    chain.vote("cb", pid)
    assert chain.vote("b1", pid)["status"] == "accepted"


def test_regulator_no_vetoes_when_the_parameter_is_on() -> None:
    chain = Chain(genesis_of(*FOUR, parameters={"regulator_veto": True}))
    pid = chain.propose("cb", admit("b9"))
    chain.vote("cb", pid)
    assert chain.vote("reg", pid, approve=False)["status"] == "vetoed"
    assert chain.status(pid) == "vetoed"
    assert queries.member(chain.state, "b9") is None


def test_bank_no_is_not_a_veto_even_when_the_parameter_is_on() -> None:
    chain = Chain(genesis_of(*FOUR, parameters={"regulator_veto": True}))
    pid = chain.propose("cb", admit("b9"))
    assert chain.vote("b1", pid, approve=False)["status"] == "open"


def test_veto_can_be_switched_on_by_governance() -> None:
    chain = Chain(genesis_of(*THREE))
    pid = chain.propose("cb", set_param("regulator_veto", True))
    chain.vote("cb", pid)
    chain.vote("b1", pid)
    assert read_param(chain.state, "regulator_veto") is True
    pid2 = chain.propose("cb", admit("b9"))
    assert chain.vote("reg", pid2, approve=False)["status"] == "vetoed"


# --- who may act ----------------------------------------------------------------------------

def test_non_member_cannot_propose_or_vote_or_withdraw() -> None:
    chain = Chain(genesis_of(*THREE))
    pid = chain.propose("cb", admit("b9"))
    assert chain.refused("stranger", "propose", {"action": admit("b8")}) == "not_a_member"
    assert chain.refused("stranger", "vote", {"proposal_id": pid, "approve": True}) == \
        "not_a_member"
    assert chain.refused("stranger", "withdraw", {"proposal_id": pid}) == "not_a_member"


def test_removed_member_cannot_vote_and_no_longer_counts() -> None:
    chain = Chain(genesis_of(*FOUR))
    pid = chain.propose("cb", admit("b9"))
    chain.vote("b2", pid)  # b2's ballot will stop counting once b2 is removed
    kick = chain.propose("cb", remove("b2"))
    for voter in ("cb", "b1", "reg"):
        chain.vote(voter, kick)
    b2 = queries.member(chain.state, "b2")
    assert b2 is not None and b2.status == "removed" and b2.removed_ms == chain.time_ms
    assert active_member_of(chain.state, key_of("b2")) is None
    assert queries.member_by_key(chain.state, key_of("b2")) == b2
    assert chain.refused("b2", "vote", {"proposal_id": pid, "approve": True}) == "not_a_member"
    assert chain.refused("b2", "propose", {"action": admit("b8")}) == "not_a_member"
    # N is now 3: b2's old yes is ignored, so cb alone is 1 of 3 and cb + b1 is 2 of 3.
    assert chain.vote("cb", pid) == {"proposal_id": pid, "status": "open", "yes": 1, "no": 0}
    assert chain.vote("b1", pid)["status"] == "accepted"


def test_removing_a_member_removes_the_nodes_it_operates() -> None:
    chain = Chain(genesis_of(*THREE, nodes=(("n1", "b1"), ("n2", "cb"))))
    pid = chain.propose("cb", remove("b1"))
    chain.vote("cb", pid)
    chain.vote("reg", pid)
    by_id = {n.id: n for n in queries.nodes(chain.state)}
    assert by_id["n1"].status == "removed" and by_id["n1"].removed_ms == chain.time_ms
    assert by_id["n2"].status == "active"


def test_the_last_active_member_cannot_be_removed() -> None:
    chain = Chain(genesis_of(("cb", "central_bank")))
    assert chain.refused("cb", "propose", {"action": remove("cb")}) == "bad_proposal"


def test_double_vote_is_refused() -> None:
    chain = Chain(genesis_of(*FOUR))
    pid = chain.propose("cb", admit("b9"))
    chain.vote("b1", pid, approve=False)
    assert chain.refused("b1", "vote", {"proposal_id": pid, "approve": True}) == \
        "already_voted"


def test_vote_on_unknown_proposal_is_refused() -> None:
    chain = Chain(genesis_of(*THREE))
    assert chain.refused("cb", "vote", {"proposal_id": "00" * 32, "approve": True}) == \
        "unknown_proposal"


def test_expired_proposal_takes_no_ballots_and_reads_expired() -> None:
    chain = Chain(genesis_of(*THREE))
    pid = chain.propose("cb", admit("b9"))
    chain.time_ms += 7 * DAY_MS
    assert chain.vote("cb", pid)["status"] == "open"  # the last millisecond still counts
    chain.time_ms += 1
    assert chain.refused("b1", "vote", {"proposal_id": pid, "approve": True}) == \
        "proposal_expired"
    assert chain.status(pid) == "expired"
    assert [p.id for p in queries.proposals(chain.state, chain.time_ms, status="expired")] == \
        [pid]
    assert queries.proposals(chain.state, chain.time_ms, status="open") == []


def test_proposal_ttl_comes_from_the_parameter() -> None:
    chain = Chain(genesis_of(*THREE, parameters={"proposal_ttl_ms": DAY_MS}))
    pid = chain.propose("cb", admit("b9"))
    found = queries.proposal(chain.state, pid, chain.time_ms)
    assert found is not None and found.expires_ms == T0_MS + DAY_MS


# --- withdraw -------------------------------------------------------------------------------

def test_withdraw_by_proposer_closes_the_proposal() -> None:
    chain = Chain(genesis_of(*THREE))
    pid = chain.propose("cb", admit("b9"))
    assert chain.apply("cb", "withdraw", {"proposal_id": pid})["status"] == "withdrawn"
    assert chain.status(pid) == "withdrawn"
    assert chain.refused("b1", "vote", {"proposal_id": pid, "approve": True}) == \
        "proposal_closed"
    assert chain.refused("cb", "withdraw", {"proposal_id": pid}) == "proposal_closed"


def test_withdraw_by_non_proposer_is_refused() -> None:
    chain = Chain(genesis_of(*THREE))
    pid = chain.propose("cb", admit("b9"))
    assert chain.refused("b1", "withdraw", {"proposal_id": pid}) == "not_proposer"
    assert chain.status(pid) == "open"


# --- checking proposals ---------------------------------------------------------------------

@pytest.mark.parametrize("value", [True, "600000", 10**12, 1])
def test_set_parameter_with_wrong_type_or_out_of_range_is_refused(value: Any) -> None:
    chain = Chain(genesis_of(*THREE))
    assert chain.refused("cb", "propose", {"action": set_param("proposal_ttl_ms", value)}) == \
        "bad_proposal"


def test_set_parameter_unknown_name_is_refused() -> None:
    chain = Chain(genesis_of(*THREE))
    assert chain.refused("cb", "propose", {"action": set_param("block_ms", 5)}) == \
        "bad_proposal"


def test_accepted_set_parameter_writes_the_parameter() -> None:
    chain = Chain(genesis_of(*THREE))
    pid = chain.propose("cb", set_param("proposal_ttl_ms", 2 * DAY_MS))
    chain.vote("cb", pid)
    chain.vote("b1", pid)
    assert queries.parameters(chain.state)["proposal_ttl_ms"] == 2 * DAY_MS


@pytest.mark.parametrize("action", [
    admit("cb"),  # id taken
    {**admit("b9"), "key": key_of("cb")},  # key of a member
    {**admit("b9"), "key": key_of("n1")},  # key of a node
    {**admit("b9"), "key": key_of("b9").upper()},  # not lower-case hex
    {**admit("b9"), "key": "abcd"},
    admit("b9", role="wizard"),
    admit("Bad Id"),
    admit("x" * 33),
    {**admit("b9"), "name": "x" * 101},
    {**admit("b9"), "name": "  "},
    remove("ghost"),
    {"type": "admit_node", "id": "n1", "operator": "cb", "key": key_of("n9")},  # id taken
    {"type": "admit_node", "id": "n9", "operator": "ghost", "key": key_of("n9")},
    {"type": "remove_node", "id": "n9"},
])
def test_invalid_proposal_is_refused_when_proposed(action: dict[str, Any]) -> None:
    chain = Chain(genesis_of(*THREE, nodes=(("n1", "b1"),)))
    assert chain.refused("cb", "propose", {"action": action}) == "bad_proposal"


def test_removing_an_already_removed_member_is_refused() -> None:
    chain = Chain(genesis_of(*THREE))
    pid = chain.propose("cb", remove("b1"))
    chain.vote("cb", pid)
    chain.vote("reg", pid)
    assert chain.refused("cb", "propose", {"action": remove("b1")}) == "bad_proposal"
    # A removed member's key is retired for good, so it cannot come back under another id.
    assert chain.refused("cb", "propose", {"action": {**admit("b7"), "key": key_of("b1")}}) \
        == "bad_proposal"


def test_overlong_note_is_refused() -> None:
    chain = Chain(genesis_of(*THREE))
    assert chain.refused("cb", "propose", {"action": admit("b9"), "note": "x" * 501}) == \
        "bad_proposal"


def test_unknown_action_type_is_refused_as_a_bad_payload() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"action": {"type": "dissolve"}},
                        module.actions["propose"].payload_type)


# --- enactment ------------------------------------------------------------------------------

def test_admitted_member_can_then_propose_and_vote() -> None:
    chain = Chain(genesis_of(*THREE))
    pid = chain.propose("cb", admit("b9"))
    chain.vote("cb", pid)
    chain.vote("b1", pid)
    pid2 = chain.propose("b9", {"type": "admit_node", "id": "n9", "operator": "b9",
                                "key": key_of("n9")})
    assert chain.vote("b9", pid2)["status"] == "open"
    assert chain.vote("cb", pid2)["status"] == "open"  # N is 4 now
    assert chain.vote("b1", pid2)["status"] == "accepted"
    found = queries.node(chain.state, "n9")
    assert found is not None and found.operator == "b9" and found.status == "active"


def test_node_removal_is_enacted() -> None:
    chain = Chain(genesis_of(*THREE, nodes=(("n1", "b1"),)))
    pid = chain.propose("b1", {"type": "remove_node", "id": "n1"})
    chain.vote("cb", pid)
    chain.vote("b1", pid)
    found = queries.node(chain.state, "n1")
    assert found is not None and found.status == "removed" and found.removed_ms == T0_MS


def test_failed_enactment_records_the_ballot_and_the_reason() -> None:
    chain = Chain(genesis_of(*THREE))
    first = chain.propose("cb", admit("b9"))
    second = chain.propose("b1", {**admit("b9"), "key": key_of("other")})
    chain.vote("cb", first)
    chain.vote("b1", first)
    chain.vote("cb", second)
    chain.vote("b1", second)  # 2 of 4: b9's admission made N four
    chain.time_ms += 1_000
    result = chain.vote("reg", second)
    assert result == {"proposal_id": second, "status": "failed", "yes": 3, "no": 0}
    found = queries.proposal(chain.state, second, chain.time_ms)
    assert found is not None
    assert found.ballots == {"cb": True, "b1": True, "reg": True}
    assert found.decided_ms == chain.time_ms
    assert "already taken" in found.outcome
    b9 = queries.member(chain.state, "b9")
    assert b9 is not None and b9.key == key_of("b9")  # the first admission stands


# --- read models ----------------------------------------------------------------------------

def test_proposals_are_listed_newest_first_and_filtered() -> None:
    chain = Chain(genesis_of(*THREE))
    ids = []
    for n in range(3):
        ids.append(chain.propose("cb", admit(f"b{n + 5}")))
        chain.time_ms += 10
    chain.apply("cb", "withdraw", {"proposal_id": ids[1]})
    listed = queries.proposals(chain.state, chain.time_ms)
    assert [p.id for p in listed] == ids[::-1]
    assert [p.id for p in queries.proposals(chain.state, chain.time_ms, status="open")] == \
        [ids[2], ids[0]]
    assert len(queries.proposals(chain.state, chain.time_ms, limit=1)) == 1
    with pytest.raises(ValueError):
        queries.proposals(chain.state, chain.time_ms, status="pending")
    with pytest.raises(ValueError):
        queries.proposals(chain.state, chain.time_ms, limit=0)


def test_module_exposes_its_actions() -> None:
    assert module.name == "governance"
    assert sorted(module.actions) == ["propose", "vote", "withdraw"]
