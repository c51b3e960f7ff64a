"""TLS between a node and etcd: a real etcd member serving its client URL over TLS with
``--client-cert-auth``, certificates made by the ``openssl`` command-line tool.

Only a node with the right CA and a client certificate gets through; every other
combination is refused (nothing delivered, nothing written), and a partial or unreadable TLS
config stops the node at start with a sentence naming the field.
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from aetcd import rpc

from consortia.cluster.etcd import EtcdCluster, EtcdTls, endpoint_healthy
from consortia.crypto.keys import SigningKey
from consortia.ledger.tx import Envelope, Tx, sign
from consortia.node.config import NodeConfig, load_config
from consortia.node.etcd_orderer import (
    EtcdOrderer,
    EtcdUnavailable,
    Keys,
    OrdererStopped,
    read_floor_sync,
)
from consortia.node.orderer import now_ms

pytestmark = pytest.mark.timeout(120)

OPENSSL = "/usr/bin/openssl"
SIGNER = SigningKey.generate()
WAIT_S = 30.0  # generous: the machine is shared
REFUSED_WATCH_S = 3.0  # how long a refused orderer is watched for deliveries it must not make
VALID_UNTIL_MS = now_ms() + 86_400_000


# -- certificates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A throwaway CA with a server certificate for 127.0.0.1 and a client certificate, and a
    second CA that signed neither."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def openssl(cwd: Path, *args: str) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_ca(d: Path, name: str) -> None:
    openssl(d, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
            "-subj", f"/CN={name}")


def make_cert(d: Path, name: str, ca: str, serial: int, extensions: str) -> None:
    """A P-256 key and a certificate signed by ``ca`` with ``extensions`` (openssl syntax)."""
    (d / f"{name}.ext").write_text(extensions)
    openssl(d, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-set_serial", str(serial), "-days", "2", "-extfile", f"{name}.ext",
            "-out", f"{name}.crt")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    # etcd's own gRPC gateway dials the member with the server certificate as its client
    # certificate under --client-cert-auth: hence clientAuth too.
    make_cert(d, "server", "ca", 2, "subjectAltName = IP:127.0.0.1\n"
              "extendedKeyUsage = serverAuth, clientAuth\n")
    make_cert(d, "client", "ca", 3, "extendedKeyUsage = clientAuth\n")
    return Pki(d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt",
               d / "client.key", d / "other-ca.crt")


@pytest.fixture(scope="module")
def tls_etcd(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """One etcd member whose client URL is https and requires a client certificate."""
    tls = EtcdTls(pki.ca, pki.server_cert, pki.server_key, client_cert_auth=True,
                  client_cert_file=pki.client_cert, client_key_file=pki.client_key)
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd"), 1, tls=tls)
    try:
        cluster.start(30)
        yield cluster
    finally:
        cluster.stop()


# -- helpers -----------------------------------------------------------------------------------


def envelope(chain_id: str, i: int) -> Envelope:
    tx = Tx(chain_id, "test.op", {"i": i}, SIGNER.public_key_hex, i, VALID_UNTIL_MS)
    return Envelope(sign(tx, SIGNER))


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Recorder:
    """A deliver callback that records (batch_seq, raw txs)."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, list[bytes]]] = []
        self._lock = threading.Lock()

    def __call__(self, seq: int, time_ms: int, items: list[Envelope | bytes]) -> None:
        with self._lock:
            self.batches.append((seq, [x.raw if isinstance(x, Envelope) else x for x in items]))

    def snapshot(self) -> list[tuple[int, list[bytes]]]:
        with self._lock:
            return list(self.batches)

    def wait_for(self, n: int) -> list[tuple[int, list[bytes]]]:
        wait_until(lambda: len(self.batches) >= n, f"{n} batches (have {len(self.batches)})")
        return self.snapshot()


