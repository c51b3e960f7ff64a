"""Payloads and records of the notary module."""

from __future__ import annotations

import msgspec

LABEL_CHARS_MAX = 200


class AttestPayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Attest that a document with this SHA-256 digest existed (content stays off-ledger)."""

    digest: str
    label: str = ""


class Evidence(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    digest: str
    label: str
    attester: str
    time_ms: int
    height: int
    tx_id: str
