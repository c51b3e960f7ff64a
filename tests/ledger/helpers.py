"""Build a real chain on a real SQLite file, without HTTP."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from consortia.crypto.keys import SigningKey
from consortia.ledger.chain import Chain
from consortia.ledger.executor import Executor
from consortia.ledger.genesis import Genesis, GenesisMember, GenesisNode
from consortia.ledger.store import Store
from consortia.ledger.tx import Envelope, SignedTx, encode_signed
from consortia.modules import default_modules
from consortia.sdk.client import build_tx

CHAIN_ID = "test-chain"
GENESIS_MS = 1_790_000_000_000


def keys(n: int) -> list[SigningKey]:
    return [SigningKey(hashlib.sha256(b"member %d" % i).digest()) for i in range(n)]


def genesis(members: list[SigningKey], node_key: SigningKey) -> Genesis:
    return Genesis(
        chain_id=CHAIN_ID, time_ms=GENESIS_MS,
        members=[GenesisMember(f"m{i}", f"Member {i}", "bank", k.public_key_hex)
                 for i, k in enumerate(members)],
        nodes=[GenesisNode("node1", "m0", node_key.public_key_hex)],
    )


def open_chain(path: Path, g: Genesis, node_key: SigningKey) -> Chain:
    return Chain(Store(path), g, Executor(g.chain_id, default_modules()), node_key)


def attest(key: SigningKey, n: int, now_ms: int = GENESIS_MS, valid_for_ms: int = 60_000,
           chain_id: str = CHAIN_ID) -> SignedTx:
    digest = hashlib.sha256(b"doc %d" % n).hexdigest()
    return build_tx(key, chain_id, "notary.attest", {"digest": digest}, nonce=n,
                    now_ms=now_ms, valid_for_ms=valid_for_ms)


def env(stx: SignedTx) -> Envelope:
    return Envelope.from_msgpack(encode_signed(stx))


def wall_ms() -> int:
    return time.time_ns() // 1_000_000
