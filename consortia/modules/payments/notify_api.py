"""HTTP routes of merchant notifications: the live event stream of a merchant's page and the
merchant's webhooks (see docs/payments-notifications.md).

The stream is for the merchant's books readers (``queries.may_see_merchant_books``: signed
request or web session). Webhooks are managed by the merchant alone (its settlement wallet's
owner key) with signed requests; a webhook's URL is a query parameter so that the request
signature, which covers the path and query but not the body, covers it too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from consortia.api.auth import require_caller
from consortia.api.deps import get_node
from consortia.api.errors import ApiError
from consortia.api.ledger import SSE_HEARTBEAT_S
from consortia.api.request_signing import KEY_HEADER
from consortia.ledger.state import Reader
from consortia.modules.currency.types import Wallet, wallet_key
from consortia.modules.payments import queries
from consortia.modules.payments.api import merchant_books, merchant_or_404
from consortia.modules.payments.notify import Notifier, overflow_text, sse_blocks
from consortia.modules.payments.types import Merchant
from consortia.modules.payments.webhooks import Webhook, WebhookRefused, now_ms
from consortia.node.node import Node

router = APIRouter(prefix="/v1/payments", tags=["payments"])
NodeDep = Annotated[Node, Depends(get_node)]
CallerDep = Annotated[str, Depends(require_caller)]
# A resuming page is replayed at most this many events; further behind, it reloads instead.
SSE_REPLAY_EVENTS_MAX = 1_000
HEIGHT_DIGITS_MAX = 18


def get_notifier(request: Request) -> Notifier:
    notifier: Notifier = request.app.state.notifier
    return notifier


NotifierDep = Annotated[Notifier, Depends(get_notifier)]


def manages_webhooks(state: Reader, merchant: Merchant, caller: str) -> bool:
    """Whether ``caller`` (a public key) may manage the merchant's webhooks: its settlement
    wallet's owner key, whether it signs a request or is the key of the merchant page's
    login."""
    wallet = state.get(wallet_key(merchant.wallet_id), Wallet)
    return wallet is not None and wallet.owner_key == caller


def register_webhook(notifier: Notifier, merchant: Merchant, url: str,
                     caller: str) -> Webhook:
    """Register ``url`` for ``merchant`` on behalf of ``caller`` (already checked with
    ``manages_webhooks``), by the store's URL rules and the per-merchant limit. Raises
    WebhookRefused. The API and the merchant's page both register through here."""
    return notifier.store.add_webhook(merchant.id, url, caller,
                                      notifier.webhooks_per_merchant_max, now_ms())


def refused_status(exc: WebhookRefused) -> int:
    """A refused registration's HTTP status: 400 for the URL itself, 409 for a conflict
    with the webhooks there are (a duplicate, one too many)."""
    return 400 if exc.code == "bad_webhook_url" else 409


def _owner(state: Reader, merchant_id: str, caller: str, request: Request) -> Merchant:
    if KEY_HEADER not in request.headers:
        raise ApiError(401, "signed_request_required", "webhooks are managed with requests "
                       "signed by the merchant's key (X-Consortia-* headers)")
    found = merchant_or_404(state, merchant_id)
    if not manages_webhooks(state, found, caller):
        raise ApiError(403, "not_allowed", "only the merchant (its settlement wallet's owner "
                       "key) manages its webhooks")
    return found


@router.get("/merchants/{merchant_id}/events", summary="Server-sent events of a merchant: "
            "payment, refund, order_created, order_cancelled; the block height is the event "
            "id: reconnect with Last-Event-ID to resume")
