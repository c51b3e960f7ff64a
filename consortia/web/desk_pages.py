"""The institutions' desks: operator bank, central bank, regulator.

Staff log in like anyone; their login holds their institution's member key, sealed in the
custody store, and every action is a transaction signed with it. A desk checks each form
before anything is signed (a bad form changes nothing and says why), then shows what the
ledger decided, with a link to the transaction and its receipt.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from consortia.crypto.keys import SigningKey, parse_public_key
from consortia.custody.signer import sign_and_submit
from consortia.custody.store import PERSON, CustodyError, User
from consortia.ledger.state import decode_value
from consortia.modules.currency import queries
from consortia.modules.currency.amounts import AmountError, parse_amount
from consortia.modules.currency.types import (
    FREEZE_REASONS,
    FROZEN,
    HOLDERS,
    LABEL_CHARS_MAX,
    TIER_ID,
    WALLET_ID,
    Currency,
    Supply,
    Wallet,
)
from consortia.modules.governance import queries as governance
from consortia.modules.governance.types import ACTIVE, NOTE_CHARS_MAX, Member
from consortia.web.access import (
    custody_of,
    forbidden,
    home_of,
    login_redirect,
    node_of,
    refused_form,
    staff_member,
)
from consortia.web.currency_views import explain, money, outcome_view, tier_view
from consortia.web.pages import render, session_key
from consortia.web.sessions import FormError, csrf_ok, current_user, read_form

router = APIRouter(include_in_schema=False)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Generated initial passwords: 12 random bytes, 16 characters.
INITIAL_PASSWORD_BYTES = 12

DESKS = {"bank": "/desk/bank", "central_bank": "/desk/central-bank",
         "regulator": "/desk/regulator", "certification_body": "/desk/certification"}


def _staff(request: Request, role: str) -> tuple[User, Member] | Response:
    """The logged-in staff user and their member, if it has ``role``; else the answer."""
    user = current_user(request)
    if user is None:
        return login_redirect(request)
    member = staff_member(request, user)
    if member is None or member.role != role:
        return forbidden(request, f"This desk is for {role.replace('_', ' ')} staff.")
    return user, member


async def _form(request: Request) -> dict[str, str] | Response:
    try:
        form = await read_form(request, custody_of(request).config.form_bytes_max)
    except FormError as exc:
        return render(request, "error.html", 400, title="Form refused", message=f"{exc}.")
    if not csrf_ok(request, form):
        return refused_form(request)
    return form


def _page_size(request: Request) -> int:
    node = node_of(request)
    return max(1, min(custody_of(request).config.desk_page_wallets, node.config.page_size_max))


class WalletRow:
    """A wallet as a desk lists it."""

    __slots__ = ("balance", "currency", "holder", "id", "label", "operator", "status", "tier")

    def __init__(self, wallet: Wallet, exponent: int) -> None:
        self.id = wallet.id
        self.label = wallet.label
        self.holder = wallet.holder
        self.currency = wallet.currency
        self.tier = wallet.tier
        self.balance = money(wallet.balance_minor, exponent)
        self.status = wallet.status
        self.operator = wallet.operator


def _exponents(currencies: list[Currency]) -> dict[str, int]:
    return {c.code: c.exponent for c in currencies}


@router.get("/desk")
async def desk(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return login_redirect(request)
    if home_of(user) != "/desk":
        return RedirectResponse(home_of(user), status_code=303)
    member = staff_member(request, user)
    if member is None or member.role not in DESKS:
        return forbidden(request, "Your institution has no desk on these pages.")
    return RedirectResponse(DESKS[member.role], status_code=303)


# -- operator bank -----------------------------------------------------------------------------

def _bank_page(request: Request, member: Member, *, after: str = "", tx: str | None = None,
               status_code: int = 200, errors: dict[str, str] | None = None,
               values: dict[str, dict[str, str]] | None = None,
               new_login: dict[str, str] | None = None) -> Response:
    node = node_of(request)
    state = node.chain.state
    currencies = queries.currencies(state)
    exponents = _exponents(currencies)
    reserves = []
    for c in currencies:
        found = queries.reserve(state, c.code, member.id)
        reserves.append({"currency": c, "balance": money(found.balance_minor if found else 0,
                                                         c.exponent)})
    size = _page_size(request)
    start = after if WALLET_ID.fullmatch(after) else ""
    wallets = queries.wallets_of_operator(node.store, member.id, size + 1, start)
    next_after = wallets[size - 1].id if len(wallets) > size else None
    rows = [WalletRow(w, exponents.get(w.currency, 2)) for w in wallets[:size]]
    tier_options = [(c.code, t) for c in currencies for t in queries.tiers(state, c.code)]
    tier_ids = sorted({t.tier for _, t in tier_options})
    return render(request, "bank_desk.html", status_code, nav="desk", member=member,
                  reserves=reserves, wallets=rows, after=start, next_after=next_after,
                  currencies=currencies, tier_options=tier_options, tier_ids=tier_ids,
                  holders=HOLDERS, reasons=FREEZE_REASONS,
                  outcome=outcome_view(node, tx, session_key(request)),
                  errors=errors or {}, values=values or {}, new_login=new_login)


@router.get("/desk/bank")
async def bank_desk(request: Request, after: str = "", tx: str | None = None) -> Response:
    found = _staff(request, "bank")
    if isinstance(found, Response):
        return found
    _, member = found
    return _bank_page(request, member, after=after, tx=tx)


def _operated_wallet(request: Request, member: Member, wallet_id: str,
                     ) -> tuple[Wallet | None, str]:
    if not WALLET_ID.fullmatch(wallet_id):
        return None, "A wallet id is 3 to 40 of a-z, 0-9, _ and -."
    wallet = queries.wallet(node_of(request).chain.state, wallet_id)
    if wallet is None:
        return None, f"There is no wallet {wallet_id}."
    if wallet.operator != member.id:
        return None, f"Wallet {wallet_id} is operated by another bank."
    return wallet, ""


def _after_action(request: Request, form: dict[str, str], wallet_id: str, tx_id: str,
                  desk_path: str) -> Response:
    if form.get("return_to") == "wallet" and WALLET_ID.fullmatch(wallet_id):
        return RedirectResponse(f"/wallets/{wallet_id}?tx={tx_id}", status_code=303)
    return RedirectResponse(f"{desk_path}?tx={tx_id}", status_code=303)


def _clean(form: dict[str, str], *names: str) -> dict[str, str]:
    return {n: form.get(n, "").strip() for n in names}


async def _staff_form(request: Request, role: str,
                      ) -> tuple[User, Member, dict[str, str]] | Response:
    """The staff user, their institution and the posted form (CSRF-checked), or an error page."""
    found = _staff(request, role)
    if isinstance(found, Response):
        return found
    form = await _form(request)
    if isinstance(form, Response):
        return form
    return found[0], found[1], form


async def _submit_wallet_action(request: Request, user: User, member: Member,
                                form: dict[str, str], section: str, values: dict[str, str],
                                kind: str, payload: dict[str, str]) -> Response:
    """Sign ``kind`` with the desk's custodial key and submit it; show the outcome."""
    outcome = await sign_and_submit(node_of(request), custody_of(request), user.username,
                                    kind, payload)
    if not outcome.committed and outcome.code != "pending":
        return _bank_page(request, member, status_code=503,
                          errors={section: explain(outcome.code, outcome.message)},
                          values={section: values})
    return _after_action(request, form, payload["wallet_id"], outcome.tx_id, "/desk/bank")


