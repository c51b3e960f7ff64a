"""A node serves HTTPS itself: ``tls_cert_file`` and ``tls_key_file`` in its config, checked at
start; ``peers_ca_file`` is the CA its own calls to peers (agreement, snapshots) trust.

Real uvicorn servers on loopback, certificates made by the ``openssl`` command-line tool: only a
client that trusts the consortium's CA and dials the address the certificate names gets an
answer; plain HTTP, another CA or the default CAs get none. A partial or unusable TLS setting
stops the node at start with one sentence naming the field.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from consortia.crypto.keys import SigningKey
from consortia.demo.consortium import FOUNDERS, demo_genesis, member_key
from consortia.ledger.genesis import Genesis, GenesisMember, GenesisNode
from consortia.node.config import NodeConfig, load_config, peers_ssl_context
from consortia.node.orderer import now_ms
from consortia.node.server import build_node, make_server, tls_files
from consortia.node.snapshot import SnapshotError, fetch_snapshot
from tests.conftest import RunningNode, free_port, start_node_server
from tests.node.test_etcd_tls import make_ca, make_cert, openssl

pytestmark = pytest.mark.timeout(120)

WAIT_S = 30.0  # generous: the machine is shared
INTERVAL_MS = 100


# -- certificates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """The consortium's CA with a server certificate for 127.0.0.1, a CA that signed nothing
    we serve, a key that is not the server certificate's, and the server key encrypted."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path
    other_key: Path
    encrypted_key: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    make_cert(d, "server", "ca", 2, "subjectAltName = IP:127.0.0.1\n"
              "extendedKeyUsage = serverAuth\n")
    openssl(d, "pkey", "-in", "server.key", "-aes256", "-passout", "pass:secret",
            "-out", "server-encrypted.key")
    (d / "server.key").chmod(0o600)
    return Pki(d / "ca.crt", d / "server.crt", d / "server.key", d / "other-ca.crt",
               d / "other-ca.key", d / "server-encrypted.key")


def key_lines(path: Path) -> list[str]:
    """The base64 lines of a private key: they must never reach a message or a log."""
    return [line for line in path.read_text().splitlines()
            if line and not line.startswith("-----")]


