"""One node shared by the CLI tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.support import loopback, serving
from tests.conftest import RunningNode


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with serving(tmp_path_factory.mktemp("cli") / "node") as running:
        yield running


@pytest.fixture
def http(node: RunningNode) -> Iterator[httpx.Client]:
    with loopback(node.url) as client:
        yield client