@router.post("/desk/bank/open")
async def bank_open_wallet(request: Request) -> Response:
    found = await _staff_form(request, "bank")
    if isinstance(found, Response):
        return found
    user, member, form = found
    v = _clean(form, "wallet_id", "currency_tier", "holder", "label", "owner_key")
    v["wallet_id"] = v["wallet_id"].lower()
    generate = form.get("generate") == "on"
    v["generate"] = "on" if generate else ""
    state = node_of(request).chain.state
    custody = custody_of(request)
    code, _, tier = v["currency_tier"].partition(":")
    error = ""
    if not WALLET_ID.fullmatch(v["wallet_id"]):
        error = "A wallet id is 3 to 40 of a-z, 0-9, _ and -, starting with a letter or digit."
    elif queries.wallet(state, v["wallet_id"]) is not None:
        error = f"A wallet {v['wallet_id']} already exists."
    elif queries.currency(state, code) is None or not any(
            t.tier == tier for t in queries.tiers(state, code)):
        error = "Choose a currency and tier from the list."
    elif v["holder"] not in HOLDERS:
        error = f"The holder is one of: {', '.join(HOLDERS)}."
    elif len(v["label"]) > LABEL_CHARS_MAX or _CONTROL.search(v["label"]):
        error = f"A label is at most {LABEL_CHARS_MAX} characters of plain text."
    elif generate and custody.user(v["wallet_id"]) is not None:
        error = f"The login name {v['wallet_id']} is taken; choose another wallet id."
    elif not generate:
        try:
            parse_public_key(v["owner_key"])
        except ValueError as exc:
            error = (f"Owner key: {exc}. Paste the owner's Ed25519 public key, or tick "
                     "“generate a custodial login”.")
    if error:
        return _bank_page(request, member, status_code=400, errors={"open": error},
                          values={"open": v})
    key = SigningKey.generate() if generate else None
    owner_key = key.public_key_hex if key is not None else v["owner_key"]
    payload = {"wallet_id": v["wallet_id"], "currency": code, "owner_key": owner_key,
               "tier": tier, "holder": v["holder"], "label": v["label"]}
    outcome = await sign_and_submit(node_of(request), custody, user.username,
                                    "currency.open_wallet", payload)
    if not outcome.committed and outcome.code != "pending":
        return _bank_page(request, member, status_code=503,
                          errors={"open": explain(outcome.code, outcome.message)},
                          values={"open": v})
    if key is None or not outcome.accepted:
        return _after_action(request, form, v["wallet_id"], outcome.tx_id, "/desk/bank")
    password = secrets.token_urlsafe(INITIAL_PASSWORD_BYTES)
    try:
        # argon2 hashing takes a fifth of a second of CPU: off the event loop.
        await asyncio.to_thread(
            custody.add_user, v["wallet_id"], password,
            display_name=v["label"] or v["wallet_id"], kind=PERSON, institution=member.id,
            key=key, wallet_id=v["wallet_id"])
    except CustodyError as exc:
        return _bank_page(request, member, tx=outcome.tx_id, status_code=409, errors={
            "open": f"The wallet was opened, but its login could not be made: {exc}."})
    # Shown once, on this response only: the store keeps just its argon2 hash.
    return _bank_page(request, member, tx=outcome.tx_id,
                      new_login={"username": v["wallet_id"], "password": password})


