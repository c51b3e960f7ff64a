"""The reference client software: a wallet app, with switchable deliberate faults.

It stands in for a mobile wallet the way a lab drives one: the screens are HTML pages (login,
payment confirmation), the actions are HTTP calls, and the app's log and local storage can be
exported for inspection. It logs users in (argon2id hashes, server-side sessions in Secure,
HttpOnly cookies), shows the payee and amount of a scanned merchant code before the user
confirms with a PIN, pays with ``payments.pay_mpm`` txs signed by the wallet's key, and
publishes a package manifest signed by its vendor. Each fault in ``FAULTS`` breaks exactly one
examination item.
"""

from __future__ import annotations

import hashlib
import html
import io
import os
import threading
import time
import zipfile
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import argon2
import argon2.exceptions
import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from consortia.conformance.interface import PAY, TEST_ACCOUNT, manifest_message
from consortia.crypto.keys import SigningKey
from consortia.devices.common import (
    DeviceError,
    HostConfig,
    check_host,
    install_errors,
    recover,
    submit,
)
from consortia.modules.currency.types import WALLET_ID
from consortia.modules.payments.codes import read_merchant_code
from consortia.qr import QrError
from consortia.qr.currency import ALPHA_BY_NUMERIC
from consortia.sdk.client import build_tx

FAULTS: dict[str, str] = {
    "accept_wrong_password": "CS-01: any password opens the test account",
    "plain_http_upstream": "CS-02: the manifest declares a plain-HTTP upstream",
    "echo_password": "CS-03: a failed login sends the typed password back",
    "tampered_package": "CS-04: the package served is not the one the manifest signs",
    "log_secrets": "CS-05: the log records the login request and the PIN",
    "hide_payee": "CS-06: the payment confirmation shows the amount but not the payee",
}
FAULTY_PRESET = ("log_secrets", "hide_payee")

APP_ID = "consortia-reference-wallet"
APP_VERSION = "1.0.0"
UPSTREAMS = ("https://node.consortia.example", "https://wallet-api.consortia.example")
SESSION_COOKIE = "wallet_session"
SESSION_TTL_S = 900
SESSIONS_MAX = 1_000
CONFIRMATIONS_MAX = 1_000
LOG_ENTRIES_MAX = 500
PAYMENT_TIMEOUT_MS = 5_000
HSTS = "max-age=63072000; includeSubDomains"
PASSWORD_CHARS_MAX = 128  # argon2 hashes whatever it gets; a bound keeps a login cheap
PIN_CHARS_MAX = 12
PAYLOAD_CHARS_MAX = 1024
# A device's argon2id: cheaper than a server's, still memory-hard.
_hasher = argon2.PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)


@dataclass(frozen=True)
class Account:
    username: str
    password_hash: str
    pin_hash: str


def make_account(username: str, password: str, pin: str) -> Account:
    return Account(username, _hasher.hash(password), _hasher.hash(pin))


def _matches(hashed: str, secret: str) -> bool:
    try:
        return _hasher.verify(hashed, secret)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def build_package() -> bytes:
    """The installable package: a zip of the app's own source, byte-for-byte reproducible
    (fixed timestamps), so its digest is the same on every build."""
    source = Path(__file__).read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in (("wallet/app.py", source),
                           ("wallet/VERSION", f"{APP_ID} {APP_VERSION}\n".encode())):
            info = zipfile.ZipInfo(name, date_time=(2019, 10, 1, 0, 0, 0))
            package.writestr(info, data)
    return out.getvalue()


@dataclass
class Pending:
    """A payment shown to the user and waiting for the PIN."""

    username: str
    merchant_id: str
    order_id: str
    payee: str
    amount: str
    currency: str


