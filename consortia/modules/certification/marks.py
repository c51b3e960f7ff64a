"""Mark actions: the body publishes a certificate's mark, the holder declares where it uses it,
anyone reports a misuse (which opens an in-service inspection by the issuing body).

Pure functions of (context, payload) like ``logic.py``'s, registered in its action table
through ``ACTIONS``. Where the holder may use the mark is the governance parameter
``cfp_mark_contexts`` (by default with its logo and on product labels, never in advertising).
"""

from __future__ import annotations

from typing import Any

from consortia.ledger.module import Action
from consortia.ledger.params import MARK_CONTEXTS, read_param
from consortia.ledger.result import Rejected
from consortia.ledger.state import Context
from consortia.modules.certification.types import (
    MARK_USES_MAX,
    MISUSE_REPORTS_MAX,
    USABLE,
    Certificate,
    DeclareMarkUse,
    Inspection,
    Mark,
    MarkUse,
    MisuseReport,
    PublishMark,
    ReportMarkMisuse,
    inspection_key,
    mark_key,
    mark_signature_key,
    mark_use_key,
    misuse_key,
)

IN_SERVICE = "in_service"  # the stage of the inspection a misuse report opens


def _issued(ctx: Context, number: str) -> tuple[Certificate, str]:
    """The certificate issued with ``number`` and its effective status at block time."""
    # logic.py imports this module for its action table, so its helpers are imported here.
    from consortia.modules.certification.logic import certificate_of, effective_status

    cert = certificate_of(ctx, number[:64]) if number.startswith("CFP-") else None
    if cert is None or cert.number != number:
        raise Rejected("unknown_certificate", f"no certificate number {number[:64]!r} (marks "
                       "name a certificate by its number)")
    return cert, effective_status(cert, ctx.time_ms)


def _usable(cert: Certificate, status: str, what: str) -> None:
    if status not in USABLE:
        raise Rejected("certificate_not_valid", f"{cert.number} is {status}: {what} only while "
                       "it is valid")


def publish_mark(ctx: Context, p: PublishMark) -> dict[str, Any]:
    """The issuing body publishes the mark it signed; a new mark replaces the previous one
    (marks printed earlier still check as genuine, and as superseded)."""
    from consortia.modules.certification.logic import _is_body
    from consortia.modules.certification.mark import verify_mark_signature

    cert, status = _issued(ctx, p.certificate)
    if not _is_body(ctx, cert.body):
        raise Rejected("not_allowed", f"only {cert.body}, which issued {cert.number}, "
                       "publishes its mark")
    _usable(cert, status, "a mark is published")
    if not verify_mark_signature(cert.number, cert.vendor, ctx.signer, p.signature):
        raise Rejected("bad_signature", f"the signature is not {cert.body}'s mark signature "
                       f"for {cert.number} (see mark.mark_message)")
    signature = bytes.fromhex(p.signature).hex()  # lower case: one key per signature
    tx_id = ctx.tx_id.hex()
    ctx.put(mark_key(cert.number), Mark(cert.number, cert.body, ctx.signer, signature,
                                        ctx.time_ms, tx_id))
    ctx.put(mark_signature_key(cert.number, signature), tx_id)
    return {"certificate": cert.number, "mark": signature}


def declare_mark_use(ctx: Context, p: DeclareMarkUse) -> dict[str, Any]:
    """The holder says where it uses the mark; the context must be one governance allows."""
    from consortia.modules.certification.logic import _is_holder, _text

    cert, status = _issued(ctx, p.certificate)
    if not _is_holder(ctx, cert):
        raise Rejected("not_allowed", f"only the holder {cert.vendor} declares uses of the mark "
                       f"of {cert.number}")
    _usable(cert, status, "the mark is used")
    allowed: list[str] = read_param(ctx, "cfp_mark_contexts")
    if p.context not in allowed:
        shown = ", ".join(allowed) or "none"
        raise Rejected("mark_context_not_allowed", f"the mark may not be used in "
                       f"{p.context[:40]!r}; allowed contexts: {shown}")
    _text(p.description, "description")
    if len(ctx.keys(mark_use_key(cert.number, ""))) >= MARK_USES_MAX:
        raise Rejected("too_many_mark_uses", f"at most {MARK_USES_MAX} declared uses per "
                       "certificate")
    use_id = ctx.tx_id.hex()
    ctx.put(mark_use_key(cert.number, use_id), MarkUse(use_id, cert.number, cert.vendor,
                                                       p.context, p.description, ctx.time_ms))
    return {"certificate": cert.number, "use": use_id, "context": p.context}


def report_mark_misuse(ctx: Context, p: ReportMarkMisuse) -> dict[str, Any]:
    """Anyone with a key reports a misuse of a certificate's mark; the report opens an
    in-service inspection for the issuing body, which records its result with
    ``inspection_result`` (a ``major`` outcome suspends the certificate)."""
    from consortia.modules.certification.logic import _evidence, _text

    cert, _ = _issued(ctx, p.certificate)
    if p.context not in MARK_CONTEXTS:
        raise Rejected("bad_context", f"context is one of {', '.join(MARK_CONTEXTS)}")
    _text(p.description, "description")
    evidence = _evidence(p.evidence)
    if len(ctx.keys(misuse_key(cert.number, ""))) >= MISUSE_REPORTS_MAX:
        raise Rejected("too_many_reports", f"{cert.number} has {MISUSE_REPORTS_MAX} misuse "
                       "reports; the body inspects them first")
    report_id = ctx.tx_id.hex()
    # The same form as a random selection's inspections (<selection>-<index>), so
    # inspection_result and the registry treat both alike.
    inspection_id = f"{report_id}-000"
    assert not ctx.has(inspection_key(inspection_id)), inspection_id
    ctx.put(inspection_key(inspection_id), Inspection(
        inspection_id, report_id, cert.number, IN_SERVICE, cert.body, ctx.time_ms))
    ctx.put(misuse_key(cert.number, report_id), MisuseReport(
        report_id, cert.number, ctx.signer, p.context, p.description, evidence, ctx.time_ms,
        inspection_id))
    return {"certificate": cert.number, "report": report_id, "inspection": inspection_id,
            "body": cert.body}


ACTIONS: dict[str, Action] = {
    "publish_mark": Action(PublishMark, publish_mark),
    "declare_mark_use": Action(DeclareMarkUse, declare_mark_use),
    "report_mark_misuse": Action(ReportMarkMisuse, report_mark_misuse),
}