def config(cluster: EtcdCluster, tmp_path: Path, node_id: str = "node-a",
           **tls: Path) -> NodeConfig:
    settings: dict[str, Any] = {"node_id": node_id, "data_dir": tmp_path / node_id,
                                "ordering": "etcd", "etcd_endpoints": cluster.client_urls,
                                "etcd_timeout_s": 1.0, **tls}
    return NodeConfig(**settings)


def full_tls(pki: Pki) -> dict[str, Path]:
    return {"etcd_ca_file": pki.ca, "etcd_cert_file": pki.client_cert,
            "etcd_key_file": pki.client_key}


@pytest.fixture
def orderers() -> Iterator[list[EtcdOrderer]]:
    """Orderers a test started; stopped at teardown."""
    started: list[EtcdOrderer] = []
    yield started
    for orderer in started:
        orderer.stop()


def start(started: list[EtcdOrderer], cfg: NodeConfig, chain_id: str,
          deliver: Recorder) -> EtcdOrderer:
    orderer = EtcdOrderer(cfg, chain_id, lambda: [cfg.node_id, "never-applies"])
    started.append(orderer)
    orderer.start(deliver, 0)
    return orderer


def tls_kv(cluster: EtcdCluster, method: str, request: Any) -> Any:
    """One KV call over TLS with the cluster's client certificate."""
    with grpc.secure_channel(cluster.endpoints[0], cluster.credentials) as channel:
        return getattr(rpc.KVStub(channel), method)(request, timeout=5)


def secret_lines(pki: Pki) -> list[str]:
    """The base64 lines of both private keys: they must never reach a log or a message."""
    return [line for path in (pki.client_key, pki.server_key)
            for line in path.read_text().splitlines() if line and not line.startswith("-----")]


def member_log(cluster: EtcdCluster) -> str:
    return (cluster.data_dir / "m0.log").read_text(errors="replace")


def assert_refused(cluster: EtcdCluster, pki: Pki, cfg: NodeConfig, chain_id: str,
                   started: list[EtcdOrderer], caplog: pytest.LogCaptureFixture, *,
                   etcd_says: str | None = None, node_says: str | None = None) -> None:
    """``cfg`` cannot talk to the member: nothing is delivered although a batch is there,
    nothing it submits is written, errors are logged (without key material), read_floor
    finds no member, and the reason is the expected one: the member's log has ``etcd_says``
    (etcd logs each handshake it refuses) or the node's log ``node_says`` (a handshake the
    node aborts shows as a bare EOF on etcd's side)."""
    log_before = len(member_log(cluster))
    writer = start(started, config(cluster, cfg.data_dir.parent, "writer", **full_tls(pki)),
                   chain_id, Recorder())
    writer.submit([envelope(chain_id, 1)])

    caplog.set_level(logging.INFO, logger="consortia.node.etcd_orderer")
    recorder = Recorder()
    refused = start(started, cfg, chain_id, recorder)
    outcome: list[BaseException | None] = []

    def submit() -> None:
        try:
            refused.submit([envelope(chain_id, 2)])
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    submitter = threading.Thread(target=submit, daemon=True)
    submitter.start()
    deadline = time.monotonic() + REFUSED_WATCH_S
    while time.monotonic() < deadline:
        assert recorder.snapshot() == [], "a refused orderer delivered a batch"
        time.sleep(0.1)
    assert submitter.is_alive(), f"a refused orderer's submit returned: {outcome}"
    assert refused.batches_written == 0 and refused.write_retries > 0
    refused.stop()
    submitter.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], OrdererStopped)
    assert refused.batches_delivered == 0

    # Only the writer's batch is in etcd.
    keys = Keys.of("/consortia", chain_id)
    stored = tls_kv(cluster, "Range", rpc.RangeRequest(key=keys.batches,
                                                       range_end=keys.batches_end))
    assert len(stored.kvs) == 1 and stored.kvs[0].key.startswith(keys.batch("writer-"))

    assert "failed" in caplog.text  # the failed calls are logged, with the member
    assert cluster.endpoints[0] in caplog.text
    with pytest.raises(EtcdUnavailable, match="no etcd member answered"):
        read_floor_sync(cfg, chain_id)
    for line in secret_lines(pki):
        assert line not in caplog.text
    if node_says is not None:
        assert node_says in caplog.text
    if etcd_says is not None:
        wait_until(lambda: etcd_says in member_log(cluster)[log_before:],
                   f"etcd to log {etcd_says!r}", 10)


