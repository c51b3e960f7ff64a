"""Run a product type's suite against a prototype's HTTP endpoint: ``run_suite``.

The suite starts its host simulator, checks that the prototype answers at all, lets the suite
configure it (the test-host set-up), then runs the items in catalogue order. An item passes
when its check returns; it fails with a one-line note when the check raises ``ItemFailed``, or
when the prototype answers something the check cannot read. The whole run is bounded by
``timeout_s``: an item that would start after the limit is failed as not run.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from consortia.conformance.exam import Exam, ItemFailed
from consortia.conformance.host import HostSimulator
from consortia.conformance.interface import TEST_ACCOUNT
from consortia.conformance.report import ExamReport, ItemOutcome
from consortia.modules.certification.logic import CATALOGUE_2019
from consortia.modules.certification.types import TEXT_CHARS_MAX

SUITE_VERSION = "1"
TIMEOUT_S_DEFAULT = 60.0
CALL_TIMEOUT_S_DEFAULT = 5.0
TIMEOUT_S_MAX = 600.0

Check = Callable[[Exam], str]  # returns the note of a pass; raises ItemFailed
# What reading an unexpected answer raises (a missing field, a wrong type).
_UNREADABLE = (ValueError, KeyError, TypeError, AttributeError, IndexError)


@dataclass(frozen=True)
class Suite:
    """A product type's automated items: ``prepare`` configures the prototype (its failure
    is recorded and fails the items that need it), ``checks`` maps item id to check."""

    product_type: str
    prepare: Callable[[Exam], None]
    checks: dict[str, Check]


def catalogue_items(product_type: str) -> list[tuple[str, str]]:
    """(id, title) of the product type's test items in the 2019 catalogue."""
    for code, _, _, _, items in CATALOGUE_2019:
        if code == product_type:
            return [(i.id, i.title) for i in items]
    raise ValueError(f"{product_type} is not in the 2019 catalogue")


def suites() -> dict[str, Suite]:
    """Every product type with an automated suite; each covers exactly its catalogue items."""
    from consortia.conformance.client_sw import SUITE as client_sw
    from consortia.conformance.terminal import SUITE as terminal

    found = {s.product_type: s for s in (terminal, client_sw)}
    for suite in found.values():
        assert list(suite.checks) == [i for i, _ in catalogue_items(suite.product_type)], (
            suite.product_type)
    return found


def _short(note: str) -> str:
    note = " ".join(note.split())
    return note if len(note) <= TEXT_CHARS_MAX else note[:TEXT_CHARS_MAX - 1] + "…"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def run_suite(product_type: str, url: str, *, credentials: dict[str, str] | None = None,
              vendor_key: str | None = None, certificate: str = "",
              timeout_s: float = TIMEOUT_S_DEFAULT,
              call_timeout_s: float = CALL_TIMEOUT_S_DEFAULT,
              on_item: Callable[[ItemOutcome], None] | None = None) -> ExamReport:
    """Examine the prototype at ``url`` item by item; never raises for a prototype's fault.

    ``credentials``: the client software's test account ({username, password, pin}; the
    interface's TEST_ACCOUNT by default). ``vendor_key``: the applicant's vendor key (hex),
    which the credential or manifest the prototype presents must carry. ``certificate`` is
    written into the report, binding it to the application examined. ``on_item`` is called
    with each item's outcome as soon as it is known (a progress display).
    """
    available = suites()
    if product_type not in available:
        raise ValueError(f"no automated suite for {product_type!r}; there are suites for "
                         f"{', '.join(sorted(available))}")
    if not 0 < timeout_s <= TIMEOUT_S_MAX:
        raise ValueError(f"timeout_s is more than 0 and at most {TIMEOUT_S_MAX:g}")
    if not url.startswith(("http://", "https://")):
        raise ValueError("the prototype URL starts with http:// or https://")
    suite = available[product_type]
    titles = dict(catalogue_items(product_type))
    started_ms = _now_ms()
    deadline = time.monotonic() + timeout_s
    outcomes: list[ItemOutcome] = []
    chain_id = f"conformance-lab-{os.urandom(4).hex()}"
    with HostSimulator(chain_id, _address_towards(url)) as host:
        exam = Exam(url, deadline=deadline, time_limit_s=timeout_s,
                    call_timeout_s=min(call_timeout_s, timeout_s), host=host,
                    credentials=dict(credentials or TEST_ACCOUNT), vendor_key=vendor_key)
        try:
            unreachable = _reach(exam)
            if not unreachable:
                try:
                    suite.prepare(exam)
                except ItemFailed as exc:
                    exam.setup_error = _short(f"set-up failed: {exc.note}")
                except _UNREADABLE as exc:
                    exam.setup_error = _short(f"set-up failed: unreadable answer: {exc}")
            setup = exam.take_observations()
            for item, check in suite.checks.items():
                outcomes.append(_run_item(exam, item, titles[item], check, unreachable))
                if on_item is not None:
                    on_item(outcomes[-1])
        finally:
            exam.close()
    return ExamReport(product_type=product_type, prototype_url=url,
                      suite_version=SUITE_VERSION, started_ms=started_ms,
                      finished_ms=max(started_ms, _now_ms()), items=outcomes,
                      certificate=certificate, setup=setup, lab_host=host.url)


def _address_towards(url: str) -> str:
    """This machine's address on the route to the prototype, so that the prototype can reach
    the host simulator: loopback for a local prototype. A UDP "connect" sends nothing."""
    parsed = urllib.parse.urlsplit(url)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((parsed.hostname or "127.0.0.1", parsed.port or 80))
            address: str = probe.getsockname()[0]
            return address
    except (OSError, ValueError):
        return "127.0.0.1"


def _reach(exam: Exam) -> str:
    """"" when the prototype answers anything at all, else the note every item gets."""
    try:
        exam.call("GET", "/", record_body=False)
    except ItemFailed as exc:
        return _short(f"prototype unreachable at {exam.url}: {exc.note}")
    return ""


def _run_item(exam: Exam, item: str, title: str, check: Check, unreachable: str,
              ) -> ItemOutcome:
    started = time.monotonic()
    exam.item_answers.clear()
    if unreachable:
        passed, note = False, unreachable
    elif exam.remaining_s() <= 0:
        passed, note = False, f"not run: the suite's time limit of {exam.time_limit_s:g} s ran out"
    else:
        try:
            passed, note = True, check(exam)
        except ItemFailed as exc:
            passed, note = False, exc.note
        except _UNREADABLE as exc:
            # The prototype answered something the check cannot read (a missing field, a
            # wrong type): that is a failure of the item, recorded, not a crash of the lab.
            exam.observe("unreadable answer", error=f"{exc.__class__.__name__}: {exc}")
            passed, note = False, f"unreadable answer: {exc.__class__.__name__}: {exc}"
    duration_ms = round((time.monotonic() - started) * 1000)
    return ItemOutcome(item=item, title=title, passed=passed, note=_short(exam.redact(note)),
                       duration_ms=duration_ms, observations=exam.take_observations())
