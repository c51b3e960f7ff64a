"""The ``registry`` benchmark: certification registry queries over HTTP at N certificates.

Setup, by real signed txs over HTTP (not timed for the queries): the demo consortium (its
certification body ``fcc`` joins by proposal), four test labs accredited by governance, V
vendors registered, then N applications driven through the examination path in waves (apply,
accept, assign_lab, test_report, onsite_check, decide), each wave signed in worker processes
and sent as msgpack batches over several connections. Certificate i is of product type
i mod 11 and vendor i mod V; a deterministic share of them ends suspended, revoked, cancelled,
renewed (a second term, so expiry dates spread over two terms), under renewal review or change,
or stays in examination, rejected or refused. Expiry dates otherwise come from block time, so
the first terms cluster within the set-up's minutes. A few valid certificates get devices.

Then a shuffled mix of queries over several keep-alive connections: search by each filter kind
and combined, deep pages, one certificate with its history, valid-at with its receipt, devices,
a vendor, the signed feed's first page; latency percentiles per kind and overall, and the rate.
"""

from __future__ import annotations

import hashlib
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from consortia.bench.throughput import LocalNode
from consortia.bench.workload import PRESIGNED_VALID_MS
from consortia.crypto.keys import SigningKey
from consortia.ledger.tx import Envelope, encode_signed
from consortia.modules.certification.types import TERM_MS
from consortia.sdk.client import Client, build_tx

CERTIFICATES = 100_000
VENDORS_MAX = 1_000
CERTIFICATES_PER_VENDOR = 100  # fewer certificates, fewer vendors (at least one)
LABS = 4
BODY = "fcc"
SETUP_BATCH_TXS = 2_000
SUBMIT_WAIT_MS = 120_000
QUERIES_PER_KIND = 200
FEED_QUERIES_MAX = 50  # the feed's first page is up to 10,000 entries: fewer of those
DEVICE_CERTIFICATES = 100
DEVICES_PER_CERTIFICATE = 5
SEED = 11
TARGET_P99_MS = 50.0
READ_CHUNK_BYTES = 1 << 20

# How applications end, with their share (deterministic: certificate i's fate is drawn from a
# generator seeded with SEED).
FATES: tuple[tuple[str, float], ...] = (
    ("valid", 0.80), ("suspended", 0.04), ("revoked", 0.03), ("cancelled", 0.03),
    ("renewed", 0.03), ("renewal_review", 0.02), ("change_pending", 0.02),
    ("submitted", 0.01), ("testing", 0.01), ("rejected", 0.005), ("refused", 0.005))
# Statuses searched for (expired too: none is, as every term is years long, and the query
# still has to say so quickly).
SEARCH_STATUSES = ("valid", "suspended", "revoked", "cancelled", "renewal_review",
                   "change_pending", "submitted", "testing", "rejected", "refused", "expired")

# A signer as workers rebuild it: ("vendor", i), ("lab", j), or ("body", 0) (the body's seed).
Signer = tuple[str, int]
# (signer, action, payload): one tx to sign.
Item = tuple[Signer, str, dict[str, Any]]


class SetupError(RuntimeError):
    """The benchmark could not build the registry."""


def derived_key(tag: str, kind: str, index: int) -> SigningKey:
    """A bench party's key, derived from the run's tag and its index: never stored (a benchmark
    only), and workers rebuild it from the index alone."""
    return SigningKey(hashlib.sha256(f"consortia/bench/registry/{tag}/{kind}/{index}".encode())
                      .digest())


def vendor_id(tag: str, index: int) -> str:
    return f"bench-{tag}-v{index:04d}"


def lab_id(tag: str, index: int) -> str:
    return f"bench-{tag}-lab{index}"


