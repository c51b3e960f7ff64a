"""The node's web application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from consortia import __version__
from consortia.api import health, ledger, tx
from consortia.api.errors import install_error_handlers
from consortia.modules import module_routers
from consortia.node.node import Node


def create_app(node: Node) -> FastAPI:
    """The FastAPI app serving ``node``; starting the app starts the node."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        node.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            node.stop()

    app = FastAPI(title="Consortia node", version=__version__, lifespan=lifespan,
                  docs_url="/docs", redoc_url=None)
    app.state.node = node
    install_error_handlers(app)
    app.include_router(tx.router)
    app.include_router(ledger.router)
    app.include_router(health.router)
    for router in module_routers():
        app.include_router(router)
    from consortia.web.pages import router as pages

    app.include_router(pages)
    app.mount("/static", StaticFiles(packages=[("consortia", "static")]), name="static")
    return app
