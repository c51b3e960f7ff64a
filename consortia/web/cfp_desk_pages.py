"""The certification pages: the certification body's desk, the test lab's desk, the vendor portal.

Each login signs with its own custodial key: a certification body's staff with the body's
member key (``/desk/certification``), an accredited lab with the lab key
(``/desk/lab``), a vendor with the vendor key (``/vendor``). Every action is one
``certification.*`` transaction; a page checks its form first (a bad form changes nothing and
says why), then shows what the ledger decided, with a link to the transaction. Whether a step
is open from a certificate's status is the ledger's rule, not the page's: a refusal shows the
ledger's code and message.

Evidence is a document's SHA-256: a form takes the file (hashed here, never kept) or the
digest pasted. Lists are read with ``modules/certification/queries.py``, page by page.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import UTC, date, datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from consortia.api.errors import ApiError, read_body
from consortia.conformance import ExamReport, run_suite, suites
from consortia.crypto.keys import parse_public_key
from consortia.custody.signer import Outcome, sign_and_submit
from consortia.custody.store import LAB, STAFF, VENDOR, User
from consortia.ledger.params import read_param
from consortia.ledger.state import decode_value
from consortia.modules.certification import queries
from consortia.modules.certification.logic import effective_status, sign_credential
from consortia.modules.certification.mark import sign_mark
from consortia.modules.certification.types import (
    ACCEPTED,
    CHANGE_PENDING,
    DAY_MS,
    INSPECTIONS_MAX,
    LIST_ITEMS_MAX,
    ONSITE_FAILED,
    ONSITE_PASSED,
    OUTCOMES,
    RENEWAL_REVIEW,
    RISK_WEIGHT_MAX,
    STAGES,
    SUBMITTED,
    SUSPENDED,
    TEST_FAILED,
    TEST_PASSED,
    TESTING,
    TEXT_CHARS_MAX,
    USABLE,
    VALID,
    Certificate,
    Device,
    Inspection,
    Lab,
    ProductType,
    Vendor,
)
from consortia.modules.governance import queries as governance
from consortia.modules.governance.types import ACTIVE, Member
from consortia.node.node import Node
from consortia.web.access import (
    custody_of,
    forbidden,
    login_redirect,
    node_of,
    refused_form,
    staff_member,
)
from consortia.web.currency_views import explain
from consortia.web.pages import render, session_key
from consortia.web.sessions import csrf_ok, current_user
from consortia.web.uploads import MULTIPART, URLENCODED, UploadError, read_upload

router = APIRouter(include_in_schema=False)

# Wanted page sizes (each further capped by the node's page_size_max) and other bounds.
QUEUE_ROWS = 10  # per queue on the desk's front page
PAGE_ROWS = 25  # one queue, a vendor's certificates, a certificate's devices
HISTORY_SHOWN = 200
LABS_SHOWN = 100
BODIES_SHOWN = 100
# Inspections are read in key order, this many a page, and those still open shown.
INSPECTIONS_SCANNED = 200
EXPIRING_WINDOW_MS = 90 * DAY_MS
# An uploaded evidence document is hashed in memory and dropped: this bounds the request.
EVIDENCE_BYTES_MAX = 8 * 1024 * 1024
FORM_BYTES_EXTRA = 64 * 1024  # the fields besides the document
FORM_FIELDS_MAX = 2 * LIST_ITEMS_MAX + 16  # a lab report has a result and a note per item
FIELD_CHARS_MAX = 4 * 1024  # one form field (text), in characters
URL_CHARS_MAX = 500
SUITE_TIMEOUT_S = 60.0
OTHER = "other"  # the reason select's "type your own code" choice
EVIDENCE_FILE = "evidence_file"  # the form field of the evidence document

_HEX64 = re.compile(r"[0-9a-f]{64}")
_NUMBER = re.compile(r"CFP-[0-9]{4}-[0-9]{6}")
_REASON = re.compile(r"[a-z][a-z0-9_]{0,39}")
_INSPECTION_ID = re.compile(r"[0-9a-f]{64}-[0-9]{3}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# Reason codes offered for each action (any code of the ledger's form may be typed instead).
REASONS: dict[str, tuple[str, ...]] = {
    "accept": ("application_complete", "documents_complete"),
    "reject": ("incomplete_application", "out_of_scope", "not_a_catalogued_product",
               "duplicate_application"),
    "assign_lab": ("lab_assigned",),
    "onsite_check": ("factory_audit", "production_consistency", "quality_system"),
    "decide": ("certification_decision", "test_failed", "onsite_failed", "nonconformity"),
    "surveillance_passed": ("follow_up_inspection", "periodic_surveillance"),
    "suspend": ("inspection_failed", "inspection_refused", "mark_misuse", "nonconformity"),
    "reinstate": ("corrected", "correction_verified"),
    "revoke": ("serious_defect", "not_corrected", "mark_misuse"),
    "approve_change": ("change_approved",),
    "refuse_change": ("change_refused",),
    "renew": ("renewal_review_passed",),
    "refuse_renewal": ("renewal_refused",),
    "cancel": ("holder_request", "product_discontinued"),
    "request_change": ("version_update", "scope_change"),
    "apply_renewal": ("renewal_application",),
    "apply": ("application",),
    "test_report": ("type_testing",),
    "inspection_result": ("inspection_pass", "inspection_minor", "inspection_major"),
}

# The body's steps on a certificate page: action -> its form's title.
BODY_STEPS = ("accept", "reject", "assign_lab", "onsite_check", "decide",
              "surveillance_passed", "suspend", "reinstate", "revoke", "approve_change",
              "refuse_change", "renew", "refuse_renewal", "cancel")
VENDOR_STEPS = ("request_change", "apply_renewal", "cancel", "register_device",
                "declare_mark_use")


class Queue(NamedTuple):
    key: str
    title: str
    status: str  # "" for the expiring-soon window
    hint: str


QUEUES = (
    Queue("submitted", "Applications submitted", SUBMITTED, "Accept or reject."),
    Queue("accepted", "Accepted: assign a lab", ACCEPTED, "Choose an accredited test lab."),
    Queue("testing", "In type testing", TESTING, "Waiting for the lab's report."),
    Queue("test_passed", "Test reports received: passed", TEST_PASSED,
          "Check on site: passed or failed."),
    Queue("test_failed", "Test reports received: failed", TEST_FAILED, "Refuse."),
    Queue("onsite_failed", "On-site check failed", ONSITE_FAILED, "Refuse."),
    Queue("onsite_passed", "On-site check passed", ONSITE_PASSED, "Issue or refuse."),
    Queue("change_pending", "Change requests", CHANGE_PENDING, "Approve or refuse the change."),
    Queue("renewal_review", "Renewal reviews", RENEWAL_REVIEW, "Renew or refuse."),
    Queue("suspended", "Suspended", SUSPENDED, "Reinstate within the deadline, or revoke."),
    Queue("expiring", "Expiring within 90 days", "", "Usable certificates near their term."),
    Queue("valid", "Valid certificates", VALID,
          "Surveillance, suspension, revocation, the mark."),
)
QUEUE_BY_KEY = {q.key: q for q in QUEUES}

# Refusal codes of the certification module in plain words; the ledger's message follows.
CODE_WORDS = {
    "illegal_transition": "This step is not open to the certificate in its current status",
    "not_allowed": "Your login may not take this step",
    "bad_deadline": "The deadline must be later than the time of the block that records it",
    "correction_deadline_passed": "The correction deadline has passed",
    "bad_report": "A report gives every test item of the product type exactly once",
    "unknown_lab": "That lab is not accredited",
    "bad_seed_height": "The draw must be seeded by the block just before the one recording it",
    "no_candidates": "There is no usable certificate to inspect",
    "inspection_done": "This inspection's outcome is already recorded",
    "device_exists": "This device key is already registered",
    "not_certified": "That model or version is not certified by this certificate",
    "certificate_not_valid": "The certificate is not usable now",
    "bad_signature": "The signature does not verify",
    "vendor_exists": "That vendor id or key is already registered",
    "bad_body": "That is not an active certification body",
    "unknown_product_type": "That product type is not in the catalogue",
    "unknown_certificate": "There is no such certificate or application",
    "mark_context_not_allowed": "The mark may not be used there",
    "bad_payload": "The ledger refused the form's content",
    "bad_reason": "The reason code is not valid",
    "bad_evidence": "The evidence is not a SHA-256 digest",
}


# -- reading forms ------------------------------------------------------------------------------

class Posted(NamedTuple):
    """A posted form: its text fields and the SHA-256 of an attached document ("" if none)."""

    fields: dict[str, str]
    upload: str


def _error(request: Request, status_code: int, title: str, message: str) -> Response:
    return render(request, "error.html", status_code, title=title, message=message)


async def _read(request: Request) -> Posted | Response:
    """The form (urlencoded, or multipart with one file), bounded, CSRF-checked."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    bytes_max = EVIDENCE_BYTES_MAX + FORM_BYTES_EXTRA
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > bytes_max:
        return _error(request, 413, "Form refused", f"An evidence document may be at most "
                      f"{EVIDENCE_BYTES_MAX // (1024 * 1024)} MiB; nothing was changed.")
    fields: dict[str, str] = {}
    upload = ""
    if content_type == MULTIPART:
        try:
            form = await read_upload(request, bytes_max, fields_max=FORM_FIELDS_MAX)
        except UploadError as exc:
            return _error(request, 400, "Form refused", f"{str(exc).capitalize()}.")
        fields = form.fields
        document = form.files.get(EVIDENCE_FILE)
        upload = "" if document is None else hashlib.sha256(document).hexdigest()
    elif content_type == URLENCODED:
        try:
            body = await read_body(request, bytes_max)
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                              max_num_fields=FORM_FIELDS_MAX)
        except (ApiError, UnicodeDecodeError, ValueError):
            return _error(request, 400, "Form refused", "The form is not one this page sent.")
        for name, value in pairs:
            fields.setdefault(name, value)
    else:
        return _error(request, 400, "Form refused", "Send the form from its page.")
    if any(len(v) > FIELD_CHARS_MAX for v in fields.values()):
        return _error(request, 400, "Form refused",
                      f"A field may hold at most {FIELD_CHARS_MAX} characters.")
    if not csrf_ok(request, fields):
        return refused_form(request)
    return Posted(fields, upload)


