"""A local etcd cluster: one ``etcd`` process per member, on loopback ports.

Used by ``consortia cluster`` and by tests. Members run in their own session so that another
process (``cluster down``) can kill them by pid, and each logs to ``<data_dir>/m<i>.log``.
Health and leadership are asked over etcd's gRPC API (the stubs aetcd ships), not by shelling
out to ``etcdctl``, so that polling stays cheap on a loaded machine.

With ``tls`` the members serve their client URLs over TLS (``https://``), optionally requiring
client certificates (``--client-cert-auth``), and our own health and leader checks connect
with the same CA and client certificate a node would use. Peer traffic stays plain: it never
leaves loopback here.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from aetcd import rpc

from consortia.cluster.ports import free_ports, port_free
from consortia.node.pem import read_pem

ETCD_BINARY = "/usr/bin/etcd"
# etcd's default --max-request-bytes (1.5 MiB) is below our batch size; its default quota
# (2 GiB) fills up under sustained load (docs/etcd-ordering.md).
ETCD_REQUEST_BYTES_MAX = 4 * 1024 * 1024
ETCD_QUOTA_BACKEND_BYTES = 8 * 1024 * 1024 * 1024
PROBE_TIMEOUT_S = 1.0  # one health call to one member
EXIT_WAIT_S = 5.0  # after SIGTERM, before SIGKILL
POLL_S = 0.05


@dataclass(frozen=True)
class EtcdTls:
    """PEM files for TLS on the members' client URLs.

    ``cert_file``/``key_file`` are each member's server certificate (it must name the host
    the clients dial: here IP 127.0.0.1 in its subjectAltName), ``ca_file`` the CA that
    signed it and, with ``client_cert_auth``, the clients' certificates.
    ``client_cert_file``/``client_key_file`` are what our own health checks present; they
    are required with ``client_cert_auth``.
    """

    ca_file: Path
    cert_file: Path
    key_file: Path
    client_cert_auth: bool = False
    client_cert_file: Path | None = None
    client_key_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("client_cert_file and client_key_file go together")
        if self.client_cert_auth and self.client_cert_file is None:
            raise ValueError("client_cert_auth needs client_cert_file and client_key_file "
                             "for the cluster's own health checks")

    def flags(self) -> list[str]:
        """etcd's command-line flags for TLS on the client URLs."""
        flags = ["--cert-file", str(self.cert_file), "--key-file", str(self.key_file),
                 "--trusted-ca-file", str(self.ca_file)]
        if self.client_cert_auth:
            flags.append("--client-cert-auth")
        return flags

    def credentials(self) -> grpc.ChannelCredentials:
        """Channel credentials of a client of this cluster (the CA and our client cert)."""
        return grpc.ssl_channel_credentials(
            root_certificates=read_pem(self, "ca_file"),
            private_key=read_pem(self, "client_key_file"),
            certificate_chain=read_pem(self, "client_cert_file"))


def _channel(endpoint: str, credentials: grpc.ChannelCredentials | None) -> grpc.Channel:
    if credentials is None:
        return grpc.insecure_channel(endpoint)
    return grpc.secure_channel(endpoint, credentials)


def endpoint_healthy(endpoint: str, timeout_s: float = PROBE_TIMEOUT_S,
                     credentials: grpc.ChannelCredentials | None = None) -> bool:
    """True when the member at ``endpoint`` serves a linearizable read, which needs a leader
    and a quorum behind it (what ``etcdctl endpoint health`` checks). With ``credentials``
    over TLS (a refused handshake is unhealthy)."""
    with _channel(endpoint, credentials) as channel:
        try:
            rpc.KVStub(channel).Range(rpc.RangeRequest(key=b"health"), timeout=timeout_s)
        except grpc.RpcError:
            return False
        return True


def wait_healthy(endpoints: Sequence[str], timeout_s: float = 20.0,
                 credentials: grpc.ChannelCredentials | None = None) -> None:
    """Block until every endpoint is healthy; ``TimeoutError`` naming the laggards if not."""
    deadline = time.monotonic() + timeout_s
    pending = list(endpoints)
    while True:
        pending = [e for e in pending
                   if not endpoint_healthy(e, credentials=credentials)]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"etcd not healthy after {timeout_s} s: {', '.join(pending)}")
        time.sleep(POLL_S)


