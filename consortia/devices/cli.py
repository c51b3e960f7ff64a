"""``consortia device``: run the reference devices a lab examines, faulty on request.

``terminal`` and ``client-app`` serve on loopback until Ctrl-C; ``--fault F`` switches one
deliberate fault on (repeat), ``--faulty`` the demo preset. ``credential`` signs a device
credential as the vendor, for a terminal started with ``--credential``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import typer

from consortia.cli.common import fail, load_key
from consortia.crypto.keys import SigningKey, parse_public_key

app = typer.Typer(no_args_is_help=True,
                  help="Reference devices for type examination: a barcode terminal and a "
                  "wallet app, with switchable deliberate faults.")

FaultOption = typer.Option([], "--fault", help="switch a deliberate fault on (repeat); see "
                           "docs/conformance.md")
FaultyOption = typer.Option(False, "--faulty", help="the demo's faulty preset")
HostOption = typer.Option("127.0.0.1", "--host", help="address to listen on")
NodeOption = typer.Option(None, "--node", help="node URL the device sends its txs to (the lab "
                          "sets its own with POST /lab/setup)")


def _faults(given: list[str], faulty: bool, known: dict[str, str],
            preset: tuple[str, ...]) -> frozenset[str]:
    chosen = frozenset(given) | (frozenset(preset) if faulty else frozenset())
    unknown = sorted(chosen - known.keys())
    if unknown:
        fail(f"unknown fault {unknown[0]!r}: one of {', '.join(known)}")
    return chosen


def _key(path: Path | None) -> SigningKey:
    """A key file's key (created if missing), or a throwaway key."""
    if path is None:
        return SigningKey.generate()
    if not path.exists():
        try:
            SigningKey.generate().save(path)
        except OSError as exc:
            fail(f"cannot create {path}: {exc.strerror or exc.__class__.__name__}")
    return load_key(path)


def _chain_id(node: str) -> str:
    try:
        response = httpx.get(f"{node.rstrip('/')}/v1/chain", timeout=10)
        response.raise_for_status()
        return str(response.json()["chain_id"])
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        fail(f"cannot read the chain id from {node}: {exc.__class__.__name__}")


def _serve(app_: Any, host: str, port: int, says: str) -> None:
    import uvicorn

    print(f"{says} on http://{host}:{port}  (Ctrl-C stops it)", flush=True)
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@app.command()
def terminal(port: int = typer.Option(8600, help="HTTP port"), host: str = HostOption,
             fault: list[str] = FaultOption, faulty: bool = FaultyOption,
             key: Path | None = typer.Option(None, "--key", help="the device key file "
                                             "(created if missing; default: a throwaway key)"),
             credential: Path | None = typer.Option(None, "--credential", help="the device "
                                                    "credential (JSON, `device credential`)"),
             vendor_key: Path | None = typer.Option(None, "--vendor-key", help="sign a "
                                                    "credential with this vendor key file"),
             product_id: str = typer.Option("prototype", help="the credential's product id "
                                            "(the certificate number once issued)"),
             model: str = typer.Option("BT-100", help="the credential's model"),
             version: str = typer.Option("1.0.0", help="the credential's version"),
             node: str | None = NodeOption) -> None:
    """Run the reference barcode payment terminal."""
    from consortia.devices.common import HostConfig
    from consortia.devices.terminal import FAULTS, FAULTY_PRESET, Terminal, terminal_app
    from consortia.ledger.tx import DeviceCredential
    from consortia.modules.certification.logic import sign_credential

    faults = _faults(fault, faulty, FAULTS, FAULTY_PRESET)
    device = _key(key)
    if credential is not None:
        try:
            cred = msgspec.json.decode(credential.read_bytes(), type=DeviceCredential)
        except (OSError, msgspec.DecodeError) as exc:
            fail(f"cannot read credential {credential}: {exc.__class__.__name__}")
    else:
        vendor = load_key(vendor_key) if vendor_key is not None else SigningKey.generate()
        if vendor_key is None:
            print("note: the credential is signed by a throwaway vendor key (demo only)")
        cred = sign_credential(vendor, device.public_key_hex, product_id, model, version)
    try:
        device_logic = Terminal(device, cred, faults)
    except ValueError as exc:
        fail(str(exc))
    if node is not None:
        device_logic.host = HostConfig(node.rstrip("/"), _chain_id(node), 5_000)
    _serve(terminal_app(device_logic), host, port,
           f"reference barcode terminal (device key {device.public_key_hex[:16]}…, faults: "
           f"{', '.join(sorted(faults)) or 'none'})")


@app.command("client-app")
def client_app(port: int = typer.Option(8601, help="HTTP port"), host: str = HostOption,
               fault: list[str] = FaultOption, faulty: bool = FaultyOption,
               vendor_key: Path | None = typer.Option(None, "--vendor-key", help="the vendor "
                                                      "key file that signs the manifest "
                                                      "(default: a throwaway key)"),
               wallet_key: Path | None = typer.Option(None, "--wallet-key", help="the owner "
                                                      "key file of the wallet it pays from"),
               wallet_id: str = typer.Option("", "--wallet-id", help="the wallet it pays from "
                                             "(with --wallet-key)"),
               node: str | None = NodeOption) -> None:
    """Run the reference wallet app (client software), with the lab's test account."""
    from consortia.devices.client_app import (
        FAULTS,
        FAULTY_PRESET,
        PAYMENT_TIMEOUT_MS,
        default_app,
    )
    from consortia.devices.client_app import client_app as wallet_app
    from consortia.devices.common import HostConfig

    faults = _faults(fault, faulty, FAULTS, FAULTY_PRESET)
    vendor = load_key(vendor_key) if vendor_key is not None else SigningKey.generate()
    logic = default_app(vendor, faults)
    if (wallet_key is None) != (not wallet_id):
        fail("--wallet-key and --wallet-id go together")
    if wallet_key is not None:
        logic.wallet, logic.wallet_id = load_key(wallet_key), wallet_id
    if node is not None:
        logic.host = HostConfig(node.rstrip("/"), _chain_id(node), PAYMENT_TIMEOUT_MS)
    _serve(wallet_app(logic), host, port,
           f"reference wallet app (vendor key {vendor.public_key_hex[:16]}…, faults: "
           f"{', '.join(sorted(faults)) or 'none'})")


@app.command()
def credential(vendor_key: Path = typer.Option(..., "--vendor-key", help="the vendor's key "
                                               "file"),
               device_key: str = typer.Option(..., "--device-key", help="the device's public "
                                              "key (hex)"),
               product_id: str = typer.Option(..., "--product-id", help="the certificate "
                                              "number (or, before issue, the application id)"),
               model: str = typer.Option(..., "--model"),
               version: str = typer.Option(..., "--version"),
               out: Path | None = typer.Option(None, "--out", help="write to this file")) -> None:
    """Sign a device credential as the vendor (JSON)."""
    from consortia.modules.certification.logic import sign_credential

    try:
        parse_public_key(device_key)
    except ValueError as exc:
        fail(f"bad_device_key: {exc}")
    signed = sign_credential(load_key(vendor_key), device_key, product_id, model, version)
    text = json.dumps(msgspec.to_builtins(signed), indent=2)
    if out is None:
        print(text)
        return
    try:
        out.write_text(text + "\n")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc.__class__.__name__}")
