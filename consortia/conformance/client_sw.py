"""The CLIENT_SW suite: items CS-01 to CS-06 against a client app's HTTP endpoint.

The lab drives the app as a tester drives a phone: it logs in with the test account, reads the
pages the app shows (login form, payment confirmation), pays a merchant code the lab made, and
exports the app's log and local storage. The app's payments go to the lab's host simulator and
are signed with a wallet key the lab provisions, so the suite knows every secret it must not
find where it should not be.
"""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.parse
from dataclasses import dataclass
from html.parser import HTMLParser

from consortia.conformance.exam import PACKAGE_BYTES_MAX, Answer, Exam, require
from consortia.conformance.interface import (
    CLIENT_SW,
    HSTS_MAX_AGE_S_MIN,
    LAB_WALLET_ID,
    PAY,
    manifest_message,
)
from consortia.conformance.runner import Suite
from consortia.crypto.keys import SigningKey, verify
from consortia.qr.currency import currency_numeric
from consortia.qr.mpm import CONSORTIA_GUID, MerchantCode, encode_mpm

# Payees the lab's merchant codes name: (name, city, country, amount, currency).
PAYEES = (("Harbor Teahouse", "Hong Kong", "HK", "12.30", "CNY"),
          ("Lantau Books", "Hong Kong", "HK", "88.08", "HKD"))


@dataclass(frozen=True)
class Session:
    cookie: str  # "name=value", as sent back
    attributes: dict[str, str]  # lower-case attribute names of the Set-Cookie


def parse_set_cookie(header: str) -> Session:
    pair, *attrs = [part.strip() for part in header.split(";")]
    attributes = {}
    for attr in attrs:
        name, _, value = attr.partition("=")
        attributes[name.strip().lower()] = value.strip()
    return Session(pair, attributes)


