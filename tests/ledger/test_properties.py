"""Properties over random transaction sequences, valid and invalid alike."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consortia.crypto.keys import SigningKey
from consortia.crypto.merkle import verify_consistency
from consortia.ledger.receipts import verify_receipt
from consortia.ledger.replay import replay
from consortia.ledger.tx import Envelope, SignedTx
from consortia.sdk.client import build_tx
from tests.ledger.helpers import CHAIN_ID, GENESIS_MS, env, genesis, keys, open_chain

NODE_KEY = SigningKey(bytes([7]) * 32)
MEMBERS = keys(3)
OUTSIDER = SigningKey(bytes([8]) * 32)
SIGNERS = [*MEMBERS, OUTSIDER]
G = genesis(MEMBERS, NODE_KEY)

# One step: (signer index, what to do, a small number used as digest seed or choice).
step = st.tuples(st.integers(0, len(SIGNERS) - 1),
                 st.sampled_from(["attest", "attest_bad", "propose", "vote", "withdraw",
                                  "unknown", "replay"]),
                 st.integers(0, 5), st.booleans())


def make(signer: SigningKey, what: str, n: int, flag: bool, proposals: list[str],
         sent: list[SignedTx], now: int) -> SignedTx:
    def tx(kind: str, payload: dict[str, object]) -> SignedTx:
        return build_tx(signer, CHAIN_ID, kind, payload, now_ms=now)

    if what == "attest":
        return tx("notary.attest", {"digest": f"{n:064x}"})
    if what == "attest_bad":
        return tx("notary.attest", {"digest": "not hex"})
    if what == "propose":
        return tx("governance.propose", {"action": {"type": "set_parameter",
                                                    "name": "regulator_veto", "value": flag}})
    if what in ("vote", "withdraw") and proposals:
        pid = proposals[n % len(proposals)]
        if what == "vote":
            return tx("governance.vote", {"proposal_id": pid, "approve": flag})
        return tx("governance.withdraw", {"proposal_id": pid})
    if what == "replay" and sent:
        return sent[n % len(sent)]
    return tx("nothing.here", {})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(step, min_size=1, max_size=8), min_size=1, max_size=6))
def test_random_blocks_keep_every_ledger_invariant(blocks: list[list[tuple[int, str, int, bool]]]
                                                    ) -> None:
    with tempfile.TemporaryDirectory() as d:
        chain = open_chain(Path(d) / "ledger.sqlite", G, NODE_KEY)
        proposals: list[str] = []
        sent: list[SignedTx] = []
        executed: set[bytes] = set()
        heads = [chain.sth]
        for b, steps in enumerate(blocks, start=1):
            now = GENESIS_MS + 1_000 * b
            stxs = [make(SIGNERS[s], what, n, flag, proposals, sent, now)
                    for s, what, n, flag in steps]
            before = chain.state.items.copy()
            committed = chain.apply_batch(b, now, [env(x) for x in stxs])
            new_ids = {Envelope(x).tx_id for x in stxs} - executed
            if committed is None:
                assert not new_ids
                assert chain.state.items == before
                continue
            # Each distinct, not yet executed tx got exactly one leaf, in order.
            assert set(committed.block.tx_ids) == new_ids
            assert len(committed.block.tx_ids) == len(new_ids)
            executed |= new_ids
            assert chain.sth.tree_size == len(executed)
            # A block where every tx was rejected changed nothing.
            if not any(r.accepted for r in committed.block.results):
                assert chain.state.items == before
            for x, r in zip(committed.executed, committed.block.results, strict=True):
                if r.accepted and r.kind == "governance.propose":
                    proposals.append(r.data["proposal_id"])
                assert r.status == "accepted" or r.code
                verify_receipt(chain.receipt(x.tx_id), NODE_KEY.public_key)
            sent.extend(stxs)
            heads.append(chain.sth)
        for a, z in itertools.pairwise(heads):
            proof = chain.consistency_proof(a.tree_size, z.tree_size)
            assert verify_consistency(a.tree_size, z.tree_size, a.root_hash, z.root_hash, proof)
        replay(chain.store, G, chain.executor, NODE_KEY.public_key)
        chain.store.close()
