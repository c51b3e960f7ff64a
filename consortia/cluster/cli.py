"""``consortia cluster``: a local consortium (3 etcd members, N nodes) for people and tests.

``up`` prints one JSON object (every node's URL and key, the etcd endpoints) and returns while
the processes keep running; ``status`` shows each node's head and whether they agree;
``down`` stops what ``up`` started and keeps the data, so ``up`` on the same directory resumes.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from consortia.cli.common import fail, print_json
from consortia.cluster.local import NODE_START_S_MAX, NODES_MAX, ClusterError, LocalCluster

app = typer.Typer(no_args_is_help=True,
                  help="A local consortium: a 3-member etcd cluster and N nodes on loopback.")

DirOption = typer.Option(..., "--dir", help="the cluster's directory")
ROOT_SHOWN_HEX = 8


@app.command("up")
def up_command(
        nodes: int = typer.Option(3, "--nodes", min=1, max=NODES_MAX, help="ledger nodes"),
        directory: Path = DirOption,
        base_port: int | None = typer.Option(
            None, "--base-port", min=1024, max=65_000,
            help="node i on P+i-1, etcd client ports P+N.., peer ports P+N+3.. "
                 "(default: free ports)"),
        demo: bool = typer.Option(False, "--demo/--no-demo",
                                  help="populate the chain with the demo consortium's txs"),
        start_s_max: float = typer.Option(NODE_START_S_MAX, "--start-timeout", min=1,
                                          help="seconds to wait for the nodes to be healthy"),
        ) -> None:
    """Start etcd and N nodes sharing one genesis; print their URLs and keys as JSON."""
    try:
        cluster = LocalCluster.up(directory, nodes, base_port=base_port,
                                  start_s_max=start_s_max)
    except (ClusterError, OSError, RuntimeError, TimeoutError, ValueError) as exc:
        fail(f"cluster up failed: {exc}".splitlines()[0])
    if demo:
        from consortia.demo.consortium import DemoError, run_demo
        from consortia.sdk.client import Client, ConsortiaError

        first = cluster.nodes[0]
        try:
            with Client(first.url, node_key=first.node_key) as client:
                run_demo(client, cluster.dir)
        except (DemoError, ConsortiaError, OSError, TimeoutError) as exc:
            fail(f"the cluster is up but the demo set-up failed: {exc}".splitlines()[0])
    print(json.dumps(cluster.summary()))


@app.command("status")
def status_command(directory: Path = DirOption,
                   as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
                   ) -> None:
    """Each node's height, tree size and head, and whether the heads agree (exit 1 if the
    directory holds no cluster)."""
    try:
        report = LocalCluster.open(directory).status()
    except ClusterError as exc:
        fail(str(exc))
    if as_json:
        print_json(report)
        return
    from rich.console import Console
    from rich.table import Table

    if report["common_height"] is None:
        verdict = "no node answers"
    else:
        verdict = (f"heads agree at height {report['common_height']:,}: "
                   f"{'yes' if report['agree'] else 'NO'}")
    roots = [r.get("root_at_common") for r in report["nodes"] if r["up"]]
    usual = max(set(roots), key=roots.count) if roots else None
    table = Table(title=f"{directory}: chain {report['chain_id']}")
    table.add_column("node", no_wrap=True)
    table.add_column("address", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("height", justify="right", no_wrap=True)
    table.add_column("tree size", justify="right", no_wrap=True)
    table.add_column("root", no_wrap=True)
    table.add_column("agrees", no_wrap=True)
    for row in report["nodes"]:
        agrees = "-" if not row["up"] else (
            "yes" if row.get("root_at_common") == usual and usual is not None else "NO")
        table.add_row(row["id"], row["url"].removeprefix("http://"),
                      str(row["status"] or "?") if row["up"] else "down",
                      "-" if row["height"] is None else f"{row['height']:,}",
                      "-" if row["tree_size"] is None else f"{row['tree_size']:,}",
                      (row["root_hash"] or "-")[:ROOT_SHOWN_HEX], agrees)
    console = Console()
    console.print(table)
    etcd = report["etcd"]
    # Plain lines, not table cells: scripts and narrow terminals read them whole.
    print(verdict)
    print(f"etcd: {etcd['running']} of {len(etcd['endpoints'])} members running "
          f"({', '.join(etcd['endpoints'])})")


@app.command("down")
def down_command(directory: Path = DirOption) -> None:
    """Stop the nodes (SIGTERM, SIGKILL after 10 s) and the etcd members; keep the data."""
    try:
        stopped = LocalCluster.open(directory).down()
    except ClusterError as exc:
        fail(str(exc))
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
