"""``consortia currency``: read currencies, supply, wallets and statements; issue, open wallets,
distribute, collect, transfer (by the owner key or a bound certified device), freeze, bind and
unbind devices.

Reads of a wallet are signed with ``--key`` (its owner, its operator bank or the regulator).
Before a tx is sent, its amount is checked against the currency's exponent and the wallet is
read with the signing key, so a typo or a wrong key fails here, with nothing recorded.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from consortia.cli.common import UrlOption, call_node, fail, load_key, print_json
from consortia.crypto.keys import SigningKey
from consortia.modules.currency.amounts import AmountError, parse_amount
from consortia.modules.currency.types import FREEZE_REASONS
from consortia.sdk.client import Client

app = typer.Typer(no_args_is_help=True,
                  help="Digital currency: supply, wallets, statements, issuance, transfers.")
KeyOption = typer.Option(..., "--key", help="the signer's key file")
ReadKeyOption = typer.Option(..., "--key", help="key file of the wallet's owner, its operator "
                             "bank or the regulator")
T = TypeVar("T")


def _call(url: str, key: SigningKey | None, fn: Callable[[Client], T]) -> T:
    """Run ``fn`` with a client (signing GETs as ``key``); one line on stderr on failure."""
    return call_node(url, fn, key)


def _check_amount(amount: str, exponent: int) -> None:
    try:
        parse_amount(amount, exponent)
    except AmountError as exc:
        fail(f"bad_amount: {exc}")


def _send(client: Client, key: SigningKey, action: str, payload: dict[str, Any]) -> None:
    """Send ``currency.<action>``; print its tx id when accepted, fail with its code if not."""
    result, receipt = client.send(key, f"currency.{action}", payload)
    if result["status"] != "accepted":
        fail(f"rejected: {result['code']}: {result['message']} (tx {receipt['tx_id']})")
    print(receipt["tx_id"])


def _wallet_tx(url: str, key_file: Path, wallet_id: str, amount: str | None, action: str,
               payload: dict[str, Any]) -> None:
    """A tx on a wallet: read it as the signer first (existence, access, amount's decimals)."""
    signer = load_key(key_file)

    def run(client: Client) -> None:
        wallet = client.wallet(wallet_id)
        if amount is not None:
            exponent = client.currency(wallet["currency"])["exponent"]
            _check_amount(amount, exponent)
        _send(client, signer, action, payload)

    _call(url, signer, run)


# -- reads --------------------------------------------------------------------------------------

@app.command()
def currencies(url: str = UrlOption) -> None:
    """List the currencies and their issuing central banks."""
    found = _call(url, None, lambda c: c.currencies())
    table = Table("code", "numeric", "exponent", "issuer", "name")
    for cur in found:
        table.add_row(cur["code"], cur["numeric"], str(cur["exponent"]), cur["issuer"],
                      cur["name"])
    Console().print(table)


@app.command()
def tiers(code: str, url: str = UrlOption) -> None:
    """List a currency's wallet tiers and their limits."""
    found = _call(url, None, lambda c: c.currency(code))
    table = Table("tier", "name", "balance max", "per payment", "daily max")
    for t in found["tiers"]:
        table.add_row(t["tier"], t["name"], t["balance_max"], t["payment_max"], t["daily_max"])
    Console().print(table)


@app.command()
def supply(code: str, url: str = UrlOption) -> None:
    """Issued, redeemed, outstanding, in reserves and in wallets (JSON)."""
    found = _call(url, None, lambda c: c.supply(code))
    print_json({k: v for k, v in found.items() if not k.endswith("_minor")})


@app.command()
def wallet(wallet_id: str, key: Path = ReadKeyOption, url: str = UrlOption) -> None:
    """A wallet's balance, tier, limits and status (JSON)."""
    found = _call(url, load_key(key), lambda c: c.wallet(wallet_id))
    print_json(found)


@app.command()
def statement(wallet_id: str, key: Path = ReadKeyOption, url: str = UrlOption,
              as_csv: bool = typer.Option(False, "--csv", help="print CSV (oldest first)"),
              limit: int = typer.Option(50, min=1, help="entries (the node caps a page)"),
              before_seq: int | None = typer.Option(None, min=0, help="entries before this "
                                                    "sequence number")) -> None:
    """A wallet's statement, newest first, with the tx id of each entry."""
    signer = load_key(key)
    if as_csv:
        text = _call(url, signer, lambda c: c.statement_csv(wallet_id, before_seq=before_seq,
                                                            limit=limit))
        sys.stdout.write(text)
        return
    found = _call(url, signer, lambda c: c.statement(wallet_id, before_seq=before_seq,
                                                     limit=limit))
    table = Table("seq", "kind", "amount", "balance", "counterparty", "memo", "tx",
                  title=f"{found['wallet']} ({found['currency']}) balance {found['balance']}")
    for e in found["entries"]:
        table.add_row(str(e["seq"]), e["kind"], e["amount"], e["balance"], e["counterparty"],
                      e["memo"], e["tx_id"][:16] + "…")
    Console(width=160).print(table)


@app.command()
def mine(key: Path = typer.Option(..., "--key", help="the owner's key file"),
         url: str = UrlOption) -> None:
    """The wallets owned by a key."""
    found = _call(url, load_key(key), lambda c: c.mine())
    table = Table("wallet", "currency", "tier", "balance", "status", "operator")
    for w in found:
        table.add_row(w["id"], w["currency"], w["tier"], w["balance"], w["status"],
                      w["operator"])
    Console().print(table)


# -- central bank -------------------------------------------------------------------------------

def _reserve_tx(action: str, code: str, bank: str, amount: str, key: Path, url: str) -> None:
    signer = load_key(key)

    def run(client: Client) -> None:
        _check_amount(amount, client.currency(code)["exponent"])
        _send(client, signer, action, {"currency": code, "bank": bank, "amount": amount})

    _call(url, signer, run)


@app.command()
def issue(code: str, bank: str, amount: str, key: Path = KeyOption,
          url: str = UrlOption) -> None:
    """Issue AMOUNT of CODE to BANK's reserve (the issuing central bank); prints the tx id."""
    _reserve_tx("issue", code, bank, amount, key, url)


@app.command()
def redeem(code: str, bank: str, amount: str, key: Path = KeyOption,
           url: str = UrlOption) -> None:
    """Redeem AMOUNT of CODE from BANK's reserve (the issuing central bank)."""
    _reserve_tx("redeem", code, bank, amount, key, url)


# -- operator banks -----------------------------------------------------------------------------

@app.command("open-wallet")
def open_wallet(wallet_id: str,
                currency: str = typer.Option(..., "--currency", help="e.g. CNY"),
                owner_key: str = typer.Option(..., "--owner-key", help="the owner's public "
                                              "key (64 hex)"),
                tier: str = typer.Option(..., "--tier", help="a tier of the currency"),
                merchant: bool = typer.Option(False, "--merchant", help="a merchant's wallet"),
                label: str = typer.Option("", "--label", help="e.g. the merchant's name"),
                key: Path = typer.Option(..., "--key", help="the operator bank's key file"),
                url: str = UrlOption) -> None:
    """Open a wallet (an operator bank, after KYC); prints the tx id."""
    signer = load_key(key)
    payload = {"wallet_id": wallet_id, "currency": currency, "owner_key": owner_key,
               "tier": tier, "holder": "merchant" if merchant else "person", "label": label}
    _call(url, signer, lambda c: _send(c, signer, "open_wallet", payload))


@app.command()
def distribute(wallet_id: str, amount: str,
               key: Path = typer.Option(..., "--key", help="the operator bank's key file"),
               url: str = UrlOption) -> None:
    """Move AMOUNT from the operator's reserve into a wallet."""
    _wallet_tx(url, key, wallet_id, amount, "distribute",
               {"wallet_id": wallet_id, "amount": amount})


@app.command()
def collect(wallet_id: str, amount: str,
            key: Path = typer.Option(..., "--key", help="the wallet owner's key file"),
            url: str = UrlOption) -> None:
    """Move AMOUNT from a wallet back to its operator's reserve (the owner)."""
    _wallet_tx(url, key, wallet_id, amount, "collect",
               {"wallet_id": wallet_id, "amount": amount})


def _reason(reason: str) -> str:
    if reason not in FREEZE_REASONS:
        fail(f"bad_reason: reason is one of {', '.join(FREEZE_REASONS)}")
    return reason


ReasonOption = typer.Option(..., "--reason", help=" | ".join(FREEZE_REASONS))


@app.command()
def freeze(wallet_id: str, reason: str = ReasonOption,
           key: Path = typer.Option(..., "--key", help="the operator bank's or the regulator's "
                                    "key file"),
           url: str = UrlOption) -> None:
    """Freeze a wallet: it can no longer send."""
    _wallet_tx(url, key, wallet_id, None, "freeze",
               {"wallet_id": wallet_id, "reason": _reason(reason)})


@app.command()
def unfreeze(wallet_id: str, reason: str = ReasonOption,
             key: Path = typer.Option(..., "--key", help="the operator bank's or the "
                                      "regulator's key file"),
             url: str = UrlOption) -> None:
    """Unfreeze a wallet."""
    _wallet_tx(url, key, wallet_id, None, "unfreeze",
               {"wallet_id": wallet_id, "reason": _reason(reason)})


# -- wallet owners ------------------------------------------------------------------------------

@app.command()
def transfer(from_wallet: str, to_wallet: str, amount: str,
             key: Path = typer.Option(..., "--key", help="the sending wallet owner's key file"),
             memo: str = typer.Option("", "--memo", help="shown to both sides"),
             device: bool = typer.Option(
                 False, "--device", help="KEY is a certified device bound to the wallet: its "
                 "credential is fetched from the registry and attached"),
             url: str = UrlOption) -> None:
    """Pay AMOUNT from FROM to TO; prints the tx id (its receipt: consortia receipt get)."""
    payload = {"from_wallet": from_wallet, "to_wallet": to_wallet, "amount": amount,
               "memo": memo}
    if not device:
        _wallet_tx(url, key, from_wallet, amount, "transfer", payload)
        return
    signer = load_key(key)

    def run(client: Client) -> None:
        credential = client.device_credential(signer.public_key_hex)
        result, receipt = client.send(signer, "currency.transfer", payload, device=credential)
        if result["status"] != "accepted":
            fail(f"rejected: {result['code']}: {result['message']} (tx {receipt['tx_id']})")
        print(receipt["tx_id"])

    _call(url, signer, run)


@app.command("bind-device")
def bind_device(wallet_id: str, device_key: str,
                key: Path = typer.Option(..., "--key", help="the wallet owner's key file"),
                label: str = typer.Option("", "--label", help="e.g. 'phone' or 'till 2'"),
                url: str = UrlOption) -> None:
    """Let a certified device (wallet app, terminal) with public key DEVICE_KEY spend from the
    wallet; its txs carry its credential and stop when its product's certificate does."""
    _wallet_tx(url, key, wallet_id, None, "bind_device",
               {"wallet_id": wallet_id, "device_key": device_key, "label": label})


@app.command("unbind-device")
def unbind_device(wallet_id: str, device_key: str,
                  key: Path = typer.Option(..., "--key",
                                           help="the owner's or the operator bank's key file"),
                  url: str = UrlOption) -> None:
    """The device may no longer spend from the wallet (a lost phone, a retired terminal)."""
    _wallet_tx(url, key, wallet_id, None, "unbind_device",
               {"wallet_id": wallet_id, "device_key": device_key})