# -- tests -------------------------------------------------------------------------------------


def test_batches_written_and_delivered_over_tls(tls_etcd: EtcdCluster, pki: Pki, tmp_path: Path,
                                                orderers: list[EtcdOrderer]) -> None:
    chain = "tls-deliver"
    a_got, b_got = Recorder(), Recorder()
    a = start(orderers, config(tls_etcd, tmp_path, "node-a", **full_tls(pki)), chain, a_got)
    b = start(orderers, config(tls_etcd, tmp_path, "node-b", **full_tls(pki)), chain, b_got)
    sent_a = [envelope(chain, 1), envelope(chain, 2)]
    sent_b = [envelope(chain, 3)]
    a.submit(sent_a)
    b.submit(sent_b)
    got_a, got_b = a_got.wait_for(2), b_got.wait_for(2)
    assert got_a == got_b  # one order, same batch_seq, on both nodes
    assert sorted(txs for _seq, txs in got_a) == sorted([[e.raw for e in sent_a],
                                                         [e.raw for e in sent_b]])
    assert got_a[0][0] < got_a[1][0]
    assert a.failovers == 0 and b.failovers == 0 and a.write_retries == 0
    # The batch_seq is the key's create revision, read back over TLS.
    keys = Keys.of("/consortia", chain)
    stored = tls_kv(tls_etcd, "Range", rpc.RangeRequest(key=keys.batches,
                                                        range_end=keys.batches_end))
    assert sorted(kv.create_revision for kv in stored.kvs) == [seq for seq, _ in got_a]
    time.sleep(0.5)
    assert len(a_got.snapshot()) == 2 and len(b_got.snapshot()) == 2  # exactly once


def test_cluster_checks_use_tls(tls_etcd: EtcdCluster) -> None:
    assert tls_etcd.client_urls[0].startswith("https://127.0.0.1:")
    assert tls_etcd.healthy()
    assert tls_etcd.leader() == 0
    assert not endpoint_healthy(tls_etcd.endpoints[0], 0.5)  # plain gRPC is refused


def test_plain_client_is_refused(tls_etcd: EtcdCluster, pki: Pki, tmp_path: Path,
                                 orderers: list[EtcdOrderer],
                                 caplog: pytest.LogCaptureFixture) -> None:
    assert_refused(tls_etcd, pki, config(tls_etcd, tmp_path), "tls-plain", orderers, caplog,
                   etcd_says="first record does not look like a TLS handshake")


