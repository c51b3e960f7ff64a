"""Read models over committed state for the API and pages."""

from __future__ import annotations

from typing import Any

import msgspec

from consortia.ledger.params import PARAMETERS, read_param
from consortia.ledger.state import State, decode_value
from consortia.modules.governance.logic import active_member_of
from consortia.modules.governance.types import (
    EXPIRED,
    MEMBER_PREFIX,
    NODE_PREFIX,
    OPEN,
    PROPOSAL_PREFIX,
    PROPOSAL_STATUSES,
    Member,
    Node,
    Proposal,
    member_key,
    node_key,
    proposal_key,
)

PROPOSALS_LIMIT_MAX = 1000


def members(state: State) -> list[Member]:
    """Every member, active or removed, in id order."""
    return [decode_value(raw, Member) for _key, raw in state.scan(MEMBER_PREFIX)]


def member(state: State, member_id: str) -> Member | None:
    """One member by id, or None."""
    return state.get(member_key(member_id), Member)


def member_by_key(state: State, key_hex: str) -> Member | None:
    """The member whose key is ``key_hex``, active or removed, or None."""
    found = active_member_of(state, key_hex)
    if found is not None:
        return found
    # Removed members leave the key index; keys are never reused, so at most one matches.
    return next((m for m in members(state) if m.key == key_hex), None)


def nodes(state: State) -> list[Node]:
    """Every node, active or removed, in id order."""
    return [decode_value(raw, Node) for _key, raw in state.scan(NODE_PREFIX)]


def node(state: State, node_id: str) -> Node | None:
    """One node by id, or None."""
    return state.get(node_key(node_id), Node)


def parameters(state: State) -> dict[str, Any]:
    """Every declared parameter with its current value, or its default if never set."""
    return {name: read_param(state, name) for name in sorted(PARAMETERS)}


def _as_of(proposal: Proposal, now_ms: int) -> Proposal:
    # Expiry is a matter of time, not of a tx, so it is derived here rather than stored.
    if proposal.status == OPEN and now_ms > proposal.expires_ms:
        return msgspec.structs.replace(proposal, status=EXPIRED)
    return proposal


def proposals(state: State, now_ms: int, status: str | None = None,
              limit: int = 100) -> list[Proposal]:
    """Proposals newest first, optionally only those with ``status`` (``expired`` included).

    ValueError on an unknown status or a limit outside 1..PROPOSALS_LIMIT_MAX.
    """
    if status is not None and status not in PROPOSAL_STATUSES:
        raise ValueError(f"status must be one of {', '.join(PROPOSAL_STATUSES)}")
    if not 1 <= limit <= PROPOSALS_LIMIT_MAX:
        raise ValueError(f"limit must be within 1..{PROPOSALS_LIMIT_MAX}")
    found = [_as_of(decode_value(raw, Proposal), now_ms)
             for _key, raw in state.scan(PROPOSAL_PREFIX)]
    if status is not None:
        found = [p for p in found if p.status == status]
    # Ids are tx hashes: they break ties between proposals of one block deterministically.
    found.sort(key=lambda p: (p.created_ms, p.id), reverse=True)
    return found[:limit]


def proposal(state: State, proposal_id: str, now_ms: int) -> Proposal | None:
    """One proposal by id as of ``now_ms`` (an open one past its expiry reads "expired")."""
    found = state.get(proposal_key(proposal_id), Proposal)
    return None if found is None else _as_of(found, now_ms)
