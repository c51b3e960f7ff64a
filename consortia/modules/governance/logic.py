"""Governance actions: propose, vote, withdraw; enactment; the genesis hook.

The constitution, evaluated on every ballot over the ballots of currently active members
(N = active members):

- a "no" from any active regulator vetoes the proposal while parameter ``regulator_veto`` is on;
- otherwise a strict majority of yes (``yes * 2 > N``) enacts it in the same tx;
- otherwise, once yes can no longer reach a strict majority (``(yes + not voted) * 2 <= N``),
  it is rejected.

Every proposal is checked when proposed and again when enacted: if the world changed meanwhile
(the id got taken, the target was removed), the proposal is recorded as "failed" with the reason,
and the ballot that decided it still counts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import msgspec

from consortia.ledger.genesis import Genesis
from consortia.ledger.module import Action, Module
from consortia.ledger.params import check_param, param_key, read_param
from consortia.ledger.result import Rejected
from consortia.ledger.state import Context, Reader
from consortia.modules.governance.types import (
    ACCEPTED,
    ACTIVE,
    FAILED,
    ID_CHARS_MAX,
    KEY_HEX_CHARS,
    MEMBER_PREFIX,
    NAME_CHARS_MAX,
    NODE_PREFIX,
    NOTE_CHARS_MAX,
    OPEN,
    REGULATOR,
    REJECTED,
    REMOVED,
    ROLES,
    VETOED,
    WITHDRAWN,
    AdmitMember,
    AdmitNode,
    Invoke,
    Member,
    Node,
    Proposal,
    ProposalAction,
    ProposePayload,
    RemoveMember,
    RemoveNode,
    SetParameter,
    VotePayload,
    WithdrawPayload,
    member_key,
    member_key_index,
    node_key,
    proposal_key,
)

_ID = re.compile(rf"[a-z0-9_-]{{1,{ID_CHARS_MAX}}}")
_KEY = re.compile(rf"[0-9a-f]{{{KEY_HEX_CHARS}}}")


# --- reading (works on a tx Context and on committed State alike) ---------------------------

def active_member_of(source: Reader, key_hex: str) -> Member | None:
    """The active member whose key is ``key_hex``, or None.

    Other modules call this with their tx Context to authorise members (``ctx.signer``).
    """
    member_id = source.get(member_key_index(key_hex), str)
    if member_id is None:
        return None
    member = source.get(member_key(member_id), Member)
    # The index holds active members only; a mismatch would be a corrupted index.
    assert member is not None and member.key == key_hex and member.status == ACTIVE, member_id
    return member


def active_members(source: Reader) -> list[Member]:
    """Active members in id order."""
    return [m for m in source.records(MEMBER_PREFIX, Member) if m.status == ACTIVE]


class Tally(NamedTuple):
    """A proposal's ballots as the constitution counts them now."""

    yes: int
    no: int
    not_voted: int
    members_active: int  # N


def tally(source: Reader, proposal: Proposal) -> Tally:
    """Count the ballots of currently active members; removed members' ballots are ignored."""
    active = {m.id for m in active_members(source)}
    yes = sum(1 for voter, approve in proposal.ballots.items() if approve and voter in active)
    no = sum(1 for voter, approve in proposal.ballots.items() if not approve and voter in active)
    return Tally(yes, no, len(active) - yes - no, len(active))


def _signer_member(ctx: Context) -> Member:
    member = active_member_of(ctx, ctx.signer)
    if member is None:
        raise Rejected("not_a_member", "the signer is not an active consortium member")
    return member


def _open_proposal(ctx: Context, proposal_id: str) -> Proposal:
    proposal = ctx.get(proposal_key(proposal_id), Proposal)
    if proposal is None:
        raise Rejected("unknown_proposal", f"there is no proposal {proposal_id[:64]!r}")
    if proposal.status != OPEN:
        raise Rejected("proposal_closed", f"proposal {proposal_id} is already {proposal.status}")
    if ctx.time_ms > proposal.expires_ms:
        raise Rejected("proposal_expired",
                       f"proposal {proposal_id} expired at {proposal.expires_ms} ms")
    return proposal


# --- checking proposal actions --------------------------------------------------------------

def _bad(message: str) -> Rejected:
    return Rejected("bad_proposal", message)


def _check_id(what: str, value: str) -> None:
    if not _ID.fullmatch(value):
        raise _bad(f"{what} id must be 1 to {ID_CHARS_MAX} characters of a-z, 0-9, _ and -")


def _check_new_key(ctx: Context, key_hex: str) -> None:
    if not _KEY.fullmatch(key_hex):
        raise _bad(f"a key must be {KEY_HEX_CHARS} lower-case hex characters (Ed25519)")
    # Keys are never reused, not even a removed member's or node's: old receipts name signers
    # by key, so one key must always mean one party.
    for member in ctx.records(MEMBER_PREFIX, Member):
        if member.key == key_hex:
            raise _bad(f"key is already the key of member {member.id}")
    for node in ctx.records(NODE_PREFIX, Node):
        if node.key == key_hex:
            raise _bad(f"key is already the key of node {node.id}")