@dataclass
class ClientApp:
    """The wallet app's logic, apart from HTTP (``client_app`` serves it)."""

    vendor: SigningKey
    accounts: dict[str, Account]
    faults: frozenset[str] = frozenset()
    wallet: SigningKey | None = None
    wallet_id: str = ""
    host: HostConfig | None = None
    package: bytes = field(default_factory=build_package)
    # token -> (user, monotonic expiry); confirmation id -> what it confirms
    _sessions: OrderedDict[str, tuple[str, float]] = field(
        default_factory=OrderedDict, init=False, repr=False)
    _pending: OrderedDict[str, Pending] = field(
        default_factory=OrderedDict, init=False, repr=False)
    _log: deque[dict[str, Any]] = field(
        default_factory=lambda: deque(maxlen=LOG_ENTRIES_MAX), init=False, repr=False)
    _storage: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = self.faults - FAULTS.keys()
        if unknown:
            raise ValueError(f"unknown client app faults: {', '.join(sorted(unknown))}")

    # -- the package and its manifest -----------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        """Signed by the vendor over the package's digest (the build it ships), whatever the
        server then serves."""
        clean = self.package
        upstreams = list(UPSTREAMS)
        if "plain_http_upstream" in self.faults:
            upstreams.append("http://telemetry.consortia.example")
        manifest: dict[str, Any] = {
            "app_id": APP_ID, "version": APP_VERSION, "upstreams": upstreams,
            "package": {"path": "/package", "sha256": hashlib.sha256(clean).hexdigest(),
                        "bytes": len(clean)},
            "vendor_key": self.vendor.public_key_hex}
        manifest["signature"] = self.vendor.sign(manifest_message(manifest)).hex()
        return manifest

    def package_bytes(self) -> bytes:
        if "tampered_package" in self.faults:
            return self.package + b"\n# patched after signing\n"
        return self.package

    # -- users and sessions -----------------------------------------------------------------

    def _note(self, event: str, **fields: Any) -> None:
        with self._lock:
            self._log.append({"time_ms": time.time_ns() // 1_000_000, "event": event, **fields})

    def login(self, username: str, password: str) -> str:
        """A new session token; DeviceError 401 for a wrong username or password."""
        if "log_secrets" in self.faults:
            self._note("login_request", request={"username": username, "password": password})
        account = self.accounts.get(username)
        ok = account is not None and len(password) <= PASSWORD_CHARS_MAX and (
            _matches(account.password_hash, password) or "accept_wrong_password" in self.faults)
        if not ok:
            self._note("login_refused", user=username[:40])
            extra = ({"form": {"username": username, "password": password}}
                     if "echo_password" in self.faults else {})
            raise DeviceError(401, "bad_login", "wrong username or password", **extra)
        token = os.urandom(32).hex()
        with self._lock:
            self._sessions[token] = (username, time.monotonic() + SESSION_TTL_S)
            while len(self._sessions) > SESSIONS_MAX:
                self._sessions.popitem(last=False)
            self._storage["last_user"] = username
        self._note("login", user=username)
        return token

    def user(self, token: str | None) -> str:
        """The user of a live session; DeviceError 401 otherwise."""
        with self._lock:
            found = self._sessions.get(token or "")
            if found is None or found[1] < time.monotonic():
                self._sessions.pop(token or "", None)
                raise DeviceError(401, "no_session", "log in first")
            return found[0]

    def logout(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    def account(self, username: str) -> dict[str, Any]:
        with self._lock:
            payments = list(self._storage.get("payments", []))
        return {"user": username, "payments": payments, "wallet_id": self.wallet_id,
                "wallet_key": None if self.wallet is None else self.wallet.public_key_hex}

    # -- paying a merchant-presented code ---------------------------------------------------

    def confirm(self, username: str, payload: str) -> tuple[str, Pending]:
        """Read a scanned merchant code: (confirmation id, what the user must confirm)."""
        if not 0 < len(payload) <= PAYLOAD_CHARS_MAX:
            raise DeviceError(400, "bad_code", f"a code is 1 to {PAYLOAD_CHARS_MAX} characters")
        try:
            scanned = read_merchant_code(payload)
        except QrError as exc:
            raise DeviceError(400, "bad_code", f"not a merchant code: {exc}"[:200]) from None
        currency = ALPHA_BY_NUMERIC.get(scanned.currency_numeric)
        if scanned.merchant_id is None:
            raise DeviceError(400, "other_scheme", "this code is of another payment scheme; "
                              "it cannot be paid on this network")
        if scanned.amount is None or currency is None:
            raise DeviceError(400, "bad_code", "the code names no amount or no known currency "
                              "(static codes are paid from the merchant's page)")
        pending = Pending(username, scanned.merchant_id, scanned.order_id or "",
                          scanned.merchant_name, scanned.amount, currency)
        confirmation = os.urandom(16).hex()
        with self._lock:
            self._pending[confirmation] = pending
            while len(self._pending) > CONFIRMATIONS_MAX:
                self._pending.popitem(last=False)
        return confirmation, pending

    def pay(self, username: str, confirmation: str, pin: str) -> dict[str, Any]:
        """Pay a confirmed code once the PIN matches: the host's final status."""
        with self._lock:
            pending = self._pending.get(confirmation)
        if pending is None or pending.username != username:
            raise DeviceError(404, "unknown_confirmation", "no payment waits for this "
                              "confirmation")
        if "log_secrets" in self.faults:
            self._note("pin_entered", pin=pin)
        account = self.accounts[username]
        if len(pin) > PIN_CHARS_MAX or not _matches(account.pin_hash, pin):
            raise DeviceError(403, "bad_pin", "wrong PIN")
        host, wallet = self.host, self.wallet
        if host is None or wallet is None or not self.wallet_id:
            raise DeviceError(409, "not_configured", "no host or wallet key configured")
        with self._lock:
            if self._pending.pop(confirmation, None) is None:
                raise DeviceError(404, "unknown_confirmation", "this payment was already made")
        stx = build_tx(wallet, host.chain_id, PAY, {
            "merchant_id": pending.merchant_id, "from_wallet": self.wallet_id,
            "amount": pending.amount, "order_id": pending.order_id})
        with httpx.Client(base_url=host.node_url, timeout=host.submit_timeout_ms / 1000) as http:
            try:
                status = submit(http, stx, host.submit_timeout_ms)
            except httpx.TimeoutException:
                status = recover(http, stx, host.submit_timeout_ms)
            except httpx.TransportError as exc:
                raise DeviceError(503, "host_unreachable", f"cannot reach the host: "
                                  f"{exc.__class__.__name__}") from None
        accepted = status.get("result", {}).get("status") == "accepted"
        out = {"status": "paid" if accepted else "declined", "tx_id": status["tx_id"],
               "payee": pending.payee, "amount": pending.amount, "currency": pending.currency}
        with self._lock:
            self._storage.setdefault("payments", []).append(status["tx_id"])
            del self._storage["payments"][:-LOG_ENTRIES_MAX]
        self._note("payment", tx_id=status["tx_id"], payee=pending.payee,
                   amount=pending.amount, currency=pending.currency, status=out["status"])
        return out

    def setup(self, node_url: str, chain_id: str, wallet_seed: str,
              wallet_id: str) -> dict[str, Any]:
        """The lab's test host, and the test wallet with its owner key."""
        try:
            wallet = SigningKey(bytes.fromhex(wallet_seed))
        except ValueError:
            raise DeviceError(400, "bad_wallet_seed", "wallet_seed is 32 bytes as hex") from None
        if not WALLET_ID.fullmatch(wallet_id):
            raise DeviceError(400, "bad_wallet_id", "wallet_id is 3 to 40 of a-z 0-9 _ -")
        self.host = check_host(node_url, chain_id, PAYMENT_TIMEOUT_MS)
        self.wallet, self.wallet_id = wallet, wallet_id
        with self._lock:
            self._storage["wallet"] = {"id": wallet_id, "key": wallet.public_key_hex}
        return {"node_url": self.host.node_url, "chain_id": chain_id, "wallet_id": wallet_id,
                "wallet_key": wallet.public_key_hex}

    def diagnostics(self) -> dict[str, Any]:
        """The app's log and local storage, as a support engineer would export them."""
        with self._lock:
            return {"log": list(self._log), "storage": dict(self._storage)}


