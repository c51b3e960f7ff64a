"""The result of executing a transaction, and its digest in the Merkle log."""

from __future__ import annotations

from typing import Any

import msgspec

from consortia.crypto.hashing import canonical_json, sha256

RESULT_DOMAIN = b"consortia/result/v1"
ACCEPTED = "accepted"
REJECTED = "rejected"


class Rejected(Exception):
    """Raised by module logic: the tx is recorded as rejected and changes nothing."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TxResult(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What executing a tx did. Deterministic: every node computes the same bytes."""

    status: str
    code: str
    message: str
    kind: str
    height: int
    time_ms: int
    data: dict[str, Any] = {}

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED

    def to_json_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]

    def digest(self) -> bytes:
        """SHA-256(b"consortia/result/v1" ‖ RFC 8785 JSON of the result)."""
        return sha256(RESULT_DOMAIN, canonical_json(self))


def result_digest(result: dict[str, Any]) -> bytes:
    """The digest of a result given as a JSON object (as found in a receipt)."""
    return sha256(RESULT_DOMAIN, canonical_json(result))


def leaf_data(tx_id: bytes, result: TxResult) -> bytes:
    """The Merkle log leaf of one executed tx: tx_id ‖ result_digest (64 bytes)."""
    return tx_id + result.digest()
