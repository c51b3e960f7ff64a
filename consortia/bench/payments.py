"""The ``payments`` benchmark: scan-to-receipt latency of QR payments at a sustained rate.

Set-up, by real signed txs over HTTP (not timed): the ``transfers`` workload's set-up (a
benchmark currency and a high-limit tier adopted by governance, N payer wallets opened and
funded by a bank), then M merchant wallets opened by that bank and onboarded as merchants by
the payment network member, and one order per payment of the run (``rate × seconds`` orders,
order i at merchant i mod M for a seeded amount of 1.00 to 20.00, created by the merchant's
key in batches with the longest ``ttl_ms``, an hour). Each order's dynamic QR payload is
computed with ``codes.merchant_payload`` as the node's ``…/orders/{id}/qr`` route does (a
sample is compared with that route): the till shows it before anyone scans.

The timed part is open-loop: payment i is due at ``t0 + i / rate``, whether or not earlier
ones are done. W gateway processes (one per core, at most 4; payment i goes to gateway i mod W)
each wake every ``TICK_MS``, and for each payment due do what the payer's wallet does, at
scan time (nothing is pre-signed): decode the QR payload (``codes.read_merchant_code``: the
scan), build and sign ``payments.pay`` of the scanned order and amount with the payer's owner
key; the tick's payments go as one ``POST /v1/txs`` with
``wait_ms`` and ``receipts=true`` (a payment gateway aggregating wallet requests), which
answers once they are committed, with each payment's receipt; each receipt is verified
offline against the node key (``verify_receipt``) with its result ``accepted``.

Scan-to-receipt latency = receipt verified − the moment the payment was due to be scanned, so
the wait for the gateway's tick and any lag of this load generator are counted, never hidden;
client lag (scan started − due) is reported apart. Commit latency = commit answered − batch
sent. Orders are created ahead, so during the run the node executes only the payments (and
serves their receipts). Afterwards: each merchant's payment list holds each of its orders
exactly once, paid by the tx we submitted, at the order's amount; each merchant's balance is
the sum of its orders; the currency's supply is unchanged. The report also says where the
CPU went: the gateways' per payment and, for a local node (read from /proc), the node's per
payment, its event-loop thread's (HTTP) apart, and how many cores it kept busy.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import queue
import random
import time
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import msgspec

from consortia.bench.throughput import LocalNode
from consortia.bench.transfers import (
    AMOUNT_MINOR_MAX,
    AMOUNT_MINOR_MIN,
    EXPONENT,
    FUND_MINOR,
    TIER,
    SetupError,
    TransfersWorkload,
    owner_key,
    wallet_id,
)
from consortia.crypto.keys import SigningKey
from consortia.ledger.receipts import ReceiptError, verify_receipt
from consortia.ledger.tx import encode_signed
from consortia.modules.currency.amounts import format_amount
from consortia.modules.payments.codes import merchant_payload, read_merchant_code
from consortia.modules.payments.types import ORDER_TTL_MS_MAX, Merchant, Order
from consortia.qr import QrError
from consortia.sdk.client import Client, build_tx, encode_batch, tx_id_of

RATE_PER_S = 1_000
SECONDS = 30
MERCHANTS = 20
TICK_MS = 10  # a gateway sends what fell due in each tick as one batch
GATEWAYS_MAX = 4
BATCH_TXS_MAX = 2_000  # a gateway far behind sends what is due in batches of at most this
CONNECTIONS_PER_GATEWAY = 64
COMMIT_WAIT_MS = 30_000  # wait_ms of each batch: the node answers once all are committed
REQUEST_S_MAX = 30.0  # beyond the commit wait, the longest a request may take
PAY_VALID_MS = 120_000
ORDER_TTL_MS = ORDER_TTL_MS_MAX  # orders outlive set-up and run: at most an hour
RUN_S_MAX = 1_800  # with set-up, well inside the orders' hour
SETUP_BATCH_TXS = 2_000
PAGE = 200
QR_SAMPLE = 3  # orders per merchant whose computed QR payload is compared with the node's
ORDER_SAMPLE = 20  # orders read back one by one after the run (status paid, by our tx)
SEED = 5
TARGET_P99_MS = 1_000.0
GATEWAY_START_S_MAX = 60.0  # a gateway derives its payers' keys and opens its connections
STRAGGLER_S_MAX = 120.0  # after the last payment is due, how long the gateways may finish


class Planned(NamedTuple):
    """Payment i: the order it pays (at merchant i mod M, order id ``o<i>``) and its payer."""

    seq: int
    merchant: int
    payer: int
    amount_minor: int


class Outcome(NamedTuple):
    """What a gateway saw of one payment (perf_counter seconds; 0.0 where never reached)."""

    seq: int
    due_s: float
    scanned_s: float
    sent_s: float
    committed_s: float
    verified_s: float
    tx_id: str
    failure: str  # "" when the receipt verified and says accepted; REJECTED… by the ledger


REJECTED = "rejected: "


def merchant_id(code: str, index: int) -> str:
    return f"bench-{code.lower()}-m{index:03d}"


def merchant_key(code: str, index: int) -> SigningKey:
    """The merchant's settlement-wallet owner key: derived, never stored (a benchmark only)."""
    return SigningKey(hashlib.sha256(f"consortia/bench/{code}/merchant/{index}".encode())
                      .digest())


