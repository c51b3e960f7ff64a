"""The etcd orderer against a real 3-member etcd cluster: one total order for every node,
exactly once, through retries, failovers, compaction, the sliding window and restarts."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import msgspec
import pytest
from aetcd import rpc

from consortia.cluster.etcd import EtcdCluster, endpoint_healthy, wait_healthy
from consortia.crypto.keys import SigningKey
from consortia.ledger.tx import Envelope, Tx, sign
from consortia.node.config import NodeConfig
from consortia.node.etcd_orderer import (
    BatchConflict,
    BehindWindow,
    EtcdBatch,
    EtcdOrderer,
    EtcdUnavailable,
    Keys,
    OrdererFailed,
    OrdererStopped,
    prefix_range_end,
    read_floor_sync,
)
from consortia.node.orderer import now_ms
from tests.etcd_support import etcd_cluster  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(120)

CHAIN = "test-chain"
KEYS = Keys.of("/consortia", CHAIN)
SIGNER = SigningKey.generate()
WAIT_S = 30.0  # generous: the machine is shared
VALID_UNTIL_MS = now_ms() + 86_400_000  # fixed, so that envelope(i) is the same tx every time


def envelope(i: int, pad_bytes: int = 0) -> Envelope:
    tx = Tx(CHAIN, "test.op", {"i": i, "pad": "x" * pad_bytes}, SIGNER.public_key_hex, i,
            VALID_UNTIL_MS)
    return Envelope(sign(tx, SIGNER))


def raws(items: list[Envelope | bytes]) -> list[bytes]:
    return [x.raw if isinstance(x, Envelope) else x for x in items]


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Recorder:
    """A deliver callback that records (batch_seq, time_ms, raw txs, item types)."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[tuple[int, int, list[bytes]]] = []
        self.own: list[bool] = []
        self.gate = gate
        self._lock = threading.Lock()

    def __call__(self, seq: int, time_ms: int, items: list[Envelope | bytes]) -> None:
        if self.gate is not None:
            self.gate.wait()
        with self._lock:
            self.batches.append((seq, time_ms, raws(items)))
            self.own.append(all(isinstance(x, Envelope) for x in items))

    def snapshot(self) -> list[tuple[int, int, list[bytes]]]:
        with self._lock:
            return list(self.batches)

    def seqs(self) -> list[int]:
        return [b[0] for b in self.snapshot()]

    def txs(self) -> list[bytes]:
        return [tx for b in self.snapshot() for tx in b[2]]

    def wait_for(self, n: int) -> list[tuple[int, int, list[bytes]]]:
        wait_until(lambda: len(self.batches) >= n, f"{n} batches (have {len(self.batches)})")
        return self.snapshot()


class Orderers:
    """Starts orderers on the test's cluster and stops them all at teardown."""

    def __init__(self, cluster: EtcdCluster, data_dir: Path) -> None:
        self.cluster = cluster
        self.data_dir = data_dir
        self.started: list[EtcdOrderer] = []

    def config(self, node_id: str, **overrides: Any) -> NodeConfig:
        settings: dict[str, Any] = {"node_id": node_id, "data_dir": self.data_dir,
                                    "ordering": "etcd", "etcd_endpoints": self.cluster.endpoints,
                                    "etcd_timeout_s": 1.0}
        settings.update(overrides)
        return NodeConfig(**settings)

    def make(self, node_id: str, *, window: list[str] | None = None,
             keys_page_max: int = 1_000, delivery_queue_batches_max: int = 1_024,
             **overrides: Any) -> EtcdOrderer:
        # By default a node that never applies holds the window open: nothing is deleted.
        nodes = window if window is not None else [node_id, "never-applies"]
        orderer = EtcdOrderer(self.config(node_id, **overrides), CHAIN, lambda: list(nodes),
                              keys_page_max=keys_page_max,
                              delivery_queue_batches_max=delivery_queue_batches_max)
        self.started.append(orderer)
        return orderer

    def start(self, node_id: str, deliver: Recorder, after_seq: int = 0,
              **kwargs: Any) -> EtcdOrderer:
        orderer = self.make(node_id, **kwargs)
        orderer.start(deliver, after_seq)
        return orderer

    def stop_all(self) -> None:
        for orderer in self.started:
            orderer.stop()


