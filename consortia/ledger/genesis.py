"""The genesis file: the chain id, the founding members and nodes, and first parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from consortia.crypto.hashing import canonical_json, sha256

GENESIS_DOMAIN = b"consortia/genesis/v1"


class GenesisMember(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    name: str
    role: str
    key: str


class GenesisNode(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    operator: str
    key: str


class Genesis(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain_id: str
    time_ms: int
    members: list[GenesisMember]
    nodes: list[GenesisNode]
    parameters: dict[str, Any] = {}

    def digest(self) -> bytes:
        """The hash of block 0: SHA-256 over the canonical JSON of the genesis document."""
        return sha256(GENESIS_DOMAIN, canonical_json(self))

    def to_json(self) -> bytes:
        return msgspec.json.format(msgspec.json.encode(self), indent=2)


class GenesisError(ValueError):
    """A genesis file that cannot be read."""


def load_genesis(path: Path) -> Genesis:
    try:
        return msgspec.json.decode(path.read_bytes(), type=Genesis)
    except (OSError, msgspec.DecodeError) as exc:
        raise GenesisError(f"cannot read genesis {path}: {exc}") from None