def test_client_without_certificate_is_refused(tls_etcd: EtcdCluster, pki: Pki,
                                               tmp_path: Path, orderers: list[EtcdOrderer],
                                               caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(tls_etcd, tmp_path, etcd_ca_file=pki.ca)
    assert_refused(tls_etcd, pki, cfg, "tls-no-cert", orderers, caplog,
                   etcd_says="client didn't provide a certificate")


def test_server_certificate_from_another_ca_is_refused(tls_etcd: EtcdCluster, pki: Pki,
                                                       tmp_path: Path,
                                                       orderers: list[EtcdOrderer],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(tls_etcd, tmp_path, etcd_ca_file=pki.other_ca, etcd_cert_file=pki.client_cert,
                 etcd_key_file=pki.client_key)
    assert_refused(tls_etcd, pki, cfg, "tls-other-ca", orderers, caplog,
                   node_says="CERTIFICATE_VERIFY_FAILED")


@pytest.mark.parametrize(("given", "message"), [
    ({"etcd_cert_file"}, "etcd_cert_file is set but etcd_key_file is not"),
    ({"etcd_key_file"}, "etcd_key_file is set but etcd_cert_file is not"),
    ({"etcd_ca_file", "etcd_cert_file"}, "etcd_cert_file is set but etcd_key_file is not"),
    ({"etcd_cert_file", "etcd_key_file"}, "but etcd_ca_file is not"),
])
def test_partial_tls_config_is_refused(pki: Pki, given: set[str], message: str) -> None:
    files: dict[str, Any] = {k: v for k, v in full_tls(pki).items() if k in given}
    with pytest.raises(ValueError, match=message):
        NodeConfig(ordering="etcd", etcd_endpoints=["127.0.0.1:2379"], **files)


def test_partial_tls_in_a_toml_file_is_refused(pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(f'ordering = "etcd"\netcd_endpoints = ["127.0.0.1:2379"]\n'
                    f'etcd_cert_file = "{pki.client_cert}"\n')
    with pytest.raises(ValueError, match="etcd_cert_file is set but etcd_key_file is not"):
        load_config(path)


def test_unreadable_tls_files_fail_at_construction(tls_etcd: EtcdCluster, pki: Pki,
                                                  tmp_path: Path) -> None:
    missing = tmp_path / "missing-ca.crt"
    cfg = config(tls_etcd, tmp_path, etcd_ca_file=missing)
    with pytest.raises(ValueError, match=re.escape(f"etcd_ca_file {missing}: cannot read it")):
        EtcdOrderer(cfg, "tls-bad", list)
    with pytest.raises(ValueError, match="etcd_ca_file"):
        read_floor_sync(cfg, "tls-bad")

    garbage = tmp_path / "garbage.key"
    garbage.write_text("MIGHAgEAMBMGByqGSM49-not-a-pem-but-secret\n")
    cfg = config(tls_etcd, tmp_path, etcd_ca_file=pki.ca, etcd_cert_file=pki.client_cert,
                 etcd_key_file=garbage)
    not_pem = re.escape(f"etcd_key_file {garbage}: not a PEM file")
    with pytest.raises(ValueError, match=not_pem) as info:
        EtcdOrderer(cfg, "tls-bad", list)
    assert "secret" not in str(info.value)  # names the file, never shows its content

    directory = config(tls_etcd, tmp_path, etcd_ca_file=tmp_path, etcd_cert_file=pki.client_cert,
                       etcd_key_file=pki.client_key)
    with pytest.raises(ValueError, match=r"etcd_ca_file .*: cannot read it"):
        EtcdOrderer(directory, "tls-bad", list)


def test_read_floor_over_tls(tls_etcd: EtcdCluster, pki: Pki, tmp_path: Path) -> None:
    chain = "tls-floor"
    tls_kv(tls_etcd, "Put", rpc.PutRequest(key=Keys.of("/consortia", chain).floor, value=b"42"))
    # As a node would read it: a TOML file with paths relative to it and https endpoints.
    (tmp_path / "conf").mkdir()
    for name in ("ca.crt", "client.crt", "client.key"):
        (tmp_path / "conf" / name).write_bytes((pki.ca.parent / name).read_bytes())
    path = tmp_path / "conf" / "node.toml"
    path.write_text(f'ordering = "etcd"\netcd_endpoints = ["{tls_etcd.client_urls[0]}"]\n'
                    'etcd_timeout_s = 2.0\netcd_ca_file = "ca.crt"\n'
                    'etcd_cert_file = "client.crt"\netcd_key_file = "client.key"\n')
    cfg = load_config(path)
    assert cfg.etcd_ca_file == (tmp_path / "conf" / "ca.crt").resolve()
    assert read_floor_sync(cfg, chain) == 42
    assert read_floor_sync(cfg, "tls-no-floor") == 0
