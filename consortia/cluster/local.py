"""A local consortium on loopback: a 3-member etcd cluster and N ledger nodes, one directory.

For people (``consortia cluster up|status|down``), for the fault tests and for the cluster
benchmark. Everything ``up`` starts runs detached (its own session, logs in files), so the
command can exit and a later ``down`` from another process stops it by the pids recorded in
``<dir>/cluster.json``. Before signalling a recorded pid we check that the process still runs
our command line (its config file or etcd data directory), so a reused pid is never killed.

Layout of ``<dir>``::

    cluster.json            pids, URLs, ports, etcd endpoints, chain id
    genesis.json            the one genesis every node starts from
    keys/<member>.key       founding members' keys (0600)
    etcd/                   the etcd members' data and logs (consortia.cluster.etcd)
    node<i>/node.toml       node i's config (ordering = "etcd")
    node<i>/node.key        node i's key (0600)
    node<i>/node.log        node i's stdout and stderr
    node<i>/ledger.sqlite   node i's ledger

A directory whose cluster is down keeps all of this; ``up`` on it starts the same cluster
again (same keys, genesis, ports and data), and the nodes resume from their ledgers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from consortia.cluster.ports import free_ports, port_free
from consortia.crypto.keys import SigningKey
from consortia.demo.consortium import FOUNDERS, member_key
from consortia.ledger.genesis import Genesis, GenesisMember, GenesisNode, load_genesis

if TYPE_CHECKING:  # grpc and aetcd load only when etcd is started, not for every CLI command
    from consortia.cluster.etcd import EtcdCluster

CLUSTER_FILE = "cluster.json"
CHAIN_ID = "consortia-local"
ETCD_MEMBERS = 3
NODES_MAX = 32  # loopback ports, processes and memory: a laptop's worth
HOST = "127.0.0.1"
# A node process imports the whole application before it listens; on a loaded 2-core
# machine several starting at once take tens of seconds.
NODE_START_S_MAX = 120.0
NODE_STOP_GRACE_S = 10.0  # SIGTERM, then SIGKILL
ETCD_STOP_GRACE_S = 5.0
KILL_WAIT_S_MAX = 10.0  # after SIGKILL, until the process is gone
HTTP_TIMEOUT_S = 3.0
LOG_TAIL_BYTES = 2_000


class ClusterError(RuntimeError):
    """The local cluster cannot do what was asked; the message says why in one line."""


@dataclass
class LocalNode:
    """One ledger node of the local cluster, as recorded in cluster.json."""

    id: str
    port: int
    url: str
    node_key: str
    data_dir: str
    config: str
    log: str
    pid: int | None = None


def _alive(pid: int | None, marker: str) -> bool:
    """Whether ``pid`` runs and its command line holds ``marker`` (zombies count as gone)."""
    if pid is None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and marker.encode() in cmdline


def _wait_gone(pid: int, marker: str, timeout_s: float,
               proc: subprocess.Popen[bytes] | None) -> bool:
    """Whether the process is gone within ``timeout_s`` (checked at least once)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc is not None:
            proc.poll()  # reap our own child, or it lingers as a zombie
        if not _alive(pid, marker):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def stop_pids(targets: list[tuple[int | None, str, subprocess.Popen[bytes] | None]],
              grace_s: float) -> None:
    """Stop processes given as (pid, marker, own Popen or None): SIGTERM to all at once, then
    SIGKILL to those still there after ``grace_s``; returns once all are gone."""
    live = [(pid, marker, proc) for pid, marker, proc in targets
            if pid is not None and _alive(pid, marker)]
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, KILL_WAIT_S_MAX)):
        for pid, _, _ in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        live = [(pid, marker, proc) for pid, marker, proc in live
                if not _wait_gone(pid, marker, deadline - time.monotonic(), proc)]
        if not live:
            return
    raise ClusterError(f"processes survived SIGKILL: {', '.join(str(t[0]) for t in live)}")


def _toml_value(value: object) -> str:
    """TOML for the plain values a node config holds (JSON spells them the same way)."""
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str | int | float | bool | list):
        raise TypeError(f"no TOML form for {value!r}")
    return json.dumps(value)


def cluster_genesis(directory: Path, node_keys: list[SigningKey]) -> Genesis:
    """One genesis for every node: the demo's founding members (keys under ``keys/``) and
    nodes ``node1..nodeN``, their operators taken in turn from the founders."""
    genesis = Genesis(
        chain_id=CHAIN_ID,
        time_ms=time.time_ns() // 1_000_000,
        members=[GenesisMember(f.id, f.name, f.role, member_key(directory, f.id).public_key_hex)
                 for f in FOUNDERS],
        nodes=[GenesisNode(f"node{i + 1}", FOUNDERS[i % len(FOUNDERS)].id, k.public_key_hex)
               for i, k in enumerate(node_keys)],
        parameters={},
    )
    (directory / "genesis.json").write_bytes(genesis.to_json())
    return genesis


