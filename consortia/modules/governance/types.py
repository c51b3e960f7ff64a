"""Governance records, proposal actions and tx payloads.

State layout (values are msgpack of the Structs below)::

    governance/member/<id>          Member
    governance/member_key/<key hex> member id (str): signer key -> member, active members only
    governance/node/<id>            Node
    governance/proposal/<id>        Proposal (id = the proposing tx id, hex)
    param/<name>                    parameter value (see consortia.ledger.params)
"""

from __future__ import annotations

from typing import Any

import msgspec

ROLES = ("central_bank", "bank", "payment_network", "certification_body", "regulator")
REGULATOR = "regulator"

ID_CHARS_MAX = 32
NAME_CHARS_MAX = 100
NOTE_CHARS_MAX = 500
KEY_HEX_CHARS = 64

# Member and node status.
ACTIVE = "active"
REMOVED = "removed"

# Proposal status. EXPIRED is never stored: read models derive it from an open proposal whose
# expires_ms has passed, because no tx runs at the moment a proposal expires.
OPEN = "open"
ACCEPTED = "accepted"
REJECTED = "rejected"
VETOED = "vetoed"
WITHDRAWN = "withdrawn"
FAILED = "failed"
EXPIRED = "expired"
PROPOSAL_STATUSES = (OPEN, ACCEPTED, REJECTED, VETOED, WITHDRAWN, FAILED, EXPIRED)

MEMBER_PREFIX = "governance/member/"
MEMBER_KEY_PREFIX = "governance/member_key/"
NODE_PREFIX = "governance/node/"
PROPOSAL_PREFIX = "governance/proposal/"


def member_key(member_id: str) -> str:
    """State key of a member record."""
    return MEMBER_PREFIX + member_id


def member_key_index(key_hex: str) -> str:
    """State key of the signer-key -> member id index entry."""
    return MEMBER_KEY_PREFIX + key_hex


def node_key(node_id: str) -> str:
    """State key of a node record."""
    return NODE_PREFIX + node_id


def proposal_key(proposal_id: str) -> str:
    """State key of a proposal record."""
    return PROPOSAL_PREFIX + proposal_id


class Member(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A consortium member: an institution whose key signs its transactions and ballots."""

    id: str
    name: str
    role: str
    key: str
    status: str
    admitted_ms: int
    removed_ms: int | None = None


class Node(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A node admitted to the network, run by a member."""

    id: str
    operator: str
    key: str
    status: str
    admitted_ms: int
    removed_ms: int | None = None


class AdmitMember(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type",
                  tag="admit_member"):
    id: str
    name: str
    role: str
    key: str


class RemoveMember(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type",
                   tag="remove_member"):
    id: str


class AdmitNode(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type",
                tag="admit_node"):
    id: str
    operator: str
    key: str


class RemoveNode(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type",
                 tag="remove_node"):
    id: str


class SetParameter(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type",
                   tag="set_parameter"):
    name: str
    value: Any


class Invoke(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type",
             tag="invoke"):
    """Run a module's governance-only action as the consortium (e.g. add a currency)."""

    kind: str
    payload: dict[str, Any]


ProposalAction = AdmitMember | RemoveMember | AdmitNode | RemoveNode | SetParameter | Invoke


class Proposal(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A proposed change and its ballots (member id -> approve)."""

    id: str
    proposer: str
    action: ProposalAction
    note: str
    created_ms: int
    expires_ms: int
    status: str
    ballots: dict[str, bool]
    decided_ms: int | None = None
    # Empty, or why an accepted proposal could not be enacted (status "failed").
    outcome: str = ""


class ProposePayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    action: ProposalAction
    note: str = ""


class VotePayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    proposal_id: str
    approve: bool


class WithdrawPayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    proposal_id: str
