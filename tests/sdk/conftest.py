"""One node shared by the SDK tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.support import serving
from tests.conftest import RunningNode


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with serving(tmp_path_factory.mktemp("sdk") / "node") as running:
        yield running
