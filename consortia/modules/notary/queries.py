"""Read model of the notary module."""

from __future__ import annotations

from consortia.ledger.state import State
from consortia.modules.notary.logic import evidence_key
from consortia.modules.notary.types import Evidence


def evidence(state: State, digest: str) -> Evidence | None:
    return state.get(evidence_key(digest), Evidence)