@router.post("/desk/bank/tier")
async def bank_set_tier(request: Request) -> Response:
    found = await _staff_form(request, "bank")
    if isinstance(found, Response):
        return found
    user, member, form = found
    v = _clean(form, "wallet_id", "tier")
    v["wallet_id"] = v["wallet_id"].lower()
    wallet, error = _operated_wallet(request, member, v["wallet_id"])
    if wallet is not None:
        tiers = queries.tiers(node_of(request).chain.state, wallet.currency)
        if not any(t.tier == v["tier"] for t in tiers):
            error = (f"{wallet.currency} has no tier {v['tier'][:40]!r}; it has "
                     f"{', '.join(t.tier for t in tiers)}.")
        elif wallet.tier == v["tier"]:
            error = f"Wallet {wallet.id} is already in tier {wallet.tier}."
    if error:
        return _bank_page(request, member, status_code=400, errors={"tier": error},
                          values={"tier": v})
    return await _submit_wallet_action(
        request, user, member, form, "tier", v, "currency.set_wallet_tier",
        {"wallet_id": v["wallet_id"], "tier": v["tier"]})


@router.post("/desk/bank/distribute")
async def bank_distribute(request: Request) -> Response:
    found = await _staff_form(request, "bank")
    if isinstance(found, Response):
        return found
    user, member, form = found
    v = _clean(form, "wallet_id", "amount")
    v["wallet_id"] = v["wallet_id"].lower()
    wallet, error = _operated_wallet(request, member, v["wallet_id"])
    if wallet is not None:
        currency = queries.currency(node_of(request).chain.state, wallet.currency)
        assert currency is not None
        try:
            parse_amount(v["amount"], currency.exponent)
        except AmountError as exc:
            error = f"Amount: {exc}."
    if error:
        return _bank_page(request, member, status_code=400, errors={"distribute": error},
                          values={"distribute": v})
    return await _submit_wallet_action(
        request, user, member, form, "distribute", v, "currency.distribute",
        {"wallet_id": v["wallet_id"], "amount": v["amount"]})


