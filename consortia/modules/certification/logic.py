"""Certification actions (CFP): pure functions of (context, payload), and device admission.

Actors: certification bodies are governance members with role ``certification_body``; test
labs are accredited by governance; vendors register themselves (their signing key becomes the
vendor key). An application names its body, and only that body moves it on; only the lab the
body assigned reports its tests; only the holder requests changes and renewals.

Time ends a certificate without anyone acting: at any block time at or after ``expires_ms`` an
issued certificate is expired (``effective_status``), whatever its stored status says. Every
check below therefore reads the effective status, never ``cert.status`` alone.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from consortia.crypto.hashing import sha256
from consortia.crypto.keys import SigningKey, verify
from consortia.ledger.genesis import Genesis
from consortia.ledger.module import Action
from consortia.ledger.result import Rejected
from consortia.ledger.state import GOVERNANCE_SIGNER, Context, Reader
from consortia.ledger.tx import DeviceCredential
from consortia.modules.certification import marks
from consortia.modules.certification.types import (
    ACCEPTED,
    BODY,
    CANCELLED,
    CERTIFICATION_MODEL,
    CHANGE_PENDING,
    EXPIRED,
    FEED_SERIAL_KEY,
    HOLDER_OR_BODY,
    INSPECTIONS_MAX,
    ISSUED,
    LAB,
    LIST_ITEMS_MAX,
    ONSITE_FAILED,
    ONSITE_PASSED,
    OUTCOMES,
    REFUSED,
    REJECTED,
    RENEWAL_REVIEW,
    REVOKED,
    RISK_WEIGHT_MAX,
    SERIOUS_DEFECT,
    STAGES,
    SUBMITTED,
    SUSPENDED,
    TERM_MS,
    TEST_FAILED,
    TEST_PASSED,
    TESTING,
    TEXT_CHARS_MAX,
    USABLE,
    VALID,
    VENDOR,
    AccreditLab,
    AddProductType,
    Apply,
    AssignLab,
    Certificate,
    Decide,
    Device,
    ExamItem,
    Inspection,
    InspectionResult,
    ItemResult,
    Lab,
    LabReport,
    OnsiteCheck,
    ProductType,
    RegisterDevice,
    RegisterVendor,
    RequestChange,
    SelectInspections,
    Selection,
    Step,
    Suspend,
    Transition,
    Vendor,
    by_body_key,
    by_expiry_key,
    by_status_key,
    by_type_key,
    by_vendor_key,
    certificate_device_key,
    certificate_key,
    device_key_of,
    history_key,
    inspection_key,
    lab_by_key_key,
    lab_key,
    number_key,
    product_type_key,
    selection_key,
    sequence_key,
    vendor_by_key_key,
    vendor_key,
)
from consortia.modules.governance.logic import active_member_of
from consortia.modules.governance.types import ACTIVE, Member, member_key

_ID = re.compile(r"[a-z0-9][a-z0-9_-]{2,39}")
_KEY = re.compile(r"[0-9a-f]{64}")
_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,31}")
_REASON = re.compile(r"[a-z][a-z0-9_]{0,39}")
_ITEM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_YEAR = re.compile(r"[0-9]{4}")
_NUMBER = re.compile(r"CFP-[0-9]{4}-[0-9]{6}")
SEQUENCE_MAX = 999_999

CREDENTIAL_DOMAIN = b"consortia/device/v1"
CREDENTIALS_CACHED = 16_384  # credential signatures remembered as verified (< 10 MB)
INSPECTION_DOMAIN = b"consortia/cfp/inspection/v1"
_canonical = msgspec.msgpack.Encoder(order="sorted")

# action -> (who may make it, {target status: statuses it may start from}). A target of ""
# keeps the current status (surveillance). ``revoke`` from a usable status also needs the
# reason ``serious_defect``; see ``revoke``.
TRANSITIONS: dict[str, tuple[str, dict[str, tuple[str, ...]]]] = {
    "accept": (BODY, {ACCEPTED: (SUBMITTED,)}),
    "reject": (BODY, {REJECTED: (SUBMITTED,)}),
    "assign_lab": (BODY, {TESTING: (ACCEPTED,)}),
    "test_report": (LAB, {TEST_PASSED: (TESTING,), TEST_FAILED: (TESTING,)}),
    "onsite_check": (BODY, {ONSITE_PASSED: (TEST_PASSED,), ONSITE_FAILED: (TEST_PASSED,)}),
    "decide": (BODY, {VALID: (ONSITE_PASSED,),
                      REFUSED: (TEST_FAILED, ONSITE_PASSED, ONSITE_FAILED)}),
    "surveillance_passed": (BODY, {"": USABLE}),
    "suspend": (BODY, {SUSPENDED: USABLE}),
    "reinstate": (BODY, {VALID: (SUSPENDED,)}),
    "revoke": (BODY, {REVOKED: (SUSPENDED, *USABLE)}),
    "request_change": (VENDOR, {CHANGE_PENDING: (VALID,)}),
    "approve_change": (BODY, {VALID: (CHANGE_PENDING,)}),
    "refuse_change": (BODY, {VALID: (CHANGE_PENDING,)}),
    "apply_renewal": (VENDOR, {RENEWAL_REVIEW: (VALID,)}),
    "renew": (BODY, {VALID: (RENEWAL_REVIEW,)}),
    "refuse_renewal": (BODY, {VALID: (RENEWAL_REVIEW,)}),
    "cancel": (HOLDER_OR_BODY, {CANCELLED: (*USABLE, SUSPENDED)}),
}


# -- the first catalogue (2019) -----------------------------------------------------------------

def _items(prefix: str, *titles: str) -> list[ExamItem]:
    return [ExamItem(f"{prefix}-{i:02d}", title) for i, title in enumerate(titles, 1)]


# code, Chinese name, English name, standards, test items. The barcode terminal's and the
# client software's items are ones an automated suite can run against a prototype's endpoint.
CATALOGUE_2019: tuple[tuple[str, str, str, tuple[str, ...], list[ExamItem]], ...] = (
    ("CLIENT_SW", "客户端软件", "client software",
     ("JR/T 0092", "JR/T 0098.3", "T/PCAC 0006"),
     _items("CS", "identity authentication of the user", "transport encryption (TLS) of all "
            "traffic", "input protection of passwords and PINs", "integrity check of the "
            "installed package", "no sensitive data in logs or local storage",
            "payment confirmation shows payee and amount")),
    ("SEC_CHIP", "安全芯片", "security chip", ("JR/T 0098.2",),
     _items("SC", "cryptographic algorithm conformance", "side-channel resistance",
            "fault-injection resistance", "secure key storage")),
    ("SEC_CARRIER", "安全载体", "security carrier", ("JR/T 0089",),
     _items("SE", "secure element isolation", "key injection and storage",
            "applet management security", "physical tamper resistance")),
    ("EMBEDDED_SW", "嵌入式应用软件", "embedded application software", ("JR/T 0098.5",),
     _items("ES", "secure boot", "firmware integrity and signed updates",
            "access control of interfaces", "cryptographic function conformance")),
    ("ATM", "银行卡自动柜员机(ATM)终端", "ATM terminal", ("JR/T 0002", "JR/T 0120"),
     _items("ATM", "card reader security", "encrypting PIN pad", "cash dispenser control",
            "software integrity", "journal and audit trail")),
    ("POS", "支付销售点(POS)终端", "point-of-sale terminal", ("JR/T 0001", "JR/T 0120"),
     _items("POS", "PIN entry device security", "card data protection",
            "transaction message conformance", "tamper detection and response",
            "secure software download")),
    ("TEE", "移动终端可信执行环境", "mobile trusted execution environment", ("JR/T 0156",),
     _items("TEE", "isolation of the trusted world", "secure boot chain",
            "trusted storage", "trusted user interface")),
    ("TA", "可信应用程序", "trusted application", ("JR/T 0156",),
     _items("TA", "TA signature and loading", "TA data isolation",
            "use of TEE cryptographic services")),
    ("BARCODE_TERMINAL", "条码支付受理终端", "barcode (QR) payment acceptance terminal", (),
     _items("BT", "health endpoint answers", "dynamic QR code generation carries amount and "
            "order id", "payment code (scanned) format validation rejects malformed codes",
            "transaction request is signed and the signature verifies",
            "replayed payment code is refused", "amount and currency echoed exactly in the "
            "receipt", "timeout handling queries the transaction status")),
    ("VOICEPRINT", "声纹识别系统", "voiceprint recognition system", ("JR/T 0164",),
     _items("VP", "false accept and false reject rates", "liveness and replay detection",
            "template protection")),
    ("CLOUD", "云计算平台", "cloud computing platform", ("JR/T 0166", "JR/T 0167", "JR/T 0168"),
     _items("CL", "tenant isolation", "data encryption at rest and in transit",
            "disaster recovery", "security audit logging")),
)


# -- pure helpers -------------------------------------------------------------------------------

def effective_status(cert: Certificate, time_ms: int) -> str:
    """The status at block time ``time_ms``: an issued certificate whose term has passed is
    expired, whoever acted or not. A suspension past its correction deadline stays suspended
    until the body revokes or reinstatement is refused (see docs/certification.md)."""
    if cert.status in ISSUED and time_ms >= cert.expires_ms:
        return EXPIRED
    return cert.status


def is_usable(cert: Certificate, time_ms: int) -> bool:
    """Whether the certified product may be used (its devices admitted) at ``time_ms``."""
    return effective_status(cert, time_ms) in USABLE


def certificate_number(year: int, seq: int) -> str:
    assert 1 <= seq <= SEQUENCE_MAX and 1970 <= year <= 9999, (year, seq)
    return f"CFP-{year}-{seq:06d}"


def credential_message(device_key: str, product_id: str, model: str, version: str,
                       vendor_key: str) -> bytes:
    """What a vendor signs to bind a device key to a certified product:
    ``b"consortia/device/v1" ‖ msgpack(sorted map)``."""
    fields = {"device_key": device_key, "product_id": product_id, "model": model,
              "version": version, "vendor_key": vendor_key}
    return CREDENTIAL_DOMAIN + _canonical.encode(fields)


def sign_credential(vendor: SigningKey, device_key: str, product_id: str, model: str,
                    version: str) -> DeviceCredential:
    """A device credential signed by ``vendor`` (product_id is the certificate number)."""
    message = credential_message(device_key, product_id, model, version,
                                 vendor.public_key_hex)
    return DeviceCredential(device_key=device_key, product_id=product_id, model=model,
                            version=version, vendor_key=vendor.public_key_hex,
                            signature=vendor.sign(message).hex())


def rank_for_inspection(seed: bytes, candidates: list[str], risk_weights: Mapping[str, int],
                        count: int) -> list[str]:
    """The ``count`` certificates chosen for inspection: each candidate number scores
    SHA-256(domain ‖ seed ‖ number) as a big-endian integer divided by its risk weight (1 by
    default, so a weight of 2 halves the score); the lowest scores are chosen, ties by number.
    Anyone with the block hash and the candidate list gets the same answer."""
    assert count >= 0
    scored = sorted(
        (int.from_bytes(sha256(INSPECTION_DOMAIN, seed, number.encode()), "big")
         // risk_weights.get(number, 1), number)
        for number in candidates)
    return [number for _, number in scored[:count]]


# -- reading and checking -----------------------------------------------------------------------

def _text(value: str, what: str, *, empty_ok: bool = False) -> str:
    if len(value) > TEXT_CHARS_MAX or (not empty_ok and not value.strip()):
        raise Rejected("bad_payload", f"{what} is {0 if empty_ok else 1} to {TEXT_CHARS_MAX} "
                       "characters")
    return value


def _evidence(value: str) -> str:
    if not _KEY.fullmatch(value):
        raise Rejected("bad_evidence", "evidence is a SHA-256 digest: 64 lower-case hex "
                       "characters")
    return value


def _reason(value: str) -> str:
    if not _REASON.fullmatch(value):
        raise Rejected("bad_reason", "reason is a code of 1 to 40 of a-z 0-9 _, starting "
                       "with a letter")
    return value


def _governance_only(ctx: Context) -> None:
    if ctx.signer != GOVERNANCE_SIGNER:
        raise Rejected("governance_only", "only a governance proposal may do this")


def certificate_of(source: Reader, ref: str) -> Certificate | None:
    """The certificate with id or number ``ref``, or None."""
    if ref.startswith("CFP-"):
        cert_id = source.get(number_key(ref), str)
        if cert_id is None:
            return None
        ref = cert_id
    return source.get(certificate_key(ref), Certificate)


def _certificate(ctx: Reader, ref: str) -> Certificate:
    cert = certificate_of(ctx, ref)
    if cert is None:
        raise Rejected("unknown_certificate", f"no certificate or application {ref[:64]!r}")
    return cert


def _vendor_of_signer(ctx: Context) -> Vendor | None:
    vendor_id = ctx.get(vendor_by_key_key(ctx.signer), str)
    return None if vendor_id is None else ctx.get(vendor_key(vendor_id), Vendor)


def _lab_of_signer(ctx: Context) -> Lab | None:
    lab_id = ctx.get(lab_by_key_key(ctx.signer), str)
    return None if lab_id is None else ctx.get(lab_key(lab_id), Lab)


def _is_body(ctx: Context, body_id: str) -> bool:
    member = active_member_of(ctx, ctx.signer)
    return member is not None and member.role == "certification_body" and member.id == body_id


def _is_holder(ctx: Context, cert: Certificate) -> bool:
    vendor = _vendor_of_signer(ctx)
    return vendor is not None and vendor.id == cert.vendor


def _check_actor(ctx: Context, cert: Certificate, actor: str) -> None:
    if actor == BODY and not _is_body(ctx, cert.body):
        raise Rejected("not_allowed", f"only the certification body {cert.body} may do this")
    if actor == VENDOR and not _is_holder(ctx, cert):
        raise Rejected("not_allowed", f"only the holder {cert.vendor} may do this")
    if actor == LAB and _lab_of_signer(ctx) is None:
        raise Rejected("not_allowed", "only an accredited test lab may do this")
    if actor == HOLDER_OR_BODY and not (_is_holder(ctx, cert) or _is_body(ctx, cert.body)):
        raise Rejected("not_allowed", f"only the holder {cert.vendor} or the body {cert.body} "
                       "may do this")


def _name(cert: Certificate) -> str:
    return cert.number or f"application {cert.id[:16]}"


def _begin(ctx: Context, ref: str, action: str, target: str) -> tuple[Certificate, str]:
    """The certificate and its effective status, once the signer may make ``action`` and the
    transition to ``target`` is legal from that status."""
    cert = _certificate(ctx, ref)
    actor, targets = TRANSITIONS[action]
    _check_actor(ctx, cert, actor)
    current = effective_status(cert, ctx.time_ms)
    if current not in targets[target]:
        shown = target or current
        raise Rejected("illegal_transition", f"{action}: {_name(cert)} cannot go from "
                       f"{current} to {shown}")
    return cert, current


def _index_keys(cert: Certificate) -> set[str]:
    """The registry search index entries of ``cert`` (see types.BY_VENDOR_PREFIX)."""
    keys = {by_vendor_key(cert.vendor, cert.id), by_type_key(cert.product_type, cert.id),
            by_status_key(cert.status, cert.id)}
    if cert.expires_ms:
        keys.add(by_expiry_key(cert.expires_ms, cert.id))
    return keys


def _put_certificate(ctx: Context, old: Certificate | None, new: Certificate) -> None:
    """Write certificate ``new`` (``old``: as stored before, None for a new one) and move its
    search index entries: every write of a certificate goes through here, so the indexes never
    disagree with the records."""
    assert old is None or old.id == new.id, (old, new)
    ctx.put(certificate_key(new.id), new)
    before = set() if old is None else _index_keys(old)
    after = _index_keys(new)
    # Sorted: a set's order changes with the process's hash seed, and every node must make
    # the same writes in the same order.
    for key in sorted(before - after):
        ctx.delete(key)
    for key in sorted(after - before):
        ctx.put(key, "")


def _record(ctx: Context, cert: Certificate, action: str, to: str, reason: str,
            evidence: str, **changes: Any) -> Certificate:
    """Write the certificate in status ``to`` and append the transition to its history (and
    count it in the feed's serial)."""
    updated = msgspec.structs.replace(cert, status=to, updated_ms=ctx.time_ms,
                                      history_count=cert.history_count + 1, **changes)
    _put_certificate(ctx, cert if cert.history_count else None, updated)
    ctx.put(history_key(cert.id, cert.history_count), Transition(
        from_=effective_status(cert, ctx.time_ms) if cert.history_count else "draft", to=to,
        by=ctx.signer, time_ms=ctx.time_ms, reason=reason, evidence=evidence,
        tx_id=ctx.tx_id.hex(), action=action, expires_ms=updated.expires_ms))
    ctx.put(FEED_SERIAL_KEY, (ctx.get(FEED_SERIAL_KEY, int) or 0) + 1)
    return updated


def _result(cert: Certificate) -> dict[str, Any]:
    out: dict[str, Any] = {"certificate": cert.id, "status": cert.status}
    if cert.number:
        out["number"] = cert.number
    return out


def _step(ctx: Context, p: Step, action: str, target: str, **changes: Any) -> dict[str, Any]:
    reason, evidence = _reason(p.reason), _evidence(p.evidence)
    cert, current = _begin(ctx, p.certificate, action, target)
    return _result(_record(ctx, cert, action, target or current, reason, evidence, **changes))


# -- governance-only ----------------------------------------------------------------------------

def add_product_type(ctx: Context, p: AddProductType) -> dict[str, Any]:
    _governance_only(ctx)
    if not _CODE.fullmatch(p.code) or not _YEAR.fullmatch(p.catalogue):
        raise Rejected("bad_product_type", "code is 2 to 32 of A-Z 0-9 _ and catalogue a year")
    _text(p.name_zh, "name_zh")
    _text(p.name_en, "name_en")
    if len(p.standards) > LIST_ITEMS_MAX or not 0 < len(p.test_items) <= LIST_ITEMS_MAX:
        raise Rejected("bad_product_type", f"up to {LIST_ITEMS_MAX} standards and 1 to "
                       f"{LIST_ITEMS_MAX} test items")
    for standard in p.standards:
        _text(standard, "a standard")
    ids = [item.id for item in p.test_items]
    if len(set(ids)) != len(ids) or not all(_ITEM_ID.fullmatch(i) for i in ids):
        raise Rejected("bad_product_type", "test item ids are unique, 1 to 32 of A-Z a-z 0-9 . "
                       "_ -")
    for item in p.test_items:
        _text(item.title, "a test item's title")
    if ctx.has(product_type_key(p.code)):
        raise Rejected("product_type_exists", f"product type {p.code} is already catalogued")
    ctx.put(product_type_key(p.code), ProductType(p.code, p.name_zh, p.name_en,
                                                  list(p.standards), list(p.test_items),
                                                  p.catalogue, ctx.time_ms))
    return {"product_type": p.code}


def accredit_lab(ctx: Context, p: AccreditLab) -> dict[str, Any]:
    _governance_only(ctx)
    if not _ID.fullmatch(p.id) or not _KEY.fullmatch(p.key):
        raise Rejected("bad_lab", "id is 3 to 40 of a-z 0-9 _ - and key 64 hex characters")
    _text(p.name, "name")
    if ctx.has(lab_key(p.id)) or ctx.has(lab_by_key_key(p.key)):
        raise Rejected("lab_exists", "a lab with this id or key is already accredited")
    ctx.put(lab_key(p.id), Lab(p.id, p.name, p.key, ctx.time_ms))
    ctx.put(lab_by_key_key(p.key), p.id)
    return {"lab": p.id}


# -- vendors and applications -------------------------------------------------------------------

def register_vendor(ctx: Context, p: RegisterVendor) -> dict[str, Any]:
    if not _ID.fullmatch(p.id):
        raise Rejected("bad_vendor", "id is 3 to 40 of a-z 0-9 _ -")
    _text(p.legal_name, "legal_name")
    _text(p.address, "address")
    if not _KEY.fullmatch(ctx.signer):
        raise Rejected("not_allowed", "a vendor registers with its own key")
    if ctx.has(vendor_key(p.id)):
        raise Rejected("vendor_exists", f"vendor id {p.id} is taken")
    if ctx.has(vendor_by_key_key(ctx.signer)):
        raise Rejected("vendor_exists", "this key already belongs to a vendor")
    ctx.put(vendor_key(p.id), Vendor(p.id, p.legal_name, p.address, ctx.signer, ctx.time_ms))
    ctx.put(vendor_by_key_key(ctx.signer), p.id)
    return {"vendor": p.id}


def apply(ctx: Context, p: Apply) -> dict[str, Any]:
    vendor = _vendor_of_signer(ctx)
    if vendor is None:
        raise Rejected("not_allowed", "only a registered vendor may apply")
    reason, evidence = _reason(p.reason), _evidence(p.evidence)
    for value, what in ((p.product_name, "product_name"), (p.model, "model"),
                        (p.version, "version"), (p.manufacturer, "manufacturer"),
                        (p.factory, "factory"), (p.scope, "scope")):
        _text(value, what)
    if not 0 < len(p.standards) <= LIST_ITEMS_MAX:
        raise Rejected("bad_payload", f"standards lists 1 to {LIST_ITEMS_MAX} standards")
    for standard in p.standards:
        _text(standard, "a standard")
    member = ctx.get(member_key(p.body), Member)
    if member is None or member.role != "certification_body" or member.status != ACTIVE:
        raise Rejected("bad_body", f"{p.body[:40]!r} is not an active certification body")
    if not ctx.has(product_type_key(p.product_type)):
        raise Rejected("unknown_product_type", f"no product type {p.product_type[:32]!r} in "
                       "the catalogue")
    cert_id = ctx.tx_id.hex()
    assert not ctx.has(certificate_key(cert_id)), cert_id
    cert = Certificate(
        id=cert_id, status=SUBMITTED, body=p.body, vendor=vendor.id,
        holder_name=vendor.legal_name, holder_address=vendor.address,
        product_type=p.product_type, product_name=p.product_name, model=p.model,
        versions=[p.version], manufacturer=p.manufacturer, factory=p.factory, scope=p.scope,
        standards=list(p.standards), certification_model=CERTIFICATION_MODEL,
        applied_ms=ctx.time_ms, updated_ms=ctx.time_ms, history_count=0)
    return _result(_record(ctx, cert, "apply", SUBMITTED, reason, evidence))


# -- examination --------------------------------------------------------------------------------

def accept(ctx: Context, p: Step) -> dict[str, Any]:
    return _step(ctx, p, "accept", ACCEPTED)


def reject(ctx: Context, p: Step) -> dict[str, Any]:
    return _step(ctx, p, "reject", REJECTED)


def assign_lab(ctx: Context, p: AssignLab) -> dict[str, Any]:
    reason, evidence = _reason(p.reason), _evidence(p.evidence)
    cert, _ = _begin(ctx, p.certificate, "assign_lab", TESTING)
    if ctx.get(lab_key(p.lab), Lab) is None:
        raise Rejected("unknown_lab", f"no accredited lab {p.lab[:40]!r}")
    return _result(_record(ctx, cert, "assign_lab", TESTING, reason, evidence, lab=p.lab))


def record_test_report(ctx: Context, p: LabReport) -> dict[str, Any]:
    """The assigned lab's report, item by item over the product type's test items; it is
    signed by being the lab's tx. All items passed → test_passed, otherwise test_failed."""
    reason, evidence = _reason(p.reason), _evidence(p.evidence)
    passed = all(r.passed for r in p.results)
    target = TEST_PASSED if passed else TEST_FAILED
    cert, _ = _begin(ctx, p.certificate, "test_report", target)
    lab = _lab_of_signer(ctx)
    if lab is None or lab.id != cert.lab:
        raise Rejected("not_allowed", f"only the assigned lab {cert.lab} may report")
    product_type = ctx.get(product_type_key(cert.product_type), ProductType)
    assert product_type is not None, cert.product_type
    expected = [item.id for item in product_type.test_items]
    reported = [r.item for r in p.results]
    if sorted(reported) != sorted(expected):
        raise Rejected("bad_report", f"the report must give each of {cert.product_type}'s "
                       f"test items once: {', '.join(expected)}"[:200])
    for r in p.results:
        _text(r.note, "a note", empty_ok=True)
    results = [ItemResult(r.item, r.passed, r.note) for r in p.results]
    return _result(_record(ctx, cert, "test_report", target, reason, evidence,
                           test_report=results, test_report_tx=ctx.tx_id.hex()))


def onsite_check(ctx: Context, p: OnsiteCheck) -> dict[str, Any]:
    target = ONSITE_PASSED if p.passed else ONSITE_FAILED
    return _step(ctx, Step(p.certificate, p.reason, p.evidence), "onsite_check", target)


def decide(ctx: Context, p: Decide) -> dict[str, Any]:
    """Issue (valid, with a number and a 3-year term) or refuse."""
    if not p.issue:
        return _step(ctx, Step(p.certificate, p.reason, p.evidence), "decide", REFUSED)
    reason, evidence = _reason(p.reason), _evidence(p.evidence)
    cert, _ = _begin(ctx, p.certificate, "decide", VALID)
    year = datetime.fromtimestamp(ctx.time_ms // 1000, tz=UTC).year
    seq = (ctx.get(sequence_key(year), int) or 0) + 1
    if seq > SEQUENCE_MAX:
        raise Rejected("sequence_exhausted", f"no certificate numbers left for {year}")
    number = certificate_number(year, seq)
    assert not ctx.has(number_key(number)), number
    ctx.put(sequence_key(year), seq)
    ctx.put(number_key(number), cert.id)
    ctx.put(by_body_key(cert.body, number), cert.id)
    return _result(_record(ctx, cert, "decide", VALID, reason, evidence, number=number,
                           issued_ms=ctx.time_ms, term_start_ms=ctx.time_ms,
                           expires_ms=ctx.time_ms + TERM_MS))


# -- surveillance -------------------------------------------------------------------------------

def surveillance_passed(ctx: Context, p: Step) -> dict[str, Any]:
    return _step(ctx, p, "surveillance_passed", "")


def _suspend(ctx: Context, cert: Certificate, deadline_ms: int, reason: str,
             evidence: str) -> Certificate:
    if deadline_ms <= ctx.time_ms:
        raise Rejected("bad_deadline", "the correction deadline must be after block time")
    return _record(ctx, cert, "suspend", SUSPENDED, reason, evidence,
                   correction_deadline_ms=deadline_ms, pending_version="", pending_scope="")


def suspend(ctx: Context, p: Suspend) -> dict[str, Any]:
    """Suspension drops a pending change or renewal review: the holder asks again after
    reinstatement."""
    reason, evidence = _reason(p.reason), _evidence(p.evidence)
    cert, _ = _begin(ctx, p.certificate, "suspend", SUSPENDED)
    return _result(_suspend(ctx, cert, p.correction_deadline_ms, reason, evidence))


def reinstate(ctx: Context, p: Step) -> dict[str, Any]:
    """Only within the correction deadline; after it the body revokes."""
    reason, evidence = _reason(p.reason), _evidence(p.evidence)
    cert, _ = _begin(ctx, p.certificate, "reinstate", VALID)
    if ctx.time_ms > cert.correction_deadline_ms:
        raise Rejected("correction_deadline_passed", f"{cert.number} was to be corrected by "
                       f"{cert.correction_deadline_ms} ms; it can only be revoked now")
    return _result(_record(ctx, cert, "reinstate", VALID, reason, evidence,
                           correction_deadline_ms=0))


def revoke(ctx: Context, p: Step) -> dict[str, Any]:
    """From suspended with any reason; from a usable status only for a serious defect."""
    reason, evidence = _reason(p.reason), _evidence(p.evidence)
    cert, current = _begin(ctx, p.certificate, "revoke", REVOKED)
    if current != SUSPENDED and reason != SERIOUS_DEFECT:
        raise Rejected("illegal_transition", f"revoke: {cert.number} cannot go from {current} "
                       f"to revoked unless the reason is {SERIOUS_DEFECT} (suspend it first)")
    return _result(_record(ctx, cert, "revoke", REVOKED, reason, evidence))


# -- holder's changes, renewal, cancellation ----------------------------------------------------

def request_change(ctx: Context, p: RequestChange) -> dict[str, Any]:
    reason, evidence = _reason(p.reason), _evidence(p.evidence)
    _text(p.version, "version", empty_ok=True)
    _text(p.scope, "scope", empty_ok=True)
    if not (p.version.strip() or p.scope.strip()):
        raise Rejected("bad_payload", "a change names a new version, a new scope or both")
    cert, _ = _begin(ctx, p.certificate, "request_change", CHANGE_PENDING)
    if p.version in cert.versions:
        raise Rejected("bad_payload", f"version {p.version} is already certified")
    if p.version and len(cert.versions) >= LIST_ITEMS_MAX:
        raise Rejected("too_many_versions", f"at most {LIST_ITEMS_MAX} certified versions")
    return _result(_record(ctx, cert, "request_change", CHANGE_PENDING, reason, evidence,
                           pending_version=p.version, pending_scope=p.scope))


def approve_change(ctx: Context, p: Step) -> dict[str, Any]:
    """The new version is certified alongside the earlier ones (devices in the field keep
    working); a new scope replaces the old one."""
    reason, evidence = _reason(p.reason), _evidence(p.evidence)
    cert, _ = _begin(ctx, p.certificate, "approve_change", VALID)
    versions = [*cert.versions, cert.pending_version] if cert.pending_version else cert.versions
    return _result(_record(ctx, cert, "approve_change", VALID, reason, evidence,
                           versions=versions, scope=cert.pending_scope or cert.scope,
                           pending_version="", pending_scope=""))


def refuse_change(ctx: Context, p: Step) -> dict[str, Any]:
    return _step(ctx, p, "refuse_change", VALID, pending_version="", pending_scope="")


def apply_renewal(ctx: Context, p: Step) -> dict[str, Any]:
    return _step(ctx, p, "apply_renewal", RENEWAL_REVIEW)


def renew(ctx: Context, p: Step) -> dict[str, Any]:
    """A new 3-year term from the end of the current one, so renewing early loses nothing."""
    reason, evidence = _reason(p.reason), _evidence(p.evidence)
    cert, _ = _begin(ctx, p.certificate, "renew", VALID)
    return _result(_record(ctx, cert, "renew", VALID, reason, evidence,
                           term_start_ms=cert.expires_ms, expires_ms=cert.expires_ms + TERM_MS))


def refuse_renewal(ctx: Context, p: Step) -> dict[str, Any]:
    """Back to valid until the current term ends; then it expires."""
    return _step(ctx, p, "refuse_renewal", VALID)


def cancel(ctx: Context, p: Step) -> dict[str, Any]:
    return _step(ctx, p, "cancel", CANCELLED, pending_version="", pending_scope="")


# -- random inspections -------------------------------------------------------------------------

def select_inspections(ctx: Context, p: SelectInspections) -> dict[str, Any]:
    """Choose ``count`` of the body's usable certificates by ``rank_for_inspection`` seeded
    with the hash of block ``seed_height``, which must be the block before this one (its hash
    is the block's seed): the body cannot pick the hash, and the draw is recorded."""
    member = active_member_of(ctx, ctx.signer)
    if member is None or member.role != "certification_body":
        raise Rejected("not_allowed", "only a certification body selects inspections")
    if p.stage not in STAGES:
        raise Rejected("bad_stage", f"stage is one of {', '.join(STAGES)}")
    if not 0 < p.count <= INSPECTIONS_MAX:
        raise Rejected("bad_count", f"count is 1 to {INSPECTIONS_MAX}")
    if p.seed_height != ctx.height - 1:
        raise Rejected("bad_seed_height", f"seed_height must be the previous block "
                       f"({ctx.height - 1}), whose hash seeds this block")
    if len(p.risk_weights) > INSPECTIONS_MAX * 10 or not all(
            1 <= w <= RISK_WEIGHT_MAX and _NUMBER.fullmatch(n)
            for n, w in p.risk_weights.items()):
        raise Rejected("bad_risk_weight", f"risk weights map certificate numbers to 1 to "
                       f"{RISK_WEIGHT_MAX}")
    prefix = by_body_key(member.id, "")
    candidates = []
    for key in ctx.keys(prefix):
        cert = _certificate(ctx, ctx.get(key, str) or "")
        if is_usable(cert, ctx.time_ms):
            candidates.append(cert.number)
    if not candidates:
        raise Rejected("no_candidates", f"{member.id} has no valid certificate to inspect")
    selected = rank_for_inspection(ctx.seed, candidates, p.risk_weights, p.count)
    selection_id = ctx.tx_id.hex()
    ctx.put(selection_key(selection_id), Selection(
        selection_id, member.id, p.stage, p.seed_height, ctx.seed.hex(), p.count, candidates,
        dict(p.risk_weights), selected, ctx.time_ms))
    inspections = []
    for i, number in enumerate(selected):
        inspection_id = f"{selection_id}-{i:03d}"
        ctx.put(inspection_key(inspection_id), Inspection(
            inspection_id, selection_id, number, p.stage, member.id, ctx.time_ms))
        inspections.append(inspection_id)
    return {"selection": selection_id, "selected": selected, "inspections": inspections}


def inspection_result(ctx: Context, p: InspectionResult) -> dict[str, Any]:
    """pass: surveillance passed; minor: a nonconformity to correct by ``deadline_ms``,
    recorded in the history; major: the certificate is suspended until ``deadline_ms``."""
    evidence = _evidence(p.evidence)
    reason = _reason(p.reason or f"inspection_{p.outcome}")
    inspection = ctx.get(inspection_key(p.inspection), Inspection)
    if inspection is None:
        raise Rejected("unknown_inspection", f"no inspection {p.inspection[:72]!r}")
    if not _is_body(ctx, inspection.body):
        raise Rejected("not_allowed", f"only {inspection.body}, which selected it, may record "
                       "the result")
    if inspection.outcome:
        raise Rejected("inspection_done", f"this inspection's outcome is {inspection.outcome}")
    if p.outcome not in OUTCOMES:
        raise Rejected("bad_outcome", f"outcome is one of {', '.join(OUTCOMES)}")
    if p.outcome != "pass" and p.deadline_ms <= ctx.time_ms:
        raise Rejected("bad_deadline", "a nonconformity needs a deadline after block time")
    cert = _certificate(ctx, inspection.certificate)
    status = effective_status(cert, ctx.time_ms)
    # A certificate no longer usable (cancelled, suspended meanwhile) keeps its status; the
    # outcome is still recorded on the inspection.
    if status in USABLE:
        if p.outcome == "major":
            cert = _suspend(ctx, cert, p.deadline_ms, reason, evidence)
        else:
            cert = _record(ctx, cert, f"inspection_{p.outcome}", status, reason, evidence)
    ctx.put(inspection_key(inspection.id), msgspec.structs.replace(
        inspection, outcome=p.outcome, deadline_ms=p.deadline_ms if p.outcome != "pass" else 0,
        evidence=evidence, result_ms=ctx.time_ms))
    return {"inspection": inspection.id, "outcome": p.outcome, **_result(cert)}


# -- devices ------------------------------------------------------------------------------------

def register_device(ctx: Context, p: RegisterDevice) -> dict[str, Any]:
    """The holder binds a device key to its certificate, model and a certified version."""
    if not _KEY.fullmatch(p.device_key):
        raise Rejected("bad_device", "device_key is 64 hex characters")
    cert = _certificate(ctx, p.certificate)
    if not cert.number or p.certificate != cert.number:
        raise Rejected("unknown_certificate", "devices are registered by certificate number")
    if not _is_holder(ctx, cert):
        raise Rejected("not_allowed", f"only the holder {cert.vendor} registers its devices")
    status = effective_status(cert, ctx.time_ms)
    if status not in USABLE:
        raise Rejected("certificate_not_valid", f"{cert.number} is {status}")
    if p.model != cert.model or p.version not in cert.versions:
        raise Rejected("not_certified", f"{cert.number} certifies model {cert.model[:40]} "
                       f"versions {', '.join(cert.versions)}"[:200])
    if ctx.has(device_key_of(p.device_key)):
        raise Rejected("device_exists", "this device key is already registered")
    if p.signature:
        vendor = ctx.get(vendor_key(cert.vendor), Vendor)
        assert vendor is not None, cert.vendor
        message = credential_message(p.device_key, cert.number, p.model, p.version, vendor.key)
        if not _signature_ok(vendor.key, message, p.signature):
            raise Rejected("bad_signature", "the credential signature does not verify with "
                           f"the key of {cert.vendor}")
    ctx.put(device_key_of(p.device_key), Device(p.device_key, cert.number, p.model, p.version,
                                                cert.vendor, ctx.time_ms, p.signature))
    ctx.put(certificate_device_key(cert.number, p.device_key), p.device_key)
    return {"device": p.device_key, "certificate": cert.number}


@functools.lru_cache(maxsize=CREDENTIALS_CACHED)
def _signature_ok(key_hex: str, message: bytes, signature_hex: str) -> bool:
    """Ed25519 check of a credential signature, remembered: a device sends many txs with the
    same credential, and its signature need not be verified again for each (the answer is a
    pure function of the arguments, so every node still decides the same)."""
    try:
        return verify(bytes.fromhex(key_hex), message, bytes.fromhex(signature_hex))
    except ValueError:
        return False


def _not_admitted(reason: str) -> Rejected:
    return Rejected("device_not_admitted", reason)


def admit_device(ctx: Context, credential: DeviceCredential) -> None:
    """Admit a tx carrying ``credential`` at this block, or raise
    ``Rejected("device_not_admitted", <reason>)``. Read at every tx, so a suspension or
    revocation stops every device of the product from the next tx on."""
    if credential.device_key != ctx.signer:
        raise _not_admitted("the tx is not signed by the credential's device key")
    message = credential_message(credential.device_key, credential.product_id,
                                 credential.model, credential.version, credential.vendor_key)
    if not _signature_ok(credential.vendor_key, message, credential.signature):
        raise _not_admitted("vendor signature invalid")
    number = credential.product_id[:32]
    cert = certificate_of(ctx, number) if _NUMBER.fullmatch(number) else None
    if cert is None:
        raise _not_admitted(f"unknown product certificate {number!r}")
    vendor = ctx.get(vendor_key(cert.vendor), Vendor)
    assert vendor is not None, cert.vendor
    if vendor.key != credential.vendor_key:
        raise _not_admitted(f"the vendor key is not the holder of {number}")
    device = ctx.get(device_key_of(credential.device_key), Device)
    if device is None or device.certificate != number:
        raise _not_admitted(f"unknown device for {number}")
    status = effective_status(cert, ctx.time_ms)
    if status not in USABLE:
        raise _not_admitted(f"product certificate {number} is {status}")
    if (credential.model != cert.model or credential.version not in cert.versions
            or (device.model, device.version) != (credential.model, credential.version)):
        raise _not_admitted(f"version not certified: {credential.model[:40]} "
                            f"{credential.version[:40]} under {number}")


# -- the module ---------------------------------------------------------------------------------

class CertificationModule:
    name = "certification"
    actions: Mapping[str, Action] = {
        "add_product_type": Action(AddProductType, add_product_type),
        "accredit_lab": Action(AccreditLab, accredit_lab),
        "register_vendor": Action(RegisterVendor, register_vendor),
        "apply": Action(Apply, apply),
        "accept": Action(Step, accept),
        "reject": Action(Step, reject),
        "assign_lab": Action(AssignLab, assign_lab),
        "test_report": Action(LabReport, record_test_report),
        "onsite_check": Action(OnsiteCheck, onsite_check),
        "decide": Action(Decide, decide),
        "surveillance_passed": Action(Step, surveillance_passed),
        "suspend": Action(Suspend, suspend),
        "reinstate": Action(Step, reinstate),
        "revoke": Action(Step, revoke),
        "request_change": Action(RequestChange, request_change),
        "approve_change": Action(Step, approve_change),
        "refuse_change": Action(Step, refuse_change),
        "apply_renewal": Action(Step, apply_renewal),
        "renew": Action(Step, renew),
        "refuse_renewal": Action(Step, refuse_renewal),
        "cancel": Action(Step, cancel),
        "select_inspections": Action(SelectInspections, select_inspections),
        "inspection_result": Action(InspectionResult, inspection_result),
        "register_device": Action(RegisterDevice, register_device),
        **marks.ACTIONS,  # publish_mark, declare_mark_use, report_mark_misuse
    }

    def init_genesis(self, ctx: Context, genesis: Genesis) -> None:
        """Seed the first catalogue (2019)."""
        for code, name_zh, name_en, standards, items in CATALOGUE_2019:
            ctx.put(product_type_key(code), ProductType(code, name_zh, name_en, list(standards),
                                                        items, "2019", genesis.time_ms))

    @staticmethod
    def admit_device(ctx: Context, credential: DeviceCredential) -> None:
        admit_device(ctx, credential)


module = CertificationModule()