async def merchant_events(merchant_id: str, request: Request, node: NodeDep,
                          notifier: NotifierDep, caller: CallerDep) -> StreamingResponse:
    state = node.chain.state
    found = merchant_books(state, merchant_id, caller, "events")
    last_text = request.headers.get("last-event-id", "")
    if last_text and not (last_text.isdigit() and len(last_text) <= HEIGHT_DIGITS_MAX):
        raise ApiError(400, "bad_last_event_id", "Last-Event-ID is a block height")
    last = int(last_text) if last_text else None
    if last is not None and last > node.chain.head.height:
        raise ApiError(400, "bad_last_event_id", f"Last-Event-ID {last} is beyond this "
                       f"node's head ({node.chain.head.height})")
    # Subscribe before reading the store, so no block falls between replay and live events.
    subscription = notifier.hub.subscribe(found.id)
    if subscription is None:
        raise ApiError(503, "too_many_subscribers", "this node serves no more event streams")
    sent = notifier.published_height if last is None else last

    async def stream() -> AsyncIterator[str]:
        nonlocal sent
        try:
            # The id lets a browser resume from here even before the first event.
            yield f": connected\nid: {sent}\n\n"
            if last is not None:
                if last < notifier.store.pruned_height():
                    yield overflow_text("events that old are no longer kept; reload")
                    return
                replay = notifier.store.events_after(found.id, last, SSE_REPLAY_EVENTS_MAX + 1)
                if len(replay) > SSE_REPLAY_EVENTS_MAX:
                    yield overflow_text("too far behind to resume; reload")
                    return
                for height, text in sse_blocks(replay):
                    yield text
                    sent = height
            while not await request.is_disconnected():
                try:
                    item = await asyncio.wait_for(subscription.get(), SSE_HEARTBEAT_S)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if item is None:
                    return
                height, text = item
                if 0 <= height <= sent:
                    continue  # already replayed from the store
                if not queries.may_see_merchant_books(node.chain.state, found, caller):
                    return  # access was withdrawn (a terminal removed, a member suspended)
                sent = max(sent, height)
                yield text
        finally:
            notifier.hub.unsubscribe(found.id, subscription)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# -- webhooks -----------------------------------------------------------------------------------

@router.post("/merchants/{merchant_id}/webhooks", status_code=201,
             summary="Register a webhook (the merchant, signed request; the URL in the query "
             "so the signature covers it): https, or http to loopback")
async def add_webhook(merchant_id: str, request: Request, node: NodeDep, notifier: NotifierDep,
                      caller: CallerDep, url: Annotated[str, Query()]) -> dict[str, Any]:
    found = _owner(node.chain.state, merchant_id, caller, request)
    try:
        hook = register_webhook(notifier, found, url, caller)
    except WebhookRefused as exc:
        raise ApiError(refused_status(exc), exc.code, exc.message) from None
    return {**hook.view(), "node_key": node.key.public_key_hex}


@router.get("/merchants/{merchant_id}/webhooks", summary="The merchant's webhooks, with the "
            "node key that signs their deliveries")
async def webhooks(merchant_id: str, request: Request, node: NodeDep, notifier: NotifierDep,
                   caller: CallerDep) -> dict[str, Any]:
    found = _owner(node.chain.state, merchant_id, caller, request)
    return {"merchant_id": found.id, "node_key": node.key.public_key_hex,
            "webhooks": [h.view() for h in notifier.store.webhooks(found.id)]}


@router.delete("/merchants/{merchant_id}/webhooks/{webhook_id}",
               summary="Remove a webhook; its pending deliveries are not sent")
async def remove_webhook(merchant_id: str, webhook_id: str, request: Request, node: NodeDep,
                         notifier: NotifierDep, caller: CallerDep) -> dict[str, Any]:
    found = _owner(node.chain.state, merchant_id, caller, request)
    if not notifier.store.remove_webhook(found.id, webhook_id):
        raise ApiError(404, "unknown_webhook", f"{found.id} has no webhook {webhook_id[:40]!r}")
    return {"deleted": webhook_id}


@router.get("/merchants/{merchant_id}/webhooks/{webhook_id}/deliveries",
            summary="A webhook's deliveries, newest first: status, attempts, last answer")
async def deliveries(merchant_id: str, webhook_id: str, request: Request, node: NodeDep,
                     notifier: NotifierDep, caller: CallerDep,
                     before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
                     limit: Annotated[int, Query(ge=1)] = 50) -> dict[str, Any]:
    found = _owner(node.chain.state, merchant_id, caller, request)
    if notifier.store.webhook(found.id, webhook_id) is None:
        raise ApiError(404, "unknown_webhook", f"{found.id} has no webhook {webhook_id[:40]!r}")
    limit = min(limit, node.config.page_size_max)
    listed = notifier.store.deliveries(webhook_id, before, limit)
    return {"webhook_id": webhook_id, "deliveries": listed,
            "next_before": listed[-1]["id"] if len(listed) == limit else None}
