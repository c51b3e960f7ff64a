"""Fixtures for the page tests: a demo node per module and Debian's Chromium via Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, sync_playwright

from consortia.custody import Custody, create_demo_logins
from consortia.demo.consortium import run_demo
from consortia.node.node import Node
from tests.conftest import RunningNode, start_node_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# Playwright's own timeouts, short enough that a broken page fails fast.
TIMEOUT_MS = 10_000


def start_node(data_dir: Path, *, demo: bool = True,
               **config: object) -> Iterator[RunningNode]:
    """A node serving HTTP (filled with the demo consortium), stopped when the generator ends."""
    running, server, thread = start_node_server(data_dir, **config)
    try:
        if demo:
            with running.client() as client:
                run_demo(client, data_dir)
        yield running
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(10)


@pytest.fixture(scope="module")
def demo_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """One node per test module, with the demo run once."""
    yield from start_node(tmp_path_factory.mktemp("web") / "node")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no stored pinned key) with a phone-sized viewport."""
    context = browser.new_context(viewport=PHONE, accept_downloads=True)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))

    def on_console(message: ConsoleMessage) -> None:
        # A page answered 404 on purpose logs "Failed to load resource"; failed subresources
        # are caught below, by status, instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"console: {message.text}")

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            problems.append(f"{response.status} for {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    yield page
    context.close()
    assert not problems, f"the page had problems: {problems}"


@dataclass
class WalletNode:
    """A demo node with the currency economy and the demo logins, and its custody store."""

    running: RunningNode
    custody: Custody

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def node(self) -> Node:
        return self.running.node


@pytest.fixture(scope="module")
def wallet_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WalletNode]:
    """One node per test module with the demo, its currency economy and demo logins."""
    data_dir = tmp_path_factory.mktemp("wallet") / "node"
    running, server, thread = start_node_server(data_dir)
    try:
        with running.client() as client:
            run_demo(client, data_dir)
        custody: Custody = server.config.app.state.custody  # type: ignore[attr-defined]
        create_demo_logins(custody, data_dir, running.node.chain.state)
        yield WalletNode(running, custody)
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(10)


def log_in(page: Page, url: str, username: str, password: str | None = None) -> None:
    """Log in through the login page (demo password unless given) and wait for the landing."""
    page.goto(url + "/login")
    page.fill("#username", username)
    page.fill("#password", password if password is not None else f"{username}-demo")
    page.click("#login-button")
    page.wait_for_url(lambda u: "/login" not in u)
