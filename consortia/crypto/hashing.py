"""SHA-256 and the canonical JSON that digests are taken over."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

DIGEST_BYTES = 32

_canonical_json = msgspec.json.Encoder(order="sorted")


def sha256(*parts: bytes) -> bytes:
    """SHA-256 over the concatenation of ``parts``."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.digest()


def canonical_json(value: Any) -> bytes:
    """Compact JSON with object keys sorted and UTF-8 left as is.

    For the values Consortia digests (ASCII keys, strings, integers, booleans, null, lists,
    objects; never floats) this is exactly RFC 8785 (JCS), so an outsider can reproduce it with
    any JCS library.
    """
    return _canonical_json.encode(value)
