"""Fixtures: a funded two-currency economy on a real chain in ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.modules.currency.support import Ledger, economy


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    built = economy(tmp_path / "ledger.sqlite")
    yield built
    built.chain.store.close()
