"""The examination report: item by item, with what the suite observed, and its digest.

The document is plain JSON (no floats: times are integer milliseconds), so its digest,
SHA-256 of ``canonical_json(document)``, is what the lab records on the ledger as the
``evidence`` of ``certification.test_report``; anyone holding the file can recompute it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from consortia.crypto.hashing import canonical_json
from consortia.modules.certification.types import TEXT_CHARS_MAX

REPORT_FORMAT = "consortia/conformance-report/v1"


@dataclass(frozen=True)
class ItemOutcome:
    """One test item's verdict: ``note`` fits the ledger's note bound (TEXT_CHARS_MAX)."""

    item: str
    title: str
    passed: bool
    note: str
    duration_ms: int
    observations: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert len(self.note) <= TEXT_CHARS_MAX, self.note
        assert self.duration_ms >= 0


@dataclass(frozen=True)
class ExamReport:
    """What ``run_suite`` returns."""

    product_type: str
    prototype_url: str
    suite_version: str
    started_ms: int
    finished_ms: int
    items: list[ItemOutcome]
    certificate: str = ""
    setup: list[dict[str, Any]] = field(default_factory=list)  # reaching and configuring it
    lab_host: str = ""  # the host simulator's URL the prototype was configured with

    @property
    def passed(self) -> bool:
        return all(i.passed for i in self.items)

    @property
    def failed_items(self) -> list[str]:
        return [i.item for i in self.items if not i.passed]

    def to_json(self) -> dict[str, Any]:
        """The full report document."""
        return {
            "format": REPORT_FORMAT,
            "product_type": self.product_type,
            "certificate": self.certificate,
            "prototype_url": self.prototype_url,
            "suite_version": self.suite_version,
            "started_ms": self.started_ms,
            "finished_ms": self.finished_ms,
            "passed": self.passed,
            "lab_host": self.lab_host,
            "setup": self.setup,
            "items": [{"id": i.item, "title": i.title, "passed": i.passed, "note": i.note,
                       "duration_ms": i.duration_ms, "observations": i.observations}
                      for i in self.items],
        }

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON of ``to_json()``: the ledger's evidence."""
        return hashlib.sha256(canonical_json(self.to_json())).hexdigest()

    def results_payload(self) -> list[dict[str, Any]]:
        """``results`` of ``certification.test_report``: ``[{item, passed, note}]``."""
        return [{"item": i.item, "passed": i.passed, "note": i.note} for i in self.items]


def document_digest(document: dict[str, Any]) -> str:
    """The digest of a report document read back from a file (equals ``ExamReport.digest``)."""
    return hashlib.sha256(canonical_json(document)).hexdigest()