def _text(fields: dict[str, str], name: str) -> str:
    return fields.get(name, "").strip()


def _reason(fields: dict[str, str]) -> tuple[str, str]:
    """(reason code, error)."""
    chosen = _text(fields, "reason")
    if chosen == OTHER or not chosen:
        chosen = _text(fields, "reason_other")
    if not _REASON.fullmatch(chosen):
        return "", ("A reason is a code of 1 to 40 of a-z, 0-9 and _, starting with a letter "
                    "(for example serious_defect).")
    return chosen, ""


def _evidence(posted: Posted) -> tuple[str, str]:
    """(SHA-256 hex of the evidence document, error)."""
    pasted = _text(posted.fields, "evidence").lower()
    if posted.upload:
        if pasted and pasted != posted.upload:
            return "", (f"The pasted SHA-256 is not the attached document's "
                        f"({posted.upload}); give one or the other.")
        return posted.upload, ""
    if _HEX64.fullmatch(pasted):
        return pasted, ""
    return "", ("Attach the document behind this step (its SHA-256 is computed here and the "
                "file is not kept) or paste its SHA-256: 64 hex characters.")


def _plain(value: str, what: str, *, empty_ok: bool = False) -> str:
    """"" if ``value`` is acceptable text for the ledger, else the error."""
    if (not value and not empty_ok) or len(value) > TEXT_CHARS_MAX or _CONTROL.search(value):
        low = 0 if empty_ok else 1
        return f"{what} is {low} to {TEXT_CHARS_MAX} characters of plain text."
    return ""


def _deadline_ms(text: str) -> tuple[int, str]:
    """A date (YYYY-MM-DD) as the last millisecond of that day, UTC."""
    try:
        day = date.fromisoformat(text) if _DATE.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None:
        return 0, "Give the deadline as a date (YYYY-MM-DD)."
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return int(start.timestamp()) * 1000 + DAY_MS - 1, ""