def default_app(vendor: SigningKey, faults: frozenset[str] = frozenset(),
                accounts: dict[str, Account] | None = None) -> ClientApp:
    """The app with the lab's test account (interface.TEST_ACCOUNT) unless told otherwise."""
    if accounts is None:
        test = TEST_ACCOUNT
        accounts = {test["username"]: make_account(test["username"], test["password"],
                                                   test["pin"])}
    return ClientApp(vendor=vendor, accounts=accounts, faults=faults)


# -- pages ------------------------------------------------------------------------------------

def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}"
            "</body></html>")


LOGIN_PAGE = _page("Log in", (
    "<form method=\"post\" action=\"/login\">"
    "<label>User <input type=\"text\" name=\"username\" autocomplete=\"username\"></label>"
    "<label>Password <input type=\"password\" name=\"password\" autocomplete=\"off\"></label>"
    "<button type=\"submit\">Log in</button></form>"))


def confirmation_page(app: ClientApp, confirmation: str, pending: Pending) -> str:
    amount = f"{html.escape(pending.amount)} {html.escape(pending.currency)}"
    payee = ("" if "hide_payee" in app.faults
             else f"<p class=\"payee\">Pay to <strong>{html.escape(pending.payee)}</strong></p>")
    return _page("Confirm payment", (
        f"{payee}<p class=\"amount\">Amount <strong>{amount}</strong></p>"
        "<form method=\"post\" action=\"/pay\">"
        f"<input type=\"hidden\" name=\"confirmation\" value=\"{confirmation}\">"
        "<label>PIN <input type=\"password\" name=\"pin\" autocomplete=\"off\" "
        f"inputmode=\"numeric\" maxlength=\"{PIN_CHARS_MAX}\"></label>"
        "<button type=\"submit\">Pay</button></form>"))


