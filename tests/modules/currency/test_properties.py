"""Random sequences of currency actions, valid and invalid, over blocks spanning days.

A small model of the ledger (balances, reserves, supply, status, tiers, daily spending) predicts
whether each tx must be accepted; the chain must agree tx by tx, and after every block:

- per currency, wallets + reserves == issued - redeemed == supply.in_reserves + in_wallets;
- no balance or reserve is negative, and each wallet's statement sums to its balance;
- every rejected tx has a code and changed nothing (byte-for-byte where a block is split into
  one tx per block, against the model otherwise).

At the end, replaying the store from genesis reproduces the state.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from consortia.ledger.replay import replay
from consortia.ledger.result import TxResult
from consortia.ledger.tx import SignedTx
from consortia.modules.currency import queries
from consortia.modules.currency.amounts import AmountError, format_amount, parse_amount
from consortia.modules.currency.types import FREEZE_REASONS, MEMO_CHARS_MAX, Wallet
from tests.modules.currency.support import (
    CNY_ANON,
    CNY_FULL,
    DAY_MS,
    HOUR_MS,
    JPY_ANON,
    MEMBERS,
    NODE_KEY,
    PEOPLE,
    WALLETS,
    Ledger,
    public,
    set_up_economy,
)

OFFSET_MS = 8 * HOUR_MS  # the default day_offset_ms (UTC+8)
EXPONENT = {"CNY": 2, "JPY": 0}
ISSUER = {"CNY": "cb1", "JPY": "cb2"}
TIERS = {("CNY", "anon"): CNY_ANON, ("CNY", "full"): CNY_FULL, ("JPY", "anon"): JPY_ANON}
BANKS = ("bank1", "bank2")
# Existing wallets, wallets the test may open, and one that never exists.
WALLET_IDS = (*WALLETS, "new-0", "new-1", "new-2", "ghost")
PARTIES = (*(m for m, _ in MEMBERS), *PEOPLE, "stranger")
BAD_AMOUNTS = ("0", "0.00", "-1", "1.001", "1.5", "1e3", "", "01", " 1", "+1", "1,00")

amount = st.one_of(st.integers(1, 3_000), st.integers(1, 12_000), st.integers(1, 2_000_000),
                   st.sampled_from(BAD_AMOUNTS))
# (the right signer?, else this one): mostly right, so valid txs move money.
signer = st.tuples(st.sampled_from([True, True, True, False]), st.sampled_from(PARTIES))
# Mostly wallets that exist from the start, sometimes new or never-opened ones.
wallet = st.one_of(st.sampled_from(list(WALLETS)), st.sampled_from(WALLET_IDS))
# Payments: often between the CNY wallets, often near the per-payment cap (20.00 / 2000 yen),
# so that several a day reach the daily cap.
cny_wallet = st.sampled_from([w for w, spec in WALLETS.items() if spec[1] == "CNY"])
transfer = st.tuples(st.just("transfer"), st.one_of(cny_wallet, wallet),
                     st.one_of(cny_wallet, wallet),
                     st.one_of(st.integers(1, 2_100), st.integers(1_900, 2_001), amount),
                     st.sampled_from([False, False, False, True]), signer)

op = st.one_of(
    st.tuples(st.sampled_from(["issue", "redeem"]), st.sampled_from(["CNY", "JPY", "USD"]),
              st.sampled_from([*BANKS, "reg"]), amount, signer),
    st.tuples(st.just("open"), st.sampled_from(WALLET_IDS[:-1]), st.sampled_from(["CNY", "JPY"]),
              st.sampled_from(["anon", "anon", "full", "gold"]), st.sampled_from(PEOPLE),
              signer),
    st.tuples(st.sampled_from(["distribute", "collect"]), wallet, amount, signer),
    transfer,
    transfer,
    st.tuples(st.sampled_from(["freeze", "unfreeze"]), wallet,
              st.sampled_from([True, True, True, False]), signer),
    st.tuples(st.just("set_wallet_tier"), wallet, st.sampled_from(["anon", "full", "gold"]),
              signer),
)
# When the next block is: some time later, or just around the next local midnight.
when = st.one_of(st.tuples(st.just("later"), st.integers(0, 2 * DAY_MS)),
                 st.tuples(st.just("midnight"), st.integers(-2, 1)))
block = st.tuples(when, st.booleans(), st.lists(op, min_size=1, max_size=10))


@dataclass
class W:
    currency: str
    operator: str
    owner: str
    tier: str
    balance: int = 0
    frozen: bool = False


@dataclass
class Model:
    """What the ledger must hold, and whether a tx must be accepted."""

    wallets: dict[str, W] = field(default_factory=dict)
    reserves: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    issued: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    redeemed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    spent: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))

    @classmethod
    def of(cls, ledger: Ledger) -> Model:
        model = cls()
        state = ledger.chain.state
        for w in state.records("currency/wallet/", Wallet):
            owner = next(p for p in PEOPLE if public(p) == w.owner_key)
            model.wallets[w.id] = W(w.currency, w.operator, owner, w.tier, w.balance_minor)
        for code in EXPONENT:
            for r in queries.reserves(state, code):
                model.reserves[code, r.bank] = r.balance_minor
            supply = queries.supply(state, code)
            assert supply is not None
            model.issued[code] = supply.issued_minor
        return model

    def cap(self, w: W, tier: str | None = None) -> dict[str, int]:
        return TIERS[w.currency, tier or w.tier]

    def step(self, what: tuple[Any, ...], by: str, text: str, day: int) -> bool:
        """Apply ``what`` signed by ``by`` if the ledger must accept it; return whether."""
        kind = what[0]
        if kind in ("issue", "redeem"):
            _, code, bank, _, _ = what
            if code not in EXPONENT or by != ISSUER[code] or bank not in BANKS:
                return False
            a = minor(text, code)
            if a is None:
                return False
            if kind == "redeem":
                if self.reserves[code, bank] < a:
                    return False
                self.reserves[code, bank] -= a
                self.redeemed[code] += a
            else:
                self.reserves[code, bank] += a
                self.issued[code] += a
            return True
        if kind == "open":
            _, wid, code, tier, owner, _ = what
            if by not in BANKS or (code, tier) not in TIERS or wid in self.wallets:
                return False
            self.wallets[wid] = W(code, by, owner, tier)
            return True
        w = self.wallets.get(what[1])
        if w is None:
            return False
        if kind == "distribute":
            a = minor(text, w.currency)
            if (by != w.operator or a is None or self.reserves[w.currency, by] < a
                    or w.frozen or w.balance + a > self.cap(w)["balance_max"]):
                return False
            self.reserves[w.currency, by] -= a
            w.balance += a
            return True
        if kind == "collect":
            a = minor(text, w.currency)
            if by != w.owner or w.frozen or a is None or w.balance < a:
                return False
            self.reserves[w.currency, w.operator] += a
            w.balance -= a
            return True
        if kind == "transfer":
            _, sender, receiver_id, _, long_memo, _ = what
            to = self.wallets.get(receiver_id)
            a = minor(text, w.currency)
            if (by != w.owner or receiver_id == sender or long_memo or to is None
                    or to.currency != w.currency or w.frozen or a is None):
                return False
            limits = self.cap(w)
            if (a > limits["payment_max"] or self.spent[sender, day] + a > limits["daily_max"]
                    or w.balance < a or to.frozen
                    or to.balance + a > self.cap(to)["balance_max"]):
                return False
            self.spent[sender, day] += a
            w.balance -= a
            to.balance += a
            return True
        if kind in ("freeze", "unfreeze"):
            _, _, reason_ok, _ = what
            if by not in (w.operator, "reg") or not reason_ok or w.frozen != (kind == "unfreeze"):
                return False
            w.frozen = kind == "freeze"
            return True
        assert kind == "set_wallet_tier"
        tier = what[2]
        if (by != w.operator or (w.currency, tier) not in TIERS
                or w.balance > self.cap(w, tier)["balance_max"]):
            return False
        w.tier = tier
        return True

    def right_signer(self, what: tuple[Any, ...]) -> str | None:
        kind = what[0]
        if kind in ("issue", "redeem"):
            return ISSUER.get(what[1])
        if kind == "open":
            return "bank1" if what[1].endswith(("0", "2")) else "bank2"
        w = self.wallets.get(what[1])
        if w is None:
            return None
        return w.owner if kind in ("collect", "transfer") else w.operator


def minor(text: str, code: str) -> int | None:
    try:
        return parse_amount(text, EXPONENT[code])
    except AmountError:
        return None


def build(ledger: Ledger, model: Model, what: tuple[Any, ...]) -> tuple[SignedTx, str, str]:
    """The tx for ``what``, its signer, and the amount text it carries ('' if none)."""
    right, other = what[-1]
    by = (model.right_signer(what) if right else None) or other
    kind = what[0]
    code = {"issue": what[1], "redeem": what[1]}.get(kind)
    if code is None and kind in ("distribute", "collect", "transfer"):
        w = model.wallets.get(what[1])
        code = w.currency if w else "CNY"
    text = ""
    if kind in ("issue", "redeem", "distribute", "collect", "transfer"):
        spec = what[3] if kind in ("issue", "redeem", "transfer") else what[2]
        text = spec if isinstance(spec, str) else format_amount(spec, EXPONENT.get(code or "", 2))
    payload: dict[str, Any]
    if kind in ("issue", "redeem"):
        payload = {"currency": what[1], "bank": what[2], "amount": text}
    elif kind == "open":
        payload = {"wallet_id": what[1], "currency": what[2], "owner_key": public(what[4]),
                   "tier": what[3]}
    elif kind in ("distribute", "collect"):
        payload = {"wallet_id": what[1], "amount": text}
    elif kind == "transfer":
        payload = {"from_wallet": what[1], "to_wallet": what[2], "amount": text,
                   "memo": "m" * (MEMO_CHARS_MAX + 1 if what[4] else 3)}
    elif kind in ("freeze", "unfreeze"):
        payload = {"wallet_id": what[1], "reason": FREEZE_REASONS[0] if what[2] else "whim"}
    else:
        payload = {"wallet_id": what[1], "tier": what[2]}
    action = "open_wallet" if kind == "open" else kind
    return ledger.tx(by, f"currency.{action}", payload), by, text


def check_ledger(ledger: Ledger, model: Model, day: int) -> None:
    state = ledger.chain.state
    wallets = state.records("currency/wallet/", Wallet)
    assert {w.id for w in wallets} == set(model.wallets)
    for code in EXPONENT:
        supply = queries.supply(state, code)
        assert supply is not None
        held = [w.balance_minor for w in wallets if w.currency == code]
        reserves = [r.balance_minor for r in queries.reserves(state, code)]
        assert min(held + reserves) >= 0
        outstanding = supply.issued_minor - supply.redeemed_minor
        assert sum(held) + sum(reserves) == outstanding
        assert supply.in_reserves_minor + supply.in_wallets_minor == outstanding
        assert supply.in_wallets_minor == sum(held)
        assert supply.in_reserves_minor == sum(reserves)
        assert (supply.issued_minor, supply.redeemed_minor) == (model.issued[code],
                                                                 model.redeemed[code])
        for r in queries.reserves(state, code):
            assert r.balance_minor == model.reserves[code, r.bank]
    for w in wallets:
        m = model.wallets[w.id]
        assert (w.currency, w.operator, w.owner_key, w.tier, w.balance_minor) == (
            m.currency, m.operator, public(m.owner), m.tier, m.balance)
        assert (w.status == "frozen") == m.frozen
        assert w.balance_minor <= TIERS[w.currency, w.tier]["balance_max"]
        if w.day == day:
            # (Can exceed the current tier's daily cap after a downgrade later that day.)
            assert w.spent_today_minor == model.spent[w.id, day]
        entries = queries.latest_entries(ledger.chain.store, state, w.id, w.entries + 1)[::-1]
        assert [e.seq for e in entries] == list(range(w.entries))
        running = 0
        for e in entries:
            running += e.amount_minor
            assert e.balance_minor == running >= 0
        assert running == w.balance_minor


def next_time(now_ms: int, when: tuple[str, int]) -> int:
    how, n = when
    if how == "later":
        return now_ms + n
    midnight = ((now_ms + OFFSET_MS) // DAY_MS + 1) * DAY_MS - OFFSET_MS
    return max(now_ms, midnight + n)


def run_block(ledger: Ledger, model: Model, ops: list[tuple[Any, ...]], split: bool,
              day: int) -> None:
    built = [build(ledger, model, what) for what in ops]
    if split:
        # One tx per block at the same time: each rejected tx is checked byte for byte.
        for (stx, by, text), what in zip(built, ops, strict=True):
            before = dict(ledger.chain.state.items)
            (result,) = ledger.run_txs([stx])
            check_result(model, what, by, text, day, result)
            if not result.accepted:
                assert ledger.chain.state.items == before
        return
    before = dict(ledger.chain.state.items)
    results = ledger.run_txs([stx for stx, _, _ in built])
    for (_, by, text), what, result in zip(built, ops, results, strict=True):
        check_result(model, what, by, text, day, result)
    if not any(r.accepted for r in results):
        assert ledger.chain.state.items == before


def check_result(model: Model, what: tuple[Any, ...], by: str, text: str, day: int,
                 result: TxResult) -> None:
    expected = model.step(what, by, text, day)
    assert result.accepted == expected, (what, by, text, result.code, result.message)
    if not result.accepted:
        assert result.code and result.code != "internal_error" and result.message
        assert result.data == {}


ALICE_PAYS = ("transfer", "alice-cny", "bob-cny", 2_000, False, (True, "alice"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(block, min_size=1, max_size=6))
# Always tried: the daily cap reached within one block and across blocks, then the rollover at
# local midnight (1 ms before it is the old day).
@example([(("later", 0), False, [ALICE_PAYS] * 3)])
@example([(("midnight", -2), True, [ALICE_PAYS] * 2),
          (("midnight", -1), False, [("distribute", "alice-cny", 4_000, (True, ""))]),
          (("later", 0), True, [ALICE_PAYS]),
          (("later", 1), True, [ALICE_PAYS] * 3)])
def test_random_currency_blocks_keep_money_conserved_and_refusals_harmless(
        blocks: list[tuple[tuple[str, int], bool, list[tuple[Any, ...]]]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        ledger = Ledger(Path(d) / "ledger.sqlite")
        try:
            set_up_economy(ledger)
            model = Model.of(ledger)
            check_ledger(ledger, model, (ledger.now_ms + OFFSET_MS) // DAY_MS)
            for when, split, ops in blocks:
                ledger.now_ms = next_time(ledger.now_ms, when)
                day = (ledger.now_ms + OFFSET_MS) // DAY_MS
                run_block(ledger, model, ops, split, day)
                check_ledger(ledger, model, day)
            report = replay(ledger.chain.store, ledger.genesis, ledger.chain.executor,
                            NODE_KEY.public_key)
            assert report.state_keys == len(ledger.chain.state.items)
        finally:
            ledger.chain.store.close()
