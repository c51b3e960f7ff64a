"""Who may open which page: logged-in users, their institution, and the answers for the rest."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from consortia.custody.store import LAB, PERSON, STAFF, VENDOR, Custody, User
from consortia.modules.governance.logic import active_member_of
from consortia.modules.governance.types import Member
from consortia.node.node import Node
from consortia.web.pages import render
from consortia.web.sessions import current_user


def custody_of(request: Request) -> Custody:
    custody: Custody = request.app.state.custody
    return custody


def node_of(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def login_redirect(request: Request) -> Response:
    """To the login page, coming back here afterwards (a form post lands on the user's home
    page instead: its target answers POST only)."""
    if request.method != "GET":
        return RedirectResponse("/login", status_code=303)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='/')}", status_code=303)


def forbidden(request: Request, message: str) -> Response:
    return render(request, "error.html", 403, title="Not yours to see", message=message)


def refused_form(request: Request) -> Response:
    """A POST without a live session's CSRF token (or from another site): nothing is done."""
    return render(request, "error.html", 403, title="Form refused",
                  message="This form was not sent from a page of your current session, so "
                          "nothing was changed. Go back, reload the page and try again.")


# Where each kind of login lands; staff go to /desk, which picks their institution's desk.
HOMES = {PERSON: "/wallet", VENDOR: "/vendor", LAB: "/desk/lab"}


def home_of(user: User) -> str:
    return HOMES.get(user.kind, "/desk")


def staff_member(request: Request, user: User) -> Member | None:
    """The active member a staff user works for, as the ledger knows it by their key."""
    if user.kind != STAFF:
        return None
    member = active_member_of(node_of(request).chain.state, user.public_key)
    if member is None or member.id != user.institution:
        return None
    return member


def person_user(request: Request) -> User | None:
    user = current_user(request)
    return user if user is not None and user.kind == PERSON else None