def _check_admit_member(ctx: Context, action: AdmitMember) -> None:
    _check_id("member", action.id)
    if ctx.has(member_key(action.id)):
        raise _bad(f"member id {action.id} is already taken")
    if not action.name.strip() or len(action.name) > NAME_CHARS_MAX:
        raise _bad(f"a member name must be 1 to {NAME_CHARS_MAX} characters, not blank")
    if action.role not in ROLES:
        raise _bad(f"role must be one of {', '.join(ROLES)}")
    _check_new_key(ctx, action.key)


def _check_remove_member(ctx: Context, action: RemoveMember) -> Member:
    member = ctx.get(member_key(action.id), Member)
    if member is None or member.status != ACTIVE:
        raise _bad(f"there is no active member {action.id[:ID_CHARS_MAX]!r}")
    if len(active_members(ctx)) == 1:
        raise _bad("the last active member cannot be removed")
    return member


def _check_admit_node(ctx: Context, action: AdmitNode) -> None:
    _check_id("node", action.id)
    if ctx.has(node_key(action.id)):
        raise _bad(f"node id {action.id} is already taken")
    operator = ctx.get(member_key(action.operator), Member)
    if operator is None or operator.status != ACTIVE:
        raise _bad(f"node operator {action.operator[:ID_CHARS_MAX]!r} is not an active member")
    _check_new_key(ctx, action.key)


def _check_remove_node(ctx: Context, action: RemoveNode) -> Node:
    node = ctx.get(node_key(action.id), Node)
    if node is None or node.status != ACTIVE:
        raise _bad(f"there is no active node {action.id[:ID_CHARS_MAX]!r}")
    return node


def _check_set_parameter(action: SetParameter) -> None:
    try:
        check_param(action.name, action.value)
    except ValueError as exc:
        raise _bad(str(exc)) from None


def check_action(ctx: Context, action: ProposalAction) -> None:
    """Raise Rejected("bad_proposal", why) unless ``action`` could be enacted now."""
    match action:
        case AdmitMember():
            _check_admit_member(ctx, action)
        case RemoveMember():
            _check_remove_member(ctx, action)
        case AdmitNode():
            _check_admit_node(ctx, action)
        case RemoveNode():
            _check_remove_node(ctx, action)
        case SetParameter():
            _check_set_parameter(action)
        case Invoke():
            # A dry run now, so a proposal that could never be enacted is refused at once.
            try:
                ctx.invoke(action.kind, action.payload, dry_run=True)
            except Rejected as exc:
                raise _bad(f"{action.kind}: {exc.code}: {exc.message}") from None


# --- enacting (only after check_action passed: these write and never refuse) --------------

def _admit_member(ctx: Context, action: AdmitMember) -> None:
    ctx.put(member_key(action.id), Member(id=action.id, name=action.name, role=action.role,
                                          key=action.key, status=ACTIVE,
                                          admitted_ms=ctx.time_ms))
    ctx.put(member_key_index(action.key), action.id)


def _remove_member(ctx: Context, member: Member) -> None:
    ctx.put(member_key(member.id),
            msgspec.structs.replace(member, status=REMOVED, removed_ms=ctx.time_ms))
    # Without the index entry the key can no longer act as a member anywhere.
    ctx.delete(member_key_index(member.key))
    # A removed institution no longer runs nodes on the network.
    for node in ctx.records(NODE_PREFIX, Node):
        if node.operator == member.id and node.status == ACTIVE:
            _remove_node(ctx, node)


def _admit_node(ctx: Context, action: AdmitNode) -> None:
    ctx.put(node_key(action.id), Node(id=action.id, operator=action.operator, key=action.key,
                                      status=ACTIVE, admitted_ms=ctx.time_ms))


def _remove_node(ctx: Context, node: Node) -> None:
    ctx.put(node_key(node.id), msgspec.structs.replace(node, status=REMOVED,
                                                       removed_ms=ctx.time_ms))


def _enact(ctx: Context, action: ProposalAction) -> None:
    """Check ``action`` against the state of now, then apply it; Rejected before any write."""
    match action:
        case AdmitMember():
            _check_admit_member(ctx, action)
            _admit_member(ctx, action)
        case RemoveMember():
            _remove_member(ctx, _check_remove_member(ctx, action))
        case AdmitNode():
            _check_admit_node(ctx, action)
            _admit_node(ctx, action)
        case RemoveNode():
            _remove_node(ctx, _check_remove_node(ctx, action))
        case SetParameter():
            _check_set_parameter(action)
            ctx.put(param_key(action.name), action.value)
        case Invoke():
            ctx.invoke(action.kind, action.payload)


# --- actions --------------------------------------------------------------------------------