@pytest.fixture
def orderers(etcd_cluster: EtcdCluster, tmp_path: Path) -> Iterator[Orderers]:  # noqa: F811
    running = Orderers(etcd_cluster, tmp_path / "node")
    yield running
    running.stop_all()


def kv_call(cluster: EtcdCluster, method: str, request: Any, member: int | None = None) -> Any:
    """One KV call to a healthy member, or to ``member`` (its errors propagate)."""
    if member is not None:
        with grpc.insecure_channel(cluster.endpoints[member]) as channel:
            return getattr(rpc.KVStub(channel), method)(request, timeout=5)
    error: Exception | None = None
    for i in range(cluster.members):
        if cluster.pids()[i] is None:
            continue
        with grpc.insecure_channel(cluster.endpoints[i]) as channel:
            try:
                return getattr(rpc.KVStub(channel), method)(request, timeout=5)
            except grpc.RpcError as exc:
                error = exc
    raise AssertionError(f"no member answered {method}: {error}")


def batch_revisions(cluster: EtcdCluster) -> list[int]:
    resp = kv_call(cluster, "Range", rpc.RangeRequest(
        key=KEYS.batches, range_end=prefix_range_end(KEYS.batches), keys_only=True))
    return sorted(kv.create_revision for kv in resp.kvs)


def compacted_below(cluster: EtcdCluster, revision: int) -> bool:
    """Every member refuses reads at ``revision - 1`` as compacted (each member applies a
    compaction on its own, a little after it is committed)."""
    for member in range(cluster.members):
        try:
            kv_call(cluster, "Range", rpc.RangeRequest(key=b"x", revision=revision - 1),
                    member=member)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.OUT_OF_RANGE:
                raise
            continue
        return False
    return True


def member_of(cluster: EtcdCluster, orderer: EtcdOrderer) -> int:
    wait_until(lambda: orderer.endpoint is not None, "a connection")
    assert orderer.endpoint is not None
    return cluster.endpoints.index(orderer.endpoint)


class Submitter:
    """Submits one-tx batches in a loop on its own thread, like a node's cutter."""

    def __init__(self, orderer: EtcdOrderer, first: int = 0) -> None:
        self.orderer = orderer
        self.sent: list[bytes] = []
        self.errors: list[BaseException] = []
        self._next = first
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            env = envelope(self._next)
            self._next += 1
            try:
                self.orderer.submit([env])
            except BaseException as exc:
                self.errors.append(exc)
                return
            self.sent.append(env.raw)
            time.sleep(0.01)

    def count(self) -> int:
        return len(self.sent)

    def stop(self) -> list[bytes]:
        self._stop.set()
        self._thread.join(WAIT_S)
        assert not self._thread.is_alive(), "submit did not return"
        assert not self.errors, self.errors
        return self.sent


def wait_for_more_writes(submitter: Submitter, n: int, timeout_s: float = WAIT_S) -> None:
    target = submitter.count() + n
    wait_until(lambda: submitter.count() >= target, f"{n} more writes", timeout_s)


# -- the cluster ------------------------------------------------------------------------------


def test_cluster_member_killed_paused_restarted_and_stopped(
        etcd_cluster: EtcdCluster) -> None:  # noqa: F811
    cluster = etcd_cluster
    assert cluster.healthy()
    pids = cluster.pids()
    assert all(isinstance(p, int) for p in pids) and len(set(pids)) == 3
    kv_call(cluster, "Put", rpc.PutRequest(key=b"k", value=b"before the kill"))

    leader = cluster.leader()
    cluster.kill_member(leader)  # SIGKILL, waits until the process is gone
    assert cluster.pids()[leader] is None
    assert not cluster.healthy()
    assert cluster.leader() != leader  # the other two elect one of them
    with pytest.raises(RuntimeError, match="not running"):
        cluster.kill_member(leader)

    cluster.start_member(leader)  # same ports right away: no "address already in use"
    assert cluster.healthy()
    assert cluster.pids()[leader] not in (None, pids[leader])
    got = kv_call(cluster, "Range", rpc.RangeRequest(key=b"k"), member=leader)
    assert got.kvs[0].value == b"before the kill"
    with pytest.raises(RuntimeError, match="already running"):
        cluster.start_member(leader)

    cluster.pause_member(0)
    assert not endpoint_healthy(cluster.endpoints[0])
    assert cluster.leader() in (1, 2)
    cluster.resume_member(0)
    wait_healthy(cluster.endpoints, 20)

    cluster.pause_member(1)  # stop() must also end a stopped process
    started = time.monotonic()
    cluster.stop()
    assert time.monotonic() - started < 5
    assert cluster.pids() == [None, None, None]
    assert not any(endpoint_healthy(e, 0.3) for e in cluster.endpoints)
    assert "m0" in (cluster.data_dir / "m0.log").read_text()