def evidence(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fates(count: int) -> list[str]:
    """How each application ends, drawn with the FATES shares from a seeded generator."""
    rng = random.Random(SEED)
    return rng.choices([name for name, _ in FATES], [share for _, share in FATES], k=count)


def _step(cert: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"certificate": cert, "reason": reason, "evidence": evidence(reason), **extra}


def steps(fate: str, cert: str, vendor: Signer, lab: tuple[int, str], items: list[str],
          ) -> list[Item]:
    """The txs after ``apply`` that take application ``cert`` to ``fate``, in order; ``lab``
    is the assigned lab's (index, id)."""
    body: Signer = ("body", 0)
    if fate == "submitted":
        return []
    if fate == "rejected":
        return [(body, "reject", _step(cert, "incomplete"))]
    exam: list[Item] = [(body, "accept", _step(cert, "accepted")),
                        (body, "assign_lab", _step(cert, "lab", lab=lab[1]))]
    if fate == "testing":
        return exam
    failing = fate == "refused"
    exam.append((("lab", lab[0]), "test_report", {
        "certificate": cert, "evidence": evidence("report"),
        "results": [{"item": item, "passed": not (failing and n == 0), "note": ""}
                    for n, item in enumerate(items)]}))
    if failing:
        return [*exam, (body, "decide", _step(cert, "failed", issue=False))]
    issued = [*exam, (body, "onsite_check", _step(cert, "onsite", passed=True)),
              (body, "decide", _step(cert, "issued", issue=True))]
    deadline = {"correction_deadline_ms": 2**42}  # far ahead: suspensions stay correctable
    after: dict[str, list[Item]] = {
        "valid": [],
        "suspended": [(body, "suspend", _step(cert, "defect", **deadline))],
        "revoked": [(body, "suspend", _step(cert, "defect", **deadline)),
                    (body, "revoke", _step(cert, "not_corrected"))],
        "cancelled": [(vendor, "cancel", _step(cert, "withdrawn"))],
        "renewed": [(vendor, "apply_renewal", _step(cert, "renewal")),
                    (body, "renew", _step(cert, "renewed"))],
        "renewal_review": [(vendor, "apply_renewal", _step(cert, "renewal"))],
        "change_pending": [(vendor, "request_change", _step(cert, "change",
                                                            version="2.0.0"))],
    }
    return issued + after[fate]


def _sign_chunk(args: tuple[str, str, bytes, list[Item]]) -> list[tuple[bytes, str]]:
    """Sign in a worker process: (msgpack, tx id hex) per item."""
    chain_id, tag, body_seed, items = args
    keys: dict[Signer, SigningKey] = {}
    out = []
    now_ms = time.time_ns() // 1_000_000
    for signer, action, payload in items:
        key = keys.get(signer)
        if key is None:
            key = keys[signer] = (SigningKey(body_seed) if signer[0] == "body"
                                  else derived_key(tag, *signer))
        stx = build_tx(key, chain_id, f"certification.{action}", payload, now_ms=now_ms,
                       valid_for_ms=PRESIGNED_VALID_MS)
        raw = encode_signed(stx)
        out.append((raw, Envelope.from_msgpack(raw).tx_id.hex()))
    return out


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class RegistryBench:
    """Builds the registry on a node, then measures its queries."""

    def __init__(self, url: str, data_dir: Path, certificates: int, clients: int,
                 cpu_count: int, progress: bool) -> None:
        if certificates < 1:
            raise ValueError("the registry workload needs at least one certificate")
        self.url = url
        self.data_dir = data_dir
        self.certificates = certificates
        self.vendors = max(1, min(VENDORS_MAX, certificates // CERTIFICATES_PER_VENDOR))
        self.clients = clients
        self.cpu_count = cpu_count
        self.progress = progress
        # Vendor and lab ids carry the run's tag, so a node can be benched more than once.
        self.tag = f"{time.time_ns() // 1_000_000:x}"[-6:]
        self.chain_id = ""
        self.fates = fates(certificates)
        self.types: list[str] = []
        self.ids: list[str] = []  # application ids: certificate i's is ids[i]
        self.numbers: dict[str, str] = {}  # application id -> number, once issued
        self.with_devices: list[str] = []  # numbers of certificates with devices
        self.started_ms = 0

    # -- setup ---------------------------------------------------------------------------------

    def setup(self) -> dict[str, Any]:
        from consortia.demo.consortium import (
            CURRENCY_VOTERS,
            FOUNDERS,
            JOINERS,
            adopt_all,
            member_key,
            run_demo,
            send_all,
        )

        started = time.perf_counter()
        self.started_ms = time.time_ns() // 1_000_000
        if self.progress:
            print(f"setting up: the demo consortium, {LABS} labs accredited by proposals, "
                  f"{self.vendors:,} vendors (real txs)…", flush=True)
        with Client(self.url, timeout_s=SUBMIT_WAIT_MS / 1000 + 30) as client:
            self.chain_id = client.chain_id
            run_demo(client, self.data_dir)
            keys = {i.id: member_key(self.data_dir, i.id) for i in FOUNDERS + JOINERS}
            body = keys[BODY]
            adopt_all(client, [body] * LABS, [keys[m] for m in CURRENCY_VOTERS], [
                ({"type": "invoke", "kind": "certification.accredit_lab",
                  "payload": {"id": lab_id(self.tag, j), "name": f"Bench Lab {j}",
                              "key": derived_key(self.tag, "lab", j).public_key_hex}},
                 f"Accredit bench lab {j}") for j in range(LABS)])
            send_all(client, [
                (derived_key(self.tag, "vendor", v), "certification.register_vendor",
                 {"id": vendor_id(self.tag, v), "legal_name": f"Bench Vendor {v} Ltd.",
                  "address": f"{v} Bench Road"}) for v in range(self.vendors)])
            catalogue = client.get("/v1/certification/product-types")["product_types"]
        self.types = sorted(t["code"] for t in catalogue)
        test_items = {t["code"]: [i["id"] for i in t["test_items"]] for t in catalogue}
        standards = {t["code"]: (t["standards"] or ["CFP"])[:4] for t in catalogue}
        txs = self.certificates + sum(
            len(steps(fate, "", ("vendor", 0), (0, ""), ["x"]))
            for fate in self.fates) + DEVICES_PER_CERTIFICATE * min(
            DEVICE_CERTIFICATES, self.fates.count("valid"))
        with ProcessPoolExecutor(self.cpu_count) as pool, self._bar(txs) as advance:
            self._run(pool, body.seed(), self._waves(test_items, standards), advance)
        return {"certificates": self.certificates, "vendors": self.vendors,
                "product_types": len(self.types), "issued": len(self.numbers),
                "setup_txs": txs, "setup_seconds": round(time.perf_counter() - started, 1)}

    def _waves(self, test_items: dict[str, list[str]], standards: dict[str, list[str]],
               ) -> Iterator[tuple[str, list[Item]]]:
        """Every wave of txs as (name, items). Lazy: the later waves name the application ids
        the apply wave returned and the devices the numbers the decide wave returned, so each
        is built once the waves before it have run."""
        types = self.types
        yield "apply", [(("vendor", i % self.vendors), "apply", {
            "body": BODY, "product_type": types[i % len(types)],
            "product_name": f"Bench product {i}", "model": f"BM-{i:06d}", "version": "1.0.0",
            "manufacturer": "Bench Manufacturing", "factory": "Bench Factory",
            "scope": "benchmark", "standards": standards[types[i % len(types)]],
            "evidence": evidence(f"dossier {i}")}) for i in range(self.certificates)]
        plans = [steps(fate, self.ids[i], ("vendor", i % self.vendors),
                       (i % LABS, lab_id(self.tag, i % LABS)), test_items[types[i % len(types)]])
                 for i, fate in enumerate(self.fates)]
        for n in range(max(len(p) for p in plans)):
            wave = [p[n] for p in plans if n < len(p)]
            actions = [action for _, action, _ in wave]
            yield max(set(actions), key=actions.count), wave
        yield "register_device", self._devices()

    def _devices(self) -> list[Item]:
        """Devices of the first valid certificates, registered by their holders."""
        out: list[Item] = []
        chosen = [i for i, fate in enumerate(self.fates)
                  if fate == "valid"][:DEVICE_CERTIFICATES]
        for i in chosen:
            number = self.numbers[self.ids[i]]
            self.with_devices.append(number)
            for d in range(DEVICES_PER_CERTIFICATE):
                device = derived_key(self.tag, "device", i * DEVICES_PER_CERTIFICATE + d)
                out.append((("vendor", i % self.vendors), "register_device", {
                    "device_key": device.public_key_hex, "certificate": number,
                    "model": f"BM-{i:06d}", "version": "1.0.0"}))
        return out

    @contextmanager
    def _bar(self, total: int) -> Iterator[Callable[[int, str], None]]:
        """``advance(txs, wave)`` of a rich progress bar over the set-up's txs."""
        if not self.progress:
            yield lambda txs, wave: None
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        started = time.perf_counter()
        lock = threading.Lock()
        done = 0
        with Progress(TextColumn("{task.fields[wave]:>16}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]}"), TimeElapsedColumn()) as shown:
            task = shown.add_task("txs", total=total, wave="", rate="")

            def advance(txs: int, wave: str) -> None:
                nonlocal done
                with lock:
                    done += txs
                    rate = done / max(1e-9, time.perf_counter() - started)
                    shown.update(task, completed=done, wave=wave, rate=f"{rate:,.0f} tx/s")

            yield advance

    def _run(self, pool: ProcessPoolExecutor, body_seed: bytes,
             waves: Iterator[tuple[str, list[Item]]],
             advance: Callable[[int, str], None]) -> None:
        """Sign each wave in chunks on every core and send each chunk as soon as it is signed,
        over ``clients`` connections that each wait for their batch to be executed; every tx
        must be accepted. A wave starts once the one before it is executed."""
        local = threading.local()
        opened: list[Client] = []

        def send(wave: str, chunk: list[tuple[bytes, str]]) -> list[dict[str, Any]]:
            client: Client | None = getattr(local, "client", None)
            if client is None:
                client = local.client = Client(self.url, timeout_s=SUBMIT_WAIT_MS / 1000 + 30)
                opened.append(client)
            statuses = client.submit_many([raw for raw, _ in chunk], wait_ms=SUBMIT_WAIT_MS)
            results = []
            for status in statuses:
                if status["status"] != "committed" or "result" not in status:
                    status = client.wait(status["tx_id"], SUBMIT_WAIT_MS / 1000)
                result: dict[str, Any] = status["result"]
                if result["status"] != "accepted":
                    why = client.receipt(status["tx_id"])["result"]
                    raise SetupError(f"{wave} {status['tx_id'][:16]}: {why['code']}: "
                                     f"{why['message']}")
                results.append(result)
            advance(len(chunk), wave)
            return results

        try:
            with ThreadPoolExecutor(self.clients) as senders:
                for wave, items in waves:
                    jobs = [(self.chain_id, self.tag, body_seed, items[i:i + SETUP_BATCH_TXS])
                            for i in range(0, len(items), SETUP_BATCH_TXS)]
                    futures = [senders.submit(send, wave, chunk)
                               for chunk in pool.map(_sign_chunk, jobs)]
                    results = [r for f in futures for r in f.result()]
                    if wave == "apply":
                        self.ids = [str(r["data"]["certificate"]) for r in results]
                    for (_, action, payload), result in zip(items, results, strict=True):
                        if action == "decide" and "number" in result["data"]:
                            self.numbers[payload["certificate"]] = str(result["data"]["number"])
        finally:
            for client in opened:
                client.close()

    # -- queries -------------------------------------------------------------------------------

    def plan(self, per_kind: int, rng: random.Random) -> list[tuple[str, str, dict[str, Any]]]:
        """(kind, path, params) for every query, shuffled."""
        prefix = "/v1/certification"
        issued = sorted(self.numbers.values())
        if not issued:
            raise SetupError("no certificate was issued")
        now_ms = time.time_ns() // 1_000_000
        # Expiry dates lie within one or two terms of the set-up.
        expiry_low, expiry_high = self.started_ms + TERM_MS, now_ms + 2 * TERM_MS

        def vendor() -> str:
            return vendor_id(self.tag, rng.randrange(self.vendors))

        def expires_before() -> int:
            return rng.randrange(expiry_low, expiry_high)

        kinds: dict[str, Callable[[], tuple[str, dict[str, Any]]]] = {
            "search vendor": lambda: ("/certificates", {"vendor": vendor()}),
            "search type": lambda: ("/certificates", {"product_type": rng.choice(self.types)}),
            "search status": lambda: ("/certificates", {"status": rng.choice(SEARCH_STATUSES)}),
            "search expiry": lambda: ("/certificates", {"expires_before_ms": expires_before()}),
            "search combined": lambda: ("/certificates", rng.choice([
                {"vendor": vendor(), "status": rng.choice(SEARCH_STATUSES)},
                {"product_type": rng.choice(self.types),
                 "status": rng.choice(SEARCH_STATUSES)},
                {"product_type": rng.choice(self.types), "expires_before_ms": expires_before()},
                {"status": rng.choice(SEARCH_STATUSES), "expires_before_ms": expires_before(),
                 "product_type": rng.choice(self.types)}])),
            "search page": lambda: ("/certificates", {"after": rng.choice(self.ids),
                                                      "limit": 100}),
            "certificate": lambda: (f"/certificates/{rng.choice(issued)}", {}),
            "valid-at": lambda: (f"/certificates/{rng.choice(issued)}/valid-at",
                                 {"time_ms": rng.randrange(self.started_ms, now_ms + TERM_MS)}),
            "devices": lambda: (f"/certificates/{rng.choice(self.with_devices or issued)}"
                                "/devices", {}),
            "vendor": lambda: (f"/vendors/{vendor()}", {}),
            "feed": lambda: ("/feed", {}),
        }
        out = []
        for kind, make in kinds.items():
            for _ in range(min(per_kind, FEED_QUERIES_MAX) if kind == "feed" else per_kind):
                path, params = make()
                out.append((kind, prefix + path, params))
        rng.shuffle(out)
        return out

    def measure(self, per_kind: int) -> dict[str, Any]:
        """The planned queries, once over one connection (each answer's own latency) and, with
        more clients, again over ``clients`` connections at once (latency under load, and the
        rate): latency per kind, each pass in the same shuffled order."""
        planned = self.plan(per_kind, random.Random(SEED))
        # One of each kind first, not timed: connections open and caches warm as in service.
        warm = {kind: (path, params) for kind, path, params in planned}
        with httpx.Client(base_url=self.url, timeout=120) as http:
            for path, params in warm.values():
                http.get(path, params=params).raise_for_status()
        passes = [_query_pass(self.url, planned, connections)
                  for connections in sorted({1, self.clients})]
        failures = [f for one in passes for f in one.pop("failures")]
        return {"queries_per_kind": per_kind, "target_p99_ms": TARGET_P99_MS,
                "passes": passes, "checks_failed": failures[:10]}


def _query_pass(url: str, planned: list[tuple[str, str, dict[str, Any]]],
                connections: int) -> dict[str, Any]:
    """Every planned query over ``connections`` keep-alive connections at once."""
    todo: queue.SimpleQueue[tuple[str, str, dict[str, Any]]] = queue.SimpleQueue()
    for item in planned:
        todo.put(item)
    latencies: dict[str, list[float]] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            while True:
                try:
                    kind, path, params = todo.get_nowait()
                except queue.Empty:
                    return
                began = time.perf_counter()
                with http.stream("GET", path, params=params) as response:
                    # Raw, in large chunks: the client's own cost of reading a 12 MB feed page
                    # stays small next to the node's answer.
                    for _ in response.iter_raw(READ_CHUNK_BYTES):
                        pass
                elapsed_ms = (time.perf_counter() - began) * 1000
                with lock:
                    latencies.setdefault(kind, []).append(elapsed_ms)
                    if response.status_code != 200:
                        failures.append(f"{kind} {path}: HTTP {response.status_code}")

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    table = {kind: _summary(latencies[kind]) for kind in sorted(latencies)}
    every = [v for values in latencies.values() for v in values]
    return {"connections": connections, "queries": len(every), "seconds": round(seconds, 2),
            "queries_per_s": round(len(every) / seconds, 1),
            "latency": {**table, "overall": _summary(every)},
            "kinds_over_target": [k for k, row in table.items()
                                  if row["p99_ms"] >= TARGET_P99_MS],
            "failures": failures}


def _summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {"count": len(ordered), "p50_ms": round(_percentile(ordered, 0.50), 2),
            "p95_ms": round(_percentile(ordered, 0.95), 2),
            "p99_ms": round(_percentile(ordered, 0.99), 2), "max_ms": round(ordered[-1], 2)}


def run_registry_bench(*, url: str | None, certificates: int, queries_per_kind: int,
                       clients: int, progress: bool, cpu_count: int,
                       keys_dir: Path | None = None) -> dict[str, Any]:
    """Build a registry of ``certificates`` on ``url`` (a demo node whose member keys are in
    ``keys_dir``, default data/demo/keys) or on a fresh local node, then measure queries."""
    node = LocalNode() if url is None else None
    base = url or (node.url if node else "")
    data_dir = node.dir if node is not None else (keys_dir or Path("data/demo/keys")).parent
    try:
        bench = RegistryBench(base, data_dir, certificates, clients, cpu_count, progress)
        setup = bench.setup()
        if node is not None:
            # Queries go to the node as it runs after a restart: the registry loaded from its
            # files, and (consortia.node.server.serve) kept out of the garbage collector.
            if progress:
                print("restarting the node on the registry it built…", flush=True)
            started = time.monotonic()
            node.restart()
            setup["restart_s"] = round(time.monotonic() - started, 1)
        if progress:
            print(f"querying: {queries_per_kind} of each kind over one connection"
                  + (f", then over {clients} at once…" if clients > 1 else "…"), flush=True)
        return {"workload": "registry", **setup, **bench.measure(queries_per_kind)}
    finally:
        if node is not None:
            node.close()


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    facts = Table(title="consortia bench (registry over HTTP)")
    facts.add_column("measure")
    facts.add_column("value", justify="right")
    for name, value in report.items():
        if name in ("passes", "workload"):
            continue
        if isinstance(value, list):
            facts.add_row(name, "; ".join(map(str, value)) or "none")
        else:
            facts.add_row(name, f"{value:,}" if isinstance(value, int | float) else str(value))
    console.print(facts)
    for one in report["passes"]:
        table = Table(title=f"query latency over {one['connections']} connection(s): "
                      f"{one['queries']:,} queries in {one['seconds']} s, "
                      f"{one['queries_per_s']:,} queries/s (target p99 < "
                      f"{report['target_p99_ms']:g} ms)")
        for column in ("query", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"):
            table.add_column(column, justify="left" if column == "query" else "right")
        for kind, row in one["latency"].items():
            table.add_row(kind, f"{row['count']:,}", f"{row['p50_ms']:.1f}",
                          f"{row['p95_ms']:.1f}", f"{row['p99_ms']:.1f}", f"{row['max_ms']:.1f}")
        console.print(table)
