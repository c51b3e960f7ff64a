"""``consortia cfp``: read the public certification registry.

``valid-at`` answers "was this certificate valid at time T?" and checks the proof: the receipt
of the transition in effect at T, verified against the node key the node publishes at
/v1/chain. It exits 0 when the certificate was valid, 1 when it was not or on any error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from consortia.cli.common import UrlOption, call_node, fail, print_json
from consortia.crypto.keys import parse_public_key
from consortia.ledger.receipts import verify_receipt
from consortia.modules.certification.feed import FeedError, verify_feed
from consortia.sdk.client import Client

app = typer.Typer(no_args_is_help=True,
                  help="Certification of Fintech Products: catalogue, certificates, validity "
                  "at a time with its proof.")
T = TypeVar("T")
PREFIX = "/v1/certification"
TIME_MAX = 2**63 - 1


def _call(url: str, fn: Callable[[Client], T]) -> T:
    """Run ``fn`` with a client; one line on stderr on failure."""
    try:
        return call_node(url, fn)
    except FeedError as exc:
        fail(f"feed does not verify: {exc}")


@app.command()
def types(url: str = UrlOption) -> None:
    """List the catalogue's product types."""
    found = _call(url, lambda c: c.get(f"{PREFIX}/product-types")["product_types"])
    table = Table("code", "name", "catalogue", "standards", "test items")
    for t in found:
        table.add_row(t["code"], t["name_en"], t["catalogue"], ", ".join(t["standards"]),
                      str(len(t["test_items"])))
    Console(width=160).print(table)


@app.command()
def search(vendor: str | None = typer.Option(None, "--vendor", help="vendor id"),
           product_type: str | None = typer.Option(None, "--type", help="product type code"),
           status: str | None = typer.Option(None, "--status", help="effective status, e.g. "
                                             "valid, suspended, expired"),
           limit: int = typer.Option(50, min=1, help="certificates (the node caps a page)"),
           url: str = UrlOption) -> None:
    """Search certificates (status effective at the latest block's time)."""
    found = _call(url, lambda c: c.get(f"{PREFIX}/certificates", vendor=vendor,
                                       product_type=product_type, status=status,
                                       limit=limit))
    table = Table("number", "status", "vendor", "type", "product", "model", "versions",
                  "expires (ms)")
    for cert in found["certificates"]:
        table.add_row(cert["number"] or cert["id"][:16] + "…", cert["status"], cert["vendor"],
                      cert["product_type"], cert["product_name"], cert["model"],
                      ", ".join(cert["versions"]), str(cert["expires_ms"] or ""))
    Console(width=160).print(table)


@app.command()
def show(number: str, url: str = UrlOption) -> None:
    """One certificate with its effective status and history (JSON)."""
    print_json(_call(url, lambda c: c.get(f"{PREFIX}/certificates/{number}")))


def _checked_valid_at(client: Client, number: str, time_ms: int) -> dict[str, Any]:
    """The node's answer, its receipt verified against the key the node publishes."""
    answer: dict[str, Any] = client.get(f"{PREFIX}/certificates/{number}/valid-at",
                                        time_ms=time_ms)
    transition, receipt = answer.get("transition"), answer.get("receipt")
    if transition is None:
        return answer
    if receipt is None:
        fail(f"no receipt for the transition in effect at {time_ms}")
    if receipt.get("tx_id") != transition.get("tx_id"):
        fail("the receipt is not the transition's tx")
    verify_receipt(receipt, bytes.fromhex(client.info()["node_key"]))
    if receipt["result"].get("status") != "accepted":
        fail(f"the transition's tx {transition['tx_id']} was not accepted")
    return answer


@app.command("valid-at")
def valid_at(number: str, time_text: str = typer.Argument(..., metavar="TIME_MS",
                                                          help="milliseconds since the epoch"),
             url: str = UrlOption) -> None:
    """Was NUMBER valid at TIME_MS? Verifies the proof; exit 0 when valid, 1 when not."""
    if not time_text.isdigit() or int(time_text) > TIME_MAX:
        fail("bad_time: TIME_MS is milliseconds since the epoch (a non-negative integer)")
    time_ms = int(time_text)
    answer = _call(url, lambda c: _checked_valid_at(c, number, time_ms))
    status = answer["status"] or "not yet applied"
    transition = answer["transition"]
    since = "" if transition is None else (f" since {transition['time_ms']} "
                                           f"({transition['action']}, tx {transition['tx_id']}"
                                           ", receipt verified)")
    if answer["valid"]:
        print(f"valid: {answer['number']} at {time_ms}: {status}{since}")
        return
    print(f"not valid: {answer['number']} at {time_ms}: {status}{since}")
    raise typer.Exit(1)


def _node_key(text: str) -> bytes:
    try:
        return parse_public_key(text)
    except ValueError as exc:
        fail(f"bad_node_key: {exc}")


def _print_verified(body: dict[str, Any], source: str) -> None:
    feed = body["feed"]
    print(f"serial {feed['serial']}")
    print(f"entries {len(feed['entries'])}")
    print(f"verified (node key {source})")


@app.command()
def feed(url: str = UrlOption,
         out: Path | None = typer.Option(None, "--out", help="save the signed feed (JSON)"),
         node_key: str | None = typer.Option(None, "--node-key", help="the node's public key "
                                             "(hex); by default the key /v1/chain publishes"),
         ) -> None:
    """Fetch the signed registry feed, verify its signature, print serial and entry count."""
    expected = None if node_key is None else _node_key(node_key)

    def fetch(client: Client) -> tuple[dict[str, Any], str]:
        body: dict[str, Any] = client.get(f"{PREFIX}/feed")
        if expected is not None:
            verify_feed(body, expected)
            return body, f"{node_key} given with --node-key"
        published = str(client.info()["node_key"])
        verify_feed(body, _node_key(published))
        return body, f"{published} from {url}/v1/chain"

    body, source = _call(url, fetch)
    if out is not None:
        try:
            out.write_text(json.dumps(body, ensure_ascii=False) + "\n")
        except OSError as exc:
            fail(f"cannot write {out}: {exc.__class__.__name__}")
    _print_verified(body, source)


@app.command("verify-feed")
def verify_feed_file(file: Path = typer.Argument(..., help="a feed saved by `cfp feed --out`"),
                     node_key: str = typer.Option(..., "--node-key",
                                                  help="the node's public key (hex)"),
                     ) -> None:
    """Verify a saved feed offline against NODE_KEY; exit 0 when valid, 1 otherwise."""
    key = _node_key(node_key)
    try:
        body = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        fail(f"cannot read feed {file}: {exc.__class__.__name__}")
    try:
        verify_feed(body, key)
    except FeedError as exc:
        fail(f"feed does not verify: {exc}")
    _print_verified(body, f"{node_key} given with --node-key")