# -- order and exactly once -----------------------------------------------------------------


def test_batches_are_delivered_once_in_revision_order(orderers: Orderers) -> None:
    rec = Recorder()
    node = orderers.start("n1", rec)
    sent = [[envelope(i * 3 + j) for j in range(3)] for i in range(20)]
    for txs in sent:
        node.submit(txs)
    node.submit([])  # nothing to order: nothing written

    got = rec.wait_for(20)
    assert [b[2] for b in got] == [[e.raw for e in txs] for txs in sent]
    seqs = [b[0] for b in got]
    assert seqs == sorted(set(seqs)), "strictly increasing batch_seq"
    assert seqs == batch_revisions(orderers.cluster), "batch_seq is the etcd create revision"
    times = [b[1] for b in got]
    assert times == sorted(times)
    assert all(rec.own), "own batches come back as the Envelopes that were submitted"
    wait_until(lambda: node.batches_delivered == 20, "delivery counter")
    assert node.batches_written == 20 and node.delivered_seq == seqs[-1]
    assert node.failed is None


def test_two_nodes_deliver_the_identical_sequence(orderers: Orderers) -> None:
    rec_a, rec_b = Recorder(), Recorder()
    window: dict[str, Any] = {"window": ["n1", "n2", "n3"], "etcd_window_interval_s": 0.1}
    a = orderers.start("n1", rec_a, **window)
    b = orderers.start("n2", rec_b, **window)

    def submit_from(orderer: EtcdOrderer, first: int) -> None:
        for i in range(first, first + 15):
            orderer.submit([envelope(i), envelope(i + 1_000)])

    threads = [threading.Thread(target=submit_from, args=(a, 0)),
               threading.Thread(target=submit_from, args=(b, 100))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    got_a, got_b = rec_a.wait_for(30), rec_b.wait_for(30)
    assert got_a == got_b  # same batch_seq, time_ms and txs, in the same order
    assert len({tx for b in got_a for tx in b[2]}) == 60
    # Each node gets its own batches as Envelopes, the other's as raw bytes.
    assert rec_a.own.count(True) == 15 and rec_b.own.count(True) == 15

    # A third node starting from scratch catches up on the very same sequence.
    # n3 has applied nothing yet, so the window passes so far deleted nothing.
    wait_until(lambda: a.window_passes >= 3 and b.window_passes >= 3, "window passes")
    assert len(batch_revisions(orderers.cluster)) == 30
    rec_c = Recorder()
    orderers.start("n3", rec_c, **window)
    assert rec_c.wait_for(30) == got_a
    time.sleep(0.3)
    assert len(rec_c.snapshot()) == 30 and len(rec_a.snapshot()) == 30


def test_rewriting_a_batch_id_delivers_it_once(orderers: Orderers) -> None:
    rec = Recorder()
    node = orderers.start("n1", rec)
    batch = EtcdBatch("n1-00000000000000aa", "n1", now_ms(), [envelope(1).raw])
    value = msgspec.msgpack.encode(batch)
    # The first attempt committed but its reply was lost: the key is already in etcd.
    first = kv_call(orderers.cluster, "Put", rpc.PutRequest(key=KEYS.batch(batch.id),
                                                            value=value))
    first_rev = first.header.revision
    assert node.write_batch(batch) == first_rev  # the retry finds it, writes nothing
    assert node.write_batch(batch) == first_rev  # and again
    with pytest.raises(BatchConflict):
        node.write_batch(EtcdBatch(batch.id, "n1", batch.time_ms, [envelope(2).raw]))

    node.submit([envelope(3)])
    got = rec.wait_for(2)
    assert got[0][0] == first_rev
    assert [b[2] for b in got] == [[envelope(1).raw], [envelope(3).raw]]
    assert len(batch_revisions(orderers.cluster)) == 2


def test_restart_resumes_after_its_position_without_repeat_or_gap(orderers: Orderers) -> None:
    rec_all = Recorder()
    other = orderers.start("n2", rec_all)
    rec1 = Recorder()
    node = orderers.start("n1", rec1)
    for i in range(5):
        node.submit([envelope(i)])
    rec1.wait_for(5)
    node.stop()
    position = rec1.seqs()[-1]

    for i in range(5, 10):
        other.submit([envelope(i)])  # written while n1 is down
    rec2 = Recorder()
    again = orderers.start("n1", rec2, after_seq=position)
    for i in range(10, 12):
        again.submit([envelope(i)])

    everything = rec_all.wait_for(12)
    rec2.wait_for(7)
    assert rec1.snapshot() + rec2.snapshot() == everything
    assert all(seq > position for seq in rec2.seqs())


def test_catch_up_after_compaction_pages_through_every_batch(orderers: Orderers) -> None:
    rec_a = Recorder()
    writer = orderers.start("n1", rec_a)
    for i in range(12):
        writer.submit([envelope(i)])
    everything = rec_a.wait_for(12)
    current = kv_call(orderers.cluster, "Range", rpc.RangeRequest(key=b"x")).header.revision
    kv_call(orderers.cluster, "Compact", rpc.CompactionRequest(revision=current,
                                                                physical=True))
    wait_until(lambda: compacted_below(orderers.cluster, current), "history before it gone")

    rec_b = Recorder()
    late = orderers.start("n2", rec_b, keys_page_max=5)  # three pages
    assert rec_b.wait_for(12) == everything
    writer.submit([envelope(99)])  # and the watch goes on from there
    assert rec_b.wait_for(13)[-1][2] == [envelope(99).raw]
    assert late.catchups >= 1
    time.sleep(0.2)
    assert len(rec_b.snapshot()) == 13


def test_reader_resumes_by_range_after_compaction_past_its_position(
        orderers: Orderers) -> None:
    cluster = orderers.cluster
    gate = threading.Event()
    slow_rec = Recorder(gate)  # stuck in deliver: its position stays near the start
    slow = orderers.start("slow", slow_rec, delivery_queue_batches_max=1)
    rec = Recorder()
    writer = orderers.start("n1", rec)
    for i in range(10):
        writer.submit([envelope(i)])
    everything = rec.wait_for(10)
    current = kv_call(cluster, "Range", rpc.RangeRequest(key=b"x")).header.revision
    kv_call(cluster, "Compact", rpc.CompactionRequest(revision=current, physical=True))

    # Its watch breaks; watching again from its position would fail (compacted): it must
    # resume by Range, and still deliver each batch exactly once.
    catchups = slow.catchups
    cluster.kill_member(member_of(cluster, slow))
    wait_until(lambda: slow.catchups > catchups, "a resume")
    gate.set()
    assert slow_rec.wait_for(10) == everything
    writer.submit([envelope(10)])
    assert slow_rec.wait_for(11) == rec.wait_for(11)
    assert slow.failed is None


# -- the window -------------------------------------------------------------------------------


def test_window_deletes_batches_every_node_applied_and_compacts(orderers: Orderers) -> None:
    window = ["n1", "n2"]
    rec_a, rec_b = Recorder(), Recorder()
    a = orderers.start("n1", rec_a, window=window, etcd_window_interval_s=0.2)
    orderers.start("n2", rec_b, window=window, etcd_window_interval_s=0.2)
    assert read_floor_sync(a.config, CHAIN) == 0
    for i in range(10):
        a.submit([envelope(i)])
    last = rec_a.wait_for(10)[-1][0]
    rec_b.wait_for(10)

    wait_until(lambda: read_floor_sync(a.config, CHAIN) == last, "the floor to rise")
    wait_until(lambda: batch_revisions(orderers.cluster) == [], "applied batches deleted")
    wait_until(lambda: compacted_below(orderers.cluster, last), "compaction to the floor")

    # A node below the floor cannot catch up from etcd.
    with pytest.raises(BehindWindow) as behind:
        orderers.start("n3", Recorder(), window=window)
    assert (behind.value.after_seq, behind.value.floor) == (0, last)
    # At the floor it can, and it gets what comes next like everyone else.
    rec_c = Recorder()
    orderers.start("n3", rec_c, after_seq=last, window=window)
    a.submit([envelope(10)])
    assert rec_c.wait_for(1) == rec_a.wait_for(11)[10:]
    assert len(rec_b.wait_for(11)) == 11


def test_window_caps_the_batches_kept_when_a_node_lags(orderers: Orderers) -> None:
    rec = Recorder()
    node = orderers.start("n1", rec, window=["n1", "lagging"], etcd_window_interval_s=0.2,
                          etcd_window_batches_max=10)
    for i in range(15):
        node.submit([envelope(i)])
    seqs = [b[0] for b in rec.wait_for(15)]
    # "lagging" applied nothing, yet only the newest 10 batches are kept.
    wait_until(lambda: batch_revisions(orderers.cluster) == seqs[5:], "the cap")
    assert read_floor_sync(node.config, CHAIN) == seqs[4]
    time.sleep(0.5)  # later passes keep them
    assert batch_revisions(orderers.cluster) == seqs[5:]


def test_node_overtaken_by_the_window_stops_delivering_visibly(orderers: Orderers) -> None:
    gate = threading.Event()
    slow_rec = Recorder(gate)  # blocks in deliver, as a long block would
    slow = orderers.start("slow", slow_rec, window=["fast"], delivery_queue_batches_max=1)
    rec = Recorder()
    fast = orderers.start("fast", rec, window=["fast"], etcd_window_interval_s=0.2)
    for i in range(8):
        fast.submit([envelope(i)])
    last = rec.wait_for(8)[-1][0]
    wait_until(lambda: read_floor_sync(fast.config, CHAIN) == last, "the floor")

    # The slow node's watch breaks; resuming finds its position below the floor.
    orderers.cluster.kill_member(member_of(orderers.cluster, slow))
    wait_until(lambda: slow.failed is not None, "the slow node to fail")
    assert "below the etcd window floor" in (slow.failed or "")
    gate.set()
    time.sleep(0.5)
    delivered = slow_rec.snapshot()
    assert 1 <= len(delivered) <= 2, "only what it had read before the floor passed it"
    assert delivered == rec.snapshot()[:len(delivered)]
    with pytest.raises(OrdererFailed):
        slow.submit([envelope(100)])


# -- sizes ------------------------------------------------------------------------------------


def test_batch_above_the_etcd_request_limit_is_split_in_order(orderers: Orderers) -> None:
    limit = 64 * 1024
    rec = Recorder()
    node = orderers.start("n1", rec, etcd_request_bytes_max=limit)
    txs = [envelope(i, pad_bytes=3_000) for i in range(60)]  # ~190 KB
    node.submit(txs)
    wait_until(lambda: rec.txs() == [e.raw for e in txs], "every tx, in order")
    assert len(rec.snapshot()) >= 3
    sizes = kv_call(orderers.cluster, "Range", rpc.RangeRequest(
        key=KEYS.batches, range_end=prefix_range_end(KEYS.batches)))
    assert all(len(kv.value) <= limit for kv in sizes.kvs)

    with pytest.raises(ValueError, match="does not fit"):
        node.submit([envelope(1_000, pad_bytes=limit)])
    assert len(batch_revisions(orderers.cluster)) == len(rec.snapshot())


def test_batches_near_the_etcd_request_limit_pass_watch_and_catch_up(
        orderers: Orderers) -> None:
    # Above gRPC's default 4 MiB receive limit once several are in one reply.
    gate = threading.Event()
    slow_rec = Recorder(gate)
    orderers.start("slow", slow_rec, delivery_queue_batches_max=1)
    rec = Recorder()
    writer = orderers.start("n1", rec)
    batches = [[envelope(i * 100 + j, pad_bytes=60_000) for j in range(60)] for i in range(4)]
    for txs in batches:
        writer.submit(txs)  # ~3.7 MB each: one etcd request each, no split
    got = rec.wait_for(4)
    assert [b[2] for b in got] == [[e.raw for e in txs] for txs in batches]
    gate.set()
    assert slow_rec.wait_for(4) == got
    late = Recorder()
    orderers.start("late", late)  # catch-up by Range fetches the same big values
    assert late.wait_for(4) == got


# -- faults -----------------------------------------------------------------------------------


def test_killing_the_connected_member_and_the_leader_loses_and_repeats_nothing(
        orderers: Orderers) -> None:
    cluster = orderers.cluster
    rec_a, rec_b = Recorder(), Recorder()
    a = orderers.start("n1", rec_a)
    orderers.start("n2", rec_b)
    submitter = Submitter(a)
    wait_until(lambda: submitter.count() >= 10, "submissions")

    for victim in (member_of(cluster, a), None):
        victim = cluster.leader() if victim is None else victim
        cluster.kill_member(victim, signal.SIGKILL)
        wait_for_more_writes(submitter, 10)
        cluster.start_member(victim)

    sent = submitter.stop()
    wait_until(lambda: rec_a.txs() == sent, "n1 to deliver every batch exactly once")
    wait_until(lambda: rec_b.txs() == sent, "n2 to deliver every batch exactly once")
    assert rec_a.snapshot() == rec_b.snapshot()
    assert a.failovers >= 1
    assert len(batch_revisions(cluster)) == len(sent)


def test_hung_member_is_routed_around(orderers: Orderers) -> None:
    cluster = orderers.cluster
    rec = Recorder()
    node = orderers.start("n1", rec)
    submitter = Submitter(node)
    wait_until(lambda: submitter.count() >= 5, "submissions")
    hung = member_of(cluster, node)
    cluster.pause_member(hung)  # SIGSTOP: sockets stay open, nothing answers
    try:
        seen = submitter.count()
        wait_for_more_writes(submitter, 10, 20)
        wait_until(lambda: len(rec.snapshot()) >= seen + 10, "deliveries via another member",
                   20)
        assert node.endpoint != cluster.endpoints[hung]
    finally:
        cluster.resume_member(hung)
    sent = submitter.stop()
    wait_until(lambda: rec.txs() == sent, "every batch exactly once")
    assert node.failovers >= 1


def test_stop_is_prompt_even_while_etcd_is_down(orderers: Orderers) -> None:
    rec = Recorder()
    node = orderers.start("n1", rec)
    node.submit([envelope(0)])
    rec.wait_for(1)
    orderers.cluster.stop()
    with pytest.raises(EtcdUnavailable):
        read_floor_sync(node.config, CHAIN)
    outcome: list[BaseException] = []

    def blocked_submit() -> None:
        try:
            node.submit([envelope(1)])
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=blocked_submit)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive(), "submit waits for etcd"
    started = time.monotonic()
    node.stop()
    assert time.monotonic() - started < 2
    thread.join(2)
    assert not thread.is_alive() and isinstance(outcome[0], OrdererStopped)
    names = {t.name for t in threading.enumerate()}
    assert not names & {"etcd-orderer", "etcd-deliver"}
    node.stop()  # idempotent
    with pytest.raises(OrdererStopped):
        node.submit([envelope(2)])


