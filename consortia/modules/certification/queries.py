"""Read-only views of the registry over committed state (or any Reader).

Statuses shown are effective at the time asked for: an issued certificate past its term is
expired whatever its stored status, so callers pass the time (usually the head block's).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import msgspec

from consortia.ledger.state import Reader
from consortia.modules.certification.logic import certificate_of, effective_status
from consortia.modules.certification.types import (
    BY_EXPIRY_PREFIX,
    CERTIFICATE_PREFIX,
    EXPIRED,
    EXPIRY_DIGITS,
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
    by_status_key,
    by_type_key,
    by_vendor_key,
    certificate_key,
    device_key_of,
    expiry_prefix,
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


def matches(cert: Certificate, time_ms: int, *, vendor: str | None = None,
            product_type: str | None = None, status: str | None = None,
            expires_from_ms: int | None = None, expires_to_ms: int | None = None) -> bool:
    """Whether ``cert`` passes every filter given (``search``'s rule, one certificate)."""
    if vendor is not None and cert.vendor != vendor:
        return False
    if product_type is not None and cert.product_type != product_type:
        return False
    if status is not None and effective_status(cert, time_ms) != status:
        return False
    if expires_from_ms is not None and (not cert.expires_ms or cert.expires_ms < expires_from_ms):
        return False
    return expires_to_ms is None or (bool(cert.expires_ms) and cert.expires_ms < expires_to_ms)


# Index keys read per call while a search walks an index for a page of matches.
WALK_CHUNK = 256
# Relative costs that choose the index driving a search (measured on CPython 3.11: stepping
# through an index with O(1) membership checks ~0.5 us, decoding a certificate ~3 us,
# collecting and sorting the ids of an expiry window ~1 us each).
DECODE_COST = 6
WINDOW_ID_COST = 2


class _IdIndex(NamedTuple):
    """A filter's candidates: index prefixes listing certificate ids, in id order."""

    prefixes: tuple[str, ...]
    size: int
    has: Callable[[str], bool]  # O(1): is this certificate id a candidate?


def _id_index(source: Reader, prefixes: tuple[str, ...]) -> _IdIndex:
    return _IdIndex(prefixes, sum(source.count(p) for p in prefixes),
                    lambda cert_id: any(source.has(p + cert_id) for p in prefixes))


def _walk(source: Reader, prefix: str, after: str) -> Iterator[str]:
    """The certificate ids under index ``prefix`` after ``after``, in id order, read a chunk
    at a time (a page of matches usually needs only the first chunk)."""
    start = prefix + after + "\x00" if after else prefix  # the least key above prefix+after
    while True:
        keys = source.keys(prefix, start=start, limit=WALK_CHUNK)
        for key in keys:
            yield key[len(prefix):]
        if len(keys) < WALK_CHUNK:
            return
        start = keys[-1] + "\x00"


def _stored(status: str | None, time_ms: int, low: int | None, high: int | None,
            ) -> tuple[tuple[str, ...], int | None, int | None]:
    """An effective status as stored statuses plus an expiry window ``[low, high)``: an issued
    certificate is expired from its expires_ms on, whatever its stored status."""
    if status == EXPIRED:
        return ISSUED, low, time_ms + 1 if high is None else min(high, time_ms + 1)
    if status in ISSUED:
        return (status,), time_ms + 1 if low is None else max(low, time_ms + 1), high
    return ((status,) if status is not None else ()), low, high


def search(source: Reader, time_ms: int, *, vendor: str | None = None,
           product_type: str | None = None, status: str | None = None,
           expires_from_ms: int | None = None, expires_to_ms: int | None = None,
           after: str = "", limit: int = SEARCH_LIMIT_MAX) -> list[Certificate]:
    """Certificates matching every filter given, in id order after ``after`` (a cursor: the
    last id of the previous page); ``status`` is matched against the effective status at
    ``time_ms``; the expiry window is ``expires_from_ms <= expires_ms < expires_to_ms``.

    Answered from the registry indexes (types.BY_VENDOR_PREFIX and the next): the index
    expected to need the fewest reads drives the search, the other filters are checked per
    certificate, and every certificate returned passes ``matches``, so an index only ever
    narrows what is read, never what is found. An expiry window that drives a search is read
    whole and sorted by id, so results and cursors are the same whichever index drives.
    """
    limit = max(0, min(limit, SEARCH_LIMIT_MAX))
    total = source.count(CERTIFICATE_PREFIX)
    if limit == 0 or total == 0:
        return []
    statuses, low, high = _stored(status, time_ms, expires_from_ms, expires_to_ms)
    indexes = [_id_index(source, prefixes) for prefixes in (
        (by_vendor_key(vendor, ""),) if vendor is not None else (),
        (by_type_key(product_type, ""),) if product_type is not None else (),
        tuple(by_status_key(s, "") for s in statuses)) if prefixes]
    window: tuple[str, str | None] | None = None
    window_size = total
    if low is not None or high is not None:
        low = max(1, low or 0)  # a window leaves out certificates without a term
        high = None if high is not None and high >= 10**EXPIRY_DIGITS else high
        if low >= 10**EXPIRY_DIGITS or (high is not None and high <= low):
            return []
        window = expiry_prefix(low), None if high is None else expiry_prefix(high)
        window_size = source.count(BY_EXPIRY_PREFIX, start=window[0], stop=window[1])
    if window_size == 0 or any(index.size == 0 for index in indexes):
        return []

    def found_by(ids: Iterable[str], checks: list[Callable[[str], bool]]) -> list[Certificate]:
        found: list[Certificate] = []
        for cert_id in ids:
            if not all(check(cert_id) for check in checks):
                continue
            cert = source.get(certificate_key(cert_id), Certificate)
            assert cert is not None, cert_id
            if matches(cert, time_ms, vendor=vendor, product_type=product_type, status=status,
                       expires_from_ms=expires_from_ms, expires_to_ms=expires_to_ms):
                found.append(cert)
                if len(found) >= limit:
                    break
        return found

    if not indexes:
        indexes = [_IdIndex((CERTIFICATE_PREFIX,), total, lambda _id: True)]
    # Expected cost to fill a page when each index drives, taking the filters as independent:
    # it steps through ids until ``limit`` pass every filter, decoding those that pass its
    # O(1) checks when the window (known only from the record) must still be checked.
    window_share = window_size / total
    best, best_cost = indexes[0], float("inf")
    for index in indexes:
        checked_share = 1.0
        for other in indexes:
            if other is not index:
                checked_share *= other.size / total
        steps = min(index.size, limit / (checked_share * window_share))
        cost = steps * (1 + DECODE_COST * checked_share) if window else steps
        if cost < best_cost:
            best, best_cost = index, cost
    if window is not None and window_size * WINDOW_ID_COST < best_cost:
        keys = source.keys(BY_EXPIRY_PREFIX, start=window[0], stop=window[1])
        ids = sorted(cert_id for cert_id in (key[key.rfind("/") + 1:] for key in keys)
                     if cert_id > after)
        return found_by(ids, [index.has for index in indexes])
    walks = [_walk(source, prefix, after) for prefix in best.prefixes]
    # A certificate has one stored status, so merged status indexes never repeat an id.
    return found_by(walks[0] if len(walks) == 1 else heapq.merge(*walks),
                    [index.has for index in indexes if index is not best])


def history(source: Reader, ref: str, limit: int = HISTORY_LIMIT_MAX) -> list[Transition]:
    """The certificate's status changes, oldest first (empty if unknown)."""
    cert = certificate_of(source, ref)
    return [] if cert is None else transitions(source, cert.id, limit)


def transitions(source: Reader, cert_id: str, limit: int = HISTORY_LIMIT_MAX,
                ) -> list[Transition]:
    """The status changes of the certificate with id ``cert_id``, oldest first."""
    out = []
    for key in source.keys(f"certification/history/{cert_id}/",
                           limit=max(0, min(limit, HISTORY_LIMIT_MAX))):
        change = source.get(key, Transition)
        assert change is not None, key
        out.append(change)
    return out


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
    for key in source.keys(f"certification/cert_device/{number}/", limit=limit):
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