def member_status(endpoint: str, timeout_s: float = PROBE_TIMEOUT_S,
                  credentials: grpc.ChannelCredentials | None = None) -> tuple[int, int] | None:
    """(this member's id, the leader's id as this member sees it; 0 = none), or None."""
    with _channel(endpoint, credentials) as channel:
        try:
            status = rpc.MaintenanceStub(channel).Status(rpc.StatusRequest(), timeout=timeout_s)
        except grpc.RpcError:
            return None
        return int(status.header.member_id), int(status.leader)


class EtcdCluster:
    """``members`` etcd processes forming one cluster, with data under ``data_dir/m<i>``."""

    def __init__(self, data_dir: Path, members: int = 3, *,
                 client_ports: list[int] | None = None, peer_ports: list[int] | None = None,
                 token: str = "consortia", tls: EtcdTls | None = None) -> None:
        assert members >= 1, "a cluster has at least one member"
        self.data_dir = data_dir
        self.members = members
        if client_ports is None or peer_ports is None:
            ports = free_ports(2 * members)
            client_ports = client_ports or ports[:members]
            peer_ports = peer_ports or ports[members:]
        self.client_ports = client_ports
        self.peer_ports = peer_ports
        if len(self.client_ports) != members or len(self.peer_ports) != members:
            raise ValueError(f"need {members} client and peer ports")
        if len(set(self.client_ports + self.peer_ports)) != 2 * members:
            raise ValueError("client and peer ports must all differ")
        self.token = token
        self.tls = tls
        # Read once: every health poll and leader check reuses them.
        self.credentials = None if tls is None else tls.credentials()
        self.endpoints: list[str] = [f"127.0.0.1:{p}" for p in self.client_ports]
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * members
        self._paused: set[int] = set()

    @property
    def client_urls(self) -> list[str]:
        """Each member's client URL as etcd advertises it (``https://`` with TLS)."""
        scheme = "http" if self.tls is None else "https"
        return [f"{scheme}://127.0.0.1:{p}" for p in self.client_ports]

    # -- processes -------------------------------------------------------------------------

    def _command(self, i: int) -> list[str]:
        initial = ",".join(f"m{j}=http://127.0.0.1:{p}" for j, p in enumerate(self.peer_ports))
        client_url = self.client_urls[i]
        peer_url = f"http://127.0.0.1:{self.peer_ports[i]}"
        # On a restart etcd reads membership from its WAL and ignores the --initial-* flags.
        return [
            ETCD_BINARY, "--name", f"m{i}", "--data-dir", str(self.data_dir / f"m{i}"),
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", initial, "--initial-cluster-token", self.token,
            "--initial-cluster-state", "new",
            "--max-request-bytes", str(ETCD_REQUEST_BYTES_MAX),
            "--quota-backend-bytes", str(ETCD_QUOTA_BACKEND_BYTES),
            "--logger", "zap", "--log-outputs", "stderr",
            *([] if self.tls is None else self.tls.flags()),
        ]

    def _running(self, i: int) -> subprocess.Popen[bytes] | None:
        proc = self._procs[i]
        return proc if proc is not None and proc.poll() is None else None

    def _spawn(self, i: int) -> None:
        proc = self._procs[i]
        if proc is not None:
            # The old process must be gone and its ports released, or the new one fails with
            # "address already in use" (docs/etcd-ordering.md).
            try:
                proc.wait(timeout=EXIT_WAIT_S)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"etcd member {i} (pid {proc.pid}) is still running") from None
        deadline = time.monotonic() + 10
        for port in (self.client_ports[i], self.peer_ports[i]):
            while not port_free(port):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"port {port} of etcd member {i} is still in use")
                time.sleep(POLL_S)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / f"m{i}.log").open("ab") as log:
            self._procs[i] = subprocess.Popen(
                self._command(i), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        self._paused.discard(i)

    def start(self, timeout_s: float = 20) -> None:
        """Start every member that is not running and wait until all are healthy."""
        for i in range(self.members):
            if self._running(i) is None:
                self._spawn(i)
        try:
            wait_healthy(self.endpoints, timeout_s, self.credentials)
        except TimeoutError:
            self._raise_if_exited()
            raise

    def start_member(self, i: int, *, wait: bool = True, timeout_s: float = 20) -> None:
        """(Re)start member ``i`` on its existing data dir; with ``wait``, until it is healthy
        (which needs a quorum: restart a lone member of a stopped cluster with wait=False)."""
        if self._running(i) is not None:
            raise RuntimeError(f"etcd member {i} is already running")
        self._spawn(i)
        if wait:
            try:
                wait_healthy([self.endpoints[i]], timeout_s, self.credentials)
            except TimeoutError:
                self._raise_if_exited()
                raise

    def kill_member(self, i: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to member ``i``; for SIGKILL and SIGTERM, wait until it has exited."""
        proc = self._running(i)
        if proc is None:
            raise RuntimeError(f"etcd member {i} is not running")
        proc.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            if i in self._paused:
                proc.send_signal(signal.SIGCONT)  # a stopped process acts on SIGTERM only then
            self._paused.discard(i)
            try:
                proc.wait(timeout=EXIT_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=EXIT_WAIT_S)

    def pause_member(self, i: int) -> None:
        """SIGSTOP: the member keeps its sockets open but answers nothing, like a hung host."""
        self.kill_member(i, signal.SIGSTOP)
        self._paused.add(i)

    def resume_member(self, i: int) -> None:
        self.kill_member(i, signal.SIGCONT)
        self._paused.discard(i)

    def stop(self) -> None:
        """SIGTERM every member, SIGKILL those still running after a few seconds.

        A leader told to stop first hands leadership to a peer and waits for it (up to 7 s)
        when that peer is stopping too; with its followers already gone it skips that step.
        So followers go first, then the leader.
        """
        for i in list(self._paused):
            if self._running(i) is not None:
                self.resume_member(i)  # a stopped process acts on SIGTERM only once continued
        self._paused.clear()
        leader = self._leader_now()
        followers = [i for i in range(self.members) if i != leader]
        for group in (followers, [] if leader is None else [leader]):
            procs = [p for p in (self._running(i) for i in group) if p is not None]
            for proc in procs:
                proc.terminate()
            deadline = time.monotonic() + EXIT_WAIT_S
            for proc in procs:
                try:
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=EXIT_WAIT_S)

    def _leader_now(self) -> int | None:
        """The leader's index if members agree on one right now; None otherwise."""
        ids: dict[int, int] = {}
        leaders: set[int] = set()
        for i, endpoint in enumerate(self.endpoints):
            if self._running(i) is None or i in self._paused:
                continue
            status = member_status(endpoint, credentials=self.credentials)
            if status is not None:
                ids[status[0]] = i
                if status[1]:
                    leaders.add(status[1])
        if len(leaders) == 1 and (leader := leaders.pop()) in ids:
            return ids[leader]
        return None

    def _raise_if_exited(self) -> None:
        for i, proc in enumerate(self._procs):
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"etcd member {i} exited with {proc.returncode}; see "
                                   f"{self.data_dir / f'm{i}.log'}")

    # -- state -----------------------------------------------------------------------------

    def pids(self) -> list[int | None]:
        """The pid of each running member (None for one that is not running)."""
        return [None if (p := self._running(i)) is None else p.pid for i in range(self.members)]

    def healthy(self) -> bool:
        """Every member serves linearizable reads."""
        return all(endpoint_healthy(e, credentials=self.credentials) for e in self.endpoints)

    def leader(self, timeout_s: float = 10.0) -> int:
        """Index of the current leader; waits (up to ``timeout_s``) while there is none."""
        deadline = time.monotonic() + timeout_s
        while True:
            # Members can briefly disagree during an election: wait for one answer.
            leader = self._leader_now()
            if leader is not None:
                return leader
            if time.monotonic() > deadline:
                raise TimeoutError(f"no etcd leader after {timeout_s} s")
            time.sleep(POLL_S)

    def __repr__(self) -> str:
        return f"EtcdCluster({self.data_dir}, endpoints={self.endpoints}, pids={self.pids()})"
