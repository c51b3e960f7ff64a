"""``consortia``: run nodes, manage keys, get and verify receipts, submit, benchmark."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import typer

from consortia.cli.common import UrlOption, call_node, fail, load_key, print_json
from consortia.crypto.keys import SigningKey, parse_public_key
from consortia.ledger.receipts import ReceiptError, verify_receipt
from consortia.sdk.client import Client, ConsortiaError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Consortia: a certified digital-payment network on a consortium ledger.")
node_app = typer.Typer(no_args_is_help=True, help="Run and audit a ledger node.")
keys_app = typer.Typer(no_args_is_help=True, help="Ed25519 key files.")
receipt_app = typer.Typer(no_args_is_help=True, help="Get and verify receipts.")
tx_app = typer.Typer(no_args_is_help=True, help="Submit transactions.")
app.add_typer(node_app, name="node")
app.add_typer(keys_app, name="keys")
app.add_typer(receipt_app, name="receipt")
app.add_typer(tx_app, name="tx")


def _register_module_clis() -> None:
    from consortia.cluster.cli import app as cluster_app
    from consortia.conformance.cli import app as lab_app
    from consortia.devices.cli import app as device_app
    from consortia.modules.certification.cli import app as certification_app
    from consortia.modules.currency.cli import app as currency_app
    from consortia.modules.governance.cli import app as governance_app
    from consortia.qr.cli import app as qr_app

    app.add_typer(governance_app, name="gov")
    app.add_typer(currency_app, name="currency")
    app.add_typer(certification_app, name="cfp")
    app.add_typer(lab_app, name="lab")
    app.add_typer(device_app, name="device")
    app.add_typer(qr_app, name="qr")
    app.add_typer(cluster_app, name="cluster")


_register_module_clis()


@app.command()
def up(data_dir: Path = typer.Option(Path("data/demo"), help="where the node keeps its files"),
       port: int = typer.Option(8080, help="HTTP port"),
       host: str = typer.Option("127.0.0.1", help="address to listen on")) -> None:
    """Start one node (solo ordering, SQLite) with the embedded demo consortium."""
    from consortia.demo.consortium import DEMO_WALLETS, demo_genesis, run_demo
    from consortia.node.config import NodeConfig
    from consortia.node.server import build_node, serve

    genesis = demo_genesis(data_dir)
    config = NodeConfig(data_dir=data_dir, host=host, port=port)
    node = build_node(config, genesis)
    url = f"http://{host}:{port}"

    def ready() -> None:
        from consortia.custody import Custody, create_demo_logins

        try:
            with Client(url, node_key=node.key.public_key_hex) as client:
                run_demo(client, data_dir)
            custody = Custody.open(data_dir)
            try:
                create_demo_logins(custody, data_dir, node.chain.state)
            finally:
                custody.close()
        except Exception as exc:  # the node stays up; say why the demo is incomplete
            print(f"demo set-up failed: {exc}")
            return
        print(f"Consortia node up: chain {genesis.chain_id}, height {node.chain.head.height}")
        print(f"  explorer    {url}/explorer")
        print(f"  governance  {url}/governance")
        print(f"  API docs    {url}/docs")
        print(f"  metrics     {url}/metrics")
        print(f"  node key    {node.key.public_key_hex}")
        print(f"  member keys {data_dir / 'keys'}/<member>.key")
        print(f"  wallet keys {data_dir / 'keys' / 'wallets'}/<wallet>.key  "
              f"({', '.join(w.id for w in DEMO_WALLETS)})")
        print(f"  web wallet  {url}/login  as alice / alice-demo "
              "(or bob, chen, dora, teahouse, harbor-books: password <name>-demo)")
        print(f"  desks       {url}/login  as harbor-desk, meridian-desk, arcadia-desk, "
              "lantau-desk, fro-desk (password <name>-demo)")
        print(f"  CFP         {url}/cfp  (registry); log in as fcc-desk, pearl-lab, "
              "lotus-devices, jade-terminals (password <name>-demo)")
        print(f"  QR payments {url}/pay  (as a person), {url}/merchant  (as teahouse)")
        print("  (Ctrl-C stops the node)")

    serve(node, ready)


@node_app.command("start")
def node_start(config: Path = typer.Option(..., "--config", help="TOML config file"),
               port: int | None = typer.Option(None, help="override the port"),
               catch_up_from: str | None = typer.Option(
                   None, "--catch-up-from", help="first install a checked snapshot of this "
                   "peer's ledger (base URL); with etcd ordering that happens anyway, from "
                   "the configured peers, when etcd no longer holds what this node lacks")
               ) -> None:
    """Start a node from a config file (genesis and key paths are in it)."""
    from consortia.ledger.chain import ChainError
    from consortia.ledger.genesis import GenesisError
    from consortia.node.config import load_config
    from consortia.node.server import build_node, serve
    from consortia.node.snapshot import SnapshotError, catch_up_before_start

    try:
        cfg = load_config(config, port=port)
    except (OSError, ValueError) as exc:
        fail(f"cannot start node: {exc}".splitlines()[0])
    try:
        catch_up_before_start(cfg, catch_up_from, say=lambda line: print(line, flush=True))
    except SnapshotError as exc:
        fail(f"cannot catch up: {exc}".splitlines()[0])
    try:
        node = build_node(cfg)
    except (OSError, ValueError, GenesisError, ChainError) as exc:
        fail(f"cannot start node: {exc}".splitlines()[0])
    scheme = "https" if cfg.tls_cert_file is not None else "http"
    print(f"node {cfg.node_id} on {scheme}://{cfg.host}:{cfg.port} "
          f"(chain {node.chain_id}, height {node.chain.head.height})", flush=True)
    serve(node)


@node_app.command("verify")
def node_verify(data_dir: Path = typer.Option(..., help="the node's data directory"),
                genesis: Path | None = typer.Option(None, help="genesis file "
                                                    "(default <data-dir>/genesis.json)"),
                ) -> None:
    """Re-execute every stored block from genesis and compare results, tree heads and state."""
    from consortia.ledger.executor import Executor
    from consortia.ledger.genesis import GenesisError, load_genesis
    from consortia.ledger.replay import ReplayError, replay
    from consortia.ledger.store import Store
    from consortia.modules import default_modules

    db = data_dir / "ledger.sqlite"
    if not db.exists():
        fail(f"no ledger at {db}")
    try:
        g = load_genesis(genesis or data_dir / "genesis.json")
        key = SigningKey.load(data_dir / "node.key")
        store = Store(db)
        report = replay(store, g, Executor(g.chain_id, default_modules()), key.public_key)
    except (GenesisError, ReplayError, OSError, ValueError) as exc:
        fail(str(exc))
    print(f"ok: {report.blocks} blocks, {report.txs} txs, {report.state_keys} state keys "
          "re-executed and equal")


@keys_app.command("new")
def keys_new(out: Path = typer.Option(..., "--out", help="key file to create (mode 0600)"),
             ) -> None:
    """Create an Ed25519 key file and print its public key."""
    key = SigningKey.generate()
    try:
        key.save(out)
    except FileExistsError:
        if out.exists():
            fail(f"{out} exists; refusing to overwrite a key")
        fail(f"cannot create {out}: a parent path is not a directory")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    print(key.public_key_hex)


@receipt_app.command("get")
def receipt_get(tx_id: str, url: str = UrlOption,
                out: Path | None = typer.Option(None, "--out", help="write to this file")) -> None:
    """Fetch the receipt of an executed tx."""
    receipt = call_node(url, lambda client: client.receipt(tx_id))
    if out is None:
        print_json(receipt)
    else:
        out.write_text(json.dumps(receipt, indent=2) + "\n")


@receipt_app.command("verify")
def receipt_verify(file: Path, node_key: str = typer.Option(..., "--node-key",
                                                            help="the node's public key (hex)"),
                   ) -> None:
    """Verify a receipt offline: exit 0 when valid, 1 with what failed."""
    try:
        key = parse_public_key(node_key)
    except ValueError as exc:
        fail(str(exc))
    try:
        receipt = json.loads(file.read_text())
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    except (ValueError, RecursionError):  # also not UTF-8, or nested beyond reason
        fail(f"{file} is not JSON")
    try:
        verify_receipt(receipt, key)
    except ReceiptError as exc:
        fail(f"invalid receipt: {exc}")
    result = receipt["result"]
    print(f"valid: tx {receipt['tx_id']} {result['status']} ({result['code']}) at leaf "
          f"{receipt['leaf_index']} of {receipt['tree_size']}, height {result['height']}")


@tx_app.command("send")
def tx_send(kind: str, payload: str = typer.Argument(..., help="payload as JSON"),
            key: Path = typer.Option(..., "--key", help="signer's key file"),
            url: str = UrlOption) -> None:
    """Sign and submit one tx, wait for it, verify its receipt, print its result."""
    try:
        body: Any = json.loads(payload)
    except json.JSONDecodeError:
        fail("payload is not JSON")
    if not isinstance(body, dict):
        fail("payload must be a JSON object")
    signer = load_key(key)
    result, receipt = call_node(url, lambda client: client.send(signer, kind, body))
    print_json({"tx_id": receipt["tx_id"], "result": result})
    if result["status"] != "accepted":
        fail(f"rejected: {result['code']}: {result['message']}")


@app.command()
def bench(url: str | None = typer.Option(None, help="benchmark a running node instead of "
                                          "starting one"),
          workload: str = typer.Option("notary", help="notary (document digests), "
                                       "transfers (payments between wallets), registry "
                                       "(certification registry queries) or payments (QR "
                                       "payments: scan-to-receipt latency at a rate)"),
          wallets: int = typer.Option(10_000, min=2, help="transfers, payments: wallets to "
                                      "open"),
          rate: int = typer.Option(1_000, min=1, help="payments: payments offered per second"),
          seconds: int = typer.Option(30, min=1, help="payments: how long to offer them"),
          certificates: int = typer.Option(100_000, min=1, help="registry: certificates to "
                                           "create before querying"),
          queries: int = typer.Option(200, min=1, help="registry: queries of each kind"),
          txs: int = typer.Option(50_000, "-n", "--txs", min=1, help="transactions to commit"),
          batch: int = typer.Option(2_000, min=1, help="txs per HTTP batch"),
          clients: int = typer.Option(4, min=1, help="concurrent submitting connections"),
          keys_dir: Path | None = typer.Option(None, help="member key files for the set-up "
                                               "(with --url; default data/demo/keys)"),
          as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
          cluster: Path | None = typer.Option(None, "--cluster", help="benchmark the local "
                                              "cluster in this directory (consortia cluster "
                                              "up), then an embedded node the same way "
                                              "(notary, transfers)"),
          ) -> None:
    """Committed tx/s and commit latency over HTTP, against the machine's Ed25519 ceiling
    (registry: query latency; payments: scan-to-receipt latency at a sustained rate)."""
    from consortia.bench.throughput import run_bench
    from consortia.bench.workload import NotaryWorkload, Workload

    chosen: Workload | None = None  # None: the registry, which measures queries, not txs
    if workload == "notary":
        chosen = NotaryWorkload()
    elif workload == "transfers":
        from consortia.bench.transfers import TransfersWorkload

        chosen = TransfersWorkload(wallets)
    elif workload not in ("registry", "payments"):
        fail(f"unknown workload {workload!r}: notary, transfers, registry or payments")
    if cluster is not None:
        _bench_cluster(cluster, workload, wallets, txs=txs, batch=batch, clients=clients,
                       as_json=as_json)
        return
    try:
        if workload == "payments":
            from consortia.bench.payments import run_payments_bench

            report = run_payments_bench(url=url, rate_per_s=rate, seconds=seconds,
                                        wallets=wallets, progress=not as_json,
                                        cpu_count=os.cpu_count() or 1, keys_dir=keys_dir)
        elif chosen is None:
            from consortia.bench.registry import run_registry_bench

            report = run_registry_bench(url=url, certificates=certificates,
                                        queries_per_kind=queries, clients=clients,
                                        progress=not as_json, cpu_count=os.cpu_count() or 1,
                                        keys_dir=keys_dir)
        else:
            report = run_bench(url=url, txs=txs, batch=batch, clients=clients,
                               progress=not as_json, cpu_count=os.cpu_count() or 1,
                               workload=chosen, keys_dir=keys_dir)
    except (RuntimeError, ValueError, OSError, ConsortiaError, httpx.HTTPError) as exc:
        fail(f"bench failed: {exc}".splitlines()[0])
    if as_json:
        print(json.dumps(report))
    elif workload == "payments":
        from consortia.bench.payments import print_report as print_payments

        print_payments(report)
    elif chosen is None:
        from consortia.bench.registry import print_report as print_registry

        print_registry(report)
    else:
        from consortia.bench.throughput import print_report

        print_report(report)
    if report["checks_failed"]:
        fail("bench checks failed: " + "; ".join(report["checks_failed"]))


def _bench_cluster(directory: Path, workload: str, wallets: int, *, txs: int, batch: int,
                   clients: int, as_json: bool) -> None:
    """``bench --cluster D``: the local cluster, then an embedded node (consortia.bench.cluster)."""
    from consortia.bench.cluster import print_report, run_cluster_bench
    from consortia.bench.workload import NotaryWorkload, Workload
    from consortia.cluster.local import ClusterError

    def make_workload() -> Workload:
        if workload == "transfers":
            from consortia.bench.transfers import TransfersWorkload

            return TransfersWorkload(wallets)
        return NotaryWorkload()

    if workload not in ("notary", "transfers"):
        fail(f"--cluster runs the notary or transfers workload, not {workload!r}")
    try:
        report = run_cluster_bench(directory, make_workload, txs=txs, batch=batch,
                                   clients=clients, cpu_count=os.cpu_count() or 1,
                                   progress=not as_json)
    except (ClusterError, RuntimeError, ValueError, OSError, ConsortiaError,
            httpx.HTTPError) as exc:
        fail(f"bench failed: {exc}".splitlines()[0])
    if as_json:
        print(json.dumps(report))
    else:
        print_report(report)
    if report["checks_failed"]:
        fail("bench checks failed: " + "; ".join(report["checks_failed"]))