def _day(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms // 1000, tz=UTC).strftime("%Y-%m-%d")


# -- outcomes -----------------------------------------------------------------------------------

class CfpOutcome(NamedTuple):
    """What became of the tx a page just submitted, read back from the ledger."""

    tx_id: str
    accepted: bool
    pending: bool
    title: str
    detail: str
    code: str
    link: str
    data: dict[str, Any]


def _name(ref: str) -> str:
    return ref if ref.startswith("CFP-") else f"application {ref[:12]}…"


def describe(kind: str, payload: dict[str, Any]) -> str:
    """A certification tx as one sentence for its signer."""
    name = _name(str(payload.get("certificate", "")))
    action = kind.removeprefix("certification.")
    match action:
        case "register_vendor":
            return f"Register vendor {payload.get('id')} ({payload.get('legal_name')})"
        case "apply":
            return (f"Apply for certification of {payload.get('product_name')} "
                    f"({payload.get('model')} {payload.get('version')})")
        case "assign_lab":
            return f"Assign {name} to lab {payload.get('lab')}"
        case "test_report":
            results = payload.get("results") or []
            passed = sum(1 for r in results if r.get("passed"))
            return f"Type-test report on {name}: {passed} of {len(results)} items passed"
        case "onsite_check":
            return f"On-site check of {name}: {'passed' if payload.get('passed') else 'failed'}"
        case "decide":
            return f"{'Issue' if payload.get('issue') else 'Refuse'} {name}"
        case "suspend":
            deadline = int(payload.get("correction_deadline_ms") or 0)
            return f"Suspend {name}, to be corrected by {_day(deadline)}"
        case "revoke":
            return f"Revoke {name} ({str(payload.get('reason', '')).replace('_', ' ')})"
        case "request_change":
            wanted = ", ".join(f"{k} {payload[k]}" for k in ("version", "scope")
                               if payload.get(k))
            return f"Request a change of {name}: {wanted}"
        case "register_device":
            return (f"Register device {str(payload.get('device_key', ''))[:12]}… under {name}"
                    f" (version {payload.get('version')})")
        case "select_inspections":
            return (f"Draw {payload.get('count')} certificate(s) for inspection at stage "
                    f"{str(payload.get('stage', '')).replace('_', ' ')}")
        case "inspection_result":
            return f"Record inspection outcome: {payload.get('outcome')}"
        case "publish_mark":
            return f"Publish the mark of {name}"
        case "declare_mark_use":
            return f"Declare use of the mark of {name} on {payload.get('context')}"
    words = {"accept": "Accept", "reject": "Reject", "surveillance_passed": "Surveillance passed:",
             "reinstate": "Reinstate", "approve_change": "Approve the change of",
             "refuse_change": "Refuse the change of", "apply_renewal": "Apply to renew",
             "renew": "Renew", "refuse_renewal": "Refuse to renew", "cancel": "Cancel"}
    return f"{words[action]} {name}" if action in words else kind


def explain_refusal(code: str, message: str) -> str:
    """A refusal in plain words, with the ledger's own message."""
    words = CODE_WORDS.get(code)
    if words is None:
        return explain(code, message)
    return f"{words}. The ledger says: {message}." if message else f"{words}."


def _accepted_detail(kind: str, data: dict[str, Any]) -> str:
    if kind == "certification.decide" and data.get("number"):
        return f"Certificate {data['number']} issued."
    if kind == "certification.apply":
        return f"Application {str(data.get('certificate', ''))[:12]}… submitted."
    if kind == "certification.select_inspections":
        selected = data.get("selected") or []
        return f"Selected for inspection: {', '.join(selected)}."
    if data.get("status"):
        return f"Done: now {str(data['status']).replace('_', ' ')}."
    return "Done."


def outcome_of(node: Node, tx_id: str | None, viewer: str | None) -> CfpOutcome | None:
    """The result of ``tx_id`` for the login that submitted it; None if nothing to show."""
    if not tx_id or not _HEX64.fullmatch(tx_id) or viewer is None:
        return None
    status = node.tx_status(bytes.fromhex(tx_id), viewer)
    if status is None or status.get("redacted"):
        return None
    link = f"/explorer/tx/{tx_id}"
    if status["status"] != "committed":
        return CfpOutcome(tx_id, False, True, "Submitted", explain("pending", ""), "pending",
                          link, {})
    tx = status["tx"]["tx"]
    if tx["signer"] != viewer or not str(tx["kind"]).startswith("certification."):
        return None
    result = status["result"]
    accepted = result["status"] == "accepted"
    data = dict(result.get("data") or {})
    detail = (_accepted_detail(tx["kind"], data) if accepted
              else explain_refusal(result["code"], result.get("message", "")))
    return CfpOutcome(tx_id, accepted, False, describe(tx["kind"], tx["payload"]), detail,
                      result["code"], link, data)


async def _submit(request: Request, user: User, kind: str, payload: dict[str, Any],
                  ) -> Outcome:
    return await sign_and_submit(node_of(request), custody_of(request), user.username, kind,
                                 payload)


def _failed(outcome: Outcome) -> str:
    """The error to show when the node did not take the tx at all ("" when it did)."""
    if outcome.committed or outcome.code == "pending":
        return ""
    return explain(outcome.code, outcome.message)


# -- reading the registry -----------------------------------------------------------------------

def _rows(node: Node, wanted: int) -> int:
    return max(1, min(wanted, node.config.page_size_max, queries.SEARCH_LIMIT_MAX))


def _now_ms(node: Node) -> int:
    """Statuses are shown as of the latest block's time, as the registry shows them."""
    return node.chain.head.time_ms


def _ref_ok(ref: str) -> bool:
    return bool(_NUMBER.fullmatch(ref) or _HEX64.fullmatch(ref))


class Page(NamedTuple):
    """One page of certificates and the cursor of the next (None on the last)."""

    certificates: list[Certificate]
    next_after: str | None


def _search(node: Node, rows: int, after: str, *, status: str | None = None,
            vendor: str | None = None, body: str | None = None, lab: str | None = None,
            expiring: bool = False) -> Page:
    """A page of ``queries.search``, narrowed to one body or lab here; the cursor is the
    search's own, so narrowing may shorten a page but never skips a certificate."""
    now = _now_ms(node)
    start = after if _HEX64.fullmatch(after) else ""
    found = queries.search(node.chain.state, now, vendor=vendor, status=status, after=start,
                           limit=rows, expires_from_ms=now if expiring else None,
                           expires_to_ms=now + EXPIRING_WINDOW_MS if expiring else None)
    shown = [c for c in found
             if (body is None or c.body == body) and (lab is None or c.lab == lab)
             and (not expiring or effective_status(c, now) in USABLE)]
    return Page(shown, found[-1].id if len(found) == rows else None)


def _labs(node: Node) -> list[Lab]:
    """Accredited labs in id order (bounded)."""
    rows = node.store.state_scan("certification/lab/", LABS_SHOWN)
    return [decode_value(raw, Lab) for _, raw in rows]


def _bodies(node: Node) -> list[Member]:
    return [m for m in governance.members(node.chain.state)
            if m.role == "certification_body" and m.status == ACTIVE][:BODIES_SHOWN]


def _open_inspections(node: Node, body: str, after: str) -> tuple[list[Inspection], str | None]:
    """Inspections of ``body`` without an outcome, scanned in id order from ``after``."""
    prefix = "certification/inspection/"
    start = prefix + after if _INSPECTION_ID.fullmatch(after) else ""
    rows = node.store.state_scan(prefix, INSPECTIONS_SCANNED, start)
    found = [decode_value(raw, Inspection) for _, raw in rows]
    open_ones = [i for i in found if i.body == body and not i.outcome]
    return open_ones, (found[-1].id if len(found) == INSPECTIONS_SCANNED else None)


def _product_types(node: Node) -> dict[str, ProductType]:
    return {t.code: t for t in queries.product_types(node.chain.state)}


class CertView(NamedTuple):
    """A certificate as the pages show it."""

    cert: Certificate
    ref: str  # number once issued, else the application id
    status: str  # effective, at the latest block's time
    usable: bool
    expiring_soon: bool  # usable and expiring within EXPIRING_WINDOW_MS


def cert_view(cert: Certificate, now_ms: int) -> CertView:
    status = effective_status(cert, now_ms)
    usable = status in USABLE
    return CertView(cert, cert.number or cert.id, status, usable,
                    usable and cert.expires_ms - now_ms < EXPIRING_WINDOW_MS)


def _views(node: Node, certs: list[Certificate]) -> list[CertView]:
    now = _now_ms(node)
    return [cert_view(c, now) for c in certs]


def _certificate(node: Node, ref: str) -> Certificate | None:
    return queries.certificate(node.chain.state, ref) if _ref_ok(ref) else None


def _common(request: Request, cert: Certificate) -> dict[str, Any]:
    """What every certificate page shows: fields, history, the product type's test items."""
    node = node_of(request)
    state = node.chain.state
    product_type = _product_types(node).get(cert.product_type)
    titles = {} if product_type is None else {i.id: i.title for i in product_type.test_items}
    return {"view": cert_view(cert, _now_ms(node)),
            "history": queries.history(state, cert.id, HISTORY_SHOWN),
            "product_type": product_type, "titles": titles,
            "vendor": queries.vendor(state, cert.vendor), "now_ms": _now_ms(node),
            "reasons": REASONS, "other": OTHER}


# -- the certification body's desk --------------------------------------------------------------

def _body(request: Request) -> tuple[User, Member] | Response:
    user = current_user(request)
    if user is None:
        return login_redirect(request)
    member = staff_member(request, user) if user.kind == STAFF else None
    if member is None or member.role != "certification_body":
        return forbidden(request, "The certification desk is for certification body staff.")
    return user, member


@router.get("/desk/certification")
async def certification_desk(request: Request, tx: str | None = None,
                             inspections_after: str = "") -> Response:
    found = _body(request)
    if isinstance(found, Response):
        return found
    _, member = found
    node = node_of(request)
    rows = _rows(node, QUEUE_ROWS)
    queues = []
    for q in QUEUES:
        page = _search(node, rows, "", status=q.status or None, body=member.id,
                       expiring=q.key == "expiring")
        queues.append((q, _views(node, page.certificates), page.next_after))
    inspections, next_inspections = _open_inspections(node, member.id, inspections_after)
    return render(request, "desk_certification.html", nav="desk", member=member,
                  queues=queues, inspections=inspections, next_inspections=next_inspections,
                  inspections_after=inspections_after, stages=STAGES,
                  head_height=node.chain.head.height, count_max=INSPECTIONS_MAX,
                  weight_max=RISK_WEIGHT_MAX,
                  outcome=outcome_of(node, tx, session_key(request)),
                  errors={}, values={})


@router.get("/desk/certification/queue/{key}")
async def certification_queue(request: Request, key: str, after: str = "") -> Response:
    found = _body(request)
    if isinstance(found, Response):
        return found
    _, member = found
    queue = QUEUE_BY_KEY.get(key)
    if queue is None:
        return _error(request, 404, "No such queue",
                      f"The desk's queues are: {', '.join(QUEUE_BY_KEY)}.")
    node = node_of(request)
    page = _search(node, _rows(node, PAGE_ROWS), after, status=queue.status or None,
                   body=member.id, expiring=queue.key == "expiring")
    return render(request, "desk_certification_queue.html", nav="desk", member=member,
                  queue=queue, certificates=_views(node, page.certificates),
                  after=after if _HEX64.fullmatch(after) else "", next_after=page.next_after)


def _body_certificate_page(request: Request, member: Member, cert: Certificate, *,
                           tx: str | None = None, status_code: int = 200,
                           errors: dict[str, str] | None = None,
                           values: dict[str, dict[str, str]] | None = None) -> Response:
    node = node_of(request)
    return render(request, "desk_certificate.html", status_code, nav="desk", member=member,
                  labs=_labs(node), outcome=outcome_of(node, tx, session_key(request)),
                  errors=errors or {}, values=values or {}, **_common(request, cert))


def _body_cert(request: Request, member: Member, ref: str) -> Certificate | Response:
    cert = _certificate(node_of(request), ref)
    if cert is None:
        return _error(request, 404, "Certificate not found",
                      "There is no certificate or application with this number or id.")
    if cert.body != member.id:
        return forbidden(request, f"This application is examined by {cert.body}, not by "
                                  f"{member.id}.")
    return cert


@router.get("/desk/certification/certificates/{ref}")
async def body_certificate(request: Request, ref: str, tx: str | None = None) -> Response:
    found = _body(request)
    if isinstance(found, Response):
        return found
    _, member = found
    cert = _body_cert(request, member, ref)
    if isinstance(cert, Response):
        return cert
    return _body_certificate_page(request, member, cert, tx=tx)


def _body_payload(action: str, cert: Certificate, fields: dict[str, str], reason: str,
                  evidence: str, labs: list[Lab]) -> tuple[dict[str, Any], str]:
    """The payload of the body's ``action`` on ``cert`` from the form, or an error."""
    payload: dict[str, Any] = {"certificate": cert.number or cert.id, "reason": reason,
                               "evidence": evidence}
    if action == "assign_lab":
        lab = _text(fields, "lab")
        if lab not in {x.id for x in labs}:
            return {}, "Choose an accredited lab from the list."
        payload["lab"] = lab
    elif action == "onsite_check":
        if fields.get("result") not in ("passed", "failed"):
            return {}, "Say whether the on-site check passed or failed."
        payload["passed"] = fields["result"] == "passed"
    elif action == "decide":
        if fields.get("decision") not in ("issue", "refuse"):
            return {}, "Choose issue or refuse."
        payload["issue"] = fields["decision"] == "issue"
    elif action == "suspend":
        deadline_ms, error = _deadline_ms(_text(fields, "deadline"))
        if error:
            return {}, error
        payload["correction_deadline_ms"] = deadline_ms
    return payload, ""


@router.post("/desk/certification/certificates/{ref}/{action}")
async def body_step(request: Request, ref: str, action: str) -> Response:
    found = _body(request)
    if isinstance(found, Response):
        return found
    user, member = found
    posted = await _read(request)
    if isinstance(posted, Response):
        return posted
    cert = _body_cert(request, member, ref)
    if isinstance(cert, Response):
        return cert
    if action == "publish_mark":
        return await _publish_mark(request, user, member, cert)
    if action not in BODY_STEPS:
        return _error(request, 404, "No such step", "That is not a step of the desk.")
    fields = posted.fields
    values = {action: {k: v for k, v in fields.items() if k != "csrf"}}
    reason, error = _reason(fields)
    evidence = ""
    if not error:
        evidence, error = _evidence(posted)
    payload: dict[str, Any] = {}
    if not error:
        payload, error = _body_payload(action, cert, fields, reason, evidence,
                                       _labs(node_of(request)))
    if error:
        return _body_certificate_page(request, member, cert, status_code=400,
                                      errors={action: error}, values=values)
    outcome = await _submit(request, user, f"certification.{action}", payload)
    failed = _failed(outcome)
    if failed:
        return _body_certificate_page(request, member, cert, status_code=503,
                                      errors={action: failed}, values=values)
    # An issue gives the certificate its number: show it under that name from now on.
    target = str(outcome.data.get("number") or cert.number or cert.id)
    return RedirectResponse(f"/desk/certification/certificates/{target}?tx={outcome.tx_id}",
                            status_code=303)


async def _publish_mark(request: Request, user: User, member: Member,
                        cert: Certificate) -> Response:
    """Sign the certificate's mark with the body's key and publish it."""
    if not cert.number:
        return _body_certificate_page(request, member, cert, status_code=400, errors={
            "publish_mark": "A mark is published for an issued certificate."})
    custody = custody_of(request)
    key = custody.signing_key(user.username)
    signature = sign_mark(key, cert.number, cert.vendor)
    del key
    outcome = await _submit(request, user, "certification.publish_mark",
                            {"certificate": cert.number, "signature": signature})
    failed = _failed(outcome)
    if failed:
        return _body_certificate_page(request, member, cert, status_code=503,
                                      errors={"publish_mark": failed})
    return RedirectResponse(f"/desk/certification/certificates/{cert.number}"
                            f"?tx={outcome.tx_id}", status_code=303)


def _desk_error(request: Request, member: Member, section: str, error: str,
                values: dict[str, str], status_code: int = 400) -> Response:
    """The desk's front page again, with ``error`` on the form ``section``."""
    node = node_of(request)
    rows = _rows(node, QUEUE_ROWS)
    queues = []
    for q in QUEUES:
        page = _search(node, rows, "", status=q.status or None, body=member.id,
                       expiring=q.key == "expiring")
        queues.append((q, _views(node, page.certificates), page.next_after))
    inspections, next_inspections = _open_inspections(node, member.id, "")
    return render(request, "desk_certification.html", status_code, nav="desk", member=member,
                  queues=queues, inspections=inspections, next_inspections=next_inspections,
                  inspections_after="", stages=STAGES, head_height=node.chain.head.height,
                  count_max=INSPECTIONS_MAX, weight_max=RISK_WEIGHT_MAX, outcome=None,
                  errors={section: error}, values={section: values})


def _risk_weights(text: str) -> tuple[dict[str, int], str]:
    """``CFP-…=weight`` pairs, one per line or separated by commas."""
    weights: dict[str, int] = {}
    for part in re.split(r"[\n,]+", text):
        part = part.strip()
        if not part:
            continue
        number, _, weight = part.partition("=")
        number, weight = number.strip(), weight.strip()
        if not _NUMBER.fullmatch(number) or not weight.isdigit() or not (
                1 <= int(weight) <= RISK_WEIGHT_MAX):
            return {}, (f"Risk weights are lines like CFP-2025-000001=3, with weights 1 to "
                        f"{RISK_WEIGHT_MAX}.")
        weights[number] = int(weight)
    if len(weights) > INSPECTIONS_MAX * 10:
        return {}, f"At most {INSPECTIONS_MAX * 10} risk weights."
    return weights, ""


# A draw sent while another block is being made is refused (its seed block is no longer the
# one before it) and changes nothing: the page sends it again, this many times at most.
DRAW_TRIES_MAX = 3


@router.post("/desk/certification/draw")
async def draw_inspections(request: Request) -> Response:
    found = _body(request)
    if isinstance(found, Response):
        return found
    user, member = found
    posted = await _read(request)
    if isinstance(posted, Response):
        return posted
    fields = posted.fields
    values = {k: v for k, v in fields.items() if k != "csrf"}
    count_text, stage = _text(fields, "count"), _text(fields, "stage")
    weights, error = _risk_weights(fields.get("risk_weights", ""))
    if not error and (not count_text.isdigit() or not 1 <= int(count_text) <= INSPECTIONS_MAX):
        error = f"Draw 1 to {INSPECTIONS_MAX} certificates."
    if not error and stage not in STAGES:
        error = "Choose the stage of production to inspect."
    if error:
        return _desk_error(request, member, "draw", error, values)
    node = node_of(request)
    outcome: Outcome | None = None
    for _ in range(DRAW_TRIES_MAX):
        outcome = await _submit(request, user, "certification.select_inspections", {
            "count": int(count_text), "stage": stage, "seed_height": node.chain.head.height,
            "risk_weights": weights})
        if outcome.code != "bad_seed_height":
            break
    assert outcome is not None
    failed = _failed(outcome)
    if failed:
        return _desk_error(request, member, "draw", failed, values, 503)
    return RedirectResponse(f"/desk/certification?tx={outcome.tx_id}#draw", status_code=303)


def _inspection_page(request: Request, member: Member, inspection: Inspection, *,
                     tx: str | None = None, status_code: int = 200, error: str = "",
                     values: dict[str, str] | None = None) -> Response:
    node = node_of(request)
    state = node.chain.state
    cert = queries.certificate(state, inspection.certificate)
    selection = queries.selection(state, inspection.selection)
    return render(request, "desk_inspection.html", status_code, nav="desk", member=member,
                  inspection=inspection, selection=selection,
                  view=None if cert is None else cert_view(cert, _now_ms(node)),
                  outcomes=OUTCOMES, reasons=REASONS, other=OTHER,
                  outcome=outcome_of(node, tx, session_key(request)), error=error,
                  values=values or {})


def _body_inspection(request: Request, member: Member, inspection_id: str,
                     ) -> Inspection | Response:
    found = (queries.inspection(node_of(request).chain.state, inspection_id)
             if _INSPECTION_ID.fullmatch(inspection_id) else None)
    if found is None:
        return _error(request, 404, "Inspection not found", "There is no such inspection.")
    if found.body != member.id:
        return forbidden(request, f"This inspection is {found.body}'s.")
    return found


@router.get("/desk/certification/inspections/{inspection_id}")
async def inspection_page(request: Request, inspection_id: str,
                          tx: str | None = None) -> Response:
    found = _body(request)
    if isinstance(found, Response):
        return found
    _, member = found
    inspection = _body_inspection(request, member, inspection_id)
    if isinstance(inspection, Response):
        return inspection
    return _inspection_page(request, member, inspection, tx=tx)


@router.post("/desk/certification/inspections/{inspection_id}")
async def inspection_result(request: Request, inspection_id: str) -> Response:
    found = _body(request)
    if isinstance(found, Response):
        return found
    user, member = found
    posted = await _read(request)
    if isinstance(posted, Response):
        return posted
    inspection = _body_inspection(request, member, inspection_id)
    if isinstance(inspection, Response):
        return inspection
    fields = posted.fields
    values = {k: v for k, v in fields.items() if k != "csrf"}
    outcome_code = _text(fields, "outcome")
    error = "" if outcome_code in OUTCOMES else "Choose the outcome: pass, minor or major."
    reason = evidence = ""
    deadline_ms = 0
    if not error:
        reason, error = _reason(fields)
    if not error:
        evidence, error = _evidence(posted)
    if not error and outcome_code != "pass":
        deadline_ms, error = _deadline_ms(_text(fields, "deadline"))
    if error:
        return _inspection_page(request, member, inspection, status_code=400, error=error,
                                values=values)
    outcome = await _submit(request, user, "certification.inspection_result", {
        "inspection": inspection.id, "outcome": outcome_code, "evidence": evidence,
        "deadline_ms": deadline_ms, "reason": reason})
    failed = _failed(outcome)
    if failed:
        return _inspection_page(request, member, inspection, status_code=503, error=failed,
                                values=values)
    return RedirectResponse(f"/desk/certification/inspections/{inspection.id}"
                            f"?tx={outcome.tx_id}", status_code=303)


# -- the test lab's desk ------------------------------------------------------------------------

def _lab(request: Request) -> tuple[User, Lab] | Response:
    user = current_user(request)
    if user is None:
        return login_redirect(request)
    if user.kind != LAB:
        return forbidden(request, "The lab desk is for accredited test labs.")
    lab = queries.lab(node_of(request).chain.state, user.institution)
    if lab is None or lab.key != user.public_key:
        return forbidden(request, f"{user.institution} is not accredited with this login's key "
                                  "on this ledger.")
    return user, lab


@router.get("/desk/lab")
async def lab_desk(request: Request, after: str = "") -> Response:
    found = _lab(request)
    if isinstance(found, Response):
        return found
    _, lab = found
    node = node_of(request)
    page = _search(node, _rows(node, PAGE_ROWS), after, status=TESTING, lab=lab.id)
    return render(request, "lab_desk.html", nav="desk", lab=lab,
                  certificates=_views(node, page.certificates),
                  after=after if _HEX64.fullmatch(after) else "", next_after=page.next_after)


def _lab_cert(request: Request, lab: Lab, ref: str) -> Certificate | Response:
    cert = _certificate(node_of(request), ref)
    if cert is None:
        return _error(request, 404, "Certificate not found",
                      "There is no certificate or application with this number or id.")
    if cert.lab != lab.id:
        return forbidden(request, "This application was not assigned to your lab.")
    return cert


def _lab_page(request: Request, lab: Lab, cert: Certificate, *, tx: str | None = None,
              status_code: int = 200, errors: dict[str, str] | None = None,
              values: dict[str, str] | None = None, run: ExamReport | None = None) -> Response:
    node = node_of(request)
    return render(request, "lab_certificate.html", status_code, nav="desk", lab=lab,
                  automated=cert.product_type in suites(),
                  outcome=outcome_of(node, tx, session_key(request)), errors=errors or {},
                  values=values or {}, run=run, **_common(request, cert))


@router.get("/desk/lab/certificates/{ref}")
async def lab_certificate(request: Request, ref: str, tx: str | None = None) -> Response:
    found = _lab(request)
    if isinstance(found, Response):
        return found
    _, lab = found
    cert = _lab_cert(request, lab, ref)
    if isinstance(cert, Response):
        return cert
    return _lab_page(request, lab, cert, tx=tx)


@router.post("/desk/lab/certificates/{ref}/report")
async def lab_report(request: Request, ref: str) -> Response:
    found = _lab(request)
    if isinstance(found, Response):
        return found
    user, lab = found
    posted = await _read(request)
    if isinstance(posted, Response):
        return posted
    cert = _lab_cert(request, lab, ref)
    if isinstance(cert, Response):
        return cert
    fields = posted.fields
    values = {k: v for k, v in fields.items() if k != "csrf"}
    product_type = _product_types(node_of(request)).get(cert.product_type)
    assert product_type is not None, cert.product_type
    results = []
    error = ""
    for item in product_type.test_items:
        verdict = fields.get(f"result_{item.id}", "")
        note = _text(fields, f"note_{item.id}")
        if verdict not in ("pass", "fail"):
            error = f"Give a result for every test item ({item.id} has none)."
            break
        error = _plain(note, f"The note on {item.id}", empty_ok=True)
        if error:
            break
        results.append({"item": item.id, "passed": verdict == "pass", "note": note})
    evidence = ""
    if not error:
        evidence, error = _evidence(posted)
    if error:
        return _lab_page(request, lab, cert, status_code=400, errors={"report": error},
                         values=values)
    outcome = await _submit(request, user, "certification.test_report", {
        "certificate": cert.id, "results": results, "evidence": evidence})
    failed = _failed(outcome)
    if failed:
        return _lab_page(request, lab, cert, status_code=503, errors={"report": failed},
                         values=values)
    return RedirectResponse(f"/desk/lab/certificates/{cert.id}?tx={outcome.tx_id}",
                            status_code=303)


@router.post("/desk/lab/certificates/{ref}/run")
async def lab_run_suite(request: Request, ref: str) -> Response:
    """Run the automated suite against the prototype, then submit its report."""
    found = _lab(request)
    if isinstance(found, Response):
        return found
    user, lab = found
    posted = await _read(request)
    if isinstance(posted, Response):
        return posted
    cert = _lab_cert(request, lab, ref)
    if isinstance(cert, Response):
        return cert
    fields = posted.fields
    values = {k: v for k, v in fields.items() if k not in ("csrf", "password", "pin")}
    url = _text(fields, "url")
    error = ""
    if cert.product_type not in suites():
        error = f"There is no automated suite for {cert.product_type} here: report by hand."
    elif not url.startswith(("http://", "https://")) or len(url) > URL_CHARS_MAX \
            or _CONTROL.search(url) or " " in url:
        error = "The prototype URL is an http:// or https:// address."
    if error:
        return _lab_page(request, lab, cert, status_code=400, errors={"run": error},
                         values=values)
    account = {k: _text(fields, k) for k in ("username", "password", "pin")}
    credentials = account if any(account.values()) else None
    holder = queries.vendor(node_of(request).chain.state, cert.vendor)
    try:
        # The suite talks to the prototype for up to SUITE_TIMEOUT_S: not on the event loop.
        report = await asyncio.to_thread(
            run_suite, cert.product_type, url, credentials=credentials,
            vendor_key=None if holder is None else holder.key, certificate=cert.id,
            timeout_s=SUITE_TIMEOUT_S)
    except ValueError as exc:
        return _lab_page(request, lab, cert, status_code=400, errors={"run": f"{exc}."},
                         values=values)
    outcome = await _submit(request, user, "certification.test_report", {
        "certificate": cert.id, "results": report.results_payload(),
        "evidence": report.digest()})
    failed = _failed(outcome)
    return _lab_page(request, lab, cert, tx=None if failed else outcome.tx_id,
                     status_code=503 if failed else 200,
                     errors={"run": failed} if failed else None, values=values, run=report)


# -- the vendor portal --------------------------------------------------------------------------

def _vendor(request: Request) -> tuple[User, Vendor | None] | Response:
    """The vendor login and its ledger record (None until the vendor registers)."""
    user = current_user(request)
    if user is None:
        return login_redirect(request)
    if user.kind != VENDOR:
        return forbidden(request, "The vendor portal is for vendors' logins.")
    vendor = queries.vendor(node_of(request).chain.state, user.institution)
    if vendor is not None and vendor.key != user.public_key:
        return forbidden(request, f"The vendor id {vendor.id} is registered with another key.")
    return user, vendor


def _registered(request: Request) -> tuple[User, Vendor] | Response:
    found = _vendor(request)
    if isinstance(found, Response):
        return found
    user, vendor = found
    if vendor is None:
        return RedirectResponse("/vendor", status_code=303)
    return user, vendor


def _portal(request: Request, user: User, vendor: Vendor | None, *, after: str = "",
            product_type: str = "", tx: str | None = None, status_code: int = 200,
            errors: dict[str, str] | None = None,
            values: dict[str, dict[str, str]] | None = None) -> Response:
    node = node_of(request)
    outcome = outcome_of(node, tx, session_key(request))
    if vendor is None:
        return render(request, "vendor_register.html", status_code, nav="desk",
                      vendor_id=user.institution, outcome=outcome, errors=errors or {},
                      values=values or {})
    types = _product_types(node)
    chosen = types.get(product_type) or next(iter(types.values()), None)
    page = _search(node, _rows(node, PAGE_ROWS), after, vendor=vendor.id)
    return render(request, "vendor_portal.html", status_code, nav="desk", vendor=vendor,
                  certificates=_views(node, page.certificates),
                  after=after if _HEX64.fullmatch(after) else "", next_after=page.next_after,
                  product_types=list(types.values()), chosen=chosen, bodies=_bodies(node),
                  outcome=outcome, errors=errors or {}, values=values or {},
                  reasons=REASONS, other=OTHER)


@router.get("/vendor")
async def vendor_portal(request: Request, after: str = "", product_type: str = "",
                        tx: str | None = None) -> Response:
    found = _vendor(request)
    if isinstance(found, Response):
        return found
    user, vendor = found
    return _portal(request, user, vendor, after=after, product_type=product_type[:40], tx=tx)


@router.post("/vendor/register")
async def vendor_register(request: Request) -> Response:
    found = _vendor(request)
    if isinstance(found, Response):
        return found
    user, vendor = found
    posted = await _read(request)
    if isinstance(posted, Response):
        return posted
    if vendor is not None:
        return RedirectResponse("/vendor", status_code=303)
    v = {"legal_name": _text(posted.fields, "legal_name"),
         "address": _text(posted.fields, "address")}
    error = _plain(v["legal_name"], "The legal name") or _plain(v["address"], "The address")
    if error:
        return _portal(request, user, None, status_code=400, errors={"register": error},
                       values={"register": v})
    outcome = await _submit(request, user, "certification.register_vendor",
                            {"id": user.institution, **v})
    failed = _failed(outcome)
    if failed:
        return _portal(request, user, None, status_code=503, errors={"register": failed},
                       values={"register": v})
    return RedirectResponse(f"/vendor?tx={outcome.tx_id}", status_code=303)


APPLY_FIELDS = (("product_name", "The product name"), ("model", "The model"),
                ("version", "The version"), ("manufacturer", "The manufacturer"),
                ("factory", "The factory"), ("scope", "The scope"))


@router.post("/vendor/apply")
async def vendor_apply(request: Request) -> Response:
    found = _registered(request)
    if isinstance(found, Response):
        return found
    user, vendor = found
    posted = await _read(request)
    if isinstance(posted, Response):
        return posted
    fields = posted.fields
    node = node_of(request)
    v = {k: _text(fields, k) for k in ("product_type", "body", "standards",
                                       *(f for f, _ in APPLY_FIELDS))}
    v["standards"] = fields.get("standards", "")
    standards = [s.strip() for s in v["standards"].splitlines() if s.strip()]
    error = ""
    if v["product_type"] not in _product_types(node):
        error = "Choose a product type from the catalogue."
    elif v["body"] not in {b.id for b in _bodies(node)}:
        error = "Choose a certification body from the list."
    for name, words in APPLY_FIELDS:
        error = error or _plain(v[name], words)
    if not error and not 0 < len(standards) <= LIST_ITEMS_MAX:
        error = f"Name 1 to {LIST_ITEMS_MAX} standards, one a line."
    for standard in standards:
        error = error or _plain(standard, "A standard")
    evidence = ""
    if not error:
        evidence, error = _evidence(posted)
    if error:
        return _portal(request, user, vendor, product_type=v["product_type"], status_code=400,
                       errors={"apply": error}, values={"apply": v})
    payload: dict[str, Any] = {k: v[k] for k in ("body", "product_type",
                                                 *(f for f, _ in APPLY_FIELDS))}
    outcome = await _submit(request, user, "certification.apply",
                            {**payload, "standards": standards, "evidence": evidence})
    failed = _failed(outcome)
    if failed:
        return _portal(request, user, vendor, product_type=v["product_type"], status_code=503,
                       errors={"apply": failed}, values={"apply": v})
    if outcome.accepted and outcome.data.get("certificate"):
        return RedirectResponse(f"/vendor/certificates/{outcome.data['certificate']}"
                                f"?tx={outcome.tx_id}", status_code=303)
    return RedirectResponse(f"/vendor?tx={outcome.tx_id}", status_code=303)


def _vendor_cert(request: Request, vendor: Vendor, ref: str) -> Certificate | Response:
    cert = _certificate(node_of(request), ref)
    if cert is None:
        return _error(request, 404, "Certificate not found",
                      "There is no certificate or application with this number or id.")
    if cert.vendor != vendor.id:
        return forbidden(request, f"This certificate is held by {cert.vendor}, not by "
                                  f"{vendor.id}.")
    return cert


def _mark_contexts(node: Node) -> list[str]:
    """Where governance lets holders use the mark (the ledger checks it again)."""
    contexts: list[str] = read_param(node.chain.state, "cfp_mark_contexts")
    return list(contexts)


def _devices_page(node: Node, number: str, after: str) -> tuple[list[Device], str | None]:
    """A page of the certificate's devices in key order, from ``after`` (a device key)."""
    if not number:
        return [], None
    rows = _rows(node, PAGE_ROWS)
    prefix = f"certification/cert_device/{number}/"
    start = prefix + after if _HEX64.fullmatch(after) else ""
    keys = node.store.state_scan(prefix, rows, start)
    found = [queries.device(node.chain.state, decode_value(raw, str)) for _, raw in keys]
    devices = [d for d in found if d is not None]
    return devices, (devices[-1].device_key if len(keys) == rows and devices else None)


def _vendor_page(request: Request, vendor: Vendor, cert: Certificate, *, after: str = "",
                 tx: str | None = None, status_code: int = 200,
                 errors: dict[str, str] | None = None,
                 values: dict[str, dict[str, str]] | None = None) -> Response:
    node = node_of(request)
    devices, next_after = _devices_page(node, cert.number, after)
    return render(request, "vendor_certificate.html", status_code, nav="desk",
                  devices=devices, devices_after=after if _HEX64.fullmatch(after) else "",
                  next_devices=next_after, mark_contexts=_mark_contexts(node),
                  outcome=outcome_of(node, tx, session_key(request)), errors=errors or {},
                  values=values or {}, **_common(request, cert))


@router.get("/vendor/certificates/{ref}")
async def vendor_certificate(request: Request, ref: str, after: str = "",
                             tx: str | None = None) -> Response:
    found = _registered(request)
    if isinstance(found, Response):
        return found
    _, vendor = found
    cert = _vendor_cert(request, vendor, ref)
    if isinstance(cert, Response):
        return cert
    return _vendor_page(request, vendor, cert, after=after, tx=tx)


def _vendor_payload(request: Request, user: User, action: str, cert: Certificate,
                    posted: Posted) -> tuple[dict[str, Any], str]:
    """The payload of the holder's ``action`` on ``cert`` from the form, or an error."""
    fields = posted.fields
    number = cert.number or cert.id
    if action == "register_device":
        device_key = _text(fields, "device_key").lower()
        version = _text(fields, "version")
        try:
            parse_public_key(device_key)
        except ValueError as exc:
            return {}, f"Device key: {exc}."
        if not cert.number:
            return {}, "Devices are registered under an issued certificate."
        if version not in cert.versions:
            return {}, "Choose one of the certified versions."
        key = custody_of(request).signing_key(user.username)
        # The credential the device attaches to its txs: signed here with the vendor key,
        # recorded with the registration so the device fetches it from the registry.
        credential = sign_credential(key, device_key, cert.number, cert.model, version)
        del key
        return {"device_key": device_key, "certificate": cert.number, "model": cert.model,
                "version": version, "signature": credential.signature}, ""
    if action == "declare_mark_use":
        context = _text(fields, "context")
        description = _text(fields, "description")
        error = _plain(description, "The description")
        if context not in _mark_contexts(node_of(request)):
            error = "Choose where the mark is used from the list."
        return {"certificate": number, "context": context, "description": description}, error
    reason, error = _reason(fields)
    evidence = ""
    if not error:
        evidence, error = _evidence(posted)
    payload: dict[str, Any] = {"certificate": number, "reason": reason, "evidence": evidence}
    if not error and action == "request_change":
        payload["version"] = _text(fields, "version")
        payload["scope"] = _text(fields, "scope")
        error = (_plain(payload["version"], "The new version", empty_ok=True)
                 or _plain(payload["scope"], "The new scope", empty_ok=True))
        if not error and not (payload["version"] or payload["scope"]):
            error = "Name a new version, a new scope, or both."
    return payload, error


@router.post("/vendor/certificates/{ref}/{action}")
async def vendor_step(request: Request, ref: str, action: str) -> Response:
    found = _registered(request)
    if isinstance(found, Response):
        return found
    user, vendor = found
    posted = await _read(request)
    if isinstance(posted, Response):
        return posted
    cert = _vendor_cert(request, vendor, ref)
    if isinstance(cert, Response):
        return cert
    if action not in VENDOR_STEPS:
        return _error(request, 404, "No such step", "That is not a step of the portal.")
    values = {action: {k: v for k, v in posted.fields.items() if k != "csrf"}}
    payload, error = _vendor_payload(request, user, action, cert, posted)
    if error:
        return _vendor_page(request, vendor, cert, status_code=400, errors={action: error},
                            values=values)
    outcome = await _submit(request, user, f"certification.{action}", payload)
    failed = _failed(outcome)
    if failed:
        return _vendor_page(request, vendor, cert, status_code=503, errors={action: failed},
                            values=values)
    return RedirectResponse(f"/vendor/certificates/{quote(cert.number or cert.id)}"
                            f"?tx={outcome.tx_id}", status_code=303)

