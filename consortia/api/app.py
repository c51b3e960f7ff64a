"""The node's web application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from consortia import __version__
from consortia.api import health, ledger, tx
from consortia.api.errors import install_error_handlers
from consortia.custody import Custody, CustodyConfig
from consortia.modules import module_routers
from consortia.node.agreement import Agreement
from consortia.node.node import Node


def create_app(node: Node, custody_config: CustodyConfig | None = None) -> FastAPI:
    """The FastAPI app serving ``node``; starting the app starts the node.

    The custodial web wallet's store lives beside the ledger, in the node's data directory.
    """
    custody = Custody.open(node.config.data_dir, custody_config)
    from consortia.modules.payments.notify import Notifier

    notifier = Notifier(node)  # merchant events: SSE and webhooks, beside the ledger too
    agreement = Agreement(node)  # compares tree heads with config.peers (none: does nothing)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        node.start(loop)
        notifier.start(loop)
        agreement.start(loop)
        try:
            yield
        finally:
            await agreement.stop()  # first: it reads the store
            node.stop()
            await notifier.stop()
            custody.close()

    # /docs is served from vendored assets: nodes run on closed networks.
    app = FastAPI(title="Consortia node", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Consortia node API",
                                   swagger_js_url="/static/vendor/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    app.state.node = node
    app.state.custody = custody
    app.state.notifier = notifier
    app.state.agreement = agreement
    install_error_handlers(app)
    app.include_router(tx.router)
    app.include_router(ledger.router)
    app.include_router(health.router)
    from consortia.api.snapshot import router as snapshot_router

    app.include_router(snapshot_router)
    for router in module_routers():
        app.include_router(router)
    from consortia.web.cfp_desk_pages import router as cfp_desk_pages
    from consortia.web.cfp_pages import router as cfp_pages
    from consortia.web.desk_pages import router as desk_pages
    from consortia.web.pages import router as pages
    from consortia.web.sessions import SessionMiddleware
    from consortia.web.wallet_pages import router as wallet_pages

    app.include_router(pages)
    app.include_router(wallet_pages)
    app.include_router(desk_pages)
    app.include_router(cfp_pages)
    app.include_router(cfp_desk_pages)
    from consortia.web.payments_pages import router as payments_pages

    app.include_router(payments_pages)
    app.add_middleware(SessionMiddleware, custody=custody)
    app.mount("/static", StaticFiles(packages=[("consortia", "static")]), name="static")
    return app