def order_id(index: int) -> str:
    return f"o{index:08d}"


def plan(payments: int, wallets: int, merchants: int, seed: int = SEED) -> list[Planned]:
    """Payment i pays merchant i mod M from wallet i mod N a seeded amount; ValueError when a
    wallet would pay more than it was funded with."""
    assert payments >= 1 and wallets >= 1 and merchants >= 1, (payments, wallets, merchants)
    rng = random.Random(seed)
    out = [Planned(i, i % merchants, i % wallets, rng.randint(AMOUNT_MINOR_MIN,
                                                             AMOUNT_MINOR_MAX))
           for i in range(payments)]
    spent = [0] * wallets
    for p in out:
        spent[p.payer] += p.amount_minor
    if max(spent) > FUND_MINOR:
        need = -(-payments * AMOUNT_MINOR_MAX // FUND_MINOR)
        raise ValueError(f"{payments:,} payments need about {need:,} wallets or more "
                         f"(each is funded with {format_amount(FUND_MINOR, EXPONENT)})")
    return out


class Run(NamedTuple):
    outcomes: list[Outcome]  # in payment order
    t0_s: float  # perf_counter when payment 0 was due
    crashes: list[str]  # gateways that failed or never reported
    gateways_cpu_s: float  # CPU the gateway processes used while offering


# -- the gateways (worker processes) -------------------------------------------------------------

class GatewaySpec(NamedTuple):
    url: str
    chain_id: str
    node_key: bytes
    code: str
    currency_numeric: str
    rate_per_s: float
    gateway: int
    # (payment index, QR payload shown by the till, payer wallet index), in due order
    payments: list[tuple[int, str, int]]


def _scan_and_sign(spec: GatewaySpec, keys: dict[int, SigningKey], payload: str, payer: int,
                   ) -> tuple[bytes, str] | str:
    """The payer's wallet: read the code, sign the payment it asks for; the signed tx and its
    id, or why the code cannot be paid."""
    try:
        scanned = read_merchant_code(payload)
    except QrError as exc:
        return f"unreadable code: {exc}"
    if (scanned.merchant_id is None or scanned.order_id is None or scanned.amount is None
            or scanned.currency_numeric != spec.currency_numeric):
        return "the code is not a payable order of this currency"
    key = keys.get(payer)
    if key is None:
        key = keys[payer] = owner_key(spec.code, payer)
    stx = build_tx(key, spec.chain_id, "payments.pay", {
        "merchant_id": scanned.merchant_id, "from_wallet": wallet_id(spec.code, payer),
        "amount": scanned.amount, "order_id": scanned.order_id}, valid_for_ms=PAY_VALID_MS)
    return encode_signed(stx), tx_id_of(stx)


class _Http:
    """Keep-alive HTTP/1.1 connections to the node, ``size`` at most, each used by one request
    at a time (a request waits for a free one, and that wait is part of what is measured).

    Not httpx: its AsyncClient costs 1.3 to 3 ms of CPU per request on the project's 2-core
    machine, more than the node spends answering, so the benchmark would measure its own
    client; these few lines cost about 75 µs. Responses must carry a content-length (the
    node's always do)."""

    def __init__(self, url: str, size: int) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname is None:
            raise ValueError(f"not an http(s) URL: {url}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = parts.scheme == "https"
        self.prefix = parts.path.rstrip("/")
        self.size = size
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = \
            asyncio.Queue()

    async def open(self) -> None:
        for _ in range(self.size):
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port,
                                                               ssl=self.tls or None))

    async def close(self) -> None:
        while not self.idle.empty():
            conn = self.idle.get_nowait()
            if conn is not None:
                conn[1].close()

    async def request(self, method: str, path: str, body: bytes = b"",
                      content_type: str = "application/msgpack") -> tuple[int, bytes]:
        """(status, body); OSError or EOFError when the connection failed (it is replaced)."""
        conn = await self.idle.get()
        keep = False
        try:
            if conn is None:  # a connection that failed earlier: open its replacement
                conn = await asyncio.open_connection(self.host, self.port, ssl=self.tls or None)
            reader, writer = conn
            writer.write(f"{method} {self.prefix}{path} HTTP/1.1\r\nhost: {self.host}\r\n"
                         f"content-type: {content_type}\r\ncontent-length: {len(body)}"
                         "\r\n\r\n".encode() + body)
            head = (await reader.readuntil(b"\r\n\r\n")).lower()
            length = head.find(b"\r\ncontent-length:")
            if not head.startswith(b"http/1.1 ") or length < 0:
                raise OSError("the node's answer has no content-length")
            size = int(head[length + 17:head.index(b"\r\n", length + 2)])
            answer = await reader.readexactly(size)
            keep = b"\r\nconnection: close" not in head
            return int(head[9:12]), answer
        except asyncio.LimitOverrunError as exc:
            raise OSError(f"the node's answer is malformed: {exc}") from None
        finally:
            if not keep and conn is not None:
                conn[1].close()
            self.idle.put_nowait(conn if keep else None)


