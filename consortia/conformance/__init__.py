"""Type examination by automated conformance suites: the lab runs a product type's suite
against a prototype's HTTP endpoint and records the verdict item by item (docs/conformance.md).

``run_suite(product_type, url)`` returns an ``ExamReport``: per item a verdict, a short note
and what was observed; ``to_json()`` is the report document, ``digest()`` its SHA-256, and
``results_payload()`` the ``results`` of ``certification.test_report``.
"""

from __future__ import annotations

from consortia.conformance.report import ExamReport, ItemOutcome, document_digest
from consortia.conformance.runner import SUITE_VERSION, run_suite, suites

__all__ = ["SUITE_VERSION", "ExamReport", "ItemOutcome", "document_digest", "run_suite",
           "suites"]
