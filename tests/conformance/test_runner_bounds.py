"""The lab never hangs and never crashes on a prototype: one that is down, one that never
answers, one that answers some calls and hangs on others. Every item gets a verdict and a
note; the whole run stays within its time limit."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from consortia.conformance import run_suite, suites
from consortia.conformance.interface import BARCODE_TERMINAL, CLIENT_SW
from consortia.modules.certification.logic import CATALOGUE_2019
from tests.conftest import free_port


def test_suites_cover_exactly_the_catalogue_items() -> None:
    catalogue = {code: [i.id for i in items] for code, _, _, _, items in CATALOGUE_2019}
    found = suites()
    assert set(found) == {BARCODE_TERMINAL, CLIENT_SW}
    for code, suite in found.items():
        assert list(suite.checks) == catalogue[code]


@pytest.mark.parametrize("product_type", [BARCODE_TERMINAL, CLIENT_SW])
def test_a_prototype_that_is_down_fails_every_item_with_a_clear_note(product_type: str,
                                                                     ) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    report = run_suite(product_type, url, timeout_s=10)
    assert time.monotonic() - started < 5
    assert report.items and not any(i.passed for i in report.items)
    for item in report.items:
        assert item.note.startswith(f"prototype unreachable at {url}"), item.note


@contextmanager
def black_hole() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_prototype_that_never_answers_is_failed_within_the_call_timeout() -> None:
    with black_hole() as url:
        started = time.monotonic()
        report = run_suite(BARCODE_TERMINAL, url, timeout_s=10, call_timeout_s=0.5)
        assert time.monotonic() - started < 3
    assert not any(i.passed for i in report.items)
    assert all("no answer within" in i.note for i in report.items), report.items[0].note


class _Stalling(BaseHTTPRequestHandler):
    """Answers GET / at once; holds every other request for 10 s."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != "/":
            time.sleep(10)
        with contextlib.suppress(OSError):  # the lab gave up long ago
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    do_POST = do_GET


@contextmanager
def stalling_prototype() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stalling)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_whole_suite_stops_at_its_time_limit() -> None:
    with stalling_prototype() as url:
        started = time.monotonic()
        report = run_suite(CLIENT_SW, url, timeout_s=2.5, call_timeout_s=1)
        elapsed_s = time.monotonic() - started
    assert elapsed_s < 4, elapsed_s
    assert len(report.items) == 6 and not any(i.passed for i in report.items)
    assert any("time limit of 2.5 s ran out" in i.note for i in report.items)


def test_bad_arguments_are_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="no automated suite for 'POS'"):
        run_suite("POS", "http://127.0.0.1:1")
    with pytest.raises(ValueError, match="timeout_s"):
        run_suite(CLIENT_SW, "http://127.0.0.1:1", timeout_s=0)
    with pytest.raises(ValueError, match="http"):
        run_suite(CLIENT_SW, "ftp://127.0.0.1:1")
