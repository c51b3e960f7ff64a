"""What every CLI command shares: failing with one line, reading keys, printing JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import httpx
import typer

from consortia.crypto.keys import KeyFileError, SigningKey
from consortia.ledger.receipts import ReceiptError
from consortia.sdk.client import Client, ConsortiaError

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8080"
UrlOption = typer.Option(DEFAULT_URL, "--url", envvar="CONSORTIA_URL", help="node URL")


def fail(message: str, code: int = 1) -> NoReturn:
    """Exit non-zero with one line on stderr."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def load_key(path: Path) -> SigningKey:
    try:
        return SigningKey.load(path)
    except KeyFileError as exc:
        fail(str(exc))


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def node_error(exc: ConsortiaError) -> NoReturn:
    fail(f"{exc.code}: {exc.message}")


def call_node(url: str, fn: Callable[[Client], T], key: SigningKey | None = None) -> T:
    """Run ``fn`` with a client of the node at ``url`` (signing reads as ``key``); any failure
    ends the command with one line on stderr."""
    try:
        with Client(url, key) as client:
            return fn(client)
    except ConsortiaError as exc:
        node_error(exc)
    except ReceiptError as exc:
        fail(f"receipt does not verify: {exc}")
    except httpx.HTTPError as exc:
        fail(f"cannot reach {url}: {exc.__class__.__name__}")