class LocalCluster:
    """A local consortium in one directory. ``up`` starts one; ``open`` reads a running one
    from its cluster.json (``status`` and ``down`` then work from any process).

    Nodes are addressed by index (0 for node1). ``etcd`` is the EtcdCluster object when this
    process started the members (``up``), for member faults in tests; None after ``open``.
    """

    def __init__(self, directory: Path, chain_id: str, nodes: list[LocalNode],
                 etcd_endpoints: list[str], etcd_client_ports: list[int],
                 etcd_peer_ports: list[int], etcd_pids: list[int | None],
                 etcd: EtcdCluster | None = None) -> None:
        self.dir = directory
        self.chain_id = chain_id
        self.nodes = nodes
        self.etcd_endpoints = etcd_endpoints
        self.etcd_client_ports = etcd_client_ports
        self.etcd_peer_ports = etcd_peer_ports
        self._etcd_pids = etcd_pids
        self.etcd = etcd
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # -- paths and records ---------------------------------------------------------------

    @property
    def etcd_dir(self) -> Path:
        return self.dir / "etcd"

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def etcd_pids(self) -> list[int | None]:
        """The members' pids: live from the EtcdCluster object, else as recorded."""
        if self.etcd is not None:
            return self.etcd.pids()
        return list(self._etcd_pids)

    def save(self) -> None:
        """Write cluster.json (atomically: a reader never sees half a file)."""
        state = {
            "chain_id": self.chain_id,
            "etcd": {"dir": "etcd", "endpoints": self.etcd_endpoints,
                     "client_ports": self.etcd_client_ports,
                     "peer_ports": self.etcd_peer_ports, "pids": self.etcd_pids()},
            "nodes": [asdict(n) for n in self.nodes],
        }
        path = self.dir / CLUSTER_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(path)

    def summary(self) -> dict[str, Any]:
        """What ``cluster up`` prints: enough for a client to reach every node and etcd."""
        return {
            "chain_id": self.chain_id,
            "nodes": [{"id": n.id, "url": n.url, "node_key": n.node_key,
                       "data_dir": n.data_dir, "pid": n.pid} for n in self.nodes],
            "etcd": {"endpoints": self.etcd_endpoints, "pids": self.etcd_pids()},
        }

    @classmethod
    def open(cls, directory: Path) -> LocalCluster:
        """The cluster recorded in ``<directory>/cluster.json`` (running or not)."""
        directory = directory.resolve()  # etcd members are recognised by their absolute dir
        path = directory / CLUSTER_FILE
        try:
            state = json.loads(path.read_text())
            etcd = state["etcd"]
            nodes = [LocalNode(**n) for n in state["nodes"]]
            return cls(directory, str(state["chain_id"]), nodes, list(etcd["endpoints"]),
                       list(etcd["client_ports"]), list(etcd["peer_ports"]),
                       list(etcd["pids"]))
        except FileNotFoundError:
            raise ClusterError(f"no cluster in {directory} (no {CLUSTER_FILE})") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ClusterError(f"cannot read {path}: {exc}") from None

    def running(self) -> list[str]:
        """Names of the recorded processes that still run ("node2", "etcd m1", …)."""
        out = [n.id for n in self.nodes if _alive(n.pid, n.config)]
        out += [f"etcd m{i}" for i, pid in enumerate(self.etcd_pids())
                if _alive(pid, str(self.etcd_dir))]
        return out

    # -- up ------------------------------------------------------------------------------

    @classmethod
    def up(cls, directory: Path, nodes: int = 3, *, base_port: int | None = None,
           node_settings: dict[str, object] | None = None,
           start_s_max: float = NODE_START_S_MAX) -> LocalCluster:
        """Start etcd and ``nodes`` nodes in ``directory``, or the cluster already kept there.

        ``base_port`` P puts node i (0-based) on P+i, the etcd members' client ports on
        P+N..P+N+2 and their peer ports on P+N+3..P+N+5; default: free ports.
        ``node_settings`` are extra NodeConfig fields written into every node.toml (tests use
        smaller batches). On any failure everything started is stopped again.
        """
        if not 1 <= nodes <= NODES_MAX:
            raise ClusterError(f"--nodes must be 1 to {NODES_MAX}")
        directory = directory.resolve()
        if (directory / CLUSTER_FILE).exists():
            cluster = cls.open(directory)
            running = cluster.running()
            if running:
                raise ClusterError(f"{directory} already holds a running cluster "
                                   f"({', '.join(running)}); run 'consortia cluster down' "
                                   "first")
            if len(cluster.nodes) != nodes:
                raise ClusterError(f"{directory} holds a cluster of {len(cluster.nodes)} "
                                   f"nodes, not {nodes}")
            if node_settings:
                cluster._write_configs(node_settings)
        else:
            if directory.exists() and any(directory.iterdir()):
                raise ClusterError(f"{directory} is not empty and holds no cluster")
            cluster = cls._create(directory, nodes, base_port, node_settings or {})
        busy = [p for p in [n.port for n in cluster.nodes] + cluster.etcd_client_ports
                + cluster.etcd_peer_ports if not port_free(p)]
        if busy:
            raise ClusterError(f"ports in use: {', '.join(map(str, busy))}")
        try:
            cluster._start(start_s_max)
        except BaseException:
            cluster.down()
            raise
        return cluster

    @classmethod
    def _create(cls, directory: Path, count: int, base_port: int | None,
                node_settings: dict[str, object]) -> LocalCluster:
        """Keys, genesis, configs and cluster.json of a new cluster (nothing started)."""
        ports = (list(range(base_port, base_port + count + 2 * ETCD_MEMBERS))
                 if base_port is not None else free_ports(count + 2 * ETCD_MEMBERS))
        if ports[-1] > 65_535:
            raise ClusterError(f"--base-port {base_port} leaves too few ports below 65536")
        assert len(set(ports)) == count + 2 * ETCD_MEMBERS, ports
        node_ports = ports[:count]
        client_ports = ports[count:count + ETCD_MEMBERS]
        peer_ports = ports[count + ETCD_MEMBERS:]
        directory.mkdir(parents=True, exist_ok=True)
        keys = [SigningKey.load_or_create(directory / f"node{i + 1}" / "node.key")
                for i in range(count)]
        cluster_genesis(directory, keys)
        local_nodes = []
        for i, (key, port) in enumerate(zip(keys, node_ports, strict=True)):
            node_dir = directory / f"node{i + 1}"
            local_nodes.append(LocalNode(
                id=f"node{i + 1}", port=port, url=f"http://{HOST}:{port}",
                node_key=key.public_key_hex, data_dir=str(node_dir),
                config=str(node_dir / "node.toml"), log=str(node_dir / "node.log")))
        endpoints = [f"{HOST}:{p}" for p in client_ports]
        cluster = cls(directory, CHAIN_ID, local_nodes, endpoints, client_ports, peer_ports,
                      [None] * ETCD_MEMBERS)
        cluster._write_configs(node_settings)
        cluster.save()
        return cluster

    def _write_configs(self, node_settings: dict[str, object]) -> None:
        for node in self.nodes:
            settings: dict[str, object] = {
                "node_id": node.id, "data_dir": ".", "genesis_file": "../genesis.json",
                "host": HOST, "port": node.port, "ordering": "etcd",
                "etcd_endpoints": self.etcd_endpoints,
                "peers": [n.url for n in self.nodes if n is not node],
                **node_settings,
            }
            Path(node.config).write_text(
                "".join(f"{k} = {_toml_value(v)}\n" for k, v in settings.items()))

    def _start(self, start_s_max: float) -> None:
        from consortia.cluster.etcd import EtcdCluster

        genesis = load_genesis(self.dir / "genesis.json")
        if genesis.chain_id != self.chain_id:
            raise ClusterError(f"genesis is for chain {genesis.chain_id}, cluster.json says "
                               f"{self.chain_id}")
        self.etcd = EtcdCluster(self.etcd_dir, ETCD_MEMBERS,
                                client_ports=self.etcd_client_ports,
                                peer_ports=self.etcd_peer_ports)
        try:
            self.etcd.start()
        finally:
            self.save()  # the pids of whatever started, so that down can stop it
        for i in range(len(self.nodes)):
            self._spawn(i)
        self.save()
        self._wait_healthy(range(len(self.nodes)), start_s_max)

    def _spawn(self, i: int) -> None:
        node = self.nodes[i]
        with open(node.log, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "consortia", "node", "start", "--config", node.config],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._procs[node.id] = proc
        node.pid = proc.pid

    def _wait_healthy(self, indices: range | list[int], timeout_s: float) -> None:
        waiting = set(indices)
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=HTTP_TIMEOUT_S) as http:
            while waiting:
                for i in sorted(waiting):
                    node = self.nodes[i]
                    proc = self._procs.get(node.id)
                    if proc is not None and proc.poll() is not None:
                        raise ClusterError(f"{node.id} exited with {proc.returncode}: "
                                           f"{self.log_tail(i)}")
                    try:
                        if http.get(node.url + "/healthz").status_code == 200:
                            waiting.discard(i)
                    except httpx.HTTPError:
                        pass
                if waiting and time.monotonic() > deadline:
                    names = ", ".join(self.nodes[i].id for i in sorted(waiting))
                    raise ClusterError(f"not healthy within {timeout_s:.0f} s: {names}")
                if waiting:
                    time.sleep(0.1)

    def log_tail(self, i: int) -> str:
        """The end of node i's log, on one line (for error messages)."""
        try:
            with open(self.nodes[i].log, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - LOG_TAIL_BYTES))
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        lines = [line for line in text.splitlines() if line.strip()]
        return " | ".join(lines[-3:])

    # -- single nodes (tests) ----------------------------------------------------------------

    def node_alive(self, i: int) -> bool:
        node = self.nodes[i]
        proc = self._procs.get(node.id)
        if proc is not None:
            proc.poll()
        return _alive(node.pid, node.config)

    def kill_node(self, i: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to node i; for SIGKILL and SIGTERM, return once it is gone."""
        node = self.nodes[i]
        if not self.node_alive(i):
            raise ClusterError(f"{node.id} is not running")
        assert node.pid is not None
        os.kill(node.pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            grace_s = KILL_WAIT_S_MAX if sig == signal.SIGKILL else NODE_STOP_GRACE_S
            if not _wait_gone(node.pid, node.config, grace_s, self._procs.get(node.id)):
                raise ClusterError(f"{node.id} (pid {node.pid}) did not exit after {sig}")
            node.pid = None
            self.save()

    def start_node(self, i: int, timeout_s: float = NODE_START_S_MAX) -> None:
        """(Re)start node i on its data; returns once its /healthz answers 200."""
        if self.node_alive(i):
            raise ClusterError(f"{self.nodes[i].id} is already running")
        self._spawn(i)
        self.save()
        self._wait_healthy([i], timeout_s)

    # -- status --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Each node's health, height, tree size and head; whether they agree.

        Nodes may be at different heights a moment apart, so agreement is judged at the
        lowest height every answering node has: each node's signed tree head there must
        have the same root (and tree size).
        """
        rows: list[dict[str, Any]] = []
        with httpx.Client(timeout=HTTP_TIMEOUT_S) as http:
            for node in self.nodes:
                row: dict[str, Any] = {"id": node.id, "url": node.url, "pid": node.pid,
                                       "up": False, "status": None, "height": None,
                                       "tree_size": None, "root_hash": None}
                try:
                    health = http.get(node.url + "/healthz").json()
                    sth = http.get(node.url + "/v1/sth").json()
                except (httpx.HTTPError, ValueError):
                    rows.append(row)
                    continue
                row.update(up=True, status=health.get("status"), height=sth["height"],
                           tree_size=sth["tree_size"], root_hash=sth["root_hash"])
                rows.append(row)
            answering = [r for r in rows if r["up"]]
            common = min((r["height"] for r in answering), default=None)
            roots: set[tuple[int, str]] = set()
            for row in answering:
                try:
                    at = http.get(f"{row['url']}/v1/sth/{common}").json()
                    row["root_at_common"] = at["root_hash"]
                    roots.add((int(at["tree_size"]), str(at["root_hash"])))
                except (httpx.HTTPError, ValueError, KeyError):
                    row["root_at_common"] = None
                    roots.add((-1, ""))
        return {
            "chain_id": self.chain_id,
            "nodes": rows,
            "common_height": common,
            "agree": len(roots) == 1 if answering else None,
            "all_up": len(answering) == len(rows),
            "etcd": {"endpoints": self.etcd_endpoints,
                     "running": sum(_alive(p, str(self.etcd_dir)) for p in self.etcd_pids())},
        }

    # -- down ----------------------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop every node (SIGTERM, SIGKILL after 10 s), then the etcd members; keep the
        data. Idempotent. Returns the names of what was running."""
        stopped = self.running()
        stop_pids([(n.pid, n.config, self._procs.pop(n.id, None)) for n in self.nodes],
                  NODE_STOP_GRACE_S)
        for node in self.nodes:
            node.pid = None
        if self.etcd is not None:
            self.etcd.stop()
        stop_pids([(pid, str(self.etcd_dir), None) for pid in self._etcd_pids],
                  ETCD_STOP_GRACE_S)
        self._etcd_pids = [None] * len(self._etcd_pids)
        self.etcd = None
        self.save()
        return stopped