def propose(ctx: Context, payload: ProposePayload) -> dict[str, Any]:
    """Open a proposal by an active member; the proposer casts no ballot by proposing."""
    proposer = _signer_member(ctx)
    if len(payload.note) > NOTE_CHARS_MAX:
        raise Rejected("bad_proposal", f"a note may be at most {NOTE_CHARS_MAX} characters")
    check_action(ctx, payload.action)
    proposal_id = ctx.tx_id.hex()
    # Tx ids are unique (the executor runs a tx once), so the id is always free.
    assert not ctx.has(proposal_key(proposal_id)), proposal_id
    ttl_ms: int = read_param(ctx, "proposal_ttl_ms")
    ctx.put(proposal_key(proposal_id), Proposal(
        id=proposal_id, proposer=proposer.id, action=payload.action, note=payload.note,
        created_ms=ctx.time_ms, expires_ms=ctx.time_ms + ttl_ms, status=OPEN, ballots={},
    ))
    return {"proposal_id": proposal_id}


def vote(ctx: Context, payload: VotePayload) -> dict[str, Any]:
    """Record a ballot, then apply the constitution: veto, enact, reject, or stay open."""
    voter = _signer_member(ctx)
    proposal = _open_proposal(ctx, payload.proposal_id)
    if voter.id in proposal.ballots:
        raise Rejected("already_voted", f"member {voter.id} has already voted on this proposal")
    proposal = msgspec.structs.replace(
        proposal, ballots={**proposal.ballots, voter.id: payload.approve})
    counted = tally(ctx, proposal)
    veto_on: bool = read_param(ctx, "regulator_veto")
    status, outcome = OPEN, ""
    if veto_on and _regulator_said_no(ctx, proposal):
        status = VETOED
    elif counted.yes * 2 > counted.members_active:
        try:
            _enact(ctx, proposal.action)
            status = ACCEPTED
        except Rejected as exc:
            # The tx still succeeds: the ballot and the failure are the record of what happened.
            status, outcome = FAILED, exc.message
    elif (counted.yes + counted.not_voted) * 2 <= counted.members_active:
        status = REJECTED
    if status != OPEN:
        proposal = msgspec.structs.replace(proposal, status=status, decided_ms=ctx.time_ms,
                                           outcome=outcome)
    ctx.put(proposal_key(proposal.id), proposal)
    return {"proposal_id": proposal.id, "status": status, "yes": counted.yes,
            "no": counted.no}


def _regulator_said_no(ctx: Context, proposal: Proposal) -> bool:
    for voter_id, approve in proposal.ballots.items():
        if approve:
            continue
        voter = ctx.get(member_key(voter_id), Member)
        if voter is not None and voter.status == ACTIVE and voter.role == REGULATOR:
            return True
    return False


def withdraw(ctx: Context, payload: WithdrawPayload) -> dict[str, Any]:
    """Withdraw an open proposal; only its proposer may."""
    member = _signer_member(ctx)
    proposal = _open_proposal(ctx, payload.proposal_id)
    if proposal.proposer != member.id:
        raise Rejected("not_proposer", "only the member who proposed it may withdraw a proposal")
    ctx.put(proposal_key(proposal.id), msgspec.structs.replace(
        proposal, status=WITHDRAWN, decided_ms=ctx.time_ms))
    return {"proposal_id": proposal.id, "status": WITHDRAWN}


# --- genesis --------------------------------------------------------------------------------

def init_genesis(ctx: Context, genesis: Genesis) -> None:
    """Write the founding members, nodes and parameters; ValueError on a bad genesis.

    Entries are checked one by one with the same rules as proposals, against what the genesis
    wrote before them, so duplicates are caught like any taken id or key.
    """
    if not genesis.members:
        raise ValueError("genesis: at least one member is required")
    try:
        for m in genesis.members:
            admit_m = AdmitMember(id=m.id, name=m.name, role=m.role, key=m.key)
            _check_admit_member(ctx, admit_m)
            _admit_member(ctx, admit_m)
        for n in genesis.nodes:
            admit_n = AdmitNode(id=n.id, operator=n.operator, key=n.key)
            _check_admit_node(ctx, admit_n)
            _admit_node(ctx, admit_n)
        for name, value in sorted(genesis.parameters.items()):
            set_p = SetParameter(name=name, value=value)
            _check_set_parameter(set_p)
            ctx.put(param_key(name), value)
    except Rejected as exc:
        raise ValueError(f"genesis: {exc.message}") from None


class _Governance:
    name = "governance"
    actions: Mapping[str, Action] = MappingProxyType({
        "propose": Action(ProposePayload, propose),
        "vote": Action(VotePayload, vote),
        "withdraw": Action(WithdrawPayload, withdraw),
    })

    def init_genesis(self, ctx: Context, genesis: Genesis) -> None:
        init_genesis(ctx, genesis)


module: Module = _Governance()
