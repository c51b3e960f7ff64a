"""Records, payloads, statuses and state keys of the certification module (CFP).

A certificate is one record from application to its end: its id is the tx id of the
application; the certificate number ``CFP-<yyyy>-<seq>`` is assigned when it is issued, and
every action accepts either. Each status change is also appended to the certificate's history.
"""

from __future__ import annotations

import msgspec

DAY_MS = 86_400_000
TERM_MS = 1095 * DAY_MS  # a certificate's term: 3 years of 365 days

# -- statuses -----------------------------------------------------------------------------------

SUBMITTED = "submitted"
ACCEPTED = "accepted"
REJECTED = "rejected"
TESTING = "testing"
TEST_PASSED = "test_passed"
TEST_FAILED = "test_failed"
ONSITE_PASSED = "onsite_passed"
ONSITE_FAILED = "onsite_failed"
VALID = "valid"
REFUSED = "refused"
SUSPENDED = "suspended"
REVOKED = "revoked"
CHANGE_PENDING = "change_pending"
RENEWAL_REVIEW = "renewal_review"
CANCELLED = "cancelled"
EXPIRED = "expired"  # never stored: computed from block time (see logic.effective_status)

STATUSES = (SUBMITTED, ACCEPTED, REJECTED, TESTING, TEST_PASSED, TEST_FAILED, ONSITE_PASSED,
            ONSITE_FAILED, VALID, REFUSED, SUSPENDED, REVOKED, CHANGE_PENDING, RENEWAL_REVIEW,
            CANCELLED, EXPIRED)
# A certificate in these statuses is usable: its products may be used and its devices admitted.
USABLE = (VALID, CHANGE_PENDING, RENEWAL_REVIEW)
# Statuses of an issued certificate that time can end.
ISSUED = (*USABLE, SUSPENDED)
FINAL = (REJECTED, REFUSED, REVOKED, CANCELLED, EXPIRED)

# Who makes a transition.
VENDOR = "vendor"  # the applicant, later the holder
BODY = "body"  # the certification body the application names
LAB = "lab"  # the accredited test lab the body assigned
HOLDER_OR_BODY = "holder_or_body"

STAGES = ("design", "components", "manufacturing", "factory_test", "warehouse", "in_service")
OUTCOMES = ("pass", "minor", "major")
SERIOUS_DEFECT = "serious_defect"
CERTIFICATION_MODEL = "type_testing+onsite_check+surveillance"

TEXT_CHARS_MAX = 200
LIST_ITEMS_MAX = 32  # standards, scopes, versions, test items per product type
INSPECTIONS_MAX = 100  # certificates one selection may choose
RISK_WEIGHT_MAX = 10

PREFIX = "certification/"
CERTIFICATE_PREFIX = "certification/certificate/"
PRODUCT_TYPE_PREFIX = "certification/product_type/"


def product_type_key(code: str) -> str:
    return f"certification/product_type/{code}"


def vendor_key(vendor_id: str) -> str:
    return f"certification/vendor/{vendor_id}"


def vendor_by_key_key(key_hex: str) -> str:
    return f"certification/vendor_key/{key_hex}"


def lab_key(lab_id: str) -> str:
    return f"certification/lab/{lab_id}"


def lab_by_key_key(key_hex: str) -> str:
    return f"certification/lab_key/{key_hex}"


def certificate_key(cert_id: str) -> str:
    return f"certification/certificate/{cert_id}"


def number_key(number: str) -> str:
    """Certificate number -> certificate id."""
    return f"certification/number/{number}"


def by_body_key(body: str, number: str) -> str:
    """Issued certificates of a body, in number order: the candidates of its inspections."""
    return f"certification/by_body/{body}/{number}"


# Registry search indexes, one empty-valued key per certificate (the key is the data), kept by
# logic._put_certificate whenever a certificate is written: they are ledger state, so every
# node answers a search from the same indexes. Each lists certificate ids in id order, except
# by_expiry, which is ordered by expiry then id.
BY_VENDOR_PREFIX = "certification/by_vendor/"
BY_TYPE_PREFIX = "certification/by_type/"
BY_STATUS_PREFIX = "certification/by_status/"
BY_EXPIRY_PREFIX = "certification/by_expiry/"
EXPIRY_DIGITS = 19  # every signed 64-bit time in ms, zero-padded, so keys sort as numbers
# Status transitions recorded across all certificates: the feed's serial, read in O(1).
FEED_SERIAL_KEY = "certification/feed_serial"


