"""A real chain on a real SQLite file with two currencies, tiers, reserves and wallets.

Every fact here is created by real signed transactions (governance proposals included), so the
tests exercise the executor, the overlays and the store exactly as a node does.

Members: central banks ``cb1`` (issues CNY, exponent 2) and ``cb2`` (issues JPY, exponent 0),
operator banks ``bank1`` and ``bank2``, the regulator ``reg`` and the payment network ``net``.
People (not members) hold wallet keys.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from consortia.crypto.keys import SigningKey
from consortia.ledger.chain import Chain
from consortia.ledger.genesis import Genesis, GenesisMember, GenesisNode
from consortia.ledger.result import TxResult
from consortia.ledger.tx import Envelope, SignedTx
from consortia.modules.currency import queries
from consortia.modules.currency.amounts import format_amount
from consortia.modules.currency.types import Wallet
from consortia.sdk.client import build_tx
from tests.ledger.helpers import CHAIN_ID, GENESIS_MS, env, open_chain

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# The first local midnight (UTC+8, i.e. 16:00 UTC) after genesis; set-up runs before it.
MIDNIGHT_MS = GENESIS_MS // DAY_MS * DAY_MS + 16 * HOUR_MS
assert GENESIS_MS + HOUR_MS < MIDNIGHT_MS

MEMBERS = (("cb1", "central_bank"), ("cb2", "central_bank"), ("bank1", "bank"),
           ("bank2", "bank"), ("reg", "regulator"), ("net", "payment_network"))
PEOPLE = ("alice", "bob", "carol", "dave", "erin", "shop")

# Tier limits in minor units, as the tests reason about them.
CNY_ANON = {"balance_max": 10_000, "payment_max": 2_000, "daily_max": 5_000}  # 100/20/50 yuan
CNY_FULL = {"balance_max": 100_000, "payment_max": 50_000, "daily_max": 80_000}
JPY_ANON = {"balance_max": 10_000, "payment_max": 2_000, "daily_max": 5_000}  # yen

# wallet id -> (operator bank, currency, tier, owner, holder, minor units distributed at set-up)
WALLETS: dict[str, tuple[str, str, str, str, str, int]] = {
    "alice-cny": ("bank1", "CNY", "anon", "alice", "person", 5_000),
    "bob-cny": ("bank1", "CNY", "full", "bob", "person", 20_000),
    "carol-cny": ("bank2", "CNY", "anon", "carol", "person", 3_000),
    "shop-cny": ("bank2", "CNY", "full", "shop", "merchant", 0),
    "dave-jpy": ("bank1", "JPY", "anon", "dave", "person", 4_000),
    "erin-jpy": ("bank2", "JPY", "anon", "erin", "person", 0),
}
RESERVES = {("CNY", "bank1"): 1_000_000, ("CNY", "bank2"): 1_000_000,
            ("JPY", "bank1"): 100_000, ("JPY", "bank2"): 100_000}


def signing_key(name: str) -> SigningKey:
    return SigningKey(hashlib.sha256(b"currency test party " + name.encode()).digest())


NODE_KEY = signing_key("node")
KEYS: dict[str, SigningKey] = {name: signing_key(name) for name, _ in MEMBERS}
KEYS.update({name: signing_key(name) for name in PEOPLE})
KEYS["stranger"] = signing_key("stranger")  # neither a member nor a wallet owner


def public(name: str) -> str:
    return KEYS[name].public_key_hex


def make_genesis() -> Genesis:
    return Genesis(
        chain_id=CHAIN_ID, time_ms=GENESIS_MS,
        members=[GenesisMember(i, i.upper(), role, public(i)) for i, role in MEMBERS],
        nodes=[GenesisNode("node1", "bank1", NODE_KEY.public_key_hex)],
    )


def tier_payload(code: str, tier: str, limits: dict[str, int], exponent: int,
                 ) -> dict[str, Any]:
    return {"currency": code, "tier": tier, "name": tier.title(),
            **{k: format_amount(v, exponent) for k, v in limits.items()}}


class Ledger:
    """A chain plus the clock the tests control: each ``run`` is one block at ``now_ms``."""

    def __init__(self, path: Path) -> None:
        self.genesis = make_genesis()
        self.chain: Chain = open_chain(path, self.genesis, NODE_KEY)
        self.now_ms = GENESIS_MS + 1_000
        self.batches = 0
        self.nonce = 0

    # -- transactions ------------------------------------------------------------------------

    def tx(self, signer: str, kind: str, payload: dict[str, Any]) -> SignedTx:
        """A tx signed by party ``signer``, valid at the ledger's current time."""
        self.nonce += 1  # deterministic tx ids, so hypothesis replays the same chain
        return build_tx(KEYS[signer], CHAIN_ID, kind, payload, now_ms=self.now_ms,
                        nonce=self.nonce)

    def run_txs(self, stxs: list[SignedTx], at_ms: int | None = None) -> list[TxResult]:
        """Execute ``stxs`` as one block (at ``at_ms`` if given); their results in order."""
        if at_ms is not None:
            assert at_ms >= self.now_ms, "block time never goes back"
            self.now_ms = at_ms
        self.batches += 1
        committed = self.chain.apply_batch(self.batches, self.now_ms, [env(s) for s in stxs])
        assert committed is not None
        assert committed.block.time_ms == self.now_ms
        assert [e.tx_id for e in committed.executed] == [Envelope(s).tx_id for s in stxs]
        return list(committed.block.results)

    def run(self, signer: str, kind: str, payload: dict[str, Any],
            at_ms: int | None = None) -> TxResult:
        """One tx in its own block."""
        if at_ms is not None:
            assert at_ms >= self.now_ms, "block time never goes back"
            self.now_ms = at_ms
        return self.run_txs([self.tx(signer, kind, payload)])[0]

    def ok(self, signer: str, kind: str, payload: dict[str, Any],
           at_ms: int | None = None) -> TxResult:
        result = self.run(signer, kind, payload, at_ms)
        assert result.accepted, (kind, result.code, result.message)
        return result

    def refused(self, signer: str, kind: str, payload: dict[str, Any],
                at_ms: int | None = None) -> str:
        """Run a tx that must be rejected; check the state is byte-for-byte unchanged."""
        before = dict(self.chain.state.items)
        result = self.run(signer, kind, payload, at_ms)
        assert not result.accepted, (kind, payload)
        assert result.code and result.message
        assert result.data == {}
        assert self.chain.state.items == before
        return result.code

    # -- governance ------------------------------------------------------------------------

    def adopt(self, *actions: dict[str, Any]) -> None:
        """Propose ``actions`` and vote them through (4 of 6 members: a strict majority)."""
        proposals = self.run_txs([self.tx("cb1", "governance.propose", {"action": a})
                                  for a in actions])
        assert all(r.accepted for r in proposals), proposals
        votes = [self.tx(voter, "governance.vote",
                         {"proposal_id": r.data["proposal_id"], "approve": True})
                 for r in proposals for voter in ("cb1", "cb2", "bank1", "bank2")]
        results = self.run_txs(votes)
        assert all(r.accepted for r in results), results
        decided = results[3::4]
        assert [r.data["status"] for r in decided] == ["accepted"] * len(actions), decided

    def invoke(self, kind: str, payload: dict[str, Any]) -> None:
        self.adopt({"type": "invoke", "kind": kind, "payload": payload})

    def set_param(self, name: str, value: Any) -> None:
        self.adopt({"type": "set_parameter", "name": name, "value": value})

    # -- reading ---------------------------------------------------------------------------

    def wallet(self, wallet_id: str) -> Wallet:
        found = queries.wallet(self.chain.state, wallet_id)
        assert found is not None, wallet_id
        return found

    def balance(self, wallet_id: str) -> int:
        return self.wallet(wallet_id).balance_minor

    def reserve(self, code: str, bank: str) -> int:
        found = queries.reserve(self.chain.state, code, bank)
        return 0 if found is None else found.balance_minor