class _Page(HTMLParser):
    """The inputs and the visible text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict[str, str]] = []
        self.text: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            self.inputs.append({k.lower(): (v or "") for k, v in attrs})
        elif tag in ("script", "style", "title"):
            self._hidden_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "title") and self._hidden_depth:
            self._hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.text.append(data)

    def field(self, name: str) -> dict[str, str] | None:
        return next((i for i in self.inputs if i.get("name") == name), None)

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())


def read_page(answer: Answer) -> _Page:
    page = _Page()
    page.feed(answer.text)
    page.close()
    return page


def merchant_code(name: str, city: str, country: str, amount: str, currency: str) -> str:
    return encode_mpm(MerchantCode(
        merchant_name=name, merchant_city=city, country=country, mcc="5812",
        currency=currency_numeric(currency), amount=amount,
        account=(CONSORTIA_GUID, name.lower().replace(" ", "-")),
        bill_number=f"LAB-{os.urandom(4).hex()}"))


def _username(exam: Exam) -> str:
    return exam.credentials.get("username", "")


def login(exam: Exam, password: str | None = None) -> tuple[Answer, Session]:
    """Log in as the test account; the answer and the session cookie it set."""
    answer = exam.call("POST", "/login", json_body={
        "username": _username(exam),
        "password": exam.credentials.get("password", "") if password is None else password})
    exam.expect(answer, 200)
    cookies = answer.set_cookies
    require(bool(cookies), "a successful login set no session cookie")
    return answer, parse_set_cookie(cookies[0])


def _refused(answer: Answer) -> bool:
    """No access: 401 or 403, or a redirect (to a login page)."""
    return answer.status in (401, 403) or 300 <= answer.status < 400


def confirm(exam: Exam, session: Session, payload: str) -> tuple[Answer, _Page, str]:
    """Show the app a scanned merchant code: the confirmation page and its confirmation id."""
    answer = exam.expect(exam.call("POST", "/pay/confirm", json_body={"payload": payload},
                                   cookie=session.cookie), 200)
    page = read_page(answer)
    hidden = page.field("confirmation")
    require(hidden is not None and bool(hidden.get("value")),
            "the confirmation page has no confirmation field")
    assert hidden is not None
    return answer, page, hidden["value"]


# -- set-up -----------------------------------------------------------------------------------

def prepare(exam: Exam) -> None:
    """Point the app at the lab's host and give it the lab's test wallet key."""
    seed = os.urandom(32)
    wallet = SigningKey(seed)
    exam.state["wallet"] = wallet
    private = seed + wallet.public_key  # libsodium's 64-byte secret key
    exam.secrets += [seed.hex(), seed.hex().upper(), base64.b64encode(seed).decode(),
                     private.hex(), base64.b64encode(private).decode()]
    exam.expect(exam.call("POST", "/lab/setup", json_body={
        "node_url": exam.host.url, "chain_id": exam.host.chain_id,
        "wallet_seed": seed.hex(), "wallet_id": LAB_WALLET_ID}), 200)


# -- the items --------------------------------------------------------------------------------

def cs01_authentication(exam: Exam) -> str:
    anonymous = exam.call("GET", "/account")
    require(_refused(anonymous), f"GET /account without a session answered "
            f"{anonymous.status}, not 401/403")
    wrong = exam.call("POST", "/login", json_body={"username": _username(exam),
                                                   "password": f"Wrong-{os.urandom(6).hex()}"})
    require(400 <= wrong.status < 500, f"a wrong password was answered {wrong.status}, not "
            "refused with 4xx")
    for header in wrong.set_cookies:
        forged = parse_set_cookie(header)
        after = exam.call("GET", "/account", cookie=forged.cookie)
        require(_refused(after), "the cookie set by a refused login opens the account")
    _, session = login(exam)
    mine = exam.expect(exam.call("GET", "/account", cookie=session.cookie), 200)
    require(_username(exam) in mine.text, "GET /account with the session does not show the "
            "logged-in user")
    name = session.cookie.partition("=")[0]
    forged_answer = exam.call("GET", "/account", cookie=f"{name}={os.urandom(32).hex()}")
    require(_refused(forged_answer), f"a made-up session cookie was answered "
            f"{forged_answer.status}, not 401/403")
    exam.call("POST", "/logout", cookie=session.cookie)
    ended = exam.call("GET", "/account", cookie=session.cookie)
    require(_refused(ended), f"the session still opens the account after logout "
            f"({ended.status})")
    return ("no access without a session, with a made-up one or after logout; a wrong "
            "password refused")


def _max_age(hsts: str) -> int:
    for part in hsts.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "max-age" and value.strip().strip('"').isdigit():
            return int(value.strip().strip('"'))
    return -1


def cs02_transport(exam: Exam) -> str:
    manifest = exam.expect(exam.call("GET", "/manifest"), 200).json_object()
    upstreams = manifest.get("upstreams")
    require(isinstance(upstreams, list) and bool(upstreams), "the manifest declares no "
            "upstreams (the endpoints the app talks to)")
    assert isinstance(upstreams, list)
    plain = [u for u in upstreams if not (isinstance(u, str) and u.startswith("https://"))]
    require(not plain, f"the app talks to {str(plain[0])[:60] if plain else ''} without TLS")
    exam.call("GET", "/login")
    _, session = login(exam)
    exam.call("GET", "/account", cookie=session.cookie)
    for answer in exam.item_answers:
        hsts = answer.headers.get("strict-transport-security", "")
        require(_max_age(hsts) >= HSTS_MAX_AGE_S_MIN, f"{answer.call} has no "
                f"Strict-Transport-Security of max-age >= {HSTS_MAX_AGE_S_MIN}")
    attrs = session.attributes
    exam.observe("session cookie", attributes=sorted(attrs))
    require("secure" in attrs, "the session cookie is not Secure")
    require("httponly" in attrs, "the session cookie is not HttpOnly")
    require(attrs.get("samesite", "").lower() in ("strict", "lax"),
            "the session cookie has no SameSite=Strict or Lax")
    return (f"{len(upstreams)} upstreams all https; HSTS on every answer; session cookie "
            "Secure, HttpOnly, SameSite")


def _protected(page: _Page, name: str, where: str) -> None:
    field = page.field(name)
    require(field is not None, f"{where} has no input named {name!r}")
    assert field is not None
    exam_type, autocomplete = field.get("type", "text").lower(), field.get("autocomplete", "")
    require(exam_type == "password", f"{where}: the {name} field is type={exam_type}, not "
            "password (it shows what is typed)")
    require(autocomplete.lower() == "off", f"{where}: the {name} field lets the system "
            f"remember it (autocomplete={autocomplete or 'unset'}, not off)")
    require(not field.get("value"), f"{where}: the {name} field comes filled in")


def cs03_input_protection(exam: Exam) -> str:
    _protected(read_page(exam.expect(exam.call("GET", "/login"), 200)), "password",
               "the login page")
    wrong_password = f"Typed-{os.urandom(6).hex()}"
    exam.call("POST", "/login", json_body={"username": _username(exam),
                                           "password": wrong_password})
    _, session = login(exam)
    exam.call("GET", "/account", cookie=session.cookie)
    _, page, _ = confirm(exam, session, merchant_code(*PAYEES[0]))
    _protected(page, "pin", "the payment confirmation")
    password, pin = exam.credentials.get("password", ""), exam.credentials.get("pin", "")
    for answer in exam.item_answers:
        shown = answer.text + "\n" + "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
        for secret, what in ((wrong_password, "a mistyped password"), (password, "the password"),
                             (pin, "the PIN")):
            require(not secret or secret not in shown, f"{answer.call} sends {what} back")
    return ("password and PIN fields are type=password, autocomplete=off, empty; no answer "
            "echoes a password or the PIN")


def cs04_package_integrity(exam: Exam) -> str:
    manifest = exam.expect(exam.call("GET", "/manifest"), 200).json_object()
    package = manifest.get("package")
    require(isinstance(package, dict), "the manifest describes no package")
    assert isinstance(package, dict)
    vendor_key, signature = str(manifest.get("vendor_key", "")), str(manifest.get("signature",
                                                                                  ""))
    try:
        signed = verify(bytes.fromhex(vendor_key), manifest_message(manifest),
                        bytes.fromhex(signature))
    except ValueError:
        signed = False
    require(signed, "the manifest's vendor signature does not verify")
    if exam.vendor_key is not None:
        require(vendor_key == exam.vendor_key, "the manifest is signed by another key than "
                "the applicant vendor's")
    path = str(package.get("path", "/package"))
    require(path.startswith("/"), "the package path is not a path on the prototype")
    body = exam.expect(exam.call("GET", path, bytes_max=PACKAGE_BYTES_MAX,
                                 record_body=False), 200).body
    digest = hashlib.sha256(body).hexdigest()
    exam.observe("package", bytes=len(body), sha256=digest, manifest_sha256=package.get("sha256"))
    require(digest == package.get("sha256") and len(body) == package.get("bytes"),
            f"the package served ({len(body)} bytes, SHA-256 {digest[:16]}…) is not the one "
            "the manifest signs")
    return (f"package of {len(body)} bytes matches the vendor-signed manifest (SHA-256 "
            f"{digest[:16]}…)")


def _pay(exam: Exam, session: Session, payload: str) -> dict[str, object]:
    _, _, confirmation = confirm(exam, session, payload)
    paid = exam.expect(exam.call("POST", "/pay", cookie=session.cookie, json_body={
        "confirmation": confirmation, "pin": exam.credentials.get("pin", "")}), 200)
    return paid.json_object()


def cs05_no_secrets_kept(exam: Exam) -> str:
    exam.need_setup()
    _, session = login(exam)
    mark = exam.host.mark()
    paid = _pay(exam, session, merchant_code(*PAYEES[0]))
    tx_id = str(paid.get("tx_id", ""))
    paid_txs = [s.envelope.tx for s in exam.host.submissions_since(mark)
                if s.envelope is not None and s.tx_id == tx_id]
    require(any(tx.kind == PAY and tx.payload.get("from_wallet") == LAB_WALLET_ID
                for tx in paid_txs), f"the payment answered, but no {PAY} tx from the lab's "
            "wallet with its tx_id reached the host")
    export = exam.expect(exam.call("GET", "/diagnostics", cookie=session.cookie), 200)
    body = export.json_object()
    require(isinstance(body.get("log"), list) and bool(body["log"])
            and isinstance(body.get("storage"), dict),
            "GET /diagnostics gives no {log: [...], storage: {...}} export")
    require(tx_id in export.text, "the export does not show the payment just made: it is not "
            "the app's real log")
    password, pin = exam.credentials.get("password", ""), exam.credentials.get("pin", "")
    for secret, what in ((password, "the password"),
                         (urllib.parse.quote(password, safe=""), "the password (URL-encoded)"),
                         (pin, "the PIN")):
        require(not secret or secret not in export.text, f"the app's log or storage holds "
                f"{what}")
    found_key = any(s in export.text for s in exam.secrets if s not in (password, pin))
    require(not found_key, "the app's log or storage holds the wallet's private key")
    return (f"log ({len(body['log'])} entries) and storage hold the payment but neither "
            "password, PIN nor private key")


def cs06_payment_confirmation(exam: Exam) -> str:
    _, session = login(exam)
    for payee in PAYEES:
        name, _, _, amount, currency = payee
        _, page, _ = confirm(exam, session, merchant_code(*payee))
        shown = page.visible
        exam.observe("confirmation page", payee=name, amount=amount, currency=currency,
                     shows=shown)
        require(name in shown, f"the confirmation does not show the payee {name!r}")
        require(amount in shown and currency in shown, f"the confirmation does not show the "
                f"amount {amount} {currency}")
    return "the confirmation shows payee and amount for 2 merchant codes"


SUITE = Suite(CLIENT_SW, prepare, {
    "CS-01": cs01_authentication,
    "CS-02": cs02_transport,
    "CS-03": cs03_input_protection,
    "CS-04": cs04_package_integrity,
    "CS-05": cs05_no_secrets_kept,
    "CS-06": cs06_payment_confirmation,
})
