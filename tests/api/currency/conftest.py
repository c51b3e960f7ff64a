"""One node with the demo economy per test module (tests read it and add their own wallets)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from consortia.demo.consortium import run_demo
from tests.api.currency.support import Economy, economy_of
from tests.api.support import loopback, serving


@pytest.fixture(scope="module")
def economy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Economy]:
    data_dir = tmp_path_factory.mktemp("currency") / "node"
    with serving(data_dir) as running:
        with running.client() as client:
            run_demo(client, data_dir)
        yield economy_of(running)


@pytest.fixture
def http(economy: Economy) -> Iterator[httpx.Client]:
    with loopback(economy.url) as client:
        yield client
