"""Reference devices on loopback ports, as the lab meets them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from consortia.crypto.keys import SigningKey
from consortia.devices.client_app import client_app, default_app
from consortia.devices.common import serving
from consortia.devices.terminal import Terminal, terminal_app
from consortia.modules.certification.logic import sign_credential


@dataclass(frozen=True)
class Prototype:
    url: str
    vendor: SigningKey  # signs the terminal's credential or the app's manifest


def item_of(fault_description: str) -> str:
    """The item a fault breaks: FAULTS values start with it ("BT-05: …")."""
    return fault_description.split(":", 1)[0]


@contextmanager
def terminal_at(faults: tuple[str, ...] = (), vendor: SigningKey | None = None,
                product_id: str = "prototype") -> Iterator[Prototype]:
    vendor = vendor or SigningKey.generate()
    device = SigningKey.generate()
    credential = sign_credential(vendor, device.public_key_hex, product_id, "BT-100", "1.0.0")
    with serving(terminal_app(Terminal(device, credential, frozenset(faults)))) as url:
        yield Prototype(url, vendor)


@contextmanager
def client_app_at(faults: tuple[str, ...] = ()) -> Iterator[Prototype]:
    vendor = SigningKey.generate()
    with serving(client_app(default_app(vendor, frozenset(faults)))) as url:
        yield Prototype(url, vendor)
