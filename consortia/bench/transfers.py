"""The ``transfers`` workload: wallet-to-wallet payments between many wallets.

Setup, by real signed txs over HTTP: a benchmark currency and a high-limit tier adopted by
governance proposals, issuance to a bank's reserve, N wallets opened and funded by that bank.
Owner keys derive from the wallet's index, so worker processes sign without being sent keys.

The plan pairs random distinct wallets and keeps every wallet's total spending within what it
was funded with and within its tier's limits: every transfer must be accepted in whatever order
the node executes the batches. Afterwards the check reads back the supply (unchanged by
transfers) and every wallet's balance (as planned; summing to what is in wallets).
"""

from __future__ import annotations

import hashlib
import random
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from consortia.bench.workload import PRESIGNED_VALID_MS, presigned_window
from consortia.crypto.keys import SigningKey
from consortia.ledger.tx import encode_signed
from consortia.modules.currency.amounts import format_amount
from consortia.sdk.client import Client, ConsortiaError, build_tx

EXPONENT = 2
FUND_MINOR = 100_000  # 1,000.00 per wallet
AMOUNT_MINOR_MIN = 100  # transfers of 1.00 …
AMOUNT_MINOR_MAX = 2_000  # … to 20.00
TIER = "bench"
TIER_LIMITS = {"balance_max": "1000000000", "payment_max": "1000000",
               "daily_max": "1000000000"}
SETUP_BATCH_TXS = 2_000
PAGE = 200
# A planned transfer: (index, from wallet index, to wallet index, amount in minor units).
Planned = tuple[int, int, int, int]


def owner_key(code: str, index: int) -> SigningKey:
    """The owner key of bench wallet ``index``: derived, never stored (a benchmark only)."""
    return SigningKey(hashlib.sha256(f"consortia/bench/{code}/{index}".encode()).digest())


def wallet_id(code: str, index: int) -> str:
    return f"bench-{code.lower()}-{index:06d}"


def plan(wallets: int, txs: int, seed: int = 7) -> list[Planned]:
    """Random transfers between distinct wallets, none spending more than it was funded."""
    assert wallets >= 2, wallets
    rng = random.Random(seed)
    budget = [FUND_MINOR] * wallets
    out: list[Planned] = []
    for i in range(txs):
        for _ in range(1_000):
            src = rng.randrange(wallets)
            amount = rng.randint(AMOUNT_MINOR_MIN, AMOUNT_MINOR_MAX)
            if budget[src] >= amount:
                break
        else:
            raise ValueError(f"{txs} transfers do not fit in {wallets} wallets' funds")
        dst = rng.randrange(wallets - 1)
        dst += dst >= src
        budget[src] -= amount
        out.append((i, src, dst, amount))
    return out


def expected_balances(wallets: int, planned: list[Planned]) -> list[int]:
    balances = [FUND_MINOR] * wallets
    for _, src, dst, amount in planned:
        balances[src] -= amount
        balances[dst] += amount
    return balances


def _sign_transfers(args: tuple[str, str, int, list[Planned]]) -> list[bytes]:
    chain_id, code, now_ms, chunk = args
    keys: dict[int, SigningKey] = {}
    out = []
    for i, src, dst, amount in chunk:
        key = keys.get(src)
        if key is None:
            key = keys[src] = owner_key(code, src)
        stx = build_tx(key, chain_id, "currency.transfer",
                       {"from_wallet": wallet_id(code, src), "to_wallet": wallet_id(code, dst),
                        "amount": format_amount(amount, EXPONENT)},
                       nonce=i, now_ms=now_ms, valid_for_ms=PRESIGNED_VALID_MS)
        out.append(encode_signed(stx))
    return out


class SetupError(RuntimeError):
    """The benchmark could not prepare the node."""


