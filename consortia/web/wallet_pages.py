"""The custodial web wallet: log in and out, a wallet with its statement, transfers, CSV.

A person sees only their own wallet; its operator bank's staff and the regulator see it
read-only (``queries.may_read_wallet``). Transfers are signed on the server with the person's
custodial key and run on this node; the page then shows what the ledger decided.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, NamedTuple

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from consortia.custody.signer import sign_and_submit
from consortia.custody.store import User
from consortia.ledger.tx import DeviceCredential
from consortia.modules.certification import queries as cfp
from consortia.modules.certification.logic import effective_status
from consortia.modules.certification.types import USABLE
from consortia.modules.currency import queries
from consortia.modules.currency.amounts import AmountError, parse_amount
from consortia.modules.currency.types import (
    FREEZE_REASONS,
    FROZEN,
    MEMO_CHARS_MAX,
    WALLET_ID,
    Wallet,
    WalletDevice,
)
from consortia.modules.currency.types import device_key_of as wallet_device_of
from consortia.modules.governance import queries as governance
from consortia.node.orderer import now_ms
from consortia.web.access import (
    custody_of,
    forbidden,
    home_of,
    login_redirect,
    node_of,
    person_user,
    refused_form,
    staff_member,
)
from consortia.web.currency_views import (
    day_offset_ms,
    entry_line,
    explain,
    money,
    outcome_view,
    tier_view,
    zone_label,
)
from consortia.web.pages import render, session_key
from consortia.web.sessions import (
    FormError,
    clear_session_cookie,
    csrf_ok,
    current_user,
    read_form,
    safe_next,
    same_origin,
    session_token,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)

USERNAME_CHARS_MAX = 40
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEQ = re.compile(r"[0-9]{1,12}")


# -- logging in and out ------------------------------------------------------------------------

def _login_page(request: Request, status_code: int = 200, error: str = "", username: str = "",
                next_path: str = "") -> Response:
    expired = bool(getattr(request.state, "session_expired", False))
    response = render(request, "login.html", status_code, nav="login", error=error,
                      username=username, next_path=next_path, expired=expired and not error)
    if expired:
        clear_session_cookie(request, response)
    return response


@router.get("/login")
async def login_page(request: Request, next: str = "") -> Response:
    user = current_user(request)
    if user is not None:
        return RedirectResponse(safe_next(next, home_of(user)), status_code=303)
    return _login_page(request, next_path=safe_next(next, ""))


@router.post("/login")
async def login(request: Request) -> Response:
    custody = custody_of(request)
    try:
        form = await read_form(request, custody.config.form_bytes_max)
    except FormError as exc:
        return _login_page(request, 400, error=f"The form could not be read: {exc}.")
    username = form.get("username", "").strip().lower()[:USERNAME_CHARS_MAX]
    password = form.get("password", "")
    next_path = safe_next(form.get("next"), "")
    if not same_origin(request):
        return _login_page(request, 403, error="This form came from another site; log in "
                           "from this page.", next_path=next_path)
    if not username or not password:
        return _login_page(request, 400, error="Enter your username and password.",
                           username=username, next_path=next_path)
    # argon2 takes a fifth of a second of CPU: off the event loop.
    logged_in = await asyncio.to_thread(custody.login, username, password)
    if logged_in is None:
        await asyncio.sleep(custody.config.login_failure_delay_ms / 1000)
        return _login_page(request, 401, error="Wrong username or password.",
                           username=username, next_path=next_path)
    token, session = logged_in
    response = RedirectResponse(safe_next(next_path, home_of(session.user)), status_code=303)
    set_session_cookie(request, response, token, custody.config.session_ttl_s)
    return response


@router.get("/logout")
async def logout_page(request: Request) -> Response:
    if current_user(request) is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "logout.html")


@router.post("/logout")
async def logout(request: Request) -> Response:
    custody = custody_of(request)
    try:
        form = await read_form(request, custody.config.form_bytes_max)
    except FormError:
        form = {}
    token = session_token(request)
    if current_user(request) is not None and not csrf_ok(request, form):
        return refused_form(request)
    if token:
        custody.logout(token)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(request, response)
    return response


# -- the wallet --------------------------------------------------------------------------------

def _before(text: str | None) -> int | None:
    return int(text) if text is not None and _SEQ.fullmatch(text) else None


def _history(request: Request, wallet: Wallet, before: int | None) -> dict[str, Any]:
    node = node_of(request)
    state = node.chain.state
    currency = queries.currency(state, wallet.currency)
    exponent = currency.exponent if currency else 2
    size = max(1, min(custody_of(request).config.history_page_entries,
                      node.config.page_size_max))
    entries = queries.latest_entries(node.store, state, wallet.id, size, before)
    names = {m.id: m.name for m in governance.members(state)}
    offset = day_offset_ms(state)
    lines = [entry_line(e, exponent, offset, names) for e in entries]
    next_before = entries[-1].seq if entries and entries[-1].seq > 0 else None
    return {"entries": lines, "next_before": next_before, "zone": zone_label(offset)}


def _wallet_context(request: Request, wallet: Wallet, role: str, before: int | None,
                    ) -> dict[str, Any]:
    node = node_of(request)
    state = node.chain.state
    currency = queries.currency(state, wallet.currency)
    exponent = currency.exponent if currency else 2
    tier = next((t for t in queries.tiers(state, wallet.currency) if t.tier == wallet.tier), None)
    spent = queries.spent_today_minor(state, wallet, now_ms())
    remaining = max(0, tier.daily_max_minor - spent) if tier else 0
    operator = governance.member(state, wallet.operator)
    return {
        "wallet": wallet,
        "currency": currency,
        "balance": money(wallet.balance_minor, exponent),
        "tier": tier_view(tier, exponent) if tier else None,
        "remaining_today": money(remaining, exponent),
        "spent_today": money(spent, exponent),
        "frozen": wallet.status == FROZEN,
        "operator_name": operator.name if operator else wallet.operator,
        "role": role,
        "history": _history(request, wallet, before),
        "memo_chars_max": MEMO_CHARS_MAX,
        "reasons": FREEZE_REASONS,
        "app_device": app_device(request, wallet) if role == "owner" else None,
    }


# -- this app instance as a certified device ---------------------------------------------------

class AppDevice(NamedTuple):
    """The logged-in person's app instance: its device key, what the registry says of it, and
    whether it may spend from the wallet."""

    key: str | None  # None: no device key yet
    certificate: str = ""  # registered under this certificate number ("" if not registered)
    vendor: str = ""
    model: str = ""
    version: str = ""
    status: str = ""  # the certificate's effective status now
    credential: DeviceCredential | None = None  # when the vendor published it
    bound: bool = False  # bound to this wallet
    bound_elsewhere: bool = False

    @property
    def usable(self) -> bool:
        return self.status in USABLE

    @property
    def can_pay(self) -> bool:
        return self.bound and self.credential is not None


def app_device(request: Request, wallet: Wallet) -> AppDevice:
    user = current_user(request)
    key = None if user is None else custody_of(request).device_public_key(user.username)
    if key is None:
        return AppDevice(None)
    state = node_of(request).chain.state
    binding = state.get(wallet_device_of(key), WalletDevice)
    bound = binding is not None and binding.wallet_id == wallet.id
    device = cfp.device(state, key)
    if device is None:
        return AppDevice(key, bound=bound, bound_elsewhere=binding is not None and not bound)
    cert = cfp.certificate(state, device.certificate)
    holder = cfp.vendor(state, device.vendor)
    credential = None
    if device.credential_signature and holder is not None:
        credential = DeviceCredential(device_key=key, product_id=device.certificate,
                                      model=device.model, version=device.version,
                                      vendor_key=holder.key,
                                      signature=device.credential_signature)
    return AppDevice(key, device.certificate, device.vendor, device.model, device.version,
                     "" if cert is None else effective_status(cert, now_ms()), credential,
                     bound, binding is not None and not bound)


async def _owner_form(request: Request) -> tuple[User, Wallet, dict[str, str]] | Response:
    """The logged-in person, their wallet and the form of a POST, or the refusal."""
    custody = custody_of(request)
    user = current_user(request)
    if user is None:
        return login_redirect(request)
    try:
        form = await read_form(request, custody.config.form_bytes_max)
    except FormError as exc:
        return render(request, "error.html", 400, title="Form refused", message=f"{exc}.")
    if not csrf_ok(request, form):
        return refused_form(request)
    wallet = _own_wallet(request)
    if wallet is None:
        return forbidden(request, "Only a person with a wallet can do this.")
    return user, wallet, form


@router.post("/wallet/device/new")
async def new_app_device(request: Request) -> Response:
    """Create this app instance's device key: the vendor registers it next, then the owner
    binds it to the wallet."""
    found = await _owner_form(request)
    if isinstance(found, Response):
        return found
    user, _, _ = found
    custody = custody_of(request)
    if custody.device_public_key(user.username) is None:
        await asyncio.to_thread(custody.create_device_key, user.username)
    return RedirectResponse("/wallet#app-device", status_code=303)


@router.post("/wallet/device/bind")
async def bind_app_device(request: Request) -> Response:
    """The owner key lets this app instance spend from the wallet (currency.bind_device)."""
    found = await _owner_form(request)
    if isinstance(found, Response):
        return found
    user, wallet, _ = found
    device = app_device(request, wallet)
    if device.key is None:
        return _wallet_page(request, wallet, "owner", status_code=400,
                            error="Create this app's device key first.")
    outcome = await sign_and_submit(node_of(request), custody_of(request), user.username,
                                    "currency.bind_device",
                                    {"wallet_id": wallet.id, "device_key": device.key,
                                     "label": "web wallet app"})
    if not outcome.committed and outcome.code != "pending":
        return _wallet_page(request, wallet, "owner", status_code=503,
                            error=explain(outcome.code, outcome.message))
    return RedirectResponse(f"/wallet?tx={outcome.tx_id}", status_code=303)


def _viewer_role(request: Request, wallet: Wallet) -> str | None:
    """owner, operator or regulator; None if the logged-in user may not see this wallet."""
    user = current_user(request)
    if user is None:
        return None
    state = node_of(request).chain.state
    right = queries.may_read_wallet(state, wallet, user.public_key)
    if not right.allowed:
        return None
    if right.why != "owner" and staff_member(request, user) is None:
        return None
    return right.why


def _own_wallet(request: Request) -> Wallet | None:
    user = person_user(request)
    if user is None or user.wallet_id is None:
        return None
    wallet = queries.wallet(node_of(request).chain.state, user.wallet_id)
    if wallet is None or wallet.owner_key != user.public_key:
        return None
    return wallet


def _wallet_page(request: Request, wallet: Wallet, role: str, *, before: int | None = None,
                 tx: str | None = None, status_code: int = 200, error: str = "",
                 form: dict[str, str] | None = None) -> Response:
    context = _wallet_context(request, wallet, role, before)
    outcome = outcome_view(node_of(request), tx, session_key(request))
    app_key = context["app_device"].key if context["app_device"] is not None else None
    if outcome is None and app_key is not None:
        outcome = outcome_view(node_of(request), tx, app_key)  # paid by this app instance
    extra = ""
    if outcome is not None and outcome.code == "daily_limit":
        extra = (f" You can still send {context['remaining_today']} "
                 f"{wallet.currency} today.")
    return render(request, "wallet.html", status_code, nav="wallet" if role == "owner" else "desk",
                  outcome=outcome, outcome_extra=extra, error=error, form=form or {},
                  **context)


@router.get("/wallet")
async def my_wallet(request: Request, before: str | None = None, tx: str | None = None,
                    ) -> Response:
    user = current_user(request)
    if user is None:
        return login_redirect(request)
    if person_user(request) is None:
        return RedirectResponse(home_of(user), status_code=303)
    wallet = _own_wallet(request)
    if wallet is None:
        return render(request, "error.html", 404, title="No wallet",
                      message="Your login has no wallet on this ledger yet. Ask your bank.")
    return _wallet_page(request, wallet, "owner", before=_before(before), tx=tx)


@router.post("/wallet/transfer")
async def transfer(request: Request) -> Response:
    found = await _owner_form(request)
    if isinstance(found, Response):
        return found
    user, wallet, form = found
    custody = custody_of(request)
    to_wallet = form.get("to", "").strip().lower()
    amount_text = form.get("amount", "").strip()
    memo = form.get("memo", "").strip()
    by_device = form.get("sign_with") == "device"
    values = {"to": to_wallet, "amount": amount_text, "memo": memo,
              "sign_with": "device" if by_device else "wallet"}
    state = node_of(request).chain.state
    currency = queries.currency(state, wallet.currency)
    assert currency is not None, wallet.currency
    error = ""
    receiver = queries.wallet(state, to_wallet) if WALLET_ID.fullmatch(to_wallet) else None
    if not WALLET_ID.fullmatch(to_wallet):
        error = "A wallet id is 3 to 40 of a-z, 0-9, _ and -."
    elif to_wallet == wallet.id:
        error = "You cannot send to your own wallet."
    elif receiver is None:
        error = f"There is no wallet {to_wallet}."
    elif receiver.currency != wallet.currency:
        error = (f"Wallet {to_wallet} holds {receiver.currency}; yours holds "
                 f"{wallet.currency}. Send to a {wallet.currency} wallet.")
    elif len(memo) > MEMO_CHARS_MAX or _CONTROL.search(memo):
        error = f"A memo is at most {MEMO_CHARS_MAX} characters of plain text."
    else:
        try:
            parse_amount(amount_text, currency.exponent)
        except AmountError as exc:
            error = f"Amount: {exc}."
    credential = None
    if not error and by_device:
        device = app_device(request, wallet)
        credential = device.credential
        if not device.can_pay or credential is None:
            error = ("This app cannot pay as a device yet: its vendor must register it with a "
                     "credential and you must bind it to this wallet.")
    if error:
        return _wallet_page(request, wallet, "owner", status_code=400, error=error, form=values)
    payload: dict[str, Any] = {"from_wallet": wallet.id, "to_wallet": to_wallet,
                               "amount": amount_text, "memo": memo}
    outcome = await sign_and_submit(node_of(request), custody, user.username,
                                    "currency.transfer", payload, device=credential)
    if not outcome.committed and outcome.code != "pending":
        return _wallet_page(request, wallet, "owner", status_code=503,
                            error=explain(outcome.code, outcome.message), form=values)
    return RedirectResponse(f"/wallet?tx={outcome.tx_id}", status_code=303)


# -- any wallet, for those allowed -------------------------------------------------------------

def _readable_wallet(request: Request, wallet_id: str) -> tuple[Wallet, str] | Response:
    user = current_user(request)
    if user is None:
        return login_redirect(request)
    wallet = (queries.wallet(node_of(request).chain.state, wallet_id)
              if WALLET_ID.fullmatch(wallet_id) else None)
    role = None if wallet is None else _viewer_role(request, wallet)
    if wallet is None or role is None:
        if person_user(request) is not None:
            return forbidden(request, "You can see only your own wallet.")
        if wallet is None:
            return render(request, "error.html", 404, title="Wallet not found",
                          message=f"There is no wallet {wallet_id[:40]} on this ledger.")
        return forbidden(request, "Only the wallet's owner, its operator bank and the "
                                  "regulator can see a wallet.")
    return wallet, role


@router.get("/wallets/{wallet_id}")
async def wallet_page(request: Request, wallet_id: str, before: str | None = None,
                      tx: str | None = None) -> Response:
    found = _readable_wallet(request, wallet_id)
    if isinstance(found, Response):
        return found
    wallet, role = found
    return _wallet_page(request, wallet, role, before=_before(before), tx=tx)


@router.get("/wallets/{wallet_id}/history")
async def wallet_history(request: Request, wallet_id: str, before: str | None = None,
                         ) -> Response:
    """Older statement lines, for htmx to append to the history table."""
    found = _readable_wallet(request, wallet_id)
    if isinstance(found, Response):
        return found
    wallet, _ = found
    return render(request, "_wallet_history.html", wallet=wallet,
                  history=_history(request, wallet, _before(before)))


@router.get("/wallets/{wallet_id}/statement.csv")
async def statement_csv(request: Request, wallet_id: str) -> Response:
    found = _readable_wallet(request, wallet_id)
    if isinstance(found, Response):
        return found
    wallet, _ = found
    node = node_of(request)
    state = node.chain.state
    currency = queries.currency(state, wallet.currency)
    rows_max = custody_of(request).config.statement_csv_rows_max
    entries = queries.latest_entries(node.store, state, wallet.id, rows_max)
    body = queries.statement_csv(entries, currency.exponent if currency else 2)
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="statement-{wallet.id}.csv"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    })
