"""Pages for people: the ledger explorer (with in-browser receipt checks) and governance.

Pages read the node object directly (committed state, the store, the latest tree head); they
never call the node's own HTTP API. Every list is bounded by ``page_size_max``. Templates are
autoescaped, and pages carry a Content-Security-Policy without inline scripts or styles, so
what a transaction's signer wrote can only ever show up as text.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from consortia.ledger.chain import decode_result
from consortia.ledger.params import read_param
from consortia.ledger.store import BlockRow, TxRow
from consortia.modules.governance import queries
from consortia.modules.governance.logic import tally
from consortia.modules.governance.types import (
    ACTIVE,
    OPEN,
    AdmitMember,
    AdmitNode,
    Invoke,
    Member,
    Proposal,
    ProposalAction,
    RemoveMember,
    RemoveNode,
    SetParameter,
)
from consortia.node.node import Node
from consortia.node.orderer import now_ms

router = APIRouter(include_in_schema=False)

_HERE = Path(__file__).parent
_GOVERNANCE_PAGES = _HERE.parent / "modules" / "governance" / "pages"
_CURRENCY_PAGES = _HERE.parent / "modules" / "currency" / "pages"
_CERTIFICATION_PAGES = _HERE.parent / "modules" / "certification" / "pages"
_PAYMENTS_PAGES = _HERE.parent / "modules" / "payments" / "pages"

# Wanted page sizes; each is further capped by the node's page_size_max.
BLOCKS_PER_PAGE = 20
RECENT_TXS = 20
BLOCK_TXS_PER_PAGE = 50
PROPOSALS_SHOWN = 100
MEMBERS_SHOWN = 200
# SQLite integers are signed 64-bit: no height, offset or index goes above this.
COUNT_MAX = 2**63 - 1
# How often the explorer's live part and a pending tx page reload themselves.
REFRESH_S = 2

_TX_ID = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]{1,19}")

# No inline script or style anywhere: escaping mistakes cannot become script execution.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


# -- formatting (Jinja2 filters) ---------------------------------------------------------------

def utc(time_ms: int | None) -> str:
    """Milliseconds since the epoch as ``YYYY-MM-DD HH:MM:SS UTC``."""
    if time_ms is None:
        return "—"
    return datetime.fromtimestamp(time_ms // 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short(hex_text: str, keep: int = 8) -> str:
    """A long hex id cut to its first ``keep`` characters (the full value goes in a title)."""
    return hex_text if len(hex_text) <= keep + 1 else hex_text[:keep] + "…"


def pretty_json(value: Any) -> str:
    """Indented JSON with sorted keys, non-ASCII kept readable."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def humanize(name: str) -> str:
    """``central_bank`` → ``central bank``."""
    return name.replace("_", " ")


_DURATION_UNITS = (("days", 86_400_000), ("hours", 3_600_000), ("minutes", 60_000),
                   ("seconds", 1_000))


