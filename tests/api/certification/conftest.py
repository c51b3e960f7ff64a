"""One node with one issued certificate per test module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.certification.support import Registry, certify
from tests.api.support import loopback, serving


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with serving(tmp_path_factory.mktemp("certification") / "node") as running:
        yield certify(running)


@pytest.fixture
def http(registry: Registry) -> Iterator[httpx.Client]:
    with loopback(registry.url) as client:
        yield client
