"""What every CLI command shares: failing with one line, reading keys, printing JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer

from consortia.crypto.keys import KeyFileError, SigningKey
from consortia.sdk.client import ConsortiaError

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
