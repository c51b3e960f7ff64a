"""Read-only views of the registry over committed state (or any Reader).

Statuses shown are effective at the time asked for: an issued certificate past its term is
expired whatever its stored status, so callers pass the time (usually the head block's).
"""

from __future__ import annotations

from typing import Any

import msgspec

from consortia.ledger.state import Reader
from consortia.modules.certification.logic import certificate_of, effective_status
from consortia.modules.certification.types import (
    CERTIFICATE_PREFIX,
    EXPIRED,
    ISSUED,
    PRODUCT_TYPE_PREFIX,
    USABLE,
    Certificate,
    Device,
    Inspection,
    Lab,
    ProductType,
    Selection,
    Transition,
    Vendor,
    device_key_of,
    inspection_key,
    lab_key,
    selection_key,
    vendor_key,
)

SEARCH_LIMIT_MAX = 100
HISTORY_LIMIT_MAX = 1_000
DEVICES_LIMIT_MAX = 1_000


def certificate(source: Reader, ref: str) -> Certificate | None:
    """The certificate by number (``CFP-…``) or application id."""
    return certificate_of(source, ref)


def view(cert: Certificate, time_ms: int) -> dict[str, Any]:
    """A certificate as JSON-ready data with its effective status at ``time_ms``."""
    out: dict[str, Any] = msgspec.to_builtins(cert)
    out["stored_status"] = cert.status
    out["status"] = effective_status(cert, time_ms)
    return out


def search(source: Reader, time_ms: int, *, vendor: str | None = None,
           product_type: str | None = None, status: str | None = None,
           expires_from_ms: int | None = None, expires_to_ms: int | None = None,
           after: str = "", limit: int = SEARCH_LIMIT_MAX) -> list[Certificate]:
    """Certificates matching every filter given, in id order after ``after`` (a cursor: the
    last id of the previous page); ``status`` is matched against the effective status at
    ``time_ms``; the expiry window is ``expires_from_ms <= expires_ms < expires_to_ms``."""
    limit = max(0, min(limit, SEARCH_LIMIT_MAX))
    found: list[Certificate] = []
    for key in source.keys(CERTIFICATE_PREFIX):
        if len(found) >= limit:
            break
        if after and key <= CERTIFICATE_PREFIX + after:
            continue
        cert = source.get(key, Certificate)
        assert cert is not None, key
        if vendor is not None and cert.vendor != vendor:
            continue
        if product_type is not None and cert.product_type != product_type:
            continue
        if status is not None and effective_status(cert, time_ms) != status:
            continue
        if expires_from_ms is not None and (not cert.expires_ms
                                            or cert.expires_ms < expires_from_ms):
            continue
        if expires_to_ms is not None and (not cert.expires_ms
                                          or cert.expires_ms >= expires_to_ms):
            continue
        found.append(cert)
    return found


def history(source: Reader, ref: str, limit: int = HISTORY_LIMIT_MAX) -> list[Transition]:
    """The certificate's status changes, oldest first (empty if unknown)."""
    cert = certificate_of(source, ref)
    if cert is None:
        return []
    return source.records(f"certification/history/{cert.id}/",
                          Transition)[:max(0, min(limit, HISTORY_LIMIT_MAX))]


def status_at(source: Reader, ref: str, time_ms: int) -> str | None:
    """The effective status at ``time_ms`` from the recorded history: the last change at or
    before ``time_ms`` (a change takes effect at its block's time), then expiry by the term
    that change left. None before the application or for an unknown certificate."""
    current: Transition | None = None
    for change in history(source, ref):
        if change.time_ms > time_ms:
            break
        current = change
    if current is None:
        return None
    if current.to in ISSUED and current.expires_ms and time_ms >= current.expires_ms:
        return EXPIRED
    return current.to


def valid_at(source: Reader, number: str, time_ms: int) -> bool:
    """Was certificate ``number`` valid (usable) at ``time_ms``? Answered from the history."""
    return status_at(source, number, time_ms) in USABLE


def devices(source: Reader, number: str, limit: int = DEVICES_LIMIT_MAX) -> list[Device]:
    """Devices registered under certificate ``number``, in device key order."""
    limit = max(0, min(limit, DEVICES_LIMIT_MAX))
    out = []
    for key in source.keys(f"certification/cert_device/{number}/")[:limit]:
        device_key = source.get(key, str)
        assert device_key is not None, key
        device = source.get(device_key_of(device_key), Device)
        assert device is not None, device_key
        out.append(device)
    return out


def device(source: Reader, device_key: str) -> Device | None:
    return source.get(device_key_of(device_key), Device)


def product_types(source: Reader) -> list[ProductType]:
    """The catalogue, in code order."""
    return source.records(PRODUCT_TYPE_PREFIX, ProductType)


def vendor(source: Reader, vendor_id: str) -> Vendor | None:
    return source.get(vendor_key(vendor_id), Vendor)


def lab(source: Reader, lab_id: str) -> Lab | None:
    return source.get(lab_key(lab_id), Lab)


def selection(source: Reader, selection_id: str) -> Selection | None:
    return source.get(selection_key(selection_id), Selection)


def inspection(source: Reader, inspection_id: str) -> Inspection | None:
    return source.get(inspection_key(inspection_id), Inspection)