@router.post("/desk/bank/freeze")
async def bank_freeze(request: Request) -> Response:
    found = await _staff_form(request, "bank")
    if isinstance(found, Response):
        return found
    user, member, form = found
    v = _clean(form, "wallet_id", "reason", "action")
    v["wallet_id"] = v["wallet_id"].lower()
    wallet, error = _operated_wallet(request, member, v["wallet_id"])
    if wallet is not None:
        if v["action"] not in ("freeze", "unfreeze"):
            error = "Choose freeze or unfreeze."
        elif v["reason"] not in FREEZE_REASONS:
            error = "Choose a reason from the list."
        elif v["action"] == "freeze" and wallet.status == FROZEN:
            error = f"Wallet {wallet.id} is already frozen ({wallet.freeze_reason})."
        elif v["action"] == "unfreeze" and wallet.status != FROZEN:
            error = f"Wallet {wallet.id} is not frozen."
    if error:
        return _bank_page(request, member, status_code=400, errors={"freeze": error},
                          values={"freeze": v})
    return await _submit_wallet_action(
        request, user, member, form, "freeze", v, f"currency.{v['action']}",
        {"wallet_id": v["wallet_id"], "reason": v["reason"]})


# -- central bank ------------------------------------------------------------------------------

def _central_bank_page(request: Request, member: Member, *, tx: str | None = None,
                       status_code: int = 200, errors: dict[str, str] | None = None,
                       values: dict[str, dict[str, str]] | None = None) -> Response:
    node = node_of(request)
    state = node.chain.state
    members = governance.members(state)
    names = {m.id: m.name for m in members}
    banks = [m for m in members if m.role == "bank" and m.status == ACTIVE]
    issued = [c for c in queries.currencies(state) if c.issuer == member.id]
    views = []
    for c in issued:
        supply = queries.supply(state, c.code)
        s = supply or Supply(c.code)
        views.append({
            "currency": c,
            "supply": {
                "issued": money(s.issued_minor, c.exponent),
                "redeemed": money(s.redeemed_minor, c.exponent),
                "outstanding": money(s.issued_minor - s.redeemed_minor, c.exponent),
                "in_reserves": money(s.in_reserves_minor, c.exponent),
                "in_wallets": money(s.in_wallets_minor, c.exponent),
            },
            "reserves": [{"bank": r.bank, "name": names.get(r.bank, r.bank),
                          "balance": money(r.balance_minor, c.exponent)}
                         for r in queries.reserves(state, c.code)],
            "tiers": [tier_view(t, c.exponent) for t in sorted(
                queries.tiers(state, c.code),
                key=lambda t: (t.balance_max_minor, t.daily_max_minor, t.tier))],
        })
    return render(request, "central_bank_desk.html", status_code, nav="desk", member=member,
                  currencies=views, banks=banks,
                  outcome=outcome_view(node, tx, session_key(request)),
                  errors=errors or {}, values=values or {}, note_chars_max=NOTE_CHARS_MAX)


@router.get("/desk/central-bank")
async def central_bank_desk(request: Request, tx: str | None = None) -> Response:
    found = _staff(request, "central_bank")
    if isinstance(found, Response):
        return found
    _, member = found
    return _central_bank_page(request, member, tx=tx)


def _own_currency(request: Request, member: Member, code: str) -> tuple[Currency | None, str]:
    currency = queries.currency(node_of(request).chain.state, code)
    if currency is None or currency.issuer != member.id:
        return None, "Choose one of the currencies your bank issues."
    return currency, ""


@router.post("/desk/central-bank/issue")
async def central_bank_issue(request: Request) -> Response:
    found = await _staff_form(request, "central_bank")
    if isinstance(found, Response):
        return found
    user, member, form = found
    v = _clean(form, "currency", "bank", "amount", "action")
    currency, error = _own_currency(request, member, v["currency"])
    bank = governance.member(node_of(request).chain.state, v["bank"])
    if not error:
        if v["action"] not in ("issue", "redeem"):
            error = "Choose issue or redeem."
        elif bank is None or bank.role != "bank" or bank.status != ACTIVE:
            error = "Choose an active bank from the list."
        else:
            assert currency is not None
            try:
                parse_amount(v["amount"], currency.exponent)
            except AmountError as exc:
                error = f"Amount: {exc}."
    if error:
        return _central_bank_page(request, member, status_code=400, errors={"issue": error},
                                  values={"issue": v})
    outcome = await sign_and_submit(node_of(request), custody_of(request), user.username,
                                    f"currency.{v['action']}",
                                    {"currency": v["currency"], "bank": v["bank"],
                                     "amount": v["amount"]})
    if not outcome.committed and outcome.code != "pending":
        return _central_bank_page(request, member, status_code=503,
                                  errors={"issue": explain(outcome.code, outcome.message)},
                                  values={"issue": v})
    return RedirectResponse(f"/desk/central-bank?tx={outcome.tx_id}", status_code=303)