class TransfersWorkload:
    name = "transfers"

    def __init__(self, wallets: int) -> None:
        if wallets < 2:
            raise ValueError("the transfers workload needs at least 2 wallets")
        self.wallets = wallets
        self.code = ""
        self.bank = ""
        self.bank_key: SigningKey | None = None
        self.planned: list[Planned] = []
        self.supply_before: dict[str, Any] = {}

    # -- setup ---------------------------------------------------------------------------------

    def setup(self, url: str, keys_dir: Path, progress: bool) -> dict[str, Any]:
        started = time.perf_counter()
        if progress:
            print(f"setting up: a currency and a tier by proposals, {self.wallets:,} wallets "
                  "opened and funded (real txs)…", flush=True)
        with Client(url) as client:
            members = [m for m in client.get("/v1/governance/members")["members"]
                       if m["status"] == "active"]
            keys = {m["id"]: SigningKey.load(keys_dir / f"{m['id']}.key") for m in members
                    if (keys_dir / f"{m['id']}.key").exists()}
            issuer = next((m["id"] for m in members
                           if m["role"] == "central_bank" and m["id"] in keys), None)
            bank = next((m["id"] for m in members if m["role"] == "bank" and m["id"] in keys),
                        None)
            if issuer is None or bank is None:
                raise SetupError(f"need the key files of a central bank and a bank in "
                                 f"{keys_dir}")
            if len(keys) * 2 <= len(members):
                raise SetupError(f"need the key files of a majority of members in {keys_dir}")
            self.bank, self.bank_key = bank, keys[bank]
            self.code = self._free_code(client)
            voters = list(keys.values())[:len(members) // 2 + 1]
            self._adopt(client, keys[issuer], voters, {
                "type": "invoke", "kind": "currency.add_currency",
                "payload": {"code": self.code, "numeric": "963", "exponent": EXPONENT,
                            "issuer": issuer, "name": "Benchmark units"}})
            self._adopt(client, keys[issuer], voters, {
                "type": "invoke", "kind": "currency.set_tier",
                "payload": {"currency": self.code, "tier": TIER, "name": "Benchmark",
                            **TIER_LIMITS}})
            total = format_amount(FUND_MINOR * self.wallets, EXPONENT)
            self._all_accepted(client, [client.build(keys[issuer], "currency.issue", {
                "currency": self.code, "bank": bank, "amount": total})])
            bank_key = keys[bank]
            opens = [client.build(bank_key, "currency.open_wallet", {
                "wallet_id": wallet_id(self.code, i), "currency": self.code,
                "owner_key": owner_key(self.code, i).public_key_hex, "tier": TIER})
                for i in range(self.wallets)]
            self._all_accepted(client, opens)
            funds = format_amount(FUND_MINOR, EXPONENT)
            self._all_accepted(client, [client.build(bank_key, "currency.distribute", {
                "wallet_id": wallet_id(self.code, i), "amount": funds})
                for i in range(self.wallets)])
            self.supply_before = client.supply(self.code)
        return {"wallets": self.wallets, "currency": self.code,
                "setup_seconds": round(time.perf_counter() - started, 1)}

    @staticmethod
    def _free_code(client: Client) -> str:
        """XTS (ISO 4217's code for testing), or another XT? code on a node benched before."""
        taken = {c["code"] for c in client.currencies()}
        for letter in "SABCDEFGHIJKLMNOPQRTUVWXYZ":
            if f"XT{letter}" not in taken:
                return f"XT{letter}"
        raise SetupError("no free XT? currency code left on this node")

    @staticmethod
    def _all_accepted(client: Client, stxs: list[Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i in range(0, len(stxs), SETUP_BATCH_TXS):
            statuses = client.submit_many(stxs[i:i + SETUP_BATCH_TXS], wait_ms=30_000)
            for status in statuses:
                if status["status"] != "committed":
                    status = client.wait(status["tx_id"])
                if status["result"]["status"] != "accepted":
                    why = client.receipt(status["tx_id"])["result"]
                    raise SetupError(f"{why['kind']}: {why['code']}: {why['message']}")
                out.append(status)
        return out

    def _adopt(self, client: Client, proposer: SigningKey, voters: list[SigningKey],
               action: dict[str, Any]) -> None:
        (proposed,) = self._all_accepted(client, [client.build(
            proposer, "governance.propose", {"action": action, "note": "benchmark set-up"})])
        proposal_id = proposed["result"]["data"]["proposal_id"]
        self._all_accepted(client, [
            client.build(v, "governance.vote", {"proposal_id": proposal_id, "approve": True})
            for v in voters])
        status = client.get(f"/v1/governance/proposals/{proposal_id}")["status"]
        if status != "accepted":
            raise SetupError(f"benchmark proposal {proposal_id} is {status}")

    # -- pre-signing ---------------------------------------------------------------------------

    def presign(self, chain_id: str, txs: int, cpu_count: int) -> list[bytes]:
        self.planned = plan(self.wallets, txs)
        now_ms, _ = presigned_window()
        step = -(-txs // cpu_count)
        jobs = [(chain_id, self.code, now_ms, self.planned[i:i + step])
                for i in range(0, txs, step)]
        with ProcessPoolExecutor(cpu_count) as pool:
            return [raw for part in pool.map(_sign_transfers, jobs) for raw in part]

    # -- checking ------------------------------------------------------------------------------

    def check(self, url: str) -> dict[str, Any]:
        failed: list[str] = []
        expected = expected_balances(self.wallets, self.planned)
        with Client(url, self.bank_key) as client:
            supply_after = client.supply(self.code)
            for field in ("issued_minor", "redeemed_minor", "in_reserves_minor",
                          "in_wallets_minor"):
                if supply_after[field] != self.supply_before[field]:
                    failed.append(f"supply {field} changed: {self.supply_before[field]} -> "
                                  f"{supply_after[field]}")
            balances: dict[str, int] = {}
            after = ""
            prefix = wallet_id(self.code, 0)[:-6]
            while True:
                try:
                    page = client.get(f"/v1/currency/operators/{self.bank}/wallets",
                                      after=after or None, limit=PAGE)
                except ConsortiaError as exc:
                    failed.append(f"cannot list wallets: {exc}")
                    break
                for w in page["wallets"]:
                    if w["id"].startswith(prefix):
                        balances[w["id"]] = int(w["balance_minor"])
                if page["next_after"] is None:
                    break
                after = page["next_after"]
        mismatches = sum(1 for i, want in enumerate(expected)
                         if balances.get(wallet_id(self.code, i)) != want)
        total = sum(balances.values())
        if len(balances) != self.wallets:
            failed.append(f"{len(balances)} of {self.wallets} wallets found")
        if mismatches:
            failed.append(f"{mismatches} wallets hold other than planned")
        if total != supply_after["in_wallets_minor"] or total != FUND_MINOR * self.wallets:
            failed.append(f"balances sum to {total}, supply says "
                          f"{supply_after['in_wallets_minor']} in wallets")
        return {"supply_unchanged": not any(f.startswith("supply") for f in failed),
                "balances_checked": len(balances), "balance_mismatches": mismatches,
                "balances_sum": format_amount(total, EXPONENT),
                "supply_in_wallets": supply_after["in_wallets"], "checks_failed": failed}