def test_orderer_survives_a_full_cluster_restart(orderers: Orderers) -> None:
    cluster = orderers.cluster
    rec = Recorder()
    node = orderers.start("n1", rec)
    for i in range(3):
        node.submit([envelope(i)])
    rec.wait_for(3)
    cluster.stop()
    thread = threading.Thread(target=node.submit, args=([envelope(3)],))
    thread.start()
    time.sleep(1.5)
    assert thread.is_alive() and len(rec.snapshot()) == 3
    cluster.start()
    thread.join(WAIT_S)
    assert not thread.is_alive()
    node.submit([envelope(4)])
    wait_until(lambda: rec.txs() == [envelope(i).raw for i in range(5)], "all five, once")
    assert node.failed is None and node.write_retries >= 1


def test_start_with_no_member_reachable_keeps_trying(orderers: Orderers) -> None:
    cluster = orderers.cluster
    writer_rec = Recorder()
    writer = orderers.start("n1", writer_rec)
    writer.submit([envelope(0)])
    writer_rec.wait_for(1)
    writer.stop()
    cluster.stop()
    rec = Recorder()
    started = time.monotonic()
    node = orderers.start("n2", rec)  # etcd down: starts anyway
    assert time.monotonic() - started < 10
    cluster.start()
    assert rec.wait_for(1) == writer_rec.snapshot()
    assert node.failed is None