@router.post("/desk/central-bank/tier")
async def central_bank_propose_tier(request: Request) -> Response:
    found = await _staff_form(request, "central_bank")
    if isinstance(found, Response):
        return found
    user, member, form = found
    v = _clean(form, "currency", "tier", "name", "balance_max", "payment_max", "daily_max",
               "note")
    v["tier"] = v["tier"].lower()
    currency, error = _own_currency(request, member, v["currency"])
    limits: dict[str, int] = {}
    if not error:
        assert currency is not None
        if not TIER_ID.fullmatch(v["tier"]):
            error = "A tier id is 3 to 40 of a-z, 0-9, _ and -."
        elif not 0 < len(v["name"]) <= LABEL_CHARS_MAX or _CONTROL.search(v["name"]):
            error = f"Give the tier a name of 1 to {LABEL_CHARS_MAX} characters."
        elif len(v["note"]) > NOTE_CHARS_MAX or _CONTROL.search(v["note"]):
            error = f"A note is at most {NOTE_CHARS_MAX} characters of plain text."
        else:
            for field, words in (("balance_max", "Balance limit"),
                                 ("payment_max", "Per-payment limit"),
                                 ("daily_max", "Daily limit")):
                try:
                    limits[field] = parse_amount(v[field], currency.exponent)
                except AmountError as exc:
                    error = f"{words}: {exc}."
                    break
            if not error and (limits["payment_max"] > limits["daily_max"]
                              or limits["payment_max"] > limits["balance_max"]):
                error = "The per-payment limit may not be more than the daily or balance limit."
    if error:
        return _central_bank_page(request, member, status_code=400, errors={"tier": error},
                                  values={"tier": v})
    action: dict[str, Any] = {
        "type": "invoke", "kind": "currency.set_tier",
        "payload": {"currency": v["currency"], "tier": v["tier"], "name": v["name"],
                    "balance_max": v["balance_max"], "payment_max": v["payment_max"],
                    "daily_max": v["daily_max"]},
    }
    note = v["note"] or f"New limits for {v['currency']} tier {v['tier']}"
    outcome = await sign_and_submit(node_of(request), custody_of(request), user.username,
                                    "governance.propose", {"action": action, "note": note})
    if not outcome.committed and outcome.code != "pending":
        return _central_bank_page(request, member, status_code=503,
                                  errors={"tier": explain(outcome.code, outcome.message)},
                                  values={"tier": v})
    return RedirectResponse(f"/desk/central-bank?tx={outcome.tx_id}", status_code=303)


# -- regulator ---------------------------------------------------------------------------------

@router.get("/desk/regulator")
async def regulator_desk(request: Request, after: str = "", wallet: str = "") -> Response:
    found = _staff(request, "regulator")
    if isinstance(found, Response):
        return found
    _, member = found
    wanted = wallet.strip().lower()
    if wanted:
        if WALLET_ID.fullmatch(wanted):
            return RedirectResponse(f"/wallets/{wanted}", status_code=303)
        return render(request, "error.html", 400, title="Not a wallet id",
                      message="A wallet id is 3 to 40 of a-z, 0-9, _ and -.")
    node = node_of(request)
    state = node.chain.state
    currencies = queries.currencies(state)
    exponents = _exponents(currencies)
    names = {m.id: m.name for m in governance.members(state)}
    supplies = []
    for c in currencies:
        s = queries.supply(state, c.code) or Supply(c.code)
        supplies.append({"currency": c, "issuer": names.get(c.issuer, c.issuer),
                         "outstanding": money(s.issued_minor - s.redeemed_minor, c.exponent),
                         "in_reserves": money(s.in_reserves_minor, c.exponent),
                         "in_wallets": money(s.in_wallets_minor, c.exponent)})
    size = _page_size(request)
    start = after if WALLET_ID.fullmatch(after) else ""
    rows = node.store.state_scan("currency/wallet/", size + 1,
                                 f"currency/wallet/{start}" if start else "")
    wallets = [decode_value(raw, Wallet) for _, raw in rows]
    next_after = wallets[size - 1].id if len(wallets) > size else None
    return render(request, "regulator_desk.html", nav="desk", member=member,
                  supplies=supplies, names=names,
                  wallets=[WalletRow(w, exponents.get(w.currency, 2)) for w in wallets[:size]],
                  after=start, next_after=next_after)
