"""What a benchmark workload provides to the throughput machinery, and the simplest one.

A workload sets the node up by real txs over HTTP (not timed), pre-signs the txs the
benchmark submits (in worker processes, not timed), and checks the ledger afterwards.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from consortia.crypto.keys import SigningKey
from consortia.ledger.tx import encode_signed
from consortia.sdk.client import build_tx

# Pre-signed txs stay valid this long: the run (setup excluded) must fit in it.
PRESIGNED_VALID_MS = 590_000
NOTARY_SIGNERS = 64


class Workload(Protocol):
    name: str

    def setup(self, url: str, keys_dir: Path, progress: bool) -> dict[str, Any]:
        """Prepare the node by real txs; facts for the report."""
        ...

    def presign(self, chain_id: str, txs: int, cpu_count: int) -> list[bytes]:
        """``txs`` signed txs in msgpack, in the order they are to be submitted."""
        ...

    def check(self, url: str) -> dict[str, Any]:
        """After every tx is committed: what was verified, with ``checks_failed`` (a list of
        sentences, empty when the ledger is as expected)."""
        ...


def presigned_window() -> tuple[int, int]:
    """(now_ms, validity_ms) of pre-signed txs: valid from now for PRESIGNED_VALID_MS."""
    return time.time_ns() // 1_000_000, PRESIGNED_VALID_MS


def _sign_attests(args: tuple[str, int, int, int]) -> list[bytes]:
    chain_id, first, count, now_ms = args
    keys = [SigningKey(bytes([i]) * 32) for i in range(NOTARY_SIGNERS)]
    out = []
    for i in range(first, first + count):
        digest = (i.to_bytes(8, "big") + os.urandom(24)).hex()
        stx = build_tx(keys[i % NOTARY_SIGNERS], chain_id, "notary.attest",
                       {"digest": digest, "label": "bench"}, nonce=i, now_ms=now_ms,
                       valid_for_ms=PRESIGNED_VALID_MS)
        out.append(encode_signed(stx))
    return out


class NotaryWorkload:
    """``notary.attest`` of fresh digests by 64 keys: the node's fixed cost per tx."""

    name = "notary"

    def setup(self, url: str, keys_dir: Path, progress: bool) -> dict[str, Any]:
        return {}

    def presign(self, chain_id: str, txs: int, cpu_count: int) -> list[bytes]:
        now_ms, _ = presigned_window()
        step = -(-txs // cpu_count)
        jobs = [(chain_id, i, min(step, txs - i), now_ms) for i in range(0, txs, step)]
        with ProcessPoolExecutor(cpu_count) as pool:
            return [raw for part in pool.map(_sign_attests, jobs) for raw in part]

    def check(self, url: str) -> dict[str, Any]:
        return {"checks_failed": []}