def set_up_currencies(ledger: Ledger) -> None:
    """CNY by cb1 and JPY by cb2, with their tiers, all adopted by governance."""
    ledger.adopt(
        {"type": "invoke", "kind": "currency.add_currency",
         "payload": {"code": "CNY", "numeric": "156", "exponent": 2, "issuer": "cb1",
                     "name": "Digital yuan"}},
        {"type": "invoke", "kind": "currency.add_currency",
         "payload": {"code": "JPY", "numeric": "392", "exponent": 0, "issuer": "cb2",
                     "name": "Digital yen"}},
    )
    ledger.adopt(*({"type": "invoke", "kind": "currency.set_tier", "payload": p} for p in (
        tier_payload("CNY", "anon", CNY_ANON, 2),
        tier_payload("CNY", "full", CNY_FULL, 2),
        tier_payload("JPY", "anon", JPY_ANON, 0),
    )))


def set_up_economy(ledger: Ledger) -> None:
    """Currencies, reserves issued to both banks, and the wallets of ``WALLETS``, funded."""
    set_up_currencies(ledger)
    issuer = {"CNY": ("cb1", 2), "JPY": ("cb2", 0)}
    txs = [ledger.tx(issuer[code][0], "currency.issue",
                     {"currency": code, "bank": bank,
                      "amount": format_amount(minor, issuer[code][1])})
           for (code, bank), minor in RESERVES.items()]
    for wallet_id, (bank, code, tier, owner, holder, _) in WALLETS.items():
        txs.append(ledger.tx(bank, "currency.open_wallet", {
            "wallet_id": wallet_id, "currency": code, "owner_key": public(owner),
            "tier": tier, "holder": holder, "label": f"{owner}'s wallet"}))
    for wallet_id, (bank, code, _, _, _, minor) in WALLETS.items():
        if minor:
            txs.append(ledger.tx(bank, "currency.distribute", {
                "wallet_id": wallet_id, "amount": format_amount(minor, issuer[code][1])}))
    results = ledger.run_txs(txs)
    assert all(r.accepted for r in results), [(r.kind, r.code) for r in results]


def economy(path: Path) -> Ledger:
    ledger = Ledger(path)
    set_up_economy(ledger)
    return ledger
