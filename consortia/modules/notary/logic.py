"""Notary actions: pure functions of (context, payload)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from consortia.ledger.genesis import Genesis
from consortia.ledger.module import Action
from consortia.ledger.result import Rejected
from consortia.ledger.state import Context
from consortia.modules.notary.types import LABEL_CHARS_MAX, AttestPayload, Evidence

_HEX64 = re.compile(r"[0-9a-f]{64}")


def evidence_key(digest: str) -> str:
    return f"notary/evidence/{digest}"


def attest(ctx: Context, p: AttestPayload) -> dict[str, Any]:
    """Record the first attestation of a digest; a second one is refused, so the earliest
    time stands."""
    if not _HEX64.fullmatch(p.digest):
        raise Rejected("bad_digest", "digest must be a SHA-256 as 64 lower-case hex characters")
    if len(p.label) > LABEL_CHARS_MAX:
        raise Rejected("bad_label", f"label may be at most {LABEL_CHARS_MAX} characters")
    key = evidence_key(p.digest)
    if ctx.has(key):
        raise Rejected("already_attested", "this digest is already attested")
    ctx.put(key, Evidence(p.digest, p.label, ctx.signer, ctx.time_ms, ctx.height,
                          ctx.tx_id.hex()))
    return {"digest": p.digest}


class NotaryModule:
    name = "notary"
    actions: Mapping[str, Action] = {"attest": Action(AttestPayload, attest)}

    def init_genesis(self, ctx: Context, genesis: Genesis) -> None:
        """Nothing to set up."""


module = NotaryModule()