def by_vendor_key(vendor: str, cert_id: str) -> str:
    return f"{BY_VENDOR_PREFIX}{vendor}/{cert_id}"


def by_type_key(product_type: str, cert_id: str) -> str:
    return f"{BY_TYPE_PREFIX}{product_type}/{cert_id}"


def by_status_key(status: str, cert_id: str) -> str:
    """By stored status: an issued certificate past its term is still under its stored one."""
    return f"{BY_STATUS_PREFIX}{status}/{cert_id}"


def expiry_prefix(expires_ms: int) -> str:
    """The by_expiry keys of certificates expiring at ``expires_ms``; those of a window
    ``[a, b)`` are the keys from ``expiry_prefix(a)`` up to ``expiry_prefix(b)``."""
    assert 0 <= expires_ms < 10**EXPIRY_DIGITS, expires_ms
    return f"{BY_EXPIRY_PREFIX}{expires_ms:0{EXPIRY_DIGITS}d}/"


def by_expiry_key(expires_ms: int, cert_id: str) -> str:
    return expiry_prefix(expires_ms) + cert_id


def sequence_key(year: int) -> str:
    return f"certification/sequence/{year}"


def history_key(cert_id: str, seq: int) -> str:
    return f"certification/history/{cert_id}/{seq:06d}"


def device_key_of(device_key: str) -> str:
    return f"certification/device/{device_key}"


def certificate_device_key(number: str, device_key: str) -> str:
    return f"certification/cert_device/{number}/{device_key}"


def selection_key(selection_id: str) -> str:
    return f"certification/selection/{selection_id}"


def inspection_key(inspection_id: str) -> str:
    return f"certification/inspection/{inspection_id}"


# -- records ------------------------------------------------------------------------------------

class ExamItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str  # e.g. "BT-01"
    title: str