_decode_json = msgspec.json.Decoder().decode


async def _settle(http: _Http, spec: GatewaySpec, batch: list[Outcome], raws: list[bytes],
                  done: list[Outcome], counter: Any) -> None:
    """Submit one tick's payments and verify the receipt of each from the commit answer."""
    sent_s = time.perf_counter()
    answers: dict[str, dict[str, Any]] = {}
    failure = ""
    try:
        async with asyncio.timeout(COMMIT_WAIT_MS / 1000 + REQUEST_S_MAX):
            while True:
                status, answer = await http.request(
                    "POST", f"/v1/txs?wait_ms={COMMIT_WAIT_MS}&receipts=true",
                    encode_batch(raws))
                if status != 503:
                    break
                await asyncio.sleep(0.02)  # mempool full: the gateway retries, the clock runs
        if status >= 400:
            failure = f"batch refused: {status} {answer[:200].decode(errors='replace')}"
        else:
            answers = {s["tx_id"]: s for s in _decode_json(answer)["txs"]}
    except (OSError, EOFError, TimeoutError, msgspec.DecodeError, KeyError) as exc:
        failure = f"batch not submitted: {exc.__class__.__name__}: {exc}"
    committed_s = time.perf_counter()
    for o in batch:
        o = o._replace(sent_s=sent_s)
        answer_of = answers.get(o.tx_id, {})
        if failure or answer_of.get("status") != "committed":
            done.append(o._replace(failure=failure or f"not committed within "
                                   f"{COMMIT_WAIT_MS} ms"))
            continue
        o = o._replace(committed_s=committed_s)
        try:
            body = answer_of["receipt"]
            verify_receipt(body, spec.node_key)
            if body["tx_id"] != o.tx_id:
                raise ReceiptError("the receipt is of another tx")
            result = body["result"]
            why = "" if result["status"] == "accepted" else f"{REJECTED}{result['code']}: " \
                f"{result.get('message', '')}"
        except (ReceiptError, KeyError, TypeError) as exc:
            why = f"receipt: {exc.__class__.__name__}: {exc}"
        done.append(o._replace(verified_s=time.perf_counter(), failure=why))
    with counter.get_lock():
        counter.value += len(batch)


