"""One node per test module (tests in a module share it and leave it idle between them)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.support import loopback, serving
from tests.conftest import RunningNode


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with serving(tmp_path_factory.mktemp("api") / "node") as running:
        yield running


@pytest.fixture(scope="module")
def slow_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A node that cuts a batch one second after its first tx: pending is observable."""
    with serving(tmp_path_factory.mktemp("slow") / "node", batch_interval_ms=1_000) as running:
        yield running


@pytest.fixture
def http(node: RunningNode) -> Iterator[httpx.Client]:
    # A fresh connection per test: a failing test cannot leave a broken one behind.
    with loopback(node.url) as client:
        yield client