def wait_until(what: str, condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# -- one node --------------------------------------------------------------------------------


@pytest.fixture
def https_node(tmp_path: Path, pki: Pki) -> Iterator[str]:
    """A demo node serving HTTPS with the CA's certificate for 127.0.0.1; its https URL."""
    running, server, thread = start_node_server(tmp_path / "node", tls_cert_file=pki.cert,
                                                tls_key_file=pki.key)
    assert running.url.startswith("http://127.0.0.1:")
    yield "https://" + running.url.removeprefix("http://")
    server.should_exit = True  # type: ignore[attr-defined]
    thread.join(10)


def test_node_serves_https_to_a_client_that_trusts_its_ca(https_node: str, pki: Pki) -> None:
    response = httpx.get(https_node + "/healthz", verify=pki.context(), timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.url.scheme == "https"


def test_plain_http_and_untrusting_clients_get_no_answer(https_node: str, pki: Pki) -> None:
    plain = "http://" + https_node.removeprefix("https://")
    with pytest.raises(httpx.TransportError):
        httpx.get(plain + "/healthz", timeout=10)
    # httpx's default CAs (certifi's public ones) did not sign the consortium's CA.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(https_node + "/healthz", timeout=10)
    other = ssl.create_default_context(cafile=pki.other_ca)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(https_node + "/healthz", verify=other, timeout=10)
    # The certificate names IP 127.0.0.1 only: the right CA through another name is refused.
    by_name = https_node.replace("127.0.0.1", "localhost")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(by_name + "/healthz", verify=pki.context(), timeout=10)
    # Refused handshakes leave the node serving.
    assert httpx.get(https_node + "/healthz", verify=pki.context(),
                     timeout=10).status_code == 200


def test_a_node_without_tls_settings_still_serves_plain_http(running_node: RunningNode) -> None:
    assert running_node.node.config.tls_cert_file is None
    assert httpx.get(running_node.url + "/healthz", timeout=10).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get("https://" + running_node.url.removeprefix("http://") + "/healthz",
                  timeout=10)


# -- refused settings --------------------------------------------------------------------------


def test_a_certificate_without_its_key_is_refused_naming_the_field(pki: Pki,
                                                                   tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tls_cert_file is set but tls_key_file is not"):
        NodeConfig(tls_cert_file=pki.cert)
    with pytest.raises(ValueError, match="tls_key_file is set but tls_cert_file is not"):
        NodeConfig(tls_key_file=pki.key)
    both = NodeConfig(tls_cert_file=pki.cert, tls_key_file=pki.key)
    assert (both.tls_cert_file, both.tls_key_file) == (pki.cert, pki.key)
    # From a file: one line that names the field (no pydantic preamble).
    path = tmp_path / "node.toml"
    path.write_text('tls_cert_file = "server.crt"\n')
    with pytest.raises(ValueError) as info:
        load_config(path)
    assert str(info.value).startswith("tls_cert_file is set but tls_key_file is not: ")
    assert len(str(info.value).splitlines()) == 1
    path.write_text('port = 70000\n')
    with pytest.raises(ValueError, match=r"^port: "):
        load_config(path)


def test_relative_tls_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    path = conf / "node.toml"
    path.write_text('tls_cert_file = "tls/node.crt"\ntls_key_file = "tls/node.key"\n'
                    'peers_ca_file = "/etc/consortium/ca.crt"\n')
    cfg = load_config(path)
    assert cfg.tls_cert_file == conf / "tls" / "node.crt"
    assert cfg.tls_key_file == conf / "tls" / "node.key"
    assert cfg.peers_ca_file == Path("/etc/consortium/ca.crt")  # absolute: as written


def with_tls(data_dir: Path, **files: Path) -> NodeConfig:
    settings: dict[str, Any] = {"data_dir": data_dir, "port": free_port(), **files}
    return NodeConfig(**settings)


@pytest.mark.parametrize("case", ["missing cert", "missing key", "key not PEM",
                                  "key of another cert", "encrypted key", "missing peers CA",
                                  "peers CA without a certificate"])
def test_unusable_tls_files_stop_the_node_before_it_opens_anything(
        case: str, pki: Pki, tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    demo_genesis(data_dir)
    missing = tmp_path / "absent.pem"
    not_pem = tmp_path / "key.txt"
    not_pem.write_text("not a key\n")
    files, message = {
        "missing cert": ({"tls_cert_file": missing, "tls_key_file": pki.key},
                         f"tls_cert_file {missing}: cannot read it"),
        "missing key": ({"tls_cert_file": pki.cert, "tls_key_file": missing},
                        f"tls_key_file {missing}: cannot read it"),
        "key not PEM": ({"tls_cert_file": pki.cert, "tls_key_file": not_pem},
                        f"tls_key_file {not_pem}: not a PEM file"),
        "key of another cert": ({"tls_cert_file": pki.cert, "tls_key_file": pki.other_key},
                                f"tls_cert_file {pki.cert} and tls_key_file {pki.other_key}: "
                                "not a certificate and its private key"),
        "encrypted key": ({"tls_cert_file": pki.cert, "tls_key_file": pki.encrypted_key},
                          f"tls_key_file {pki.encrypted_key}: encrypted with a passphrase"),
        "missing peers CA": ({"peers_ca_file": missing},
                             f"peers_ca_file {missing}: cannot read it"),
        "peers CA without a certificate": ({"peers_ca_file": pki.key},
                                           f"peers_ca_file {pki.key}: no CA certificate"),
    }[case]
    cfg = with_tls(data_dir, **files)
    with pytest.raises(ValueError) as info:
        build_node(cfg)
    assert str(info.value).startswith(message), str(info.value)
    assert len(str(info.value).splitlines()) == 1
    for line in key_lines(pki.key) + key_lines(pki.other_key):
        assert line not in str(info.value)
    assert not (data_dir / "ledger.sqlite").exists()


def test_make_server_checks_the_files_itself(pki: Pki, tmp_path: Path) -> None:
    """A file that goes away after build_node: make_server says so, uvicorn never tries."""
    cert = tmp_path / "node.crt"
    shutil.copy(pki.cert, cert)
    data_dir = tmp_path / "node"
    node = build_node(with_tls(data_dir, tls_cert_file=cert, tls_key_file=pki.key),
                      demo_genesis(data_dir))
    try:
        cert.unlink()
        with pytest.raises(ValueError) as info:
            make_server(node)
        assert str(info.value).startswith(f"tls_cert_file {cert}: cannot read it")
    finally:
        node.stop()


def test_a_key_file_others_can_read_is_warned_about(pki: Pki, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    key = tmp_path / "node.key"
    shutil.copy(pki.key, key)
    cfg = with_tls(tmp_path, tls_cert_file=pki.cert, tls_key_file=key)
    with caplog.at_level(logging.WARNING, logger="consortia.node.server"):
        key.chmod(0o600)
        assert tls_files(cfg) == (pki.cert, key)
        assert caplog.records == []
        key.chmod(0o640)
        assert tls_files(cfg, warn=False) == (pki.cert, key)
        assert caplog.records == []
        assert tls_files(cfg) == (pki.cert, key)  # a warning, not a refusal
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert f"tls_key_file {key} is readable by group or others (mode 640)" in caplog.text
    assert "chmod 600" in caplog.text
    for line in key_lines(key):
        assert line not in caplog.text
    assert tls_files(with_tls(tmp_path)) is None
    assert peers_ssl_context(with_tls(tmp_path)) is None


# -- two nodes: agreement and snapshots over HTTPS ---------------------------------------------


@dataclass
class Served:
    url: str  # https
    config: NodeConfig
    server: uvicorn.Server
    thread: threading.Thread

    def peers(self, pki: Pki) -> dict[str, dict[str, Any]]:
        body = httpx.get(self.url + "/v1/peers", verify=pki.context(), timeout=10).json()
        return {p["url"]: p for p in body["peers"]}


def serve(config: NodeConfig, genesis: Genesis) -> Served:
    server = make_server(build_node(config, genesis))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    wait_until("the node to serve", lambda: server.started or not thread.is_alive())
    assert server.started, "node did not start"
    return Served(f"https://127.0.0.1:{config.port}", config, server, thread)


@contextmanager
def two_nodes(base: Path, pki: Pki) -> Iterator[tuple[Served, Served, dict[str, SigningKey]]]:
    """Genesis nodes a and b, both serving HTTPS. a checks b with ``peers_ca_file`` set; b
    checks a without it (httpx's default CAs)."""
    node_keys = {n: SigningKey.load_or_create(base / n / "node.key") for n in ("a", "b")}
    members = {f.id: member_key(base / "members", f.id) for f in FOUNDERS}
    genesis = Genesis(
        chain_id="tls-test", time_ms=now_ms(),
        members=[GenesisMember(f.id, f.name, f.role, members[f.id].public_key_hex)
                 for f in FOUNDERS],
        nodes=[GenesisNode(f"node-{n}", FOUNDERS[0].id, node_keys[n].public_key_hex)
               for n in ("a", "b")],
    )
    ports = {n: free_port() for n in ("a", "b")}
    common: dict[str, Any] = {"tls_cert_file": pki.cert, "tls_key_file": pki.key,
                              "agreement_interval_ms": INTERVAL_MS, "verify_threads": 1}
    a_config = NodeConfig(node_id="node-a", data_dir=base / "a", port=ports["a"],
                          peers=[f"https://127.0.0.1:{ports['b']}"], peers_ca_file=pki.ca,
                          **common)
    b_config = NodeConfig(node_id="node-b", data_dir=base / "b", port=ports["b"],
                          peers=[f"https://127.0.0.1:{ports['a']}"], **common)
    served: list[Served] = []
    try:
        served.append(serve(b_config, genesis))
        served.append(serve(a_config, genesis))
        yield served[1], served[0], node_keys
    finally:
        for s in served:
            s.server.should_exit = True
            s.thread.join(10)


def test_agreement_and_snapshots_reach_https_peers_with_the_peers_ca(pki: Pki,
                                                                     tmp_path: Path) -> None:
    with two_nodes(tmp_path, pki) as (a, b, node_keys):
        wait_until("a agrees with b", lambda: a.peers(pki)[b.url]["status"] == "agrees")
        seen = a.peers(pki)[b.url]
        assert seen["node_id"] == "node-b"
        assert seen["node_key"] == node_keys["b"].public_key_hex
        # b has no peers_ca_file: httpx's default CAs refuse a's certificate, every round
        # (b's first rounds, before a listened, failed to connect at all).
        wait_until("b to check a since a serves",
                   lambda: "CERTIFICATE_VERIFY_FAILED" in b.peers(pki)[a.url]["detail"])
        rounds = b.peers(pki)[a.url]["last_checked_ms"]
        wait_until("another round of b", lambda: b.peers(pki)[a.url]["last_checked_ms"] > rounds)
        refused = b.peers(pki)[a.url]
        assert refused["status"] == "unreachable"
        assert "CERTIFICATE_VERIFY_FAILED" in refused["detail"]
        assert refused["node_id"] is None and refused["height"] is None

        # Snapshots: node b, an active node, fetches a's over HTTPS with the CA only.
        peers_ca = peers_ssl_context(a.config)
        assert peers_ca is not None
        info = fetch_snapshot(a.url, node_keys["b"], tmp_path / "snap.sqlite",
                              peers_ca=peers_ca)
        assert info.chain_id == "tls-test" and info.size_bytes > 0
        assert info.node_key == node_keys["a"].public_key_hex
        with pytest.raises(SnapshotError, match="CERTIFICATE_VERIFY_FAILED"):
            fetch_snapshot(a.url, node_keys["b"], tmp_path / "refused.sqlite")
        assert not (tmp_path / "refused.sqlite").exists()


# -- consortia node start ----------------------------------------------------------------------


def test_node_start_serves_https_from_a_config_file(pki: Pki, tmp_path: Path) -> None:
    data = tmp_path / "node"
    demo_genesis(data)
    shutil.copy(pki.cert, data / "tls.crt")
    shutil.copy(pki.key, data / "tls.key")
    (data / "tls.key").chmod(0o600)
    port = free_port()
    config = data / "node.toml"
    config.write_text(f'node_id = "node1"\ndata_dir = "."\nport = {port}\n'
                      'tls_cert_file = "tls.crt"\ntls_key_file = "tls.key"\n')
    url = f"https://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "consortia", "node", "start", "--config",
                             str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        def serving() -> bool:
            assert proc.poll() is None, proc.communicate()
            try:
                return httpx.get(url + "/healthz", verify=pki.context(),
                                 timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until("node start to serve https", serving, 60)
        chain = httpx.get(url + "/v1/chain", verify=pki.context(), timeout=10).json()
        assert chain["node_id"] == "node1"
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "readable by group or others" not in err


def test_node_start_with_a_partial_or_unreadable_tls_setting_exits_with_one_line(
        pki: Pki, tmp_path: Path) -> None:
    data = tmp_path / "node"
    demo_genesis(data)
    config = data / "node.toml"
    base = f'node_id = "node1"\ndata_dir = "."\nport = {free_port()}\n'
    for settings, expected in (
            (f'tls_cert_file = "{pki.cert}"\n',
             "error: cannot start node: tls_cert_file is set but tls_key_file is not: "),
            (f'tls_cert_file = "{pki.cert}"\ntls_key_file = "absent.key"\n',
             f"error: cannot start node: tls_key_file {data / 'absent.key'}: cannot read it"),
            ('peers_ca_file = "absent-ca.crt"\n',
             f"error: cannot start node: peers_ca_file {data / 'absent-ca.crt'}: "
             "cannot read it")):
        config.write_text(base + settings)
        done = subprocess.run([sys.executable, "-m", "consortia", "node", "start", "--config",
                               str(config)], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith(expected), done.stderr
        assert done.stdout == ""
    assert not (data / "ledger.sqlite").exists()