async def _gateway_loop(spec: GatewaySpec, ready: Any, go: Any, t0: Any,
                        counter: Any) -> tuple[list[Outcome], float]:
    """Offer this gateway's payments on the clock; their outcomes and the CPU it used."""
    keys = {payer: owner_key(spec.code, payer) for _, _, payer in spec.payments}
    done: list[Outcome] = []
    # The connections are open before the clock starts, as a running gateway has them.
    http = _Http(spec.url, CONNECTIONS_PER_GATEWAY)
    await http.open()
    try:
        ready.put(spec.gateway)
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        start_s = t0.value
        cpu_started_s = time.process_time()
        tick_s = TICK_MS / 1000
        tasks: set[asyncio.Task[None]] = set()
        next_one = 0
        total = len(spec.payments)
        while next_one < total:
            now_s = time.perf_counter()
            batch: list[Outcome] = []
            raws: list[bytes] = []
            while next_one < total and len(raws) < BATCH_TXS_MAX:
                index, payload, payer = spec.payments[next_one]
                due_s = start_s + index / spec.rate_per_s
                if due_s > now_s:
                    break
                next_one += 1
                scanned_s = time.perf_counter()
                signed = _scan_and_sign(spec, keys, payload, payer)
                if isinstance(signed, str):
                    done.append(Outcome(index, due_s, scanned_s, 0.0, 0.0, 0.0, "", signed))
                    continue
                raws.append(signed[0])
                batch.append(Outcome(index, due_s, scanned_s, 0.0, 0.0, 0.0, signed[1], ""))
            if batch:
                task = asyncio.create_task(_settle(http, spec, batch, raws, done, counter))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            # Sleep to the next tick boundary; a gateway that is behind goes on at once.
            ticks = int((time.perf_counter() - start_s) / tick_s) + 1
            behind = len(raws) >= BATCH_TXS_MAX
            await asyncio.sleep(0.0 if behind else max(
                0.0, start_s + ticks * tick_s - time.perf_counter()))
        if tasks:
            await asyncio.wait(tasks, timeout=STRAGGLER_S_MAX)
        cpu_s = time.process_time() - cpu_started_s
    finally:
        await http.close()
    return done, cpu_s


def _gateway(spec: GatewaySpec, ready: Any, go: Any, t0: Any, counter: Any,
             results: Any) -> None:
    """A gateway process: its payments' outcomes go to ``results`` as one list."""
    import uvloop

    try:
        done, cpu_s = uvloop.run(_gateway_loop(spec, ready, go, t0, counter))
        results.put((spec.gateway, [tuple(o) for o in done], cpu_s, ""))
    except Exception as exc:  # the parent reports it; a gateway never dies silently
        results.put((spec.gateway, [], 0.0, f"{exc.__class__.__name__}: {exc}"))


# -- the benchmark -------------------------------------------------------------------------------

