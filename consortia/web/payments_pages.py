"""QR payments in the custodial wallet and on the merchant's page.

Wallet (a person): ``/pay`` scans a code (the camera when the browser has one, a picture decoded
on the server with zxing-cpp, or the pasted text), ``/pay/scan`` shows what it says (merchant,
amount, currency) and ``/pay/confirm`` pays it (``payments.pay``, or a transfer for a person's
receive code); ``/pay/code`` shows the wallet's single-use payment code (consumer-presented, for
the merchant's terminal) and its receive code.

Merchant (a person whose wallet settles an onboarded merchant): ``/merchant`` opens orders and
shows their dynamic codes, lists payments live (server-sent events, polling as a fallback),
refunds, shows today's totals, and manages the merchant's webhooks (``/merchant/webhooks``:
through the same registration code as the API, ``notify_api.register_webhook``, authorised by
the login's session and CSRF token instead of a signed request).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from consortia.custody.signer import sign_and_submit
from consortia.ledger.tx import DeviceCredential
from consortia.modules.currency import queries as currency
from consortia.modules.currency.amounts import AmountError, parse_amount
from consortia.modules.currency.types import MEMO_CHARS_MAX, Wallet
from consortia.modules.payments import queries
from consortia.modules.payments.api import scan_view
from consortia.modules.payments.codes import (
    CPM_TTL_MS_MAX,
    ScannedCode,
    make_cpm,
    read_merchant_code,
    receive_payload,
)
from consortia.modules.payments.notify_api import (
    get_notifier,
    manages_webhooks,
    refused_status,
    register_webhook,
)
from consortia.modules.payments.types import ORDER_ID, Merchant, merchant_by_wallet_key
from consortia.modules.payments.webhooks import (
    EVENT_ID_HEADER,
    FAILED,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOLERANCE_S_DEFAULT,
    WEBHOOK_DOMAIN,
    WebhookRefused,
)
from consortia.node.orderer import now_ms
from consortia.qr import ImageError, QrError
from consortia.qr.image import read_image, render_svg
from consortia.web.access import custody_of, forbidden, login_redirect, node_of, person_user
from consortia.web.currency_views import day_offset_ms, explain, money, outcome_view, zone_label
from consortia.web.pages import render, session_key
from consortia.web.sessions import FormError, csrf_ok, current_user, read_form, same_origin
from consortia.web.uploads import UploadError, read_upload
from consortia.web.wallet_pages import app_device

router = APIRouter(include_in_schema=False)

PAYLOAD_CHARS_MAX = 4_296
UPLOAD_BYTES_MAX = 6 * 1024 * 1024  # a 5 MiB picture and the form around it
CODE_TTL_MS = 60_000  # how long a payment code shown on the page stays valid
PAYMENTS_SHOWN = 20
DAY_MS = 86_400_000
# Each webhook's row summarises its latest deliveries: the last one, and how many failed.
WEBHOOK_DELIVERIES_SHOWN = 20
WEBHOOK_ID_CHARS_MAX = 40
# What a redirect after a webhook form may announce (fixed words: nothing of the URL echoes).
WEBHOOK_NOTICES = {"added": "Webhook added: the merchant's next events are sent to it.",
                   "deleted": "Webhook deleted: nothing more is sent to it."}
# What the page tells a receiver's developer, from the constants the node signs with.
WEBHOOK_SIGNING = {"event_id": EVENT_ID_HEADER, "timestamp": TIMESTAMP_HEADER,
                   "signature": SIGNATURE_HEADER, "domain": WEBHOOK_DOMAIN.decode(),
                   "tolerance_s": f"{TOLERANCE_S_DEFAULT:g}"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# -- who is asking ------------------------------------------------------------------------------

def _own_wallet(request: Request) -> Wallet | None:
    user = person_user(request)
    if user is None or user.wallet_id is None:
        return None
    wallet = currency.wallet(node_of(request).chain.state, user.wallet_id)
    return wallet if wallet is not None and wallet.owner_key == user.public_key else None


def _person(request: Request) -> Wallet | Response:
    if current_user(request) is None:
        return login_redirect(request)
    wallet = _own_wallet(request)
    if wallet is None:
        return forbidden(request, "Paying by QR code needs a login with a wallet.")
    return wallet


def _merchant_of(request: Request) -> tuple[Wallet, Merchant] | Response:
    found = _person(request)
    if isinstance(found, Response):
        return found
    state = node_of(request).chain.state
    merchant_id = state.get(merchant_by_wallet_key(found.id), str)
    merchant = None if merchant_id is None else queries.merchant(state, merchant_id)
    if merchant is None:
        return forbidden(request, "This wallet does not settle a merchant. The payment network "
                                  "onboards merchants.")
    return found, merchant


def _device_credential(request: Request, wallet: Wallet) -> DeviceCredential | None:
    """The credential of this login's app instance when it is bound to the wallet (the ledger
    decides whether its product is certified, and says so if not)."""
    device = app_device(request, wallet)
    return device.credential if device.can_pay else None


# -- scanning and paying ------------------------------------------------------------------------

def _scan_page(request: Request, status_code: int = 200, error: str = "",
               payload: str = "") -> Response:
    return render(request, "pay_scan.html", status_code, nav="pay", error=error,
                  payload=payload)


@router.get("/pay")
async def pay_page(request: Request) -> Response:
    found = _person(request)
    return found if isinstance(found, Response) else _scan_page(request)


async def _scanned_payload(request: Request) -> str:
    """The code's text from the form: pasted, or read from an uploaded picture. Raises
    ValueError with what to tell the person."""
    custody = custody_of(request)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        upload = await read_upload(request, UPLOAD_BYTES_MAX)
        if not csrf_ok(request, upload.fields):
            raise PermissionError
        picture = upload.files.get("image")
        if picture is None:
            payload = upload.fields.get("payload", "")
        else:
            texts = await asyncio.to_thread(read_image, picture)
            if not texts:
                raise ValueError("No QR code could be read in the picture. Try a sharper "
                                 "picture with the whole code in view.")
            payload = texts[0]
    else:
        form = await read_form(request, custody.config.form_bytes_max)
        if not csrf_ok(request, form):
            raise PermissionError
        payload = form.get("payload", "")
    payload = payload.strip()
    if not payload:
        raise ValueError("Scan, upload or paste a QR code first.")
    if len(payload) > PAYLOAD_CHARS_MAX:
        raise ValueError(f"A QR code holds at most {PAYLOAD_CHARS_MAX} characters.")
    return payload


def _confirm_page(request: Request, wallet: Wallet, payload: str, scanned: ScannedCode,
                  status_code: int = 200, error: str = "", amount: str = "",
                  memo: str = "") -> Response:
    node = node_of(request)
    view = scan_view(node.chain.state, scanned, node.chain.head.time_ms)
    if view["payable"] and view["currency"] != wallet.currency:
        view.update(payable=False, reason=f"the code asks for {view['currency']} and your "
                    f"wallet holds {wallet.currency}")
    return render(request, "pay_confirm.html", status_code, nav="pay", scan=view,
                  payload=payload, wallet=wallet, error=error, amount=amount, memo=memo,
                  memo_chars_max=MEMO_CHARS_MAX,
                  device=_device_credential(request, wallet) is not None)


@router.post("/pay/scan")
async def scan(request: Request) -> Response:
    found = _person(request)
    if isinstance(found, Response):
        return found
    if not same_origin(request):
        return _scan_page(request, 403, "This form came from another site.")
    try:
        payload = await _scanned_payload(request)
        scanned = read_merchant_code(payload)
    except PermissionError:
        return _scan_page(request, 403, "The form expired; scan again.")
    except QrError as exc:  # before ValueError, which it is
        return _scan_page(request, 400, f"This is not a payment code we can read: {exc}.")
    except (ValueError, FormError, UploadError, ImageError) as exc:
        return _scan_page(request, 400, str(exc))
    return _confirm_page(request, found, payload, scanned)


@router.post("/pay/confirm")
async def confirm(request: Request) -> Response:
    found = _person(request)
    if isinstance(found, Response):
        return found
    wallet = found
    custody = custody_of(request)
    try:
        form = await read_form(request, custody.config.form_bytes_max)
    except FormError as exc:
        return _scan_page(request, 400, f"{exc}.")
    if not csrf_ok(request, form):
        return _scan_page(request, 403, "The form expired; scan again.")
    payload = form.get("payload", "").strip()[:PAYLOAD_CHARS_MAX]
    try:
        scanned = read_merchant_code(payload)
    except QrError as exc:
        return _scan_page(request, 400, f"This is not a payment code we can read: {exc}.")
    amount = scanned.amount or form.get("amount", "").strip()
    memo = form.get("memo", "").strip()
    error = ""
    exponent = currency.currency(node_of(request).chain.state, wallet.currency)
    try:
        parse_amount(amount, exponent.exponent if exponent else 2)
    except AmountError as exc:
        error = f"Amount: {exc}."
    if len(memo) > MEMO_CHARS_MAX or _CONTROL.search(memo):
        error = f"A note is at most {MEMO_CHARS_MAX} characters of plain text."
    if error:
        return _confirm_page(request, wallet, payload, scanned, 400, error, amount, memo)
    credential = (_device_credential(request, wallet)
                  if form.get("sign_with", "device") == "device" else None)
    kind, body = _payment_tx(wallet, scanned, amount, memo)
    if kind is None:
        return _confirm_page(request, wallet, payload, scanned, 400,
                             "This code cannot be paid on this network.", amount, memo)
    user = current_user(request)
    assert user is not None
    outcome = await sign_and_submit(node_of(request), custody, user.username, kind, body,
                                    device=credential)
    if not outcome.committed and outcome.code != "pending":
        return _confirm_page(request, wallet, payload, scanned, 503,
                             explain(outcome.code, outcome.message), amount, memo)
    return RedirectResponse(f"/pay/done?tx={outcome.tx_id}", status_code=303)


def _payment_tx(wallet: Wallet, scanned: ScannedCode, amount: str, memo: str,
                ) -> tuple[str | None, dict[str, Any]]:
    if scanned.wallet_id is not None:
        return "currency.transfer", {"from_wallet": wallet.id, "to_wallet": scanned.wallet_id,
                                     "amount": amount, "memo": memo}
    if scanned.merchant_id is not None:
        return "payments.pay", {"merchant_id": scanned.merchant_id, "from_wallet": wallet.id,
                                "amount": amount, "order_id": scanned.order_id or "",
                                "memo": memo}
    return None, {}


@router.get("/pay/done")
async def done(request: Request, tx: str = "") -> Response:
    found = _person(request)
    if isinstance(found, Response):
        return found
    node = node_of(request)
    outcome = outcome_view(node, tx, session_key(request))
    if outcome is None:
        device_key = app_device(request, found).key
        if device_key is not None:
            outcome = outcome_view(node, tx, device_key)
    if outcome is None:
        return render(request, "error.html", 404, title="No such payment",
                      message="There is no payment of yours with that id.")
    return render(request, "pay_done.html", nav="pay", outcome=outcome, wallet=found)


# -- my codes ------------------------------------------------------------------------------------

@router.get("/pay/code")
async def my_code(request: Request) -> Response:
    found = _person(request)
    if isinstance(found, Response):
        return found
    wallet = found
    node = node_of(request)
    custody = custody_of(request)
    user = current_user(request)
    assert user is not None
    credential = _device_credential(request, wallet)
    key = (custody.device_signing_key(user.username) if credential is not None
           else custody.signing_key(user.username))
    now = now_ms()
    expires_ms = now + min(CODE_TTL_MS, CPM_TTL_MS_MAX)
    payment_code = make_cpm(key, node.chain_id, wallet.id, expires_ms, now)
    del key
    found_currency = currency.currency(node.chain.state, wallet.currency)
    numeric = found_currency.numeric if found_currency is not None else "000"
    name = (wallet.label or wallet.id).encode("ascii", "replace").decode()
    receive = receive_payload(wallet.id, name, "-", "CN", numeric)
    return render(request, "pay_code.html", nav="pay", wallet=wallet,
                  payment_code=payment_code, payment_svg=render_svg(payment_code, 5),
                  expires_ms=expires_ms, ttl_s=CODE_TTL_MS // 1000, by_device=bool(credential),
                  receive_code=receive, receive_svg=render_svg(receive, 5))


# -- the merchant's page -------------------------------------------------------------------------

def _merchant_context(request: Request, merchant: Merchant) -> dict[str, Any]:
    node = node_of(request)
    state = node.chain.state
    exponent = queries.exponent_of(state, merchant.currency)
    offset = day_offset_ms(state)
    now = now_ms()
    day_start = (now + offset) // DAY_MS * DAY_MS - offset
    totals = queries.day_totals(state, merchant.id, day_start)
    payments = [queries.payment_view(p, exponent) for _, p in
                queries.payments_of(state, merchant.id, limit=PAYMENTS_SHOWN)]
    return {"merchant": merchant, "payments": payments, "zone": zone_label(offset),
            "totals": {"payments": totals.payments, "paid": money(totals.paid_minor, exponent),
                       "refunded": money(totals.refunded_minor, exponent),
                       "net": money(totals.net_minor, exponent)}}


def _webhooks_context(request: Request, merchant: Merchant) -> dict[str, Any]:
    """The merchant's webhooks as the API lists them, each with its latest deliveries'
    outcome (the deliveries route's rows)."""
    notifier = get_notifier(request)
    hooks = []
    for hook in notifier.store.webhooks(merchant.id):
        recent = notifier.store.deliveries(hook.id, None, WEBHOOK_DELIVERIES_SHOWN)
        hooks.append({**hook.view(), "last": recent[0] if recent else None,
                      "recent": len(recent),
                      "failed": sum(1 for d in recent if d["status"] == FAILED)})
    return {"webhooks": hooks, "webhooks_max": notifier.webhooks_per_merchant_max}


def _merchant_view(request: Request, wallet: Wallet, merchant: Merchant,
                   status_code: int = 200, order: str = "", tx: str = "",
                   webhook_notice: str = "", webhook_error: str = "",
                   webhook_url: str = "") -> Response:
    node = node_of(request)
    state = node.chain.state
    shown = queries.order(state, merchant.id, order) if ORDER_ID.fullmatch(order) else None
    order_view = None
    if shown is not None:
        order_view = queries.order_view(shown, queries.exponent_of(state, shown.currency),
                                        node.chain.head.time_ms)
    return render(request, "merchant.html", status_code, nav="merchant", wallet=wallet,
                  order=order_view, outcome=outcome_view(node, tx, session_key(request)),
                  webhook_notice=webhook_notice, webhook_error=webhook_error,
                  webhook_url=webhook_url, webhook_signing=WEBHOOK_SIGNING,
                  **_merchant_context(request, merchant),
                  **_webhooks_context(request, merchant))


@router.get("/merchant")
async def merchant_page(request: Request, order: str = "", tx: str = "",
                        webhook: str = "") -> Response:
    found = _merchant_of(request)
    if isinstance(found, Response):
        return found
    wallet, merchant = found
    return _merchant_view(request, wallet, merchant, order=order, tx=tx,
                          webhook_notice=WEBHOOK_NOTICES.get(webhook, ""))


@router.get("/merchant/payments")
async def merchant_payments(request: Request) -> Response:
    """The payment list and totals, for the page to refresh in place."""
    found = _merchant_of(request)
    if isinstance(found, Response):
        return found
    return render(request, "_merchant_payments.html", **_merchant_context(request, found[1]))


async def _merchant_form(request: Request,
                         ) -> tuple[Wallet, Merchant, dict[str, str]] | Response:
    found = _merchant_of(request)
    if isinstance(found, Response):
        return found
    try:
        form = await read_form(request, custody_of(request).config.form_bytes_max)
    except FormError as exc:
        return render(request, "error.html", 400, title="Form refused", message=f"{exc}.")
    if not csrf_ok(request, form):
        return forbidden(request, "The form expired; reload the page.")
    return found[0], found[1], form


@router.post("/merchant/orders")
async def new_order(request: Request) -> Response:
    found = await _merchant_form(request)
    if isinstance(found, Response):
        return found
    _, merchant, form = found
    order_id = form.get("order_id", "").strip() or f"O-{now_ms():x}".upper()
    payload = {"merchant_id": merchant.id, "order_id": order_id,
               "amount": form.get("amount", "").strip()}
    user = current_user(request)
    assert user is not None
    outcome = await sign_and_submit(node_of(request), custody_of(request), user.username,
                                    "payments.create_order", payload)
    if outcome.accepted:
        return RedirectResponse(f"/merchant?order={order_id}", status_code=303)
    return RedirectResponse(f"/merchant?tx={outcome.tx_id}", status_code=303)


@router.post("/merchant/refund")
async def refund(request: Request) -> Response:
    found = await _merchant_form(request)
    if isinstance(found, Response):
        return found
    _, _, form = found
    payload = {"payment_id": form.get("payment_id", "").strip()[:64],
               "amount": form.get("amount", "").strip()[:24],
               "reason": form.get("reason", "").strip()[:140]}
    user = current_user(request)
    assert user is not None
    outcome = await sign_and_submit(node_of(request), custody_of(request), user.username,
                                    "payments.refund", payload)
    return RedirectResponse(f"/merchant?tx={outcome.tx_id}", status_code=303)


# -- the merchant's webhooks ---------------------------------------------------------------------
# The API's rules through the API's code (notify_api, the notification store); what differs is
# only how the merchant is known: the login's session (its key owns the settlement wallet, the
# rule of manages_webhooks) and the form's CSRF token, where the API takes a signed request.

async def _webhook_form(request: Request,
                        ) -> tuple[Wallet, Merchant, dict[str, str]] | Response:
    found = await _merchant_form(request)
    if isinstance(found, Response):
        return found
    user = current_user(request)
    assert user is not None
    if not manages_webhooks(node_of(request).chain.state, found[1], user.public_key):
        return forbidden(request, "Only the merchant's own key manages its webhooks.")
    return found


@router.get("/merchant/webhooks")
async def merchant_webhooks(request: Request) -> Response:
    """The webhook list, for the page to refresh in place (last deliveries)."""
    found = _merchant_of(request)
    if isinstance(found, Response):
        return found
    return render(request, "_merchant_webhooks.html", **_webhooks_context(request, found[1]))


@router.post("/merchant/webhooks")
async def add_webhook(request: Request) -> Response:
    found = await _webhook_form(request)
    if isinstance(found, Response):
        return found
    wallet, merchant, form = found
    # Only the ends are trimmed (a pasted URL); the store's rules judge the rest as the API's.
    url = form.get("url", "").strip()
    user = current_user(request)
    assert user is not None
    try:
        register_webhook(get_notifier(request), merchant, url, user.public_key)
    except WebhookRefused as exc:
        return _merchant_view(request, wallet, merchant, refused_status(exc),
                              webhook_error=f"Not added: {exc.message}.",
                              webhook_url=url)
    return RedirectResponse("/merchant?webhook=added#webhooks", status_code=303)


@router.post("/merchant/webhooks/delete")
async def delete_webhook(request: Request) -> Response:
    found = await _webhook_form(request)
    if isinstance(found, Response):
        return found
    wallet, merchant, form = found
    webhook_id = form.get("webhook_id", "")[:WEBHOOK_ID_CHARS_MAX]
    if not get_notifier(request).store.remove_webhook(merchant.id, webhook_id):
        return _merchant_view(request, wallet, merchant, 404, webhook_error=(
            f"Not deleted: {merchant.id} has no webhook {webhook_id!r} (deleted already?)."))
    return RedirectResponse("/merchant?webhook=deleted#webhooks", status_code=303)
