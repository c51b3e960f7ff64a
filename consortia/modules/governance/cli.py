"""``consortia gov``: read the consortium, propose, vote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from consortia.cli.common import UrlOption, call_node, fail, load_key, print_json

app = typer.Typer(no_args_is_help=True, help="Governance: members, proposals, ballots.")
KeyOption = typer.Option(..., "--key", help="the member's key file")


def _call(url: str, fn: Any) -> Any:
    return call_node(url, fn)


@app.command()
def members(url: str = UrlOption) -> None:
    """List the members."""
    body = _call(url, lambda c: c.get("/v1/governance/members"))
    table = Table("id", "name", "role", "status", "key")
    for m in body["members"]:
        table.add_row(m["id"], m["name"], m["role"], m["status"], m["key"][:16] + "…")
    Console().print(table)


@app.command()
def proposals(url: str = UrlOption, status: str | None = None) -> None:
    """List proposals, newest first."""
    params = {} if status is None else {"status": status}
    body = _call(url, lambda c: c.get("/v1/governance/proposals", **params))
    table = Table("id", "action", "status", "yes", "no", "note")
    for p in body["proposals"]:
        yes = sum(1 for v in p["ballots"].values() if v)
        table.add_row(p["id"][:12], p["action"]["type"], p["status"], str(yes),
                      str(len(p["ballots"]) - yes), p["note"][:40])
    Console().print(table)


@app.command()
def propose(action: str = typer.Argument(..., help='action as JSON, e.g. {"type": '
                                         '"set_parameter", "name": "regulator_veto", '
                                         '"value": true}'),
            key: Path = KeyOption, note: str = "", url: str = UrlOption) -> None:
    """Propose an action; prints the proposal id."""
    try:
        parsed = json.loads(action)
    except json.JSONDecodeError:
        fail("action is not JSON")
    signer = load_key(key)
    result, _ = _call(url, lambda c: c.send(signer, "governance.propose",
                                            {"action": parsed, "note": note}))
    if result["status"] != "accepted":
        fail(f"{result['code']}: {result['message']}")
    print(result["data"]["proposal_id"])


@app.command()
def vote(proposal_id: str, approve: bool = typer.Option(..., "--yes/--no"),
         key: Path = KeyOption, url: str = UrlOption) -> None:
    """Vote on an open proposal; prints the tally."""
    signer = load_key(key)
    result, _ = _call(url, lambda c: c.send(signer, "governance.vote",
                                            {"proposal_id": proposal_id, "approve": approve}))
    if result["status"] != "accepted":
        fail(f"{result['code']}: {result['message']}")
    print_json(result["data"])