class PaymentsBench:
    def __init__(self, url: str, keys_dir: Path, rate_per_s: int, seconds: int, wallets: int,
                 merchants: int, gateways: int, progress: bool) -> None:
        if rate_per_s < 1 or seconds < 1:
            raise ValueError("the payments workload needs a rate and a duration of at least 1")
        if seconds > RUN_S_MAX:
            raise ValueError(f"a run lasts at most {RUN_S_MAX} s (orders live an hour)")
        self.url = url
        self.keys_dir = keys_dir
        self.rate_per_s = rate_per_s
        self.seconds = seconds
        self.merchants = merchants
        self.gateways = gateways
        self.progress = progress
        self.planned = plan(rate_per_s * seconds, wallets, merchants)
        self.transfers = TransfersWorkload(wallets)
        self.payloads: list[str] = []
        self.numeric = ""
        self.node_key = b""
        self.chain_id = ""

    @property
    def code(self) -> str:
        return self.transfers.code

    # -- set-up ----------------------------------------------------------------------------------

    def setup(self) -> dict[str, Any]:
        started = time.perf_counter()
        facts = self.transfers.setup(self.url, self.keys_dir, self.progress)
        code, bank_key = self.code, self.transfers.bank_key
        assert bank_key is not None
        orders = len(self.planned)
        if self.progress:
            print(f"setting up: {self.merchants} merchants onboarded, {orders:,} orders "
                  "created (real txs)…", flush=True)
        with Client(self.url) as client:
            info = client.info()
            self.chain_id = info["chain_id"]
            self.node_key = bytes.fromhex(info["node_key"])
            self.numeric = client.currency(code)["numeric"]
            network = self._network_key(client)
            send = TransfersWorkload._all_accepted  # every tx accepted, or SetupError
            send(client, [client.build(bank_key, "currency.open_wallet", {
                "wallet_id": merchant_id(code, j), "currency": code, "holder": "merchant",
                "owner_key": merchant_key(code, j).public_key_hex, "tier": TIER})
                for j in range(self.merchants)])
            records = [Merchant(merchant_id(code, j), f"Bench Shop {j}", "Lantau", "HK",
                                "5812", merchant_id(code, j), code, "", "active", 0)
                       for j in range(self.merchants)]
            send(client, [client.build(network, "payments.onboard_merchant", {
                "merchant_id": m.id, "name": m.name, "city": m.city, "country": m.country,
                "mcc": m.mcc, "wallet_id": m.wallet_id}) for m in records])
            keys = [merchant_key(code, j) for j in range(self.merchants)]
            for first in range(0, orders, SETUP_BATCH_TXS):
                chunk = self.planned[first:first + SETUP_BATCH_TXS]
                statuses = send(client, [client.build(keys[p.merchant], "payments.create_order", {
                    "merchant_id": records[p.merchant].id, "order_id": order_id(p.seq),
                    "amount": format_amount(p.amount_minor, EXPONENT), "ttl_ms": ORDER_TTL_MS})
                    for p in chunk])
                for p, status in zip(chunk, statuses, strict=True):
                    created_ms = status["result"]["time_ms"]  # the block's time
                    order = Order(records[p.merchant].id, order_id(p.seq), p.amount_minor,
                                  code, "open", created_ms, created_ms + ORDER_TTL_MS, "")
                    self.payloads.append(merchant_payload(records[p.merchant], self.numeric,
                                                          EXPONENT, order))
            self._compare_qr_sample(keys)
        return {**facts, "merchants": self.merchants, "orders": orders,
                "setup_seconds": round(time.perf_counter() - started, 1)}

    def _network_key(self, client: Client) -> SigningKey:
        for m in client.get("/v1/governance/members")["members"]:
            path = self.keys_dir / f"{m['id']}.key"
            if m["status"] == "active" and m["role"] == "payment_network" and path.exists():
                return SigningKey.load(path)
        raise SetupError(f"need the key file of a payment network member in {self.keys_dir}")

    def _compare_qr_sample(self, keys: list[SigningKey]) -> None:
        """The payloads computed here are what the node's order QR route serves."""
        for p in self.planned[:QR_SAMPLE * self.merchants]:
            with Client(self.url, keys[p.merchant]) as merchant:
                served = merchant.get(f"/v1/payments/merchants/{merchant_id(self.code, p.merchant)}"
                                      f"/orders/{order_id(p.seq)}/qr")["payload"]
            if served != self.payloads[p.seq]:
                raise SetupError(f"order {order_id(p.seq)}: the QR payload computed here "
                                 "differs from the node's")

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> Run:
        """Offer the payments open-loop from the gateway processes; what they saw."""
        ctx = multiprocessing.get_context("fork")
        ready, results = ctx.Queue(), ctx.Queue()
        go = ctx.Event()
        t0 = ctx.Value("d", 0.0)
        counter = ctx.Value("q", 0)
        specs = [GatewaySpec(self.url, self.chain_id, self.node_key, self.code, self.numeric,
                             float(self.rate_per_s), g,
                             [(p.seq, self.payloads[p.seq], p.payer)
                              for p in self.planned[g::self.gateways]])
                 for g in range(self.gateways)]
        procs = [ctx.Process(target=_gateway, args=(spec, ready, go, t0, counter, results),
                             name=f"gateway-{spec.gateway}", daemon=True) for spec in specs]
        for proc in procs:
            proc.start()
        for _ in procs:
            try:
                ready.get(timeout=GATEWAY_START_S_MAX)
            except queue.Empty:
                for proc in procs:
                    proc.kill()
                raise RuntimeError("the gateway processes did not start (is the node "
                                   "reachable?)") from None
        t0.value = time.perf_counter() + 0.2
        go.set()
        total = len(self.planned)
        collected: dict[int, tuple[list[Outcome], float, str]] = {}
        deadline_s = t0.value + self.seconds + STRAGGLER_S_MAX + 30

        def collect(wait_s: float) -> None:
            try:
                gateway, rows, cpu_s, crash = results.get(timeout=wait_s)
            except queue.Empty:
                return
            collected[gateway] = ([Outcome(*row) for row in rows], cpu_s, crash)

        if self.progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            with Progress(TextColumn("paying"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[rate]}")) as bar:
                task = bar.add_task("payments", total=total, rate="")
                while len(collected) < len(procs) and time.perf_counter() < deadline_s:
                    collect(0.2)
                    n = counter.value
                    elapsed_s = max(1e-3, time.perf_counter() - t0.value)
                    bar.update(task, completed=n,
                               rate=f"{n / elapsed_s:,.0f} receipts/s "
                                    f"(offered {self.rate_per_s:,}/s)")
                bar.update(task, completed=counter.value)
        while len(collected) < len(procs) and time.perf_counter() < deadline_s:
            collect(0.5)
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        crashes = [f"gateway {g} failed: {crash}"
                   for g, (_, _, crash) in sorted(collected.items()) if crash]
        crashes += [f"gateway {g} never reported" for g in range(len(procs))
                    if g not in collected]
        outcomes = sorted((o for rows, _, _ in collected.values() for o in rows),
                          key=lambda o: o.seq)
        return Run(outcomes, t0.value, crashes, sum(c for _, c, _ in collected.values()))

    # -- checks ----------------------------------------------------------------------------------

    def check(self, outcomes: list[Outcome]) -> dict[str, Any]:
        """Read the ledger back after the run: each order paid once by the tx submitted for
        it at its amount, each merchant's balance, the supply; ``checks_failed`` says what
        is not as planned."""
        failed: list[str] = []
        paid_by = {o.seq: o.tx_id for o in outcomes if o.tx_id}  # submitted, if not verified
        code = self.code
        expected = [0] * self.merchants
        for p in self.planned:
            expected[p.merchant] += p.amount_minor
        doubles = missing = wrong = balance_mismatches = 0
        with Client(self.url) as anyone:
            supply_after = anyone.supply(code)
        for j in range(self.merchants):
            mid = merchant_id(code, j)
            with Client(self.url, merchant_key(code, j)) as merchant:
                seen: dict[str, int] = {}
                before = ""
                while True:
                    page = merchant.get(f"/v1/payments/merchants/{mid}/payments",
                                        before=before or None, limit=PAGE)
                    for row in page["payments"]:
                        seen[row["order_id"]] = seen.get(row["order_id"], 0) + 1
                        index = int(row["order_id"][1:])
                        if (paid_by.get(index) != row["id"]
                                or row["amount_minor"] != self.planned[index].amount_minor):
                            wrong += 1
                    if page["next_before"] is None:
                        break
                    before = page["next_before"]
                mine = self.planned[j::self.merchants]  # order i is merchant i mod M's
                doubles += sum(1 for n in seen.values() if n > 1)
                missing += sum(1 for p in mine if order_id(p.seq) not in seen)
                balance = merchant.wallet(mid)["balance_minor"]
                balance_mismatches += int(balance) != expected[j]
                for p in mine[:max(1, ORDER_SAMPLE // self.merchants)]:
                    order = merchant.get(f"/v1/payments/merchants/{mid}/orders/"
                                         f"{order_id(p.seq)}")
                    if order["status"] != "paid" or order["payment_id"] != paid_by.get(p.seq):
                        wrong += 1
        if doubles:
            failed.append(f"{doubles} orders were paid more than once")
        if missing:
            failed.append(f"{missing} orders are not among their merchant's payments")
        if wrong:
            failed.append(f"{wrong} payments are not the tx submitted or not at the order's "
                          "amount")
        if balance_mismatches:
            failed.append(f"{balance_mismatches} merchants hold other than the sum of their "
                          "orders")
        before_supply = self.transfers.supply_before
        for field in ("issued_minor", "redeemed_minor", "in_reserves_minor", "in_wallets_minor"):
            if supply_after[field] != before_supply[field]:
                failed.append(f"supply {field} changed: {before_supply[field]} -> "
                              f"{supply_after[field]}")
        return {"orders_paid_once": not (doubles or missing or wrong),
                "merchant_balances_ok": balance_mismatches == 0,
                "paid_total": format_amount(sum(expected), EXPONENT),
                "supply_unchanged": not any(f.startswith("supply") for f in failed),
                "checks_failed": failed}


def _summary(prefix: str, values_s: list[float]) -> dict[str, float]:
    ordered = sorted(values_s)
    if not ordered:
        return {}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {f"{prefix}_p50_ms": at(0.50), f"{prefix}_p95_ms": at(0.95),
            f"{prefix}_p99_ms": at(0.99), f"{prefix}_max_ms": round(ordered[-1] * 1000, 1)}


def machine_cpu_s() -> float | None:
    """CPU seconds all processes have used on this machine (/proc/stat); None where unknown."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        busy = sum(int(v) for v in fields) - int(fields[3]) - int(fields[4])  # less idle, iowait
    except (OSError, ValueError, IndexError):
        return None
    return busy / os.sysconf("SC_CLK_TCK")


def node_cpu_s(pid: int) -> tuple[float, float] | None:
    """CPU seconds a local node has used: (its main thread, which serves HTTP on the event
    loop; all its threads); None where /proc cannot say."""
    tick_s = 1 / os.sysconf("SC_CLK_TCK")
    loop_s = total_s = 0.0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            used_s = (int(fields[11]) + int(fields[12])) * tick_s  # utime + stime
            total_s += used_s
            if task.name == str(pid):
                loop_s = used_s
    except (OSError, ValueError, IndexError):
        return None
    return loop_s, total_s


def report_of(bench: PaymentsBench, run: Run) -> dict[str, Any]:
    """The figures of a run and what its outcomes alone show."""
    outcomes, t0_s = run.outcomes, run.t0_s
    ok = [o for o in outcomes if not o.failure]
    failures = [o for o in outcomes if o.failure]
    rejected = sum(1 for o in failures if o.failure.startswith(REJECTED))
    span_s = max((o.verified_s for o in ok), default=t0_s) - t0_s
    failed = list(run.crashes)
    if len(outcomes) < len(bench.planned):
        failed.append(f"{len(bench.planned) - len(outcomes)} payments have no outcome")
    if failures:
        reasons: dict[str, int] = {}
        for o in failures:
            reasons[o.failure[:120]] = reasons.get(o.failure[:120], 0) + 1
        failed.append(f"{len(failures)} payments failed: " + "; ".join(
            f"{n} × {why}" for why, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3]))
    latency = _summary("scan_to_receipt", [o.verified_s - o.due_s for o in ok])
    return {
        "offered_per_s": bench.rate_per_s,
        "seconds": bench.seconds,
        "gateways": bench.gateways,
        "tick_ms": TICK_MS,
        "payments": len(bench.planned),
        "accepted": len(ok),
        "rejected": rejected,  # by the ledger (a receipt that says so)
        "failed": len(failures) - rejected,  # not submitted, not committed, no receipt
        "achieved_per_s": round(len(ok) / span_s, 1) if span_s > 0 else 0.0,
        **latency,
        **_summary("commit", [o.committed_s - o.sent_s for o in ok]),
        **_summary("receipt_verify", [o.verified_s - o.committed_s for o in ok]),
        **_summary("client_lag", [o.scanned_s - o.due_s for o in outcomes]),
        "target_p99_ms": TARGET_P99_MS,
        "target_met": bool(ok) and latency["scan_to_receipt_p99_ms"] <= TARGET_P99_MS,
        "receipts_verified": len(ok),
        "gateways_cpu_ms_per_payment": round(run.gateways_cpu_s * 1000 / max(1, len(outcomes)),
                                             3),
        "checks_failed": failed,
    }


def run_payments_bench(*, url: str | None, rate_per_s: int = RATE_PER_S,
                       seconds: int = SECONDS, wallets: int, merchants: int = MERCHANTS,
                       progress: bool, cpu_count: int,
                       keys_dir: Path | None = None) -> dict[str, Any]:
    """Set up ``url`` (a demo node whose member keys are in ``keys_dir``, default
    data/demo/keys) or a fresh local node, then pay ``rate_per_s`` orders a second for
    ``seconds`` and measure each payment from scan to verified receipt."""
    node = LocalNode() if url is None else None
    base = url or (node.url if node else "")
    keys = keys_dir or (node.dir / "keys" if node else Path("data/demo/keys"))
    gateways = max(1, min(GATEWAYS_MAX, cpu_count))
    try:
        bench = PaymentsBench(base, keys, rate_per_s, seconds, wallets, merchants, gateways,
                              progress)
        setup = bench.setup()
        if progress:
            print(f"paying: {rate_per_s:,} payments/s for {seconds} s, scan to verified "
                  f"receipt, from {gateways} gateway processes…", flush=True)
        cpu_before = None if node is None else node_cpu_s(node.proc.pid)
        machine_before = machine_cpu_s()
        started_s = time.perf_counter()
        run = bench.run()
        wall_s = time.perf_counter() - started_s
        cpu_after = None if node is None else node_cpu_s(node.proc.pid)
        machine_after = machine_cpu_s()
        report = report_of(bench, run)
        if cpu_before is not None and cpu_after is not None:
            # Where the time goes on a local node: its event-loop thread (HTTP: submissions,
            # commit answers, receipts) and all its threads (also executing, storing,
            # verifying signatures, merchant notifications), per payment and in cores.
            per_payment = 1000 / max(1, len(run.outcomes))
            report["node_cpu_ms_per_payment"] = round(
                (cpu_after[1] - cpu_before[1]) * per_payment, 3)
            report["node_loop_cpu_ms_per_payment"] = round(
                (cpu_after[0] - cpu_before[0]) * per_payment, 3)
            report["node_cores_busy"] = round((cpu_after[1] - cpu_before[1]) / wall_s, 2)
        report["gateways_cores_busy"] = round(run.gateways_cpu_s / wall_s, 2)
        if machine_before is not None and machine_after is not None:
            # Everything on the machine, this benchmark's processes and any other work: more
            # than node and gateways together means something else shared the cores.
            report["machine_cores_busy"] = round((machine_after - machine_before) / wall_s, 2)
        checked = bench.check(run.outcomes)
        failed = report.pop("checks_failed") + checked.pop("checks_failed")
        return {"workload": "payments", **setup, "cores": cpu_count, **report, **checked,
                "checks_failed": failed}
    finally:
        if node is not None:
            node.close()


def print_report(report: dict[str, Any]) -> None:
    from consortia.bench.throughput import print_report as print_table

    print_table(report)