class ProductType(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: str  # e.g. "POS"
    name_zh: str
    name_en: str
    standards: list[str]
    test_items: list[ExamItem]
    catalogue: str  # "2019", "2022", ...
    added_ms: int


class Vendor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    legal_name: str
    address: str
    key: str  # the key that applied; it signs the vendor's txs and device credentials
    registered_ms: int


class Lab(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    name: str
    key: str
    accredited_ms: int


class ItemResult(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    item: str
    passed: bool
    note: str = ""


class Certificate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An application and, once issued, its certificate."""

    id: str  # tx id of the application (hex)
    status: str  # stored status; see logic.effective_status for what it means at a time
    body: str  # member id of the certification body; the issuing body
    vendor: str  # vendor id of the applicant and holder
    holder_name: str
    holder_address: str
    product_type: str
    product_name: str
    model: str
    versions: list[str]  # certified versions, oldest first; the last is the current one
    manufacturer: str
    factory: str
    scope: str
    standards: list[str]
    certification_model: str
    applied_ms: int
    updated_ms: int
    history_count: int
    number: str = ""  # CFP-<yyyy>-<seq>, once issued
    lab: str = ""
    test_report: list[ItemResult] = []
    test_report_tx: str = ""
    issued_ms: int = 0  # first issue
    term_start_ms: int = 0  # start of the current term (a renewal starts a new one)
    expires_ms: int = 0
    correction_deadline_ms: int = 0  # while suspended
    pending_version: str = ""  # while change_pending
    pending_scope: str = ""


class Transition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One entry of a certificate's history."""

    from_: str = msgspec.field(name="from")
    to: str = ""
    by: str = ""  # the signer's key (hex), or "governance"
    time_ms: int = 0
    reason: str = ""
    evidence: str = ""  # SHA-256 (hex) of the document behind the change
    tx_id: str = ""
    action: str = ""
    expires_ms: int = 0  # the term's end after this change (0 before issue)


class Device(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    device_key: str
    certificate: str  # the certificate number
    model: str
    version: str
    vendor: str
    registered_ms: int
    # The vendor's credential signature (logic.credential_message), when the registration
    # carried it: the device then fetches its whole credential from the registry.
    credential_signature: str = ""


class Selection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A random-inspection draw: enough to recompute it (see logic.rank_for_inspection)."""

    id: str  # tx id (hex)
    body: str
    stage: str
    seed_height: int
    seed: str  # hash of block seed_height (hex)
    count: int
    candidates: list[str]  # certificate numbers that were usable, in number order
    risk_weights: dict[str, int]
    selected: list[str]
    time_ms: int


class Inspection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str  # <selection id>-<index>
    selection: str
    certificate: str  # number
    stage: str
    body: str
    selected_ms: int
    outcome: str = ""  # "", pass, minor, major
    deadline_ms: int = 0
    evidence: str = ""
    result_ms: int = 0


# -- payloads -----------------------------------------------------------------------------------

class AddProductType(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Governance only (a proposal of type invoke): extend the catalogue."""

    code: str
    name_zh: str
    name_en: str
    standards: list[str]
    test_items: list[ExamItem]
    catalogue: str


class AccreditLab(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Governance only."""

    id: str
    name: str
    key: str


class RegisterVendor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    legal_name: str
    address: str


class Apply(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A registered vendor applies to a certification body."""

    body: str
    product_type: str
    product_name: str
    model: str
    version: str
    manufacturer: str
    factory: str
    scope: str
    standards: list[str]
    evidence: str
    reason: str = "application"


class Step(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A transition that needs nothing but its reason and evidence (accept, reject, ...)."""

    certificate: str  # id or number
    reason: str
    evidence: str


class AssignLab(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    certificate: str
    lab: str
    reason: str
    evidence: str


class LabReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    certificate: str
    results: list[ItemResult]
    evidence: str
    reason: str = "type_testing"


class OnsiteCheck(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    certificate: str
    passed: bool
    reason: str
    evidence: str


class Decide(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    certificate: str
    issue: bool
    reason: str
    evidence: str


class Suspend(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    certificate: str
    correction_deadline_ms: int
    reason: str
    evidence: str


class RequestChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    certificate: str
    reason: str
    evidence: str
    version: str = ""
    scope: str = ""


class RegisterDevice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    device_key: str
    certificate: str  # number
    model: str
    version: str
    # Optional: the device credential's signature by the holder's vendor key, checked and
    # published so the device can fetch its credential (GET /v1/certification/devices/{key}).
    signature: str = ""


class SelectInspections(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    count: int
    stage: str
    seed_height: int
    risk_weights: dict[str, int] = {}


class InspectionResult(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    inspection: str
    outcome: str
    evidence: str
    deadline_ms: int = 0
    reason: str = ""


# -- the mark and its uses ----------------------------------------------------------------------
# The certification body signs the mark of a certificate it issued (see mark.py); the holder
# declares where it uses the mark; anyone may report a misuse, which opens an inspection.

MARK_USES_MAX = 100  # declared uses per certificate
MISUSE_REPORTS_MAX = 1_000  # misuse reports per certificate (each opens an inspection)


def mark_key(number: str) -> str:
    return f"certification/mark/{number}"


def mark_signature_key(number: str, signature: str) -> str:
    """Every mark signature the body ever published for ``number`` -> the publishing tx id, so
    a replaced mark is told apart from one the body signed but never published."""
    return f"certification/mark_signature/{number}/{signature}"


def mark_use_key(number: str, use_id: str) -> str:
    return f"certification/mark_use/{number}/{use_id}"


def misuse_key(number: str, report_id: str) -> str:
    return f"certification/mark_misuse/{number}/{report_id}"


class Mark(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The mark the issuing body published for a certificate; a new one replaces it."""

    number: str
    body: str  # member id of the issuing body
    body_key: str  # the member key that signed (hex)
    signature: str  # hex Ed25519 over mark.mark_message(number, vendor, body_key)
    published_ms: int
    tx_id: str


class MarkUse(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the holder says it uses the mark."""

    id: str  # tx id of the declaration (hex)
    certificate: str  # number
    vendor: str
    context: str  # one of the parameter cfp_mark_contexts when declared
    description: str
    declared_ms: int


class MisuseReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A reported misuse of the mark and the in-service inspection it opened."""

    id: str  # tx id of the report (hex)
    certificate: str  # number
    reporter: str  # the signer's key (hex)
    context: str  # where the mark was seen (params.MARK_CONTEXTS)
    description: str
    evidence: str  # SHA-256 (hex) of the evidence behind the report
    reported_ms: int
    inspection: str  # id of the inspection it opened


class PublishMark(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The issuing body publishes the certificate's mark."""

    certificate: str  # number
    signature: str  # hex Ed25519 by the body's member key over mark.mark_message(...)


class DeclareMarkUse(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    certificate: str  # number
    context: str
    description: str


class ReportMarkMisuse(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    certificate: str  # number
    context: str
    description: str
    evidence: str