def parameter_value(name: str, value: Any) -> str:
    """A parameter's value as JSON, with durations (``*_ms``, ``*_ms_max``) also in a unit
    people read."""
    text = json.dumps(value)
    is_duration = name.endswith("_ms") or "_ms_" in name
    if is_duration and isinstance(value, int) and not isinstance(value, bool):
        for unit, unit_ms in _DURATION_UNITS:
            if value and value % unit_ms == 0:
                count = value // unit_ms
                return f"{text} ({count} {unit if count != 1 else unit[:-1]})"
    return text


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([
            jinja2.FileSystemLoader(_HERE / "templates"),
            jinja2.FileSystemLoader(_GOVERNANCE_PAGES),
            jinja2.FileSystemLoader(_CURRENCY_PAGES),
            jinja2.FileSystemLoader(_CERTIFICATION_PAGES),
            jinja2.FileSystemLoader(_PAYMENTS_PAGES),
        ]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(utc=utc, short=short, pretty_json=pretty_json, humanize=humanize)
    env.globals["parameter_value"] = parameter_value
    env.globals["refresh_s"] = REFRESH_S
    return env


templates = Jinja2Templates(env=_environment())


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def session_key(request: Request) -> str | None:
    """The logged-in user's public key (set by the session middleware), or None."""
    key: str | None = getattr(request.state, "session_key", None)
    return key


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """A page with the header and footer facts every page shows, and who is logged in."""
    node = _node(request)
    context.update(chain_id=node.chain_id, height=node.chain.head.height,
                   node_key=node.key.public_key_hex,
                   user=getattr(request.state, "user", None),
                   csrf_token=getattr(request.state, "csrf_token", ""))
    headers = dict(SECURITY_HEADERS)
    if context["user"] is not None:
        # A logged-in page shows a wallet or a desk: no shared cache may keep it.
        headers["Cache-Control"] = "no-store"
    return templates.TemplateResponse(request, name, context, status_code=status_code,
                                      headers=headers)


def not_found(request: Request, title: str, message: str, status_code: int = 404) -> Response:
    return render(request, "error.html", status_code, title=title, message=message)


def _count(text: str) -> int | None:
    """A height or offset from the URL, or None if it is not one."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= COUNT_MAX else None


def _page_size(node: Node, wanted: int) -> int:
    return max(1, min(wanted, node.config.page_size_max))


# -- view models -------------------------------------------------------------------------------

class TxLine(NamedTuple):
    """One row of a tx list."""

    tx_id: str
    kind: str
    signer: str  # "" for a private kind: who pays whom is not the public's to see
    status: str
    code: str
    height: int
    leaf_index: int


def _tx_line(node: Node, row: TxRow) -> TxLine:
    signer = "" if node.is_private(row.kind) else row.signer
    return TxLine(row.tx_id.hex(), row.kind, signer, row.status,
                  decode_result(row.result).code, row.height, row.leaf_index)


class TallyView(NamedTuple):
    yes: int
    no: int
    not_voted: int
    members_active: int
    needed: int  # yes votes that make a strict majority of active members


def _invoke_summary(action: Invoke) -> str:
    p = action.payload
    match action.kind:
        case "currency.add_currency":
            return (f"Add currency {p.get('code')} ({p.get('name')}), issued by "
                    f"{p.get('issuer')}")
        case "currency.set_tier":
            return (f"Set {p.get('currency')} tier {p.get('tier')} limits: balance "
                    f"{p.get('balance_max')}, per payment {p.get('payment_max')}, daily "
                    f"{p.get('daily_max')}")
    return f"Run {action.kind}"


class ProposalView(NamedTuple):
    proposal: Proposal
    summary: str
    proposer_name: str
    # Open proposals: the tally as the constitution counts it now. Decided ones: None, since
    # today's members are not the ones who decided; their recorded ballots say what happened.
    tally: TallyView | None
    ballots_yes: int
    ballots_no: int


class BallotLine(NamedTuple):
    member: Member
    vote: str  # "yes", "no" or "not voted"
    counted: bool  # removed members' ballots no longer count


def _vote(approve: bool | None) -> str:
    return "not voted" if approve is None else "yes" if approve else "no"


def _summary(action: ProposalAction, names: dict[str, str]) -> str:
    """A proposal's action as one sentence."""
    match action:
        case AdmitMember():
            return f"Admit {action.name} ({action.id}) as {humanize(action.role)}"
        case RemoveMember():
            return f"Remove member {names.get(action.id, action.id)}"
        case AdmitNode():
            return f"Admit node {action.id} run by {names.get(action.operator, action.operator)}"
        case RemoveNode():
            return f"Remove node {action.id}"
        case SetParameter():
            return f"Set {action.name} to {parameter_value(action.name, action.value)}"
        case Invoke():
            return _invoke_summary(action)
    raise AssertionError(f"unknown proposal action {action!r}")


def _proposal_view(node: Node, proposal: Proposal, names: dict[str, str]) -> ProposalView:
    view = None
    if proposal.status == OPEN:
        counted = tally(node.chain.state, proposal)
        view = TallyView(counted.yes, counted.no, counted.not_voted, counted.members_active,
                         counted.members_active // 2 + 1)
    yes = sum(1 for approve in proposal.ballots.values() if approve)
    return ProposalView(proposal, _summary(proposal.action, names),
                        names.get(proposal.proposer, proposal.proposer), view, yes,
                        len(proposal.ballots) - yes)


# -- explorer ----------------------------------------------------------------------------------

@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/explorer", status_code=303)


def _live_context(node: Node) -> dict[str, Any]:
    size = _page_size(node, BLOCKS_PER_PAGE)
    blocks = node.store.blocks(node.chain.head.height + 1, size)
    return {
        "sth": node.chain.sth,
        "blocks": blocks,
        "next_before": blocks[-1].height if len(blocks) == size and blocks[-1].height else None,
        "txs": [_tx_line(node, r)
                for r in node.store.recent_txs(_page_size(node, RECENT_TXS))],
    }


@router.get("/explorer")
async def explorer(request: Request, before: str | None = None) -> Response:
    node = _node(request)
    if before is None:
        return render(request, "explorer.html", live=True, **_live_context(node))
    top = _count(before)
    if top is None:
        return not_found(request, "Bad page", "before must be a block height", 400)
    size = _page_size(node, BLOCKS_PER_PAGE)
    blocks = node.store.blocks(top, size)
    next_before = blocks[-1].height if len(blocks) == size and blocks[-1].height else None
    return render(request, "explorer.html", live=False, sth=node.chain.sth, blocks=blocks,
                  next_before=next_before, before=top, txs=[])


@router.get("/explorer/live")
async def explorer_live(request: Request) -> Response:
    """The explorer's live part (tree head, newest blocks and txs) for htmx to poll."""
    return render(request, "_live.html", oob=True, **_live_context(_node(request)))


@router.get("/explorer/search")
async def search(request: Request, q: str = "") -> Response:
    query = q.strip().lower()
    if _TX_ID.fullmatch(query):
        return RedirectResponse(f"/explorer/tx/{query}", status_code=303)
    if _count(query) is not None:
        return RedirectResponse(f"/explorer/blocks/{int(query)}", status_code=303)
    return render(request, "error.html", 400, title="Nothing to look up",
                  message="Search takes a transaction id (64 hex characters) or a block height.",
                  query=q[:100])


@router.get("/explorer/blocks/{height}")
async def block_page(request: Request, height: str, offset: str = "0") -> Response:
    node = _node(request)
    number = _count(height)
    row: BlockRow | None = None if number is None else node.store.block(number)
    if row is None:
        return not_found(request, "Block not found",
                         f"This node has no block at height {height[:40]}.")
    skip = _count(offset)
    if skip is None:
        return not_found(request, "Bad page", "offset must be a number", 400)
    size = _page_size(node, BLOCK_TXS_PER_PAGE)
    first = min(skip, row.tx_count)
    txs = [_tx_line(node, r) for r in node.store.txs_of_block(row.height, size, first)]
    return render(request, "block.html", block=row, txs=txs, offset=first, page_size=size,
                  head_height=node.chain.head.height)


@router.get("/explorer/tx/{tx_id}")
async def tx_page(request: Request, tx_id: str) -> Response:
    node = _node(request)
    tx_id = tx_id.lower()
    if not _TX_ID.fullmatch(tx_id):
        return not_found(request, "Transaction not found",
                         "A transaction id is 64 hex characters.")
    # A private tx's content only for whom it concerns (its signer, the operator and issuer
    # it names, the regulator): the logged-in user's key decides.
    status = node.tx_status(bytes.fromhex(tx_id), session_key(request))
    if status is None:
        return not_found(request, "Transaction not found",
                         "This node has no transaction with this id: it was never submitted "
                         "here, or it was refused when submitted.")
    if status["status"] != "committed":
        return render(request, "tx_pending.html", tx_id=tx_id)
    if status.get("redacted"):
        return render(request, "tx.html", tx_id=tx_id, redacted=True, signed=None, tx=None,
                      result=status["result"], height_of_tx=status["height"],
                      leaf_index=status["leaf_index"], member=None)
    signed = status["tx"]
    signer = signed["tx"]["signer"]
    member = queries.member_by_key(node.chain.state, signer)
    return render(request, "tx.html", tx_id=tx_id, redacted=False, signed=signed,
                  tx=signed["tx"],
                  result=status["result"], height_of_tx=status["height"],
                  leaf_index=status["leaf_index"], member=member)


@router.get("/explorer/verify")
async def verify_page(request: Request) -> Response:
    return render(request, "verify.html")


# -- governance --------------------------------------------------------------------------------

def _names(members: list[Member]) -> dict[str, str]:
    return {m.id: m.name for m in members}


@router.get("/governance")
async def governance(request: Request) -> Response:
    node = _node(request)
    state = node.chain.state
    members = queries.members(state)
    names = _names(members)
    now = now_ms()
    limit = _page_size(node, PROPOSALS_SHOWN)
    # Open proposals first (they want ballots), then the rest newest first; both bounded.
    open_ones = queries.proposals(state, now, OPEN, limit)
    closed = [p for p in queries.proposals(state, now, None, limit) if p.status != OPEN]
    shown = (open_ones + closed)[:limit]
    nodes = queries.nodes(state)
    return render(request, "governance.html", members=members[:limit],
                  members_total=len(members), nodes=nodes[:limit], nodes_total=len(nodes),
                  names=names, parameters=queries.parameters(state),
                  proposals=[_proposal_view(node, p, names) for p in shown],
                  open_count=len(open_ones), limit=limit)


@router.get("/governance/proposals/{proposal_id}")
async def proposal_page(request: Request, proposal_id: str) -> Response:
    node = _node(request)
    state = node.chain.state
    found = None
    if _TX_ID.fullmatch(proposal_id):
        found = queries.proposal(state, proposal_id, now_ms())
    if found is None:
        return not_found(request, "Proposal not found",
                         "There is no proposal with this id on this chain.")
    members = queries.members(state)
    ballots = [BallotLine(m, _vote(found.ballots.get(m.id)), m.status == ACTIVE)
               for m in members if m.status == ACTIVE or m.id in found.ballots]
    limit = _page_size(node, MEMBERS_SHOWN)
    return render(request, "governance_proposal.html",
                  view=_proposal_view(node, found, _names(members)), ballots=ballots[:limit],
                  ballots_total=len(ballots),
                  action=msgspec.to_builtins(found.action),
                  regulator_veto=read_param(state, "regulator_veto"))
