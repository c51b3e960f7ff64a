"""Web sessions of the custodial wallet: the cookie, the middleware, forms and CSRF.

The session cookie holds a random token (HttpOnly, SameSite=Strict, Secure over HTTPS); the
custody store keeps only its SHA-256. The middleware puts the session's user and public key on
``request.state`` (``user``, ``session_key``, ``csrf_token``), which is how ``caller_key`` and
the pages know who is asking. A cookie that names no live session sets
``request.state.session_expired`` so the login page can say why it is shown.

State-changing requests are POST forms. Besides the SameSite=Strict cookie, each carries the
session's CSRF token in a ``csrf`` field, and a request whose Origin header names another site
is refused.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request
from fastapi.responses import Response
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from consortia.api.errors import ApiError, read_body
from consortia.custody.store import Custody, Session, User

COOKIE = "consortia_session"
CSRF_FIELD = "csrf"
FORM_FIELDS_MAX = 32
FORM_TYPE = "application/x-www-form-urlencoded"


class SessionMiddleware:
    """Pure ASGI (not BaseHTTPMiddleware), so streamed responses such as SSE pass untouched."""

    def __init__(self, app: ASGIApp, custody: Custody) -> None:
        self.app = app
        self.custody = custody

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/static/"):
            token = _cookie_token(scope)
            if token is not None:
                state = scope.setdefault("state", {})
                session = self.custody.session(token)
                if session is None:
                    state["session_expired"] = True
                else:
                    state["session"] = session
                    state["user"] = session.user
                    state["session_key"] = session.user.public_key
                    state["csrf_token"] = session.csrf_token
        await self.app(scope, receive, send)


def _cookie_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            token = cookie_parser(value.decode("latin-1")).get(COOKIE)
            if token:
                return token
    return None


def current_session(request: Request) -> Session | None:
    session: Session | None = getattr(request.state, "session", None)
    return session


def current_user(request: Request) -> User | None:
    user: User | None = getattr(request.state, "user", None)
    return user


def set_session_cookie(request: Request, response: Response, token: str, max_age_s: int,
                       ) -> None:
    response.set_cookie(COOKIE, token, max_age=max_age_s, path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


def session_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site's page.

    Hosts are compared, not schemes, so a node behind a TLS-terminating proxy still accepts
    its own pages' forms.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def csrf_ok(request: Request, form: dict[str, str]) -> bool:
    """A live session, its CSRF token in the form, and no foreign Origin."""
    session = current_session(request)
    if session is None or not same_origin(request):
        return False
    sent = form.get(CSRF_FIELD, "")
    return hmac.compare_digest(sent.encode(), session.csrf_token.encode())


class FormError(Exception):
    """A form body that is not one (wrong type, too large, too many fields)."""


async def read_form(request: Request, bytes_max: int) -> dict[str, str]:
    """A urlencoded form body as {name: first value}, bounded in size and field count."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != FORM_TYPE:
        raise FormError("send the form as application/x-www-form-urlencoded")
    try:
        body = await read_body(request, bytes_max)
    except ApiError as exc:
        raise FormError(exc.message) from None
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                          max_num_fields=FORM_FIELDS_MAX, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise FormError(f"a form is UTF-8 with at most {FORM_FIELDS_MAX} fields") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def safe_next(path: str | None, default: str) -> str:
    """A path on this site to go to after logging in (never another host)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    if any(ord(c) < 0x21 for c in path) or len(path) > 500:
        return default
    return path
