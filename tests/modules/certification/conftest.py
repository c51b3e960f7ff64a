"""Fixtures: a chain with certification bodies, accredited labs and registered vendors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.modules.certification.support import Ledger, make_ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    built = make_ledger(tmp_path / "ledger.sqlite")
    yield built
    built.chain.store.close()