# -- HTTP -------------------------------------------------------------------------------------


class SetupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node_url: str = Field(max_length=200)
    chain_id: str = Field(max_length=64)
    wallet_seed: str = Field(max_length=64)
    wallet_id: str = Field(max_length=40)


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=64)
    password: str = Field(max_length=PASSWORD_CHARS_MAX)


class ScanBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payload: str = Field(max_length=PAYLOAD_CHARS_MAX)


class PayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirmation: str = Field(max_length=64)
    pin: str = Field(max_length=PIN_CHARS_MAX)


def client_app(app_logic: ClientApp) -> FastAPI:
    """The wallet app's HTTP interface (docs/conformance.md)."""
    app = FastAPI(title="Reference wallet app", docs_url=None, redoc_url=None)
    install_errors(app)

    @app.middleware("http")
    async def transport_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["strict-transport-security"] = HSTS
        response.headers["cache-control"] = "no-store"
        return response

    def user_of(request: Request) -> str:
        return app_logic.user(request.cookies.get(SESSION_COOKIE))

    @app.get("/")
    def index() -> dict[str, Any]:
        return {"device": "client_software", "app_id": APP_ID, "version": APP_VERSION}

    @app.get("/manifest")
    def manifest() -> dict[str, Any]:
        return app_logic.manifest()

    @app.get("/package")
    def package() -> Response:
        return Response(app_logic.package_bytes(), media_type="application/zip")

    @app.post("/lab/setup")
    def setup(body: SetupBody) -> dict[str, Any]:
        return app_logic.setup(body.node_url, body.chain_id, body.wallet_seed, body.wallet_id)

    @app.get("/login", response_class=HTMLResponse)
    def login_page() -> str:
        return LOGIN_PAGE

    @app.post("/login")
    def login(body: LoginBody) -> JSONResponse:
        token = app_logic.login(body.username, body.password)
        response = JSONResponse({"user": body.username})
        response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_TTL_S, path="/",
                            secure=True, httponly=True, samesite="strict")
        return response

    @app.post("/logout")
    def logout(request: Request) -> JSONResponse:
        app_logic.logout(request.cookies.get(SESSION_COOKIE))
        response = JSONResponse({"status": "logged_out"})
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True,
                               samesite="strict")
        return response

    @app.get("/account")
    def account(request: Request) -> dict[str, Any]:
        return app_logic.account(user_of(request))

    @app.post("/pay/confirm", response_class=HTMLResponse)
    def confirm(body: ScanBody, request: Request) -> str:
        confirmation, pending = app_logic.confirm(user_of(request), body.payload)
        return confirmation_page(app_logic, confirmation, pending)

    @app.post("/pay")
    def pay(body: PayBody, request: Request) -> dict[str, Any]:
        return app_logic.pay(user_of(request), body.confirmation, body.pin)

    @app.get("/diagnostics")
    def diagnostics(request: Request) -> dict[str, Any]:
        user_of(request)
        return app_logic.diagnostics()

    return app
